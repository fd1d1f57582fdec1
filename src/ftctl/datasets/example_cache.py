"""Per-row results kept between builds, keyed by the row's content.

A rebuild after a small edit re-does only the rows whose bytes changed: what the build
computed for a row on its own (`ftctl.datasets.row_work.RowResult`: its digests, token
counts, findings, MinHash band hashes) is stored by a digest of the row's bytes and of
everything else that decides it (the plan of the split's transforms and checks, the
encoding, the versions of ftctl and tiktoken; see `ftctl.datasets.stream.results_namespace`).

Results are written as the build goes, inside one transaction that is committed only when
the build succeeds (`commit`) and rolled back otherwise (`close`): a build that fails leaves
nothing behind, and nothing waits in memory. Each row records the day it was last used
(written or found): a lookup reports the rows found whose day is not today (`get_many`'s
`stale`), the build marks them (`mark_used`, once a day per row, not on every rebuild), and
the cache's daily trim removes the results not used for days (`trim_unused`).

Storage: one SQLite file per workspace (`<workspace>/.ftctl/cache/datasets/examples.sqlite`),
each value followed by a checksum of key and value: a value that does not verify is a
miss, so a damaged cache costs time, never a wrong result. What a value holds is the
caller's (`row_pool` stores `marshal` data, never pickles: a cache can come from a
commit). A cache that cannot be opened or written is ignored in the same way (builds work
on read-only checkouts). Keys are the first 16 bytes of the SHA-256 of a namespace and the
content (`content_keys`).
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

TABLES = ("rows",)
_CHECK = 8  # checksum bytes after each value
_BATCH = 500  # keys per SELECT (SQLite allows 32,766 parameters; small keeps it quick)


def content_keys(namespace: str, contents: Iterable[bytes | memoryview]) -> list[bytes]:
    """The cache key of each of `contents` within `namespace` (what else decides the value).

    SHA-256, cut to 16 bytes: every row of a rebuild is keyed in the build's main thread,
    and over a 2.4 KB line SHA-256 costs 1.6 µs where BLAKE2b costs 2.6 µs on CPUs with SHA
    instructions (x86 since ~2017-2019, ARMv8). The namespace comes first, ended by a NUL
    (it holds none), so a key's input is unambiguous; its hash state is made once and
    copied per row."""
    start = _key_start(namespace)
    keys: list[bytes] = []
    for content in contents:
        digest = start.copy()
        digest.update(content)
        keys.append(digest.digest()[:16])
    return keys


def content_keys_in(
    namespace: str, data: bytes, starts: Sequence[int], ends: Sequence[int]
) -> list[bytes]:
    """`content_keys` of the contents `data[starts[i]:ends[i]]`, sliced here: a rebuild's
    main thread keys every line this way (a view per line made in a generator, and its
    `\\r`s looked for line by line, cost 10 ms more per 50,000 lines)."""
    copy = _key_start(namespace).copy
    view = memoryview(data)
    keys: list[bytes] = []
    append = keys.append
    for begin, end in zip(starts, ends, strict=True):
        digest = copy()
        digest.update(view[begin:end])
        append(digest.digest()[:16])
    return keys


def _key_start(namespace: str) -> Any:
    return hashlib.sha256(b"ftctl-example\0" + namespace.encode("utf-8") + b"\0")


def today() -> int:
    """The day number (days since 1970, UTC) that rows are marked used with."""
    return int(time.time() // 86_400)


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
        self._dated = False  # the table has the `used` column (a cache from before has not)
        self._today = today()

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
            # A file this build makes is filled in one transaction with nothing to read
            # beside it (the build's workers look up only a cache that was there when it
            # started): with a rollback journal its new pages are written once, where WAL
            # writes them twice (the log, then the checkpoint). 200,000 rows: 1.18 -> 0.92 s,
            # 0.38 -> 0.21 s of system time. It turns WAL (readers beside a writer) once
            # committed (`commit`).
            db.execute(f"PRAGMA journal_mode={'TRUNCATE' if self._created else 'WAL'}")
            db.execute("PRAGMA synchronous=NORMAL")
            if create:  # only the build's writer shapes the file; readers just read it
                _create_tables(db, self._today)
            self._dated = _has_used_column(db)
        except (OSError, sqlite3.Error):
            self._broken = True
            return None
        self._db = db
        return db

    def get_many(
        self, table: str, keys: Sequence[bytes], stale: list[bytes] | None = None
    ) -> dict[bytes, bytes]:
        """The stored, intact values of those `keys` that have one; the keys of those not
        marked used today are appended to `stale` (for `mark_used`)."""
        assert table in TABLES
        db = self._connect(create=False)
        found: dict[bytes, bytes] = {}
        if db is None or not keys:
            self.counts[table][1] += len(keys)
            return found
        unique = list(dict.fromkeys(keys))
        columns = "key, value, used" if self._dated else f"key, value, {self._today}"
        try:
            for start in range(0, len(unique), _BATCH):
                part = unique[start : start + _BATCH]
                marks = ",".join("?" * len(part))
                rows = db.execute(f"SELECT {columns} FROM {table} WHERE key IN ({marks})", part)
                for key, stored, used in rows:
                    value, check = stored[:-_CHECK], stored[-_CHECK:]
                    if len(stored) >= _CHECK and _checksum(key, value) == check:
                        found[bytes(key)] = bytes(value)
                        if stale is not None and used != self._today:
                            stale.append(bytes(key))
        except sqlite3.Error:
            self._broken = True
        self.counts[table][0] += len(found)
        self.counts[table][1] += len(unique) - len(found)
        return found

    def put_many(
        self, table: str, items: Iterable[tuple[bytes, bytes]], day: int | None = None
    ) -> None:
        """Store values, visible to others once the build succeeds (`commit`), as used on
        `day` (today by default)."""
        assert table in TABLES
        used = self._today if day is None else day
        rows = [(key, value + _checksum(key, value), used) for key, value in items]
        self._write(f"INSERT OR REPLACE INTO {table} (key, value, used) VALUES (?, ?, ?)", rows)

    def mark_used(self, table: str, keys: Sequence[bytes]) -> None:
        """Mark rows found by a lookup used today (in the build's transaction: kept only if
        the build succeeds, like what it stores)."""
        assert table in TABLES
        day = self._today
        self._write(f"UPDATE {table} SET used = ? WHERE key = ?", [(day, key) for key in keys])

    def _write(self, statement: str, rows: Sequence[tuple[object, ...]]) -> None:
        if self._broken or not rows:
            return
        db = self._connect(create=True)
        if db is None:
            return
        try:
            if not self._writing:
                db.execute("BEGIN IMMEDIATE")
                self._writing = True
            db.executemany(statement, rows)
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
            if self._created:
                self._db.execute("PRAGMA journal_mode=WAL")
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


def trim_unused(path: Path, days: int) -> tuple[int, int]:
    """Remove the results not used for `days` days: (rows removed, bytes the file shrank
    by). The file is compacted when more than half of it is free pages (else SQLite reuses
    them for the next results). A cache that cannot be opened or is busy is left alone."""
    if not path.is_file():
        return 0, 0
    size = path.stat().st_size
    removed = 0
    try:
        db = sqlite3.connect(path, timeout=2, isolation_level=None)
    except sqlite3.Error:
        return 0, 0
    try:
        if not _has_used_column(db):
            return 0, 0
        for table in TABLES:
            removed += db.execute(f"DELETE FROM {table} WHERE used < ?", (today() - days,)).rowcount
        free = db.execute("PRAGMA freelist_count").fetchone()[0]
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        if removed and free * 2 > pages:
            db.execute("VACUUM")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error:
        return removed, 0
    finally:
        db.close()
    with contextlib.suppress(OSError):
        return removed, max(0, size - path.stat().st_size)
    return removed, 0


def _has_used_column(db: sqlite3.Connection) -> bool:
    return all(_dated(db, table) for table in TABLES)


def _dated(db: sqlite3.Connection, table: str) -> bool:
    """`table` has the `used` column (a cache from before rows were dated has not)."""
    return any(row[1] == "used" for row in db.execute(f"PRAGMA table_info({table})"))


def _create_tables(db: sqlite3.Connection, day: int) -> None:
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
        db.execute(
            f"CREATE TABLE IF NOT EXISTS {table} "
            "(key BLOB NOT NULL, value BLOB NOT NULL, used INTEGER NOT NULL DEFAULT 0)"
        )
        db.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {table}_key ON {table} (key)")
        if not _dated(db, table):
            # A cache from before rows were dated: its rows count as used today.
            db.execute(f"ALTER TABLE {table} ADD COLUMN used INTEGER NOT NULL DEFAULT {int(day)}")


def cache_file(cache_root: Path) -> Path:
    """Where a workspace's example cache lives, given its dataset cache directory."""
    return cache_root / "examples.sqlite"
