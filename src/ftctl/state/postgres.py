"""The PostgreSQL state store (`state: {backend: postgres}`), for teams sharing a state.

The DSN comes from the environment variable the config names (it may hold a password, so
it is never written to the config). Tables live in their own schema. Every write
transaction first takes a transaction-scoped advisory lock, so writers serialise exactly
as with SQLite's `BEGIN IMMEDIATE`; reads never wait. Needs the optional dependency
`psycopg` (`pip install 'ftctl[postgres]'`).
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ftctl.errors import StateError
from ftctl.state.sqlstore import Connection, Cursor, SqlStateStore, start_chain

if TYPE_CHECKING:
    import psycopg

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# The same layout as the SQLite schema (see ftctl.state.migrations), in PostgreSQL's types.
_V1 = [
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE snapshots (serial BIGINT PRIMARY KEY, document TEXT NOT NULL, "
    "written_at TEXT NOT NULL)",
    "CREATE TABLE locks (name TEXT PRIMARY KEY, id TEXT NOT NULL, who TEXT NOT NULL, "
    "operation TEXT NOT NULL, created_at TEXT NOT NULL, expires_at TEXT NOT NULL, "
    "expires_unix DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE audit (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at TEXT NOT NULL, "
    "who TEXT NOT NULL, operation TEXT NOT NULL, address TEXT NOT NULL, action TEXT NOT NULL, "
    "plan_id TEXT, git_commit TEXT, detail TEXT NOT NULL)",
]
_V2 = [
    "ALTER TABLE audit ADD COLUMN project TEXT NOT NULL DEFAULT ''",
    "UPDATE audit SET project = split_part(address, '.', 2)",
    "CREATE INDEX audit_by_project ON audit (project, id)",
    "CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$",
    "CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit "
    "FOR EACH ROW EXECUTE FUNCTION audit_append_only()",
    "CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()",
]
_V3 = [
    "ALTER TABLE locks ADD COLUMN host TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE locks ADD COLUMN pid BIGINT",
    "ALTER TABLE locks ADD COLUMN pid_started TEXT",
]
_V4 = [
    "ALTER TABLE audit ADD COLUMN seq BIGINT",
    "ALTER TABLE audit ADD COLUMN prev_hash TEXT",
    "ALTER TABLE audit ADD COLUMN entry_hash TEXT",
    "CREATE UNIQUE INDEX audit_by_seq ON audit (seq)",
]
MIGRATIONS: Sequence[Sequence[str]] = (_V1, _V2, _V3, _V4)
# Steps that need Python (see ftctl.state.migrations), run after the migration to the
# version they are keyed by, in its transaction.
_AFTER: Mapping[int, Callable[[Connection], None]] = {4: start_chain}
SCHEMA_VERSION = len(MIGRATIONS)


class _PgConnection:
    """A psycopg connection speaking the `?` placeholders the shared SQL uses."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Cursor:
        return self._conn.execute(sql.replace("?", "%s"), tuple(params))


class PostgresStateStore(SqlStateStore):
    """A `StateStore` in a PostgreSQL schema."""

    def __init__(self, dsn: str, schema: str = "ftctl", workspace_name: str = "workspace") -> None:
        if not _SCHEMA_NAME.match(schema):
            raise StateError(
                f"invalid PostgreSQL schema name {schema!r}: use lowercase letters, digits "
                "and underscores"
            )
        try:
            import psycopg  # noqa: F401 - fail early, with the fix, when it is missing
        except ImportError as error:
            raise StateError(
                "the PostgreSQL state backend needs psycopg: pip install 'ftctl[postgres]'"
            ) from error
        self._dsn = dsn
        self.schema = schema
        self.where = f"PostgreSQL schema {schema!r}"
        self.workspace_name = workspace_name
        # Every writer of this schema takes this advisory lock first.
        self._lock_key = zlib.crc32(f"ftctl-state:{schema}".encode())
        self._migrated = False

    @classmethod
    def from_env(cls, dsn_env: str, schema: str, workspace_name: str) -> PostgresStateStore:
        dsn = os.environ.get(dsn_env, "").strip()
        if not dsn:
            raise StateError(
                f"environment variable {dsn_env} is not set: the PostgreSQL state backend "
                "reads its connection string from it (set it, or change `dsnEnv` in ftctl.yaml)"
            )
        return cls(dsn, schema, workspace_name)

    @contextmanager
    def _connect(self) -> Iterator[psycopg.Connection[Any]]:
        import psycopg

        try:
            conn = psycopg.connect(self._dsn, autocommit=True, connect_timeout=30)
        except psycopg.Error as error:
            # The DSN may hold a password: name the schema, never the DSN.
            raise StateError(f"cannot connect to the PostgreSQL state: {error}") from error
        with conn:
            try:
                if not self._migrated:
                    self._migrate(conn)
                    self._migrated = True
                conn.execute(f'SET search_path TO "{self.schema}"')
                yield conn
            except psycopg.Error as error:
                raise StateError(f"state {self.where}: {error}") from error

    def _migrate(self, conn: psycopg.Connection[Any]) -> None:
        while True:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_key,))
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                conn.execute(f'SET LOCAL search_path TO "{self.schema}"')
                current = _schema_version(conn)
                if current > SCHEMA_VERSION:
                    raise StateError(
                        f"the state in {self.where} has schema version {current}, newer than "
                        f"this ftctl understands ({SCHEMA_VERSION}); upgrade ftctl"
                    )
                if current == SCHEMA_VERSION:
                    return
                for statement in MIGRATIONS[current]:
                    conn.execute(statement)
                step = _AFTER.get(current + 1)
                if step is not None:
                    step(_PgConnection(conn))
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(current + 1),),
                )

    @contextmanager
    def _reader(self) -> Iterator[Connection]:
        with self._connect() as conn:
            yield _PgConnection(conn)

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with self._connect() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_key,))
            yield _PgConnection(conn)


def _schema_version(conn: psycopg.Connection[Any]) -> int:
    found = conn.execute("SELECT to_regclass('meta') IS NOT NULL").fetchone()
    if not found or not found[0]:
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0
