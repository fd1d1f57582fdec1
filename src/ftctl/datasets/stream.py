"""The one pass of a data build: sources read in chunks, rows worked on in parallel, the
stateful transforms and the split decided in order, the output streamed to the cache.

    read (chunks of lines) --> per-row work (`row_work`, on `row_pool` workers)
        --> in order: transforms' decisions (dedupe, nearDedupe, maxTokens, mapFields errors)
        --> weights --> validation hash split --> canonical lines to the staged splits
        --> compact per-row columns (`SplitColumns`) for the whole-set checks

Nothing per row is held but those columns (a few hundred bytes a row: digests, counts,
flags, LSH band hashes) and where the row was read (file, line, byte offset). A text that
must be seen again (to verify a near-duplicate candidate, or show a most common prompt) is
made again from the source row (`RowTable.replay`).

Rows whose result an earlier build computed are not worked on again: results are kept in
the example cache by the row's bytes and the plan (`ftctl.datasets.example_cache`), and a
rebuild finds those of the last build in its snapshot (`row_reuse`). A batch's results are
decided as columns (`row_block.RowBlock`: one record array, no object per row).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import pickle
from array import array
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from ftctl import __version__
from ftctl.config.models import (
    DerivedSplit,
    InlineSource,
    PathSource,
    Source,
    SplitData,
)
from ftctl.datasets.cache import StagedObject, StagedWriter, Staging
from ftctl.datasets.canonical import canonical_json, canonical_line, unit_hash
from ftctl.datasets.checks import CHECKS_VERSION
from ftctl.datasets.digest_index import DigestIndex
from ftctl.datasets.example_cache import ExampleCache
from ftctl.datasets.jsonl import CHUNK_BYTES
from ftctl.datasets.line_block import LineBlock, Lines, split_lines, whole_line_chunks
from ftctl.datasets.line_carry import CarriedKeys, CarryWriter, LineCarry
from ftctl.datasets.line_index import REF_LENGTH, REF_OBJECT, Span
from ftctl.datasets.near_index import U64, BandIndex
from ftctl.datasets.near_lonely import LonelyRows, Repeated
from ftctl.datasets.provenance import Origin
from ftctl.datasets.row_block import (
    BandGeometry,
    Interner,
    Layout,
    Records,
    RowBlock,
    step_field,
    take_records,
)
from ftctl.datasets.row_pool import Job, RowPool, Rows
from ftctl.datasets.row_reuse import RowReuse
from ftctl.datasets.row_snapshot import RARE, SnapshotWriter
from ftctl.datasets.row_work import RowPlan, RowWorker, Step
from ftctl.datasets.similarity import SIGNATURE_VERSION, example_text
from ftctl.datasets.sources import (
    GLOB_CHARS,
    SourceContext,
    SourceRead,
    read_git_blob,
    resolve_path_source,
)
from ftctl.datasets.splits import SPLIT_ORDER, SplitName
from ftctl.datasets.transforms import TransformReport, transform_name
from ftctl.errors import Diagnostic

BATCH_ROWS = 512  # rows per request to a worker
# Rows per batch of a rebuild, looked up in the last build's snapshot first: a lookup costs
# ~0.5 ms besides its rows (numpy searches, reads), 1/4 as many at this size.
LOOKUP_ROWS = 2048
MAX_PENDING = 16  # batches of BATCH_ROWS read ahead of the one being decided (fewer if larger)
# ... until the pool first answers: a rebuild looks its rows up while the workers start (its
# first batch that needs them came ~0.05 s before they could answer), ~1.2 MB a batch more.
MAX_PENDING_FIRST = 32
GROUP_ROWS = 4096  # rows of ready batches decided together
# A rebuild's batches (of BATCH_ROWS; fewer of LOOKUP_ROWS) whose changed rows go to the pool
# in one request.
HELD_BATCHES = 8
# A rebuild reads the hashes its nearDedupe steps need (`_repeated_of`) on a thread, not
# waited for; False: when first needed, on the main thread (what tests use to know when).
READ_REPEATED_AHEAD = True
# A rebuild's new records past this share of its rows: their band hashes are no longer kept
# for the snapshot's repeated hashes (`_note_new_hashes`; the snapshot finds the exact set
# once new records are more than a tenth: `SnapshotWriter.keep_repeated`).
_MOST_NEW_NOTED = 0.25
LISTED_PER_FILE = 100  # row errors listed per source file; the rest are counted
Positions = npt.NDArray[np.intp]  # rows of a `RowBlock`, ascending
# The weights' hash: salted apart from the split's, so that the two choices are independent.
WEIGHT_SALT = "ftctl-weight"
RESULT_VERSION = 4  # of `RowResult`'s meaning and storage (2: marshal; 3: the keys, SHA-256;
# 4: no weight_u, made by the build for a source of fractional weight)


# --------------------------------------------------------------------------- where rows are


class RowTable:
    """Where each row read was (file, line, byte offset), and how to read it again."""

    def __init__(self) -> None:
        self.files: list[str] = []  # as shown in findings
        self._origin_json: list[bytes] = []
        self._payload: list[Path | bytes | list[dict[str, Any]]] = []
        self._file = array("i")
        self._line = array("i")
        self._offset = array("q")
        self._plan = array("b")
        self._keys = bytearray()  # each row's key (`content_keys`), zeros where not known
        self.plans: list[RowPlan] = []
        self._replayers: dict[int, RowWorker] = {}

    def add_file(self, shown: str, payload: Path | bytes | list[dict[str, Any]]) -> int:
        self.files.append(shown)
        self._origin_json.append(canonical_json(shown).encode())
        self._payload.append(payload)
        return len(self.files) - 1

    def add_rows(
        self, file: int, lines: Sequence[int | None], offsets: Sequence[int], plan: int
    ) -> list[int]:
        """Rows read from `file` (line numbers, None for none, and offsets): their indexes."""
        first = len(self._file)
        count = len(offsets)
        self._file.extend([file] * count)
        if None in lines:  # inline rows whose line the YAML does not give
            self._line.extend([-1 if line is None else line for line in lines])
        else:
            self._line.extend(cast(Sequence[int], lines))
        self._offset.extend(offsets)
        self._plan.extend([plan] * count)
        self._keys += bytes(16 * count)
        return list(range(first, first + count))

    def set_keys(self, rows: Sequence[int], keys: Sequence[bytes]) -> None:
        """The keys of `rows` (consecutive ones, as `add_rows` gives them)."""
        joined = b"".join(keys)
        if rows and len(joined) == 16 * len(rows) and rows[-1] - rows[0] == len(rows) - 1:
            self._keys[16 * rows[0] : 16 * (rows[-1] + 1)] = joined

    @property
    def count(self) -> int:
        """Rows added so far."""
        return len(self._file)

    def keys_between(self, first: int, stop: int) -> bytes:
        """The keys of rows `first`..`stop - 1`, joined (zeros for a row not keyed)."""
        return bytes(self._keys[16 * first : 16 * stop])

    def key(self, row: int) -> bytes | None:
        found = bytes(self._keys[16 * row : 16 * row + 16])
        return found if any(found) else None

    def origin(self, row: int) -> Origin:
        line = self._line[row]
        return Origin(self.files[self._file[row]], None if line < 0 else line)

    def origin_lines(self, rows: Sequence[int]) -> list[bytes]:
        """The line of the origins file (`[file, line]`) of each of `rows`."""
        files, file, line = self._origin_json, self._file, self._line
        return [
            b"[%s,%d]\n" % (files[file[r]], line[r])
            if line[r] >= 0
            else b"[%s,null]\n" % files[file[r]]
            for r in rows
        ]

    def origin_block(self, rows: npt.NDArray[np.int64]) -> bytes:
        """`origin_lines` joined: the rows of one file with line numbers (nearly always
        all of a batch) in one `str.join` of their numbers, not a line formatted a row."""
        if not rows.size:
            return b""
        files = np.frombuffer(self._file, dtype=np.int32)[rows]
        lines = np.frombuffer(self._line, dtype=np.int32)[rows]
        if (files != files[0]).any() or (lines < 0).any():
            return b"".join(self.origin_lines(rows.tolist()))
        start = "[" + self._origin_json[int(files[0])].decode("utf-8") + ","
        return (start + ("]\n" + start).join(map(str, lines.tolist())) + "]\n").encode("utf-8")

    def raw(self, row: int) -> bytes | dict[str, Any]:
        payload = self._payload[self._file[row]]
        offset = self._offset[row]
        if isinstance(payload, list):
            return payload[offset]
        if isinstance(payload, bytes):
            end = payload.find(b"\n", offset)
            return payload[offset : None if end < 0 else end].rstrip(b"\r")
        with open(payload, "rb") as handle:
            handle.seek(offset)
            return handle.readline().rstrip(b"\r\n")

    def replay(self, row: int, upto: int | None = None) -> dict[str, Any] | None:
        """Row `row`'s example as it enters transform `upto` (None: the final example)."""
        plan_index = self._plan[row]
        worker = self._replayers.get(plan_index)
        if worker is None:
            worker = self._replayers[plan_index] = RowWorker(self.plans[plan_index])
        steps = len(self.plans[plan_index].steps)
        return worker.replay(self.raw(row), steps if upto is None else upto)

    def text(self, row: int, upto: int | None = None, of: Callable[..., str] = example_text) -> str:
        example = self.replay(row, upto)
        return "" if example is None else of(example)


# --------------------------------------------------------------------------- columns


class _Bytes:
    """Fixed-width byte strings appended one or a batch at a time, read as one numpy array."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.data = bytearray()

    def extend(self, values: list[bytes]) -> None:
        self.data += b"".join(values)

    def array(self, dtype: str) -> npt.NDArray[Any]:
        values = np.frombuffer(self.data, dtype=dtype)  # shared, not copied: read after the pass
        per_row = self.width // np.dtype(dtype).itemsize
        return values.reshape(-1, per_row) if per_row > 1 else values


@dataclass
class SplitColumns:
    """One output split's rows, compactly: one entry per row as read (a weight's repeats are
    `copies`), in output order. Per-example findings are kept only for rows that have one."""

    name: SplitName
    row: array[int] = field(default_factory=lambda: array("q"))  # RowTable index
    copies: array[int] = field(default_factory=lambda: array("h"))
    total: array[int] = field(default_factory=lambda: array("q"))
    trained: array[int] = field(default_factory=lambda: array("q"))
    refusal: array[int] = field(default_factory=lambda: array("b"))
    system: array[int] = field(default_factory=lambda: array("i"))  # index into `system_prompts`
    digests: _Bytes = field(default_factory=lambda: _Bytes(16))
    prompts: _Bytes = field(default_factory=lambda: _Bytes(16))  # digests of the prompts
    prompt_present: array[int] = field(default_factory=lambda: array("b"))  # 0: empty prompt
    diversity: _Bytes = field(default_factory=lambda: _Bytes(16))  # normalised user prompts
    prompt_bands: _Bytes | None = None
    prompt_signed: array[int] = field(default_factory=lambda: array("b"))
    text_bands: _Bytes | None = None
    text_signed: array[int] = field(default_factory=lambda: array("b"))
    empty: list[tuple[int, str]] = field(default_factory=list)  # (position, message)
    cut_off: list[tuple[int, str]] = field(default_factory=list)
    secrets: list[tuple[int, tuple[str, ...]]] = field(default_factory=list)
    writer: StagedWriter | None = None
    staged: StagedObject | None = None

    def __len__(self) -> int:
        return len(self.row)

    @property
    def uploaded(self) -> int:
        """Rows in the output, repeats included."""
        return int(sum(self.copies))

    def totals_uploaded(self) -> npt.NDArray[np.int64]:
        return np.repeat(np.frombuffer(self.total, dtype=np.int64), self.copies)


# --------------------------------------------------------------------------- the pass


@dataclass
class SplitInput:
    """A declared split: its sources, transforms and the plan of its rows' work."""

    name: SplitName
    data: SplitData
    context: SourceContext
    plan: RowPlan
    plan_index: int


class NearPairs:
    """The similarity of a nearDedupe's candidate pairs, known from the last build or
    computed (`near_index.BandIndex`'s `pairs`): a rebuild's candidates are mostly the last
    build's, and comparing two texts means reading both rows again, parsing and shingling
    them (~0.2 ms a pair). A pair is named by the rows' keys (their bytes and the plan) and
    the step; the pairs asked for go to this build's snapshot (`kept`)."""

    def __init__(
        self, table: RowTable, step: int, known: dict[bytes, float], kept: dict[bytes, float]
    ) -> None:
        self.table = table
        self.step = bytes((step % 256,))
        self.known = known
        self.kept = kept

    def __call__(self, row: int, candidate: int, compute: Callable[[], float]) -> float:
        first, second = self.table.key(row), self.table.key(candidate)
        if first is None or second is None:
            return compute()
        name = first + second + self.step
        similarity = self.known.get(name)
        if similarity is None:
            similarity = compute()
        self.kept[name] = similarity
        return similarity


@dataclass
class _Chain:
    """The stateful part of a split's transforms, applied in order to the rows that reach
    each one."""

    split: str
    steps: Sequence[Step]
    table: RowTable
    reports: list[TransformReport]
    diagnostics: list[Diagnostic]
    known_pairs: dict[bytes, float] = field(default_factory=dict)  # the last build's
    kept_pairs: dict[bytes, float] = field(default_factory=dict)  # for the next
    seen: list[DigestIndex] = field(default_factory=list)
    near: list[BandIndex | None] = field(default_factory=list)
    # A rebuild's: per nearDedupe step, the hashes its snapshot's records hold twice
    # (`row_reuse.RowReuse.repeated_hashes`), which tell the rows alone (`near_lonely`).
    repeated_of: Callable[[int], Repeated | None] | None = None
    lonely: dict[int, LonelyRows] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for index, step in enumerate(self.steps):
            self.seen.append(DigestIndex())
            if step.kind == "near":
                self.near.append(
                    BandIndex(
                        step.threshold,
                        step.num_perm,
                        lambda key, upto=index: self.table.text(key, upto),  # type: ignore[misc]
                        NearPairs(self.table, index, self.known_pairs, self.kept_pairs),
                    )
                )
            else:
                self.near.append(None)

    def run(self, rows: npt.NDArray[np.int64], block: RowBlock, live: Positions) -> Positions:
        """The positions (into `block`, of `live` ones) of the rows that come out of every
        transform; `rows[p]` is the `RowTable` row of position p."""
        records = block.records
        for index, step in enumerate(self.steps):
            report = self.reports[index]
            report.rows_in += live.size
            if step.kind == "near":
                live = self._near(index, live, rows, block, report)
            elif step.kind == "dedupe":
                live = self._dedupe(index, live, rows, block, report)
            elif step.kind == "max":
                live = self._max(index, step, live, rows, block, report)
            else:  # system, map, skip
                # A mapFields error left the row here: reported once, at this step.
                stopped = records["stop"][live] == index
                for p in live[stopped].tolist():
                    origin = self.table.origin(int(rows[p]))
                    self.diagnostics.append(
                        Diagnostic(
                            file=origin.file,
                            line=origin.line,
                            field="mapFields",
                            message=_why(block, p),
                        )
                    )
                live = live[~stopped]
                report.changed += int(np.count_nonzero(records[step_field(index)][live]))
            report.rows_out += live.size
        return live

    def _max(
        self,
        index: int,
        step: Step,
        live: Positions,
        rows: npt.NDArray[np.int64],
        block: RowBlock,
        report: TransformReport,
    ) -> Positions:
        """maxTokens: status 0 fits, 1 truncated, 2 over (kept as is, or dropped)."""
        status = block.records[step_field(index, "status")][live]
        if step.action == "error":
            over = live[status != 0]
            tokens = block.records[step_field(index, "tokens")][over].tolist()
            for p, count in zip(over.tolist(), tokens, strict=True):
                origin = self.table.origin(int(rows[p]))
                self.diagnostics.append(
                    Diagnostic(
                        file=origin.file,
                        line=origin.line,
                        field=f"data.{self.split}.transforms[{index}].maxTokens",
                        message=f"example has {count} tokens, more than the limit of {step.limit}",
                    )
                )
            return live
        report.changed += int(np.count_nonzero(status == 1))
        dropped = status == 2
        for p in live[dropped].tolist():
            report.drop(self.table.origin(int(rows[p])), _why(block, p))
        kept: Positions = live[~dropped]
        return kept

    def _dedupe(
        self,
        index: int,
        live: Positions,
        rows: npt.NDArray[np.int64],
        block: RowBlock,
        report: TransformReport,
    ) -> Positions:
        """`dedupe`: a row whose digest (at this step) an earlier row had is dropped."""
        if not live.size:
            return live
        earlier = self.seen[index].first_of_each(
            np.ascontiguousarray(block.records[step_field(index)][live]), rows[live]
        )
        origin = self.table.origin
        return self._drop_found(
            live,
            rows,
            report,
            [None if first < 0 else f"duplicate of {origin(first)}" for first in earlier.tolist()],
        )

    def _near(
        self,
        index: int,
        live: Positions,
        rows: npt.NDArray[np.int64],
        block: RowBlock,
        report: TransformReport,
    ) -> Positions:
        index_of = self.near[index]
        assert index_of is not None
        if not live.size:
            return live
        keys = rows[live]
        hashes = block.records[step_field(index)][live]
        signed = block.records[step_field(index, "signed")][live].astype(np.bool_)
        lonely = None
        if self.repeated_of is not None:
            if index not in self.lonely:
                self.lonely[index] = LonelyRows(functools.partial(self.repeated_of, index))
            fresh = np.zeros(live.size, np.bool_) if block.fresh is None else block.fresh[live]
            lonely = self.lonely[index].of(hashes, signed, fresh)
        matches = index_of.query_insert_in_order(
            keys,
            hashes,
            signed,
            lambda k: self.table.text(int(keys[k]), index),
            keep_all=False,
            lonely=lonely,
        )
        origin = self.table.origin
        return self._drop_found(
            live,
            rows,
            report,
            [
                None
                if match is None
                else f"near-duplicate of {origin(match.key)}, {match.similarity:.0%} similar"
                for match in matches
            ],
        )

    def _drop_found(
        self,
        live: Positions,
        rows: npt.NDArray[np.int64],
        report: TransformReport,
        why: list[str | None],
    ) -> Positions:
        """The positions of `live` whose `why` is None; the others dropped, with theirs."""
        kept = np.ones(live.size, dtype=np.bool_)
        for k, reason in enumerate(why):
            if reason is not None:
                kept[k] = False
                report.drop(self.table.origin(int(rows[live[k]])), reason)
        return live[kept]


def _why(block: RowBlock, position: int) -> str:
    """Why a row left the transforms (its whole result is kept: it is rare)."""
    result = block.rare.get(position)
    return "" if result is None else result.stop_why


@dataclass
class Streamed:
    """What the pass produced: the output splits, reports and diagnostics."""

    columns: dict[SplitName, SplitColumns]
    reads: dict[SplitName, list[SourceRead]]
    transforms: dict[SplitName, list[TransformReport]]
    weighted: dict[SplitName, tuple[int, int]]
    read_problems: list[Diagnostic]
    diagnostics: list[Diagnostic]  # transforms' findings and format errors (capped per file)
    system_prompts: list[str | None]
    table: RowTable
    rows_computed: int = 0
    rows_reused: int = 0


@dataclass
class _Batch:
    split: SplitInput
    source: int
    rows: list[int]  # RowTable indexes
    last_of: tuple[SourceRead, _Limit]
    block: RowBlock | None = None  # None: still with the pool
    # Rows found in the last build (`row_reuse`): the batch's block, but for the rows at
    # `missing`, which the pool's answer fills (in order).
    found: RowBlock | None = None
    missing: list[int] = field(default_factory=list)


@dataclass
class _Limit:
    """A source's `limit`: rows counted as their results come back, in order."""

    limit: int | None
    count_reads: bool = True  # False: the rows were counted when read (inline rows)
    kept: int = 0
    read: int = 0
    done: bool = False


class StreamBuild:
    """One pass over a project's declared splits (see the module's docstring)."""

    def __init__(
        self,
        splits: Sequence[SplitInput],
        derived: DerivedSplit | None,
        pool: RowPool,
        store: ExampleCache | None,
        staging: Staging,
        namespaces: Sequence[str],
        previous: Sequence[Path] = (),
        progress: Callable[[int], None] | None = None,
        reuse: RowReuse | None = None,
        snapshot: SnapshotWriter | None = None,
        carry: LineCarry | None = None,
    ) -> None:
        """`previous`: the split objects of the project's last build (lines to copy);
        `progress(n)`: called with the bytes of the source files read so far, a chunk at a
        time; `reuse`: the last build's rows, looked up here before a batch goes to the pool;
        `snapshot`: where this build's row results go (for the next build's `reuse`; None: no
        later build is given them); `carry`: the keys of the files' lines carried from the
        last build (a rebuild's), and kept for the next (where a snapshot is written)."""
        self.splits = splits
        self._progress = progress
        self._bytes_before = 0  # of the files read to their end
        self.derived = derived
        self.pool = pool
        self.store = store
        self.staging = staging
        self.reuse = reuse
        # What the lines of rows found in the last build are copied from (kept when
        # `reuse` is let go: a borrowed snapshot's, on its first batch, before any is).
        self._lines_from = reuse
        self.snapshot = snapshot
        # The rows' keys carried from the last build's copy of each file (`line_carry`):
        # read where the file's lines are looked up, written for the next build.
        self.carry = carry
        self._carried: CarriedKeys | None = None  # the file being read's
        # Workers look rows up only in a cache that holds something (a first build has none).
        cache = store.path if store is not None and store.path and store.path.exists() else None
        earlier = tuple(previous) if cache is not None else ()
        self.jobs = [
            Job(s.plan, ns, cache, earlier) for s, ns in zip(splits, namespaces, strict=True)
        ]
        self.table = RowTable()
        self.table.plans = [s.plan for s in splits]
        self.columns: dict[SplitName, SplitColumns] = {}
        self.reads: dict[SplitName, list[SourceRead]] = {}
        self.reports: dict[SplitName, list[TransformReport]] = {}
        self.weighted: dict[SplitName, list[int]] = {}
        self.read_problems = RowErrors()
        self.transform_diagnostics: list[Diagnostic] = []
        self.format_problems: dict[SplitName, RowErrors] = {}
        self.system_prompts: list[str | None] = []
        # System prompts as ids: the interned ones (in records) and those in the output,
        # numbered in the order the output has them (`_append`).
        self.interner = Interner()
        self._system_out: list[int] = []
        self.layouts = [Layout(s.plan) for s in splits]
        self._pairs: dict[bytes, float] = {}  # nearDedupe's pairs compared (`NearPairs`)
        if snapshot is not None:
            snapshot.strings = self.interner.strings
            snapshot.pairs = self._pairs
        self._chains: dict[SplitName, _Chain] = {}
        self._pending: deque[_Batch] = deque()
        # Rows held for the pool: (job, [(batch, rows of it)], rows); see `_hold`.
        self._held: list[tuple[Job, list[tuple[_Batch, int]], list[bytes]]] = []
        self._hashing = ThreadPoolExecutor(1, thread_name_prefix="ftctl-source-hash")
        self._reading: list[ThreadPoolExecutor] = []  # `_repeated_of`'s
        self.computed = 0
        self.reused = 0
        # A rebuild's new records' band hashes, by their place in the records (None: a
        # build with no snapshot to take records from, or one that took few of them).
        self._new_hashes: dict[BandGeometry, list[U64]] | None = None if reuse is None else {}
        self._new_rows = 0
        self._answered = False  # the pool has answered a request (`MAX_PENDING_FIRST`)
        self._judged = False  # a borrowed snapshot's first lookup was judged (`_look_up`)

    def _repeated_of(self, split: SplitInput) -> Callable[[int], Repeated | None] | None:
        """A rebuild's `_Chain.repeated_of` for `split` (None for a build without a
        snapshot to reuse). The rows are judged fresh as `self.reuse` finds them; once it
        is let go (`_look_up`), none is. The project's own snapshot is read for them on
        a thread of its own, beside the pass's start (~70 ms at 200,000 rows; numpy and the
        reads release the GIL); another project's, only if a row is taken from it."""
        reuse = self.reuse
        if reuse is None:
            return None
        layout = self.layouts[split.plan_index]
        if reuse.borrowed or not READ_REPEATED_AHEAD:
            return lambda step: reuse.repeated_hashes(layout, step)
        steps = [index for index, step in enumerate(split.plan.steps) if step.kind == "near"]
        if not steps:
            return None
        reading = ThreadPoolExecutor(1, thread_name_prefix="ftctl-near-repeated")
        ahead = {index: reading.submit(reuse.repeated_hashes, layout, index) for index in steps}
        reading.shutdown(wait=False)
        self._reading.append(reading)  # done before the snapshot is closed (`run`)
        # Not waited for: the rows of the steps' first calls are looked up until it is done.
        return lambda step: _result_if_done(ahead[step])

    # ------------------------------------------------------------------ driving

    def run(self) -> Streamed:
        for split in self.splits:
            transforms = split.data.transforms
            self.reports[split.name] = [TransformReport(name=transform_name(t)) for t in transforms]
            self._chains[split.name] = _Chain(
                split.name,
                split.plan.steps,
                self.table,
                self.reports[split.name],
                self.transform_diagnostics,
                {} if self.reuse is None else self.reuse.snapshot.pairs,
                self._pairs,
                repeated_of=self._repeated_of(split),
            )
            self.weighted[split.name] = [0, 0]
            self.reads[split.name] = []
        for name in SPLIT_ORDER:
            if any(s.name == name for s in self.splits) or (
                name == "validation" and self.derived is not None
            ):
                self.columns[name] = self._new_columns(name)
        try:
            for split in self.splits:
                for index, source in enumerate(split.data.sources):
                    self._read_source(split, index, source)
            self._drain()
        finally:
            self._hashing.shutdown()
            for reading in self._reading:
                reading.shutdown()
        if self.carry is not None:  # every row is keyed once the pass is done
            for copy in self.carry.writers:
                copy.keys = self.table.keys_between(copy.first_row, copy.stop_row)
        self._keep_repeated()
        self._chains.clear()  # the transforms' indexes are not needed past the pass
        for columns in self.columns.values():
            assert columns.writer is not None
            columns.staged = columns.writer.finish()
        return Streamed(
            columns=self.columns,
            reads=self.reads,
            transforms=self.reports,
            weighted={k: (v[0], v[1]) for k, v in self.weighted.items()},
            read_problems=listed([self.read_problems]),
            diagnostics=[
                *self.transform_diagnostics,
                *listed(
                    [self.format_problems[n] for n in SPLIT_ORDER if n in self.format_problems]
                ),
            ],
            system_prompts=self.system_prompts,
            table=self.table,
            rows_computed=self.computed,
            rows_reused=self.reused,
        )

    def _new_columns(self, name: SplitName) -> SplitColumns:
        columns = SplitColumns(name)
        plan = next((s.plan for s in self.splits if s.name == name), self.splits[0].plan)
        if plan.leakage:
            columns.prompt_bands = _Bytes(0)
        if plan.near is not None:
            columns.text_bands = _Bytes(0)
        columns.writer = self.staging.writer()
        return columns

    # ------------------------------------------------------------------ reading

    def _read_source(self, split: SplitInput, index: int, source: Source) -> None:
        context = split.context
        read = SourceRead(index=index, kind="path", name="", kept=0)
        self.reads[split.name].append(read)
        limit = _Limit(source.limit)
        if isinstance(source, InlineSource):
            read.kind, read.name = "inline", "inline"
            self._read_inline(split, index, source, read, limit)
        elif isinstance(source, PathSource):
            read.name = source.path
            self._read_path(split, index, source, read, limit)
        else:
            read.kind, read.name = "git", f"{source.git.path}@{source.git.rev}"
            found = read_git_blob(index, source, context, read)
            for problem in read.diagnostics:
                self.read_problems.add(problem)
            if found is None:
                return
            shown, data = found
            file = self.table.add_file(shown, data)
            self._feed_lines(split, index, file, split_lines(data, 1), read, limit)
            self._drain()

    def _read_inline(
        self, split: SplitInput, index: int, source: InlineSource, read: SourceRead, limit: _Limit
    ) -> None:
        context = split.context
        shown = context.source_map.display
        read.files.append(shown)
        digest = hashlib.sha256()
        good: list[dict[str, Any]] = []
        lines: list[int | None] = []
        for row, example in enumerate(source.inline):
            line, _column = context.source_map.locate(context.field(index, "inline", row))
            read.rows_read += 1
            try:
                digest.update(canonical_line(example))
            except (ValueError, TypeError) as error:  # YAML allows .nan, .inf, !!binary
                read.diagnostics.append(
                    context.error(index, ("inline", row), f"the row is not JSON: {error}")
                )
                continue
            good.append(example)
            lines.append(line)
            if source.limit is not None and len(good) >= source.limit:
                break
        read.content_hash = digest.hexdigest()
        read.file_hashes.append(read.content_hash)
        for problem in read.diagnostics:
            self.read_problems.add(problem)
        file = self.table.add_file(shown, good)
        limit.limit = None  # already applied, and the rows counted
        limit.count_reads = False
        self._feed(
            split, index, file, ((ln, i, good[i]) for i, ln in enumerate(lines)), read, limit
        )
        self._drain()

    def _read_path(
        self, split: SplitInput, index: int, source: PathSource, read: SourceRead, limit: _Limit
    ) -> None:
        import os

        context = split.context
        files = resolve_path_source(source, context, index)
        if not files:
            is_glob = bool(GLOB_CHARS & set(source.path))
            candidate = Path(os.path.normpath(context.project_dir / source.path))
            if is_glob:
                message = f"glob '{source.path}' matches no file"
            elif candidate.is_dir():
                message = f"'{source.path}' is a directory; expected a JSONL file"
            else:
                message = f"file not found: {context.display(candidate)}"
            problem = context.error(index, ("path",), message)
            read.diagnostics.append(problem)
            self.read_problems.add(problem)
            return
        content = hashlib.sha256()
        for path in files:
            shown = context.display(path)
            read.files.append(shown)
            file = self.table.add_file(shown, path)
            digest = hashlib.sha256()
            copy = self._carry_file(split, index, source, path)
            try:
                stopped = self._feed_file(
                    split, index, file, _file_chunks(path, digest, self._hashing, copy), read, limit
                )
            except OSError as problem:
                error = context.error(index, ("path",), f"cannot read {shown}: {problem.strerror}")
                read.diagnostics.append(error)
                self.read_problems.add(error)
                file_hash, complete = "", False
            else:
                if stopped is not None:
                    file_hash, consumed = stopped
                    complete = path.stat().st_size <= consumed
                else:
                    file_hash, complete = digest.hexdigest(), True
            finally:
                if self._carried is not None:
                    self._carried.close()
                    if self._carried.stale and self.carry is not None:
                        self.carry.drop(self._carried)  # the next build keeps a new copy
                    self._carried = None
            if copy is not None:  # (a file with a `limit` has none)
                copy.stop_row = self.table.count
                copy.complete = complete
            read.file_hashes.append(file_hash if complete else None)
            content.update(f"{shown}\0{file_hash}\0{limit.kept}\n".encode())
            if limit.done:
                break
        read.content_hash = content.hexdigest()

    def _carry_file(
        self, split: SplitInput, index: int, source: PathSource, path: Path
    ) -> CarryWriter | None:
        """Open the keys carried from an earlier build for `path` (a rebuild's: `_look_up`
        takes them), or else start the copy kept for the next build (where a snapshot is
        written and the file is read whole): its writer. A copy kept is not written again
        by the builds that use it (118 MB at 50,000 rows cost a rebuild more than its keys
        do): their edited lines are hashed, until they are too many (`stale`)."""
        if self.carry is None:
            return None
        namespace = self.jobs[split.plan_index].namespace
        if self.reuse is not None:
            self._carried = self.carry.reader(path, namespace, split.name, index)
        if self._carried is not None or self.snapshot is None or source.limit is not None:
            return None
        return self.carry.writer(path, namespace, split.name, index, self.table.count)

    def _feed_file(
        self,
        split: SplitInput,
        index: int,
        file: int,
        chunks: Iterator[_FileChunk],
        read: SourceRead,
        limit: _Limit,
    ) -> tuple[str, int] | None:
        """Feed a file's chunks. With a `limit`, each chunk is settled before the next is
        read: (the hash of the bytes read, bytes consumed) where the limit was reached, or
        None when the file was read to its end."""
        consumed = 0
        try:
            for chunk in chunks:
                self._feed_lines(split, index, file, chunk.lines, read, limit)
                consumed = chunk.consumed
                if self._progress is not None:
                    self._progress(self._bytes_before + consumed)
                if limit.limit is not None:
                    self._drain()
                    if limit.done:
                        return chunk.hashed.result().hexdigest(), chunk.consumed
            return None
        finally:
            self._bytes_before += consumed

    def _feed_lines(
        self,
        split: SplitInput,
        index: int,
        file: int,
        lines: Lines,
        read: SourceRead,
        limit: _Limit,
    ) -> None:
        """Feed the lines of a file's chunk (or of a whole git blob), a batch at a time."""
        rows = self._batch_rows
        for first in range(0, len(lines.block), rows):
            if limit.done:  # a batch's results may reach the source's limit
                return
            stop = min(len(lines.block), first + rows)
            added = self.table.add_rows(
                file, lines.numbers[first:stop], lines.offsets[first:stop], split.plan_index
            )
            # Looked up here first (only the rows not found are sent on, copied), or sent to
            # a worker with only its own bytes.
            batch = lines.block.shared if self.reuse is not None else lines.block.part
            self._submit(split, index, added, batch(first, stop), read, limit)

    def _feed(
        self,
        split: SplitInput,
        index: int,
        file: int,
        rows: Iterator[tuple[int | None, int, bytes | dict[str, Any]]],
        read: SourceRead,
        limit: _Limit,
    ) -> None:
        while not limit.done:  # a batch's results may reach the source's limit
            batch = list(itertools.islice(rows, BATCH_ROWS))
            if not batch:
                return
            lines, offsets, raws = zip(*batch, strict=True)
            added = self.table.add_rows(file, lines, offsets, split.plan_index)
            self._submit(split, index, added, list(raws), read, limit)

    # ------------------------------------------------------------------ batches

    def _submit(
        self,
        split: SplitInput,
        index: int,
        rows: list[int],
        raws: Rows,
        read: SourceRead,
        limit: _Limit,
    ) -> None:
        batch = _Batch(split, index, rows, (read, limit))
        job = self.jobs[split.plan_index]
        if self.reuse is not None and isinstance(raws, LineBlock):
            missed = self._look_up(batch, job, raws)
            if batch.block is None:
                self._hold(batch, job, missed)
        elif batch.block is None:
            self._send()  # the pool answers in the order asked
            self._ask(job, [(batch, len(raws))], raws)
        self._pending.append(batch)
        ahead = (MAX_PENDING if self._answered else MAX_PENDING_FIRST) * BATCH_ROWS
        ahead //= self._batch_rows  # the same rows ahead, whatever the batches' size
        while self.pool.ready or len(self._pending) > ahead:
            if self._pending[0].block is None:
                self._collect_one()
            else:
                self._process_ready()

    @property
    def _batch_rows(self) -> int:
        """Rows a batch is cut to: `LOOKUP_ROWS` while the last build's rows are looked up
        here (a rebuild), else `BATCH_ROWS` (each batch goes to a worker)."""
        return BATCH_ROWS if self.reuse is None else LOOKUP_ROWS

    def _hold(self, batch: _Batch, job: Job, missed: list[bytes]) -> None:
        """Keep a batch's rows not found in the last build to ask the pool for with those
        of the batches after it: a request has a cost of its own in a worker (~1 ms: its
        numpy and tokenizer calls, its SQLite query), and a rebuild's batch misses a few
        rows. Sent when the rows held would fill a batch, when `HELD_BATCHES` wait, or when
        the oldest of them is wanted (`_collect_one`)."""
        if self._held and self._held[0][0] is not job:
            self._send()
        if not self._held:
            self._held.append((job, [], []))
        _job, batches, rows = self._held[0]
        batches.append((batch, len(missed)))
        rows.extend(missed)
        if len(rows) >= BATCH_ROWS or len(batches) * LOOKUP_ROWS >= HELD_BATCHES * BATCH_ROWS:
            self._send()

    def _send(self) -> None:
        """Ask the pool for the rows held (`_hold`)."""
        if self._held:
            job, batches, rows = self._held.pop()
            self._ask(job, batches, rows)

    def _ask(self, job: Job, batches: list[tuple[_Batch, int]], rows: Rows) -> None:
        while self.pool.full:
            self._collect_one()
        self.pool.submit(batches, job, rows)

    def _look_up(self, batch: _Batch, job: Job, lines: LineBlock) -> list[bytes]:
        """Take the results of the rows the last build had (`row_reuse`); the lines of the
        others, for the pool (none: the batch is ready)."""
        assert self.reuse is not None
        layout = self.layouts[batch.split.plan_index]
        carried = None if self._carried is None else self._carried.keys_of(lines)
        found = self.reuse.look_up(job.namespace, lines, layout, self.interner, carried)
        if self.reuse.borrowed and not self._judged:
            self._judged = True
            if len(found.missing) * 2 > len(lines):
                # Another project's rows, and most of this build's first batch is not among
                # them: nothing taken from there, and not looked up there again (each key
                # would cost the pass for nothing).
                self.reuse = None
                return [lines.line(i) for i in range(len(lines))]
            self.reuse.check()  # what is taken from it is verified (`RowReuse.intact`)
        self.table.set_keys(batch.rows, found.keys)
        if self.snapshot is not None:
            keys = found.keys
            self.snapshot.add_records(
                [keys[i] for i in found.plain.tolist()],
                take_records(found.block.records, found.plain),
            )
            self.snapshot.add_many(found.rare)
        self.reused += len(lines) - len(found.missing)
        if not found.missing:
            batch.block = found.block
            return []
        batch.found, batch.missing = found.block, found.missing
        return [lines.line(i) for i in found.missing]

    def _collect_one(self) -> None:
        """The results of the oldest batch with the pool (decided later, with the batches
        ready next to it: `_process_ready`)."""
        if not self.pool.pending():
            self._send()  # the oldest batch waiting is among those held
        batches, answer = self.pool.collect()  # requests come back in the order sent
        self._answered = True
        at = 0
        for batch, count in batches:
            layout = self.layouts[batch.split.plan_index]
            answered = RowBlock.unpacked(layout, answer.results, at, at + count, self.interner)
            if batch.found is None:  # every row of the batch was asked for
                self.table.set_keys(batch.rows, answer.keys[at : at + count])
                batch.block = answered
            else:
                batch.found.put(batch.missing, answered)
                batch.block, batch.found, batch.missing = batch.found, None, []
            if self.snapshot is not None:
                self._snapshot(answer.keys[at : at + count], answered, layout)
            at += count
        if answer.stale and self.store is not None:
            self.store.mark_used("rows", answer.stale)  # what the cache's trim keeps
        self.reused += answer.reused
        self.computed += len(answer.results.lines) - answer.reused

    def _snapshot(self, keys: list[bytes], block: RowBlock, layout: Layout) -> None:
        """Give the snapshot the rows of a pool's answer: records, and the rare rows'
        whole results (without their lines, which the next build copies)."""
        assert self.snapshot is not None
        plain = np.flatnonzero(block.records["rare"] == 0)
        records = take_records(block.records, plain)
        self.snapshot.add_records([keys[i] for i in plain.tolist()], records)
        if self._new_hashes is not None:
            self._note_new_hashes(records, layout)
        rare: list[tuple[bytes, bytes]] = []
        for i, result in block.rare.items():
            try:
                rare.append((keys[i], Layout.whole_value(result) + bytes((RARE,))))
            except ValueError:  # a value marshal cannot hold: not kept
                continue
        self.snapshot.add_many(rare)

    def _note_new_hashes(self, records: Records, layout: Layout) -> None:
        """Keep the band hashes of records that the last build's snapshot did not give
        (`_keep_repeated`), while they are few."""
        assert self._new_hashes is not None
        self._new_rows += records.size
        if self._new_rows > _MOST_NEW_NOTED * (self.reused + self.computed) + BATCH_ROWS:
            self._new_hashes = None  # most rows are new: the exact set is found instead
            return
        for index, geometry in layout.near_steps():
            signed = records[step_field(index, "signed")] != 0
            self._new_hashes.setdefault(geometry, []).append(
                records[step_field(index)][signed].ravel()
            )

    def _keep_repeated(self) -> None:
        """Tell the snapshot the repeated hashes of each nearDedupe step (`near_lonely`):
        those of the last build's snapshot with the new records' (`_note_new_hashes`)."""
        if self.snapshot is None:
            return
        rows = self.reused + self.computed
        # Each place once: splits of one plan share their layout.
        geometries = {
            geometry
            for split in self.splits
            for _index, geometry in self.layouts[split.plan_index].near_steps()
        }
        for geometry in geometries:
            if self._new_hashes is None or self.reuse is None:
                self.snapshot.exact.add(geometry)
            else:
                self.snapshot.keep_repeated(
                    geometry,
                    self.reuse.last_repeated(geometry),
                    self._new_hashes.get(geometry, []),
                    rows,
                )

    def _drain(self) -> None:
        # The rows held go to the pool now, not when the first batch of theirs is to be
        # decided: the workers answer them while the ready batches before it are decided
        # (a rebuild's last batches waited ~20 ms for them).
        self._send()
        while self._pending:
            if self._pending[0].block is None:
                self._collect_one()
            else:
                self._process_ready()

    def _process_ready(self) -> None:
        """Decide the ready batches at the front of the queue, those of one source together
        (up to `GROUP_ROWS` rows): the in-order steps (nearDedupe's index above all) cost
        less per row over more rows at once."""
        first = self._pending.popleft()
        assert first.block is not None
        group = [first]
        size = len(first.rows)
        while self._pending:
            after = self._pending[0]
            if (
                after.block is None
                or after.split is not first.split
                or after.source != first.source
                or size + len(after.rows) > GROUP_ROWS
            ):
                break
            group.append(self._pending.popleft())
            size += len(after.rows)
        if len(group) == 1:
            self._process(first)
            return
        merged = _Batch(first.split, first.source, [], first.last_of)
        for batch in group:
            merged.rows.extend(batch.rows)
        merged.block = RowBlock.joined([b.block for b in group if b.block is not None])
        self._process(merged)

    # ------------------------------------------------------------------ in order

    def _process(self, batch: _Batch) -> None:
        block = batch.block
        assert block is not None
        read, limit = batch.last_of
        if limit.done:
            return
        split = batch.split
        records = block.records
        ok = records["error"] == 0
        end = len(block)
        if limit.limit is not None:
            kept_after = np.cumsum(ok) + limit.kept  # rows kept, up to each row
            reached = np.flatnonzero(ok & (kept_after >= limit.limit))
            if reached.size:
                end = int(reached[0]) + 1  # the rows after it are not read
                limit.done = True
        if limit.count_reads:
            read.rows_read += end
        for p in np.flatnonzero(~ok[:end]).tolist():
            category, message, column = block.rare[p].error  # type: ignore[misc]
            origin = self.table.origin(batch.rows[p])
            self.read_problems.add(
                Diagnostic(
                    file=origin.file,
                    line=origin.line,
                    column=column,
                    field=category,
                    message=message,
                )
            )
        live = np.flatnonzero(ok[:end])
        limit.kept += live.size
        read.kept = (read.kept or 0) + live.size
        if self.read_problems:
            return  # the build fails on reading: nothing more to decide
        rows = np.array(batch.rows, dtype=np.int64)
        survivors = self._chains[split.name].run(rows, block, live)
        weight = split.data.sources[batch.source].weight
        counts = self.weighted[split.name]
        counts[0] += survivors.size
        copies = _copies(weight, lambda: self._lines(block, survivors), survivors)
        survivors, copies = survivors[copies > 0], copies[copies > 0]
        if self.snapshot is not None and survivors.size < live.size:
            self._keep_left_out(rows, block, np.setdiff1d(live, survivors, assume_unique=True))
        counts[1] += int(copies.sum())
        fraction = self.derived.split.fraction if self.derived is not None else None
        if split.name != "train" or fraction is None or not survivors.size:
            self._append(
                self.columns[split.name], rows, block, survivors, copies, split.plan.diversity
            )
            return
        held_out = records["split_u"][survivors] < fraction
        # Per output split, in the order the first row of each came (what numbers the
        # system prompts: `_append`).
        targets: list[tuple[SplitName, npt.NDArray[np.bool_]]] = [
            ("validation", held_out),
            ("train", ~held_out),
        ]
        if not held_out[0]:
            targets.reverse()
        for target, chosen in targets:
            if chosen.any():
                self._append(
                    self.columns[target],
                    rows,
                    block,
                    survivors[chosen],
                    copies[chosen],
                    split.plan.diversity,
                )

    def _keep_left_out(
        self, rows: npt.NDArray[np.int64], block: RowBlock, left_out: Positions
    ) -> None:
        """Put in the example cache the results of rows this build leaves out of its output
        (`dedupe`, `nearDedupe`, a weight of 0): the snapshot has them too, but the next
        build has no line of theirs to copy, so it asks a worker, which finds them there
        and makes only the line (a build that keeps them, once their earlier copy is edited
        away, works on none of them). A few rows a build; the others are in the snapshot
        alone (`row_reuse.RowReuse.left_behind`)."""
        if self.store is None:
            return
        strings = self.interner.strings
        values: list[tuple[bytes, bytes]] = []
        for p in left_out.tolist():
            key = self.table.key(int(rows[p]))
            if key is None:
                continue
            rare = block.rare.get(p)
            try:
                if rare is not None:
                    values.append((key, Layout.whole_value(rare)))
                else:
                    record = block.records[p]
                    values.append(
                        (key, Layout.cache_value(record.tobytes(), strings[record["system"]]))
                    )
            except ValueError:  # a value marshal cannot hold: not kept
                continue
        self.store.put_many("rows", values)

    def _append(
        self,
        columns: SplitColumns,
        rows: npt.NDArray[np.int64],
        block: RowBlock,
        chosen: Positions,
        copies: npt.NDArray[np.int64],
        diversity: bool,
    ) -> None:
        """Add the rows at `chosen` (positions of `block`, `rows[p]` their `RowTable` rows)
        to a split: its file and its columns, a column at a time."""
        start = len(columns)
        writer = columns.writer
        assert writer is not None
        records = take_records(block.records, chosen)
        table_rows = rows[chosen]
        digests = records["digest"].tobytes()
        if (copies == 1).all():
            # Lines (a rebuild's: pieces copied from the last build's objects, `_lines`)
            # and origins written as blocks, not a bytes object a row.
            lengths = np.zeros(chosen.size, dtype=np.int64)
            held = np.arange(chosen.size)  # (of `chosen`) the rows whose line `block` holds
            if block.copied is not None:
                copied = block.copied[chosen]
                lengths = copied[:, REF_LENGTH].copy()
                held = np.flatnonzero(copied[:, REF_OBJECT] < 0)
            lengths[held] = [len(block.lines[p]) for p in chosen[held].tolist()]
            writer.write_joined(
                self._spans(block, chosen), lengths, self.table.origin_block(table_rows), digests
            )
        else:
            writer.write_many(
                self._lines(block, chosen),
                self.table.origin_lines(table_rows.tolist()),
                copies.tolist(),
                [digests[k : k + 16] for k in range(0, len(digests), 16)],
            )
        columns.row.frombytes(table_rows.astype("=i8").tobytes())
        columns.copies.frombytes(copies.astype("=i2").tobytes())
        columns.total.frombytes(records["total"].astype("=i8").tobytes())
        columns.trained.frombytes(records["trained"].astype("=i8").tobytes())
        columns.refusal.frombytes(records["refusal"].astype("=i1").tobytes())
        columns.system.frombytes(self._output_systems(records["system"]).tobytes())
        columns.digests.data += digests
        if columns.prompt_bands is not None:
            columns.prompts.data += records["prompt"].tobytes()
            columns.prompt_present.frombytes(records["prompt_present"].astype("=i1").tobytes())
            _extend_bands(
                columns.prompt_bands,
                columns.prompt_signed,
                records["prompt_bands"],
                records["prompt_signed"],
            )
        if columns.text_bands is not None:
            _extend_bands(
                columns.text_bands,
                columns.text_signed,
                records["text_bands"],
                records["text_signed"],
            )
        if diversity:  # a plan without the check has no digests to keep
            columns.diversity.data += records["diversity"].tobytes()
        for p in np.flatnonzero(records["rare"]).tolist():
            result = block.rare[int(chosen[p])]
            at = start + p
            if result.empty is not None:
                columns.empty.append((at, result.empty))
            if result.cut_off is not None:
                columns.cut_off.append((at, result.cut_off))
            if result.secrets:
                columns.secrets.append((at, result.secrets))
            if result.issues:
                origin = self.table.origin(int(table_rows[p]))
                problems = self.format_problems.setdefault(columns.name, RowErrors())
                for path, message in result.issues:
                    problems.add(
                        Diagnostic(file=origin.file, line=origin.line, field=path, message=message)
                    )

    def _lines(self, block: RowBlock, positions: Positions) -> list[bytes]:
        """The canonical lines of `block`'s rows at `positions`, one a row: as they are in
        it, or copied from the last build's objects (`RowReuse.lines`)."""
        if block.copied is None:
            return [block.lines[p] for p in positions.tolist()]
        assert self._lines_from is not None
        return self._lines_from.lines(block, positions.tolist())

    def _spans(self, block: RowBlock, positions: Positions) -> list[bytes | Span]:
        """`_lines` as a few pieces (their `b"".join`), those to copy from the last build's
        objects read by the split's writer (`RowReuse.spans`)."""
        if block.copied is None:
            return [block.lines[p] for p in positions.tolist()]
        assert self._lines_from is not None
        return self._lines_from.spans(block, positions.tolist())

    def _output_systems(self, ids: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
        """The output's ids of interned system prompts `ids`: numbered as first written."""
        if not ids.size:
            return ids.astype("=i4")
        out = self._system_out
        if int(ids.max()) < len(out):
            numbered: npt.NDArray[np.int32] = np.asarray(out, dtype="=i4")[ids]
            if numbered.min() >= 0:  # every one numbered already (nearly every batch)
                return numbered
        unique, first = np.unique(ids, return_index=True)
        for interned in unique[np.argsort(first)].tolist():
            if interned >= len(out):
                out.extend([-1] * (interned + 1 - len(out)))
            if out[interned] < 0:
                out[interned] = len(self.system_prompts)
                self.system_prompts.append(self.interner.strings[interned])
        numbered = np.asarray(out, dtype="=i4")[ids]
        return numbered


def _extend_bands(
    store: _Bytes,
    signed: array[int],
    hashes: npt.NDArray[np.uint64],
    flags: npt.NDArray[np.uint8],
) -> None:
    """Append rows' band hashes (zeros for a text without words, `flags` 0)."""
    if store.width == 0:
        if not flags.any():  # no row signed yet: the width is not known, nothing to store
            signed.extend([0] * len(flags))
            return
        store.width = hashes.shape[1] * 8
        # Rows without words came before the first signed one: pad them now.
        store.data += bytes(store.width * len(signed))
    store.data += np.ascontiguousarray(hashes, dtype="<u8").tobytes()
    signed.frombytes(flags.astype("=i1").tobytes())


def band_matrix(
    store: _Bytes | None, signed: array[int]
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.bool_]]:
    flags = (
        np.frombuffer(signed, dtype=np.int8).astype(np.bool_)
        if len(signed)
        else np.zeros(0, np.bool_)
    )
    if store is None or store.width == 0:
        return np.zeros((len(flags), 1), dtype=np.uint64), np.zeros(len(flags), dtype=np.bool_)
    hashes = np.frombuffer(store.data, dtype=np.uint64).reshape(len(flags), store.width // 8)
    return hashes, flags


def _result_if_done(future: Future[Repeated]) -> Repeated | None:
    """A finished read's hashes; None while it runs, or if it failed (the rows are then
    looked up, as without them: a snapshot that cannot be read is not kept either)."""
    if not future.done() or future.exception() is not None:
        return None
    return future.result()


def _copies(
    weight: float, lines: Callable[[], Sequence[bytes]], rows: npt.NDArray[np.intp]
) -> npt.NDArray[np.int64]:
    """How many times each of `rows` is written: the weight's whole part, and one more for a
    row whose unit hash (of its canonical line) falls below its fraction. The hash is made
    here, for the sources of a fractional weight only: in every worker it cost ~3 µs a row
    (1.5% of a cold build's CPU) that almost every build threw away."""
    whole = int(weight)
    fraction = weight - whole
    copies = np.full(rows.size, whole, dtype=np.int64)
    if fraction > 0:
        units = np.array([unit_hash(WEIGHT_SALT, line) for line in lines()])
        copies += units < fraction
    return copies


@dataclass
class _FileChunk:
    lines: Lines
    consumed: int  # bytes of the file read up to the end of this chunk
    hashed: Future[Any]  # the file's hash up to there


def _file_chunks(
    path: Path, digest: Any, hashing: ThreadPoolExecutor, copy: CarryWriter | None = None
) -> Iterator[_FileChunk]:
    """A file's lines a chunk of about `CHUNK_BYTES` at a time (whole lines), as
    `line_block.split_lines` finds them (blank lines skipped, terminators stripped).

    `digest` is fed on the `hashing` thread (hashlib releases the GIL), in order; when the
    file is read to its end, it holds the whole file's hash. `copy`, if given, is written
    the same bytes there, and given the lines' places."""
    line_no = 0
    consumed = 0
    hashed: Future[Any] | None = None
    with open(path, "rb") as handle:
        for data, size in whole_line_chunks(handle, CHUNK_BYTES):
            hashed = hashing.submit(_hash_chunk, digest, memoryview(data)[:size], copy)
            lines = split_lines(data, line_no + 1, consumed, size)
            if copy is not None:
                copy.add_lines(lines.block, consumed)
            line_no += lines.total
            consumed += size
            yield _FileChunk(lines, consumed, hashed)
    if hashed is not None:
        hashed.result()


def _hash_chunk(digest: Any, data: memoryview, copy: CarryWriter | None = None) -> Any:
    digest.update(data)
    if copy is not None:
        copy.write(data)
    return digest.copy()


class RowErrors:
    """Row errors as they are found: the first `LISTED_PER_FILE` of each file kept, the
    rest counted (a file in the wrong format has an error on every line: the first hundred
    show the problem, the count its size, and memory stays flat)."""

    def __init__(self) -> None:
        self.kept: list[Diagnostic] = []
        self.hidden: dict[str, int] = {}
        self._shown: dict[str, int] = {}

    def __bool__(self) -> bool:
        return bool(self.kept)

    def add(self, diagnostic: Diagnostic) -> None:
        if diagnostic.line is None:
            self.kept.append(diagnostic)
            return
        shown = self._shown.get(diagnostic.file, 0)
        if shown < LISTED_PER_FILE:
            self._shown[diagnostic.file] = shown + 1
            self.kept.append(diagnostic)
        else:
            self.hidden[diagnostic.file] = self.hidden.get(diagnostic.file, 0) + 1


def listed(groups: Sequence[RowErrors]) -> list[Diagnostic]:
    """The errors of `groups` in order, the first `LISTED_PER_FILE` of each file, then one
    line per file with the number not listed."""
    merged = RowErrors()
    for group in groups:
        for diagnostic in group.kept:
            merged.add(diagnostic)
        for file, count in group.hidden.items():
            merged.hidden[file] = merged.hidden.get(file, 0) + count
    return [
        *merged.kept,
        *(
            Diagnostic(file=file, message=f"{count} more row error(s) in this file not listed")
            for file, count in merged.hidden.items()
        ),
    ]


def results_namespace(plan: RowPlan, versions: Sequence[tuple[str, str]], ranks: str) -> str:
    """What decides a row's result besides its bytes: the plan and the versions of what
    computes it (ftctl, tiktoken and the encoding's rank file, the checks, MinHash)."""
    payload = pickle.dumps((plan, tuple(versions), ranks), protocol=4)
    digest = hashlib.sha256(payload).hexdigest()
    return (
        f"rows/{RESULT_VERSION}/{digest}/checks={CHECKS_VERSION}/minhash={SIGNATURE_VERSION}"
        f"/ftctl={__version__}"
    )


__all__ = [
    "RowTable",
    "SplitColumns",
    "SplitInput",
    "StreamBuild",
    "Streamed",
    "band_matrix",
    "listed",
    "results_namespace",
]
