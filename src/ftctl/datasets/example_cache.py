"""Per-row results kept between builds, keyed by the row's content.

A rebuild after a small edit re-does only the rows whose bytes changed: what the build
computed for a row on its own (`ftctl.datasets.row_work.RowResult`: its digests, token
counts, findings, MinHash band hashes) is stored by a digest of the row's bytes and of
everything else that decides it (the plan of the split's transforms and checks, the
encoding, the versions of ftctl and tiktoken; see `ftctl.datasets.stream.results_namespace`).

Results are written as the build goes, inside one transaction that is committed only when
the build succeeds (`commit`) and rolled back otherwise (`close`): a build that fails leaves
nothing behind, and nothing waits in memory. Storage: one SQLite file per workspace
(`<workspace>/.ftctl/cache/datasets/examples.sqlite`), each value followed by a checksum of
key and value: a value that does not verify is a miss, so a damaged cache costs time, never
a wrong result. A cache that cannot be opened or written is ignored in the same way (builds
work on read-only checkouts). Keys are 16-byte BLAKE2b digests of a namespace and the content.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

TABLES = ("rows",)
_CHECK = 8  # checksum bytes after each value
_BATCH = 500  # keys per SELECT (SQLite allows 32,766 parameters; small keeps it quick)


def content_key(namespace: str, content: bytes) -> bytes:
    """The cache key of `content` within `namespace` (what else decides the value)."""
    digest = hashlib.blake2b(content, digest_size=16, person=b"ftctl-example")
    digest.update(b"\0" + namespace.encode("utf-8"))
    return digest.digest()


def _checksum(key: bytes, value: bytes) -> bytes:
    return hashlib.blake2b(key + value, digest_size=_CHECK).digest()


class ExampleCache:
    """Results per example content; `get_many`/`put_many` in batches.

    One object either reads (a worker's lookups) or writes (the build's results): the
    tables are made by the first `put_many`, on the writer's connection.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._broken = path is None
        # Per table: [values found, values looked up in vain] (for the build's message).
        self.counts: dict[str, list[int]] = {table: [0, 0] for table in TABLES}
        self._writing = False  # a transaction is open
        self._created = False  # this object created the file
        self._committed = False

    def _connect(self, create: bool) -> sqlite3.Connection | None:
        if self._db is not None or self._broken:
            return self._db
        assert self.path is not None
        if not create and not self.path.is_file():
            return None  # nothing stored yet; created by the first `put_many`
        try:
            self._created = not self.path.exists()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            if create:  # only the build's writer shapes the file; readers just read it
                _create_tables(db)
        except (OSError, sqlite3.Error):
            self._broken = True
            return None
        self._db = db
        return db

    def get_many(self, table: str, keys: Sequence[bytes]) -> dict[bytes, bytes]:
        """The stored, intact values of those `keys` that have one."""
        assert table in TABLES
        db = self._connect(create=False)
        found: dict[bytes, bytes] = {}
        if db is None or not keys:
            self.counts[table][1] += len(keys)
            return found
        unique = list(dict.fromkeys(keys))
        try:
            for start in range(0, len(unique), _BATCH):
                part = unique[start : start + _BATCH]
                marks = ",".join("?" * len(part))
                rows = db.execute(f"SELECT key, value FROM {table} WHERE key IN ({marks})", part)
                for key, stored in rows:
                    value, check = stored[:-_CHECK], stored[-_CHECK:]
                    if len(stored) >= _CHECK and _checksum(key, value) == check:
                        found[bytes(key)] = bytes(value)
        except sqlite3.Error:
            self._broken = True
        self.counts[table][0] += len(found)
        self.counts[table][1] += len(unique) - len(found)
        return found

    def put_many(self, table: str, items: Iterable[tuple[bytes, bytes]]) -> None:
        """Store values, visible to others once the build succeeds (`commit`)."""
        assert table in TABLES
        rows = [(key, value + _checksum(key, value)) for key, value in items]
        if self._broken or not rows:
            return
        db = self._connect(create=True)
        if db is None:
            return
        try:
            if not self._writing:
                db.execute("BEGIN IMMEDIATE")
                self._writing = True
            db.executemany(f"INSERT OR REPLACE INTO {table} (key, value) VALUES (?, ?)", rows)
        except sqlite3.Error:
            self._broken = True  # a read-only or busy cache only costs speed
            self._rollback()

    def commit(self) -> None:
        """Keep what `put_many` stored."""
        if self._db is None or not self._writing:
            return
        try:
            self._db.execute("COMMIT")
            self._committed = True
        except sqlite3.Error:
            self._broken = True
            self._rollback()
        self._writing = False

    def _rollback(self) -> None:
        if self._db is not None and self._writing:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
        self._writing = False

    def close(self) -> None:
        """Close; what was stored and not committed is dropped (and the file, when this
        build created it and kept nothing: a failing build leaves nothing behind)."""
        self._rollback()
        if self._db is not None:
            self._db.close()
            self._db = None
            if self._created and not self._committed and self.path is not None:
                for suffix in ("", "-wal", "-shm", "-journal"):
                    Path(f"{self.path}{suffix}").unlink(missing_ok=True)


def _create_tables(db: sqlite3.Connection) -> None:
    """Each table: values in insertion order (rowid) and a unique index of the keys.

    Keys are random digests: inserted into a table ordered by key (WITHOUT ROWID, as
    before), every insert lands on a random page of the whole table, and storing 50,000
    results took ~2.3x the CPU (measured: 0.42 against 0.18 s); here only the small index
    is written at random. Lookups cost the same. A table of the older layout is dropped:
    its results are computed again, once.
    """
    for table in TABLES:
        found = db.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
        if found is not None and "WITHOUT ROWID" in str(found[0]).upper():
            db.execute(f"DROP TABLE {table}")
        db.execute(f"CREATE TABLE IF NOT EXISTS {table} (key BLOB NOT NULL, value BLOB NOT NULL)")
        db.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {table}_key ON {table} (key)")


def cache_file(cache_root: Path) -> Path:
    """Where a workspace's example cache lives, given its dataset cache directory."""
    return cache_root / "examples.sqlite"
