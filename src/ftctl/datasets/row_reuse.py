"""A rebuild's unchanged rows, found in the build's own process: their results in the last
build's snapshot (`row_snapshot`), their canonical lines in the last build's split objects
(`line_index`).

Through a worker, a row that an earlier build worked on cost its bytes sent through a pipe,
its key, a SQLite lookup (~4 µs), its line read and checked against its digest, and its
result pickled back and unpickled: ~14 µs of the worker's CPU (profiled) and the pipes'
system time. Here it costs its key (~1.6 µs: SHA-256 over the line) and a share of a few
numpy searches and large reads. Only the rows not found go to the workers.

Nothing found here is trusted row by row: the snapshot and the objects the lines come from
are each checked whole by a thread while the build goes on (`intact`), and a build whose
reused bytes do not verify is done again without them (`ftctl.datasets.build`).
"""

from __future__ import annotations

import marshal
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from ftctl.datasets.example_cache import content_keys
from ftctl.datasets.line_index import PreviousLines, object_intact
from ftctl.datasets.row_snapshot import SnapshotReader
from ftctl.datasets.row_work import DIGEST_FIELD, LINE_FIELD, RESULT_FIELDS, RowResult


class Found(NamedTuple):
    results: list[RowResult | None]  # per row: its result, or None (not found)
    stored: list[tuple[bytes, bytes]]  # (key, value) of those found: the next snapshot's
    stale: list[bytes]  # keys of those found to mark used today in the example cache


class RowReuse:
    """The last build's results and lines, for the rows of this one."""

    def __init__(self, snapshot: SnapshotReader, previous: Sequence[Path], today: int) -> None:
        self.snapshot = snapshot
        self._previous = PreviousLines(previous, check_lines=False)
        self._stale = snapshot.day != today  # the example cache is told once a day
        # Both files checked whole on one thread, beside the pass (hashlib and reads
        # release the GIL); the answer is asked for once, at its end (`intact`).
        self._verdict: list[bool] = []
        self._checker = threading.Thread(
            target=lambda: self._verdict.append(
                snapshot.intact() and all(object_intact(p) for p in previous)
            ),
            name="ftctl-row-reuse-check",
            daemon=True,
        )
        self._checker.start()

    def look_up(self, namespace: str, lines: Sequence[bytes]) -> Found:
        """The rows of `lines` (raw JSONL lines of a split with keys in `namespace`) that the
        last build had: their results, with their canonical lines."""
        keys = content_keys(namespace, lines)
        results: list[RowResult | None] = [None] * len(lines)
        loads = marshal.loads
        candidates: list[tuple[int, tuple[Any, ...], bytes]] = []
        for i, value in enumerate(self.snapshot.values(keys)):
            if value is None:
                continue
            try:  # a plain try per row: contextlib.suppress costs ~0.5 µs a row here
                cached = loads(value)
            except Exception:  # not a result: the row is worked on
                continue
            if type(cached) is tuple and len(cached) == RESULT_FIELDS:
                candidates.append((i, cached, value))
        digests = [cached[DIGEST_FIELD] for _i, cached, _v in candidates]
        copied = iter(self._previous.lines([d for d in digests if d]))
        stored: list[tuple[bytes, bytes]] = []
        make = RowResult._make
        for (i, cached, value), digest in zip(candidates, digests, strict=True):
            line = next(copied) if digest else b""
            if line is None:  # not in the last build's output: made again by a worker
                continue
            results[i] = make((*cached[:LINE_FIELD], line, *cached[LINE_FIELD + 1 :]))
            stored.append((keys[i], value))
        return Found(results, stored, [key for key, _value in stored] if self._stale else [])

    def intact(self) -> bool:
        """The snapshot and the objects lines were copied from are as they were written
        (waits for their checks)."""
        self._checker.join()
        return bool(self._verdict and self._verdict[0])

    def close(self) -> None:
        self._checker.join()
        self.snapshot.close()
        self._previous.close()
