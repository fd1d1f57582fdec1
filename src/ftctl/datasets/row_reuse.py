"""A rebuild's unchanged rows, found in the build's own process: their results in the last
build's snapshot (`row_snapshot`), their canonical lines in the last build's split objects
(`line_index`).

Through a worker, a row that an earlier build worked on cost its bytes sent through a pipe,
its key, a SQLite lookup (~4 µs), its line read and checked against its digest, and its
result pickled back and unpickled: ~14 µs of the worker's CPU (profiled) and the pipes'
system time. Here it costs its key (~1.6 µs: SHA-256 over the line) and a share of a few
numpy searches and large reads. Only the rows not found go to the workers.

Nothing found here is trusted row by row: the snapshot and the objects the lines come from
are each checked whole by a thread while the build goes on (`intact`: hashed, or known by
their stat to be as a build before verified or wrote them, `cache_verified`), and a build
whose reused bytes do not verify is done again without them (`ftctl.datasets.build`).
"""

from __future__ import annotations

import functools
import marshal
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple, cast

import numpy as np
import numpy.typing as npt

from ftctl.datasets.cache_verified import VerifiedFiles
from ftctl.datasets.distinct import distinct
from ftctl.datasets.example_cache import content_keys_in
from ftctl.datasets.line_block import LineBlock
from ftctl.datasets.line_index import REF_OBJECT, PreviousLines, Span, object_intact
from ftctl.datasets.near_index import U64
from ftctl.datasets.near_lonely import Repeated, with_filter
from ftctl.datasets.row_block import (
    RECORD_END,
    SYSTEM_AT,
    BandGeometry,
    Layout,
    Records,
    RowBlock,
    put_records,
    take_records,
)
from ftctl.datasets.row_snapshot import KEY_BYTES, RARE, SnapshotReader
from ftctl.datasets.row_work import DIGEST_FIELD, RESULT_FIELDS, RowResult, with_line


class Found(NamedTuple):
    block: RowBlock  # every row of the batch; those in `missing` still to be filled
    missing: list[int]  # positions of the rows not found (for the workers), ascending
    keys: list[bytes]  # every row's key
    plain: npt.NDArray[np.intp]  # positions of the rows found as records (the next snapshot's)
    rare: list[tuple[bytes, bytes]]  # (key, value) of those found as whole results


class RowReuse:
    """The last build's results and lines, for the rows of this one."""

    def __init__(
        self,
        snapshot: SnapshotReader,
        previous: Sequence[Path],
        borrowed: bool = False,
        verified: VerifiedFiles | None = None,
    ) -> None:
        """`borrowed`: the snapshot is another project's (`build._borrowed`); `verified`:
        the files the project's last build verified, not hashed again (`cache_verified`)."""
        self.snapshot = snapshot
        self.borrowed = borrowed
        self._previous = PreviousLines(previous, check_lines=False)
        # The snapshot's string ids as this build's (`Interner`), made as they are met.
        self._ids = np.full(len(snapshot.strings), -1, dtype=np.int64)
        # Both files checked whole on one thread, beside the pass (hashlib and reads
        # release the GIL); the answer is asked for once, at its end (`intact`). Another
        # project's, only once the build takes rows from it (`check`).
        self._verdict: list[bool] = []
        self._short = False  # a line copied was cut short (`lines`)
        # The repeated hashes `repeated_hashes` found, by their place in the records.
        self._repeated: dict[BandGeometry, tuple[U64, int]] = {}
        # The snapshot's records this build has found (the second row with a key is not
        # fresh: `RowBlock.fresh`).
        self._taken = np.zeros(snapshot.keys.size, dtype=np.bool_)
        self._checker = threading.Thread(
            target=lambda: self._verdict.append(_intact(snapshot, previous, verified)),
            name="ftctl-row-reuse-check",
            daemon=True,
        )
        if not borrowed:
            self.check()

    def check(self) -> None:
        """Start checking the snapshot and the objects lines are copied from (once)."""
        if self._checker.ident is None:
            self._checker.start()

    def look_up(
        self,
        namespace: str,
        lines: LineBlock,
        layout: Layout,
        intern: Callable[[str | None], int],
        keys: list[bytes] | None = None,
    ) -> Found:
        """The rows of `lines` (raw JSONL lines of a split with keys in `namespace`) that the
        last build had: their results, and where their canonical lines are (`RowBlock.copied`:
        read by `lines` when written; a rare row's is read now). `keys`: the lines' keys,
        where they are known already (`line_carry`)."""
        n = len(lines)
        if keys is None:
            keys = content_keys_in(namespace, lines.data, *lines.bounds())  # lines not copied
        at, raw, others, taken = self.snapshot.records(keys, layout.width, RECORD_END)
        rare: list[tuple[int, tuple[object, ...], bytes]] = []
        for i, value in others:
            try:  # a plain try per row: contextlib.suppress costs ~0.5 µs a row here
                cached = marshal.loads(value)
            except Exception:  # not a result: the row is worked on
                continue
            if type(cached) is tuple and len(cached) == RESULT_FIELDS:
                rare.append((i, cached, value))
        block = RowBlock(layout.empty(n), [b""] * n)
        found = np.zeros(n, dtype=np.bool_)
        if at.size:
            records = self._records(raw, layout, intern)
            # Their lines stay in the last build's objects until written (`lines`); a row
            # whose line is not there (or whose system prompt the snapshot lost) goes to a
            # worker.
            where = self._previous.locate(_as_s16(records["digest"]))
            keep = (where[:, REF_OBJECT] >= 0) & (records["system"] >= 0)
            at, taken = at[keep], taken[keep]
            put_records(block.records, at, take_records(records, keep))
            block.copied_rows()[at] = where[keep]
            found[at] = True
            block.fresh = self._first_taken(n, at, taken)
        kept_rare: list[tuple[bytes, bytes]] = []
        if rare:
            digests = [cast(bytes, cached[DIGEST_FIELD]) for _i, cached, _v in rare]
            copied_rare = iter(self._previous.lines([d for d in digests if d]))
            results: list[RowResult] = []
            places: list[int] = []
            for (i, cached, value), digest in zip(rare, digests, strict=True):
                line = next(copied_rare) if digest else b""
                if line is None:  # not in the last build's output: made again by a worker
                    continue
                results.append(RowResult._make(with_line(cached, line)))
                places.append(i)
                kept_rare.append((keys[i], value))
            block.put(places, RowBlock.of(layout, results, intern))
            found[places] = True
        missing = np.flatnonzero(~found).tolist()
        return Found(block, missing, keys, at, kept_rare)

    def _first_taken(
        self, n: int, at: npt.NDArray[np.intp], places: npt.NDArray[np.intp]
    ) -> npt.NDArray[np.bool_]:
        """Which of `n` rows are fresh: found at `at` as the snapshot's records `places`,
        none of which an earlier row of the build (or of these) was found as."""
        fresh = np.zeros(n, dtype=np.bool_)
        first = ~self._taken[places]
        if places.size > 1:
            _, once = np.unique(places, return_index=True)
            if once.size < places.size:  # a line twice in the batch: its first row only
                alone = np.zeros(places.size, dtype=np.bool_)
                alone[once] = True
                first &= alone
        fresh[at[first]] = True
        self._taken[places] = True
        return fresh

    def repeated_hashes(self, layout: Layout, step: int) -> Repeated:
        """The band hashes of nearDedupe step `step` (of `layout`'s plan) that two of the
        snapshot's records of that layout hold, as signed rows (`near_lonely`): those the
        snapshot keeps (a superset), else found from its records."""
        bands = layout.bands_of(step)
        found = self.snapshot.repeated_hashes(bands)
        self._repeated[bands] = found
        return with_filter(found[0])

    def last_repeated(self, bands: BandGeometry) -> tuple[U64, int] | None:
        """The snapshot's repeated hashes at `bands` (`SnapshotWriter.keep_repeated`), if
        this build found them or the snapshot keeps them."""
        return self._repeated.get(bands) or self.snapshot.repeated.get(bands)

    def lines(self, block: RowBlock, positions: Sequence[int]) -> list[bytes]:
        """The canonical lines of `block`'s rows at `positions` (a block of `look_up`'s,
        with `copied`), in order, one a row (what a weight's copies and `write_many` take;
        `spans` gives those written once each). A line the last build's object no longer
        holds whole makes `intact` say no (the build is done again without it)."""
        pieces, whole = self._previous.pieces(*self._located(block, positions), apart=True)
        if not whole:
            self._cut_short()
        return cast(list[bytes], pieces)

    def spans(self, block: RowBlock, positions: Sequence[int]) -> list[bytes | Span]:
        """`lines` as a few large pieces (their `b"".join`), those copied from the last
        build's objects not read yet: `Span`s, read where they are written (the split's
        writer thread, which hashes them anyway), not in the build's own thread (0.1 s of a
        200,000-row rebuild's main thread). A span cut short makes `intact` say no, as in
        `lines`: the writer has read every span once the pass's splits are finished, before
        `intact` is asked."""
        pieces, _ = self._previous.pieces(*self._located(block, positions), later=self._cut_short)
        return pieces

    @staticmethod
    def _located(
        block: RowBlock, positions: Sequence[int]
    ) -> tuple[npt.NDArray[np.int64], Callable[[int], bytes]]:
        """Where the lines of `block`'s rows at `positions` are (`PreviousLines.pieces`'
        refs) and the line of the k-th of them that `block` holds itself."""
        lines = block.lines
        assert block.copied is not None
        return block.copied[np.asarray(positions, dtype=np.intp)], lambda k: lines[positions[k]]

    def _cut_short(self) -> None:
        self._short = True

    def _records(
        self, raw: npt.NDArray[np.uint8], layout: Layout, intern: Callable[[str | None], int]
    ) -> Records:
        """Records read as values (a row of `raw` each), with their `system` ids made this
        build's; an id the snapshot has no string for is -1."""
        records = np.ascontiguousarray(raw).view(layout.dtype).reshape(len(raw))
        ids = records["system"].astype(np.int64)
        valid = (ids >= 0) & (ids < self._ids.size)
        ours = self._ids[np.where(valid, ids, 0)]
        if (ours[valid] < 0).any():  # ids met for the first time (a few per build)
            for new in distinct(ids[valid & (ours < 0)]).tolist():
                self._ids[new] = intern(self.snapshot.strings[new])
            ours = self._ids[np.where(valid, ids, 0)]
        records["system"] = np.where(valid, ours, -1)
        return records

    def left_behind(self, kept: npt.NDArray[np.bytes_]) -> Iterator[list[tuple[bytes, bytes]]]:
        """The rows of the last build that this one left out (`kept`: the keys of this
        build's snapshot, sorted), as example cache values, a few thousand at a time.

        A build keeps its rows' results in its snapshot alone; the example cache gets them
        only once a build replaces that snapshot without them (an edited line's old
        version, the rows of a transform or policy given up), so that going back to them
        works on none of them again. A record goes with the system prompt its id stood for
        (`row_pool` reads it with its plan's layout); a whole result as it was. Call it
        only once `intact` has said yes."""
        strings = self.snapshot.strings
        for chunk in self.snapshot.left_out(kept):
            values: list[tuple[bytes, bytes]] = []
            for key, value in chunk:
                if value and value[-1] == RECORD_END and len(value) > SYSTEM_AT + 4:
                    system = int.from_bytes(value[SYSTEM_AT : SYSTEM_AT + 4], "little", signed=True)
                    if 0 <= system < len(strings):
                        values.append((key, Layout.cache_value(value, strings[system])))
                elif value and value[-1] == RARE:
                    values.append((key, value[:-1]))
            yield values

    def intact(self) -> bool:
        """The snapshot and the objects lines were copied from are as they were written
        (waits for their checks); for another project's that nothing was taken from: yes."""
        if self._short:
            return False
        if self._checker.ident is None:
            return True
        self._checker.join()
        return bool(self._verdict and self._verdict[0])

    def close(self) -> None:
        if self._checker.ident is not None:
            self._checker.join()
        self.snapshot.close()
        self._previous.close()


def _intact(
    snapshot: SnapshotReader, objects: Sequence[Path], verified: VerifiedFiles | None
) -> bool:
    """The snapshot and the objects hold the bytes they were written with: hashed, or
    vouched for by `verified`."""
    if verified is None:
        return snapshot.intact() and all(object_intact(p) for p in objects)
    return verified.check(snapshot.path, snapshot.sha256, snapshot.intact) and all(
        verified.check(p, p.stem, functools.partial(object_intact, p)) for p in objects
    )


def _as_s16(digests: npt.NDArray[np.void]) -> npt.NDArray[np.bytes_]:
    """16-byte digests as the S16 array `PreviousLines` searches with."""
    return np.frombuffer(np.ascontiguousarray(digests).tobytes(), dtype=f"S{KEY_BYTES}")
