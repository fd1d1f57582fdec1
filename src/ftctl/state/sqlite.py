"""The SQLite state store (the default, at `.ftctl/state.db`).

Every operation opens its own connection in autocommit mode and runs in one
`BEGIN IMMEDIATE` transaction, so concurrent ftctl processes serialise on SQLite's
write lock and a crash mid-write leaves the previous snapshot intact (WAL journal).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from pathlib import Path

from ftctl.errors import StateError
from ftctl.state.migrations import migrate
from ftctl.state.sqlstore import Connection, SqlStateStore


class SqliteStateStore(SqlStateStore):
    """A `StateStore` in one SQLite file."""

    def __init__(self, path: Path, workspace_name: str = "workspace") -> None:
        self.path = Path(path)
        self.where = f"database {self.path}"
        self.workspace_name = workspace_name
        self._migrated = False

    def exists(self) -> bool:
        # Anything at the path counts: a directory there must fail loudly on open,
        # not read as an empty state.
        return self.path.exists()

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA busy_timeout = 30000")
            if not self._migrated:
                migrate(conn)
                self._migrated = True
        except sqlite3.DatabaseError as error:
            raise StateError(f"cannot open state database {self.path}: {error}") from error
        return conn

    @contextmanager
    def _reader(self) -> Iterator[Connection]:
        with closing(self._connect()) as conn:
            try:
                yield conn
            except sqlite3.Error as error:
                raise StateError(f"state database {self.path}: {error}") from error

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with closing(self._connect()) as conn:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as error:
                raise StateError(f"state database {self.path} is busy: {error}") from error
            try:
                yield conn
                conn.execute("COMMIT")
            except sqlite3.Error as error:
                with suppress(sqlite3.Error):  # SQLite may have rolled back already
                    conn.execute("ROLLBACK")
                raise StateError(f"state database {self.path}: {error}") from error
            except BaseException:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
