"""Per-example results kept between builds, keyed by the example's content.

A rebuild after a small edit re-does only the examples whose content changed: the token
counts of an example (by its canonical bytes, the encoding, the format and the versions
that decide them) and the MinHash signature of a text (by its bytes and the permutation
count) are looked up here first. Everything else about an example is cheap to recompute.

Results are written only when the build succeeds (`commit`): a build that fails leaves
nothing behind. Storage: one SQLite file per workspace (`<workspace>/.ftctl/cache/datasets/examples.sqlite`),
one table per kind of result, each value followed by a checksum of key and value: a value
that does not verify is a miss, so a damaged cache costs time, never a wrong result. A cache
that cannot be opened or written is ignored in the same way (builds work on read-only
checkouts). Keys are 16-byte BLAKE2b digests of a namespace and the content.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

TABLES = ("tokens", "minhash", "rows")
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
    """Results per example content; `get_many`/`put_many` in batches."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._broken = path is None
        # Per table: [values found, values looked up in vain] (for the build's message).
        self.counts: dict[str, list[int]] = {table: [0, 0] for table in TABLES}
        self._pending: dict[str, list[tuple[bytes, bytes]]] = {table: [] for table in TABLES}

    def _connect(self, create: bool) -> sqlite3.Connection | None:
        if self._db is not None or self._broken:
            return self._db
        assert self.path is not None
        if not create and not self.path.is_file():
            return None  # nothing stored yet; created by the first `commit`
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            for table in TABLES:
                db.execute(
                    f"CREATE TABLE IF NOT EXISTS {table} "
                    "(key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID"
                )
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
        """Keep values to store when the build succeeds (`commit`)."""
        assert table in TABLES
        if not self._broken:
            self._pending[table].extend(items)

    def commit(self) -> None:
        """Store the values kept by `put_many`, in one transaction."""
        if not any(self._pending.values()):
            return
        db = self._connect(create=True)
        if db is None:
            return
        try:
            db.execute("BEGIN")
            for table, items in self._pending.items():
                rows = [(key, value + _checksum(key, value)) for key, value in items]
                db.executemany(f"INSERT OR REPLACE INTO {table} (key, value) VALUES (?, ?)", rows)
                items.clear()
            db.execute("COMMIT")
        except sqlite3.Error:
            self._broken = True  # a read-only or busy cache only costs speed
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def cache_file(cache_root: Path) -> Path:
    """Where a workspace's example cache lives, given its dataset cache directory."""
    return cache_root / "examples.sqlite"
