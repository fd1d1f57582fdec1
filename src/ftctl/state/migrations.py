"""The SQLite state schema, as an ordered list of migrations.

`meta.schema_version` records how many migrations a database has had. Opening a
database applies the missing ones in one transaction each; a database written by a
newer ftctl (a higher version than this list knows) is refused rather than guessed at.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence

from ftctl.errors import StateError
from ftctl.state.sqlstore import start_chain

# Version 1: the first released layout.
_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE snapshots (
    serial INTEGER PRIMARY KEY,
    document TEXT NOT NULL,
    written_at TEXT NOT NULL
);
CREATE TABLE locks (
    name TEXT PRIMARY KEY,
    id TEXT NOT NULL,
    who TEXT NOT NULL,
    operation TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    expires_unix REAL NOT NULL
);
CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    who TEXT NOT NULL,
    operation TEXT NOT NULL,
    address TEXT NOT NULL,
    action TEXT NOT NULL,
    plan_id TEXT,
    git_commit TEXT,
    detail TEXT NOT NULL
);
"""

# Version 2: audit entries are indexed by project (for `ftctl lineage` and
# `audit(project)`), and the database itself refuses to change or drop an entry.
_V2 = """
ALTER TABLE audit ADD COLUMN project TEXT NOT NULL DEFAULT '';
UPDATE audit SET project = CASE
    WHEN instr(address, '.') = 0 THEN ''
    ELSE substr(
        substr(address, instr(address, '.') + 1), 1,
        CASE WHEN instr(substr(address, instr(address, '.') + 1), '.') = 0
             THEN length(address)
             ELSE instr(substr(address, instr(address, '.') + 1), '.') - 1 END)
    END;
CREATE INDEX audit_by_project ON audit (project, id);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""

# Version 3: a lock names its holding process (host, pid, start time), so a lock left
# by a process that died on this host is taken over without waiting for its expiry.
_V3 = """
ALTER TABLE locks ADD COLUMN host TEXT NOT NULL DEFAULT '';
ALTER TABLE locks ADD COLUMN pid INTEGER;
ALTER TABLE locks ADD COLUMN pid_started TEXT;
"""

# Version 4: the audit log becomes a hash chain (ftctl.state.audit_chain). Entries already
# there are sealed by a `chain-start` entry, appended by the Python step below.
_V4 = """
ALTER TABLE audit ADD COLUMN seq INTEGER;
ALTER TABLE audit ADD COLUMN prev_hash TEXT;
ALTER TABLE audit ADD COLUMN entry_hash TEXT;
CREATE UNIQUE INDEX audit_by_seq ON audit (seq);
"""

MIGRATIONS: Sequence[str] = (_V1, _V2, _V3, _V4)
SCHEMA_VERSION = len(MIGRATIONS)
# Steps that need Python, run after the SQL of the migration to the version they are keyed
# by, in the same transaction.
_AFTER: Mapping[int, Callable[[sqlite3.Connection], None]] = {4: start_chain}


def schema_version(conn: sqlite3.Connection) -> int:
    """The version a database is at (0 for a new, empty file)."""
    has_meta = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
    ).fetchone()
    if not has_meta:
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Apply the missing migrations up to `target`; returns the resulting version.

    `conn` must be in autocommit mode (isolation_level=None): each migration runs in its
    own `BEGIN IMMEDIATE` transaction, so two processes opening a new file never apply
    the same migration twice.
    """
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = schema_version(conn)
            if current > SCHEMA_VERSION:
                raise StateError(
                    f"the state database has schema version {current}, newer than this "
                    f"ftctl understands ({SCHEMA_VERSION}); upgrade ftctl"
                )
            if current >= target:
                conn.execute("COMMIT")
                return current
            for statement in _statements(MIGRATIONS[current]):
                conn.execute(statement)
            step = _AFTER.get(current + 1)
            if step is not None:
                step(conn)
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(current + 1),),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (triggers keep their inner `;`)."""
    out: list[str] = []
    buffer = ""
    for line in script.strip().splitlines():
        buffer += line + "\n"
        if sqlite3.complete_statement(buffer):
            out.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        out.append(buffer.strip())
    return out
