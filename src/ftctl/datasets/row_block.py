"""Row results as columns: what the build's main loop decides on, a batch at a time.

A `RowResult` is a tuple of twenty fields; made, read and dropped once per row in the main
loop, it costs that loop ~10 µs a row, which is most of a rebuild's time once the rows
themselves come from the last build. Here a batch's results are one numpy record array
(`Layout`: the fields the main loop decides with, fixed-width, one layout per `RowPlan`),
the rows' canonical lines, and the whole `RowResult` only of the few rows that need more
than the columns: `rare` ones (not an example, left out by a transform, or with a finding
of their own). Records are also what the last build's snapshot keeps (`row_snapshot`):
a rebuild reads them as one array per batch, with no object made per row.
"""

from __future__ import annotations

import marshal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from ftctl.datasets.distinct import distinct
from ftctl.datasets.line_index import unlocated
from ftctl.datasets.row_work import (
    LEAKAGE_NUM_PERM,
    LEAKAGE_THRESHOLD,
    RowPlan,
    RowResult,
    with_line,
)
from ftctl.datasets.similarity import lsh_params

Records = npt.NDArray[np.void]
RECORD_END = 0x50  # b"P": every record's last byte (what tells a record in a snapshot)
SYSTEM_AT = 8  # where every layout's `system` id is (after the flags and `stop`)
_ZERO16 = bytes(16)


Selection = npt.NDArray[np.intp] | npt.NDArray[np.bool_]  # positions, or a mask


def take_records(records: Records, positions: Selection) -> Records:
    """`records[positions]`. numpy copies the rows of a structured array field by field;
    copied as whole records (viewed as one opaque field), 200,000 rows of 318 bytes take
    9 ms instead of 38."""
    return records.view(_opaque(records))[positions].view(records.dtype)


def put_records(records: Records, positions: Selection, values: Records) -> None:
    """`records[positions] = values`, copied as whole records (`take_records`): 6 ms
    instead of 26 for 200,000 rows."""
    records.view(_opaque(records))[positions] = values.view(_opaque(values))


def copy_records(records: Records) -> Records:
    """`records.copy()`, copied whole (`take_records`): 11 ms instead of 39 for 200,000
    rows."""
    return records.view(_opaque(records)).copy().view(records.dtype)


def record_bytes(records: Records) -> bytes:
    """`records.tobytes()`, copied whole (`take_records`): 10 ms instead of 40 for 200,000
    rows."""
    return records.view(_opaque(records)).tobytes()


def join_records(parts: Sequence[Records]) -> Records:
    """`np.concatenate(parts)` of records of one layout, copied whole (`take_records`)."""
    dtype = parts[0].dtype
    return np.concatenate([part.view(_opaque(part)) for part in parts]).view(dtype)


def _opaque(records: Records) -> np.dtype[np.void]:
    return np.dtype(f"V{records.dtype.itemsize}")


def step_field(index: int, part: str = "") -> str:
    """The record field of step `index`'s value (`part`: of a step with two)."""
    return f"s{index}{'_' + part if part else ''}"


class BandGeometry(NamedTuple):
    """Where a nearDedupe step's band hashes lie in the records of a layout: records of
    `width` bytes, `hashes` hashes (8 bytes each) from byte `start`, the step's `signed`
    flag at byte `flag` (`row_snapshot.SnapshotReader.record_words`)."""

    width: int
    start: int
    hashes: int
    flag: int


class Layout:
    """The record of a plan's rows (`dtype`) and how a `RowResult` fills it.

    Per row: flags (error, refusal, rare, prompt_present, text_signed, prompt_signed), stop,
    system (an id of the build's `Interner`), split_u, total, trained, the 16-byte
    digest, diversity and prompt digests, the LSH band hashes of the text and of the prompt
    (when the plan signs them), and per step the value the main loop decides with: whether
    it changed the row (systemPrompt, mapFields, skip), the digest (dedupe), the band hashes
    and whether there were any (nearDedupe), the tokens and status (maxTokens)."""

    def __init__(self, plan: RowPlan) -> None:
        self.plan = plan
        self.steps = len(plan.steps)
        fields: list[tuple[Any, ...]] = [
            ("error", "u1"),
            ("refusal", "u1"),
            ("rare", "u1"),
            ("prompt_present", "u1"),
            ("text_signed", "u1"),
            ("prompt_signed", "u1"),
            ("stop", "<i2"),
            ("system", "<i4"),
            ("split_u", "<f8"),
            ("total", "<i8"),
            ("trained", "<i8"),
            ("digest", "V16"),
            ("diversity", "V16"),
            ("prompt", "V16"),
        ]
        self.text_bands = lsh_params(*plan.near)[0] if plan.near is not None else 0
        self.prompt_bands = (
            lsh_params(LEAKAGE_THRESHOLD, LEAKAGE_NUM_PERM)[0] if plan.leakage else 0
        )
        if self.text_bands:
            fields.append(("text_bands", "<u8", (self.text_bands,)))
        if self.prompt_bands:
            fields.append(("prompt_bands", "<u8", (self.prompt_bands,)))
        self.step_bands: list[int] = []
        for index, step in enumerate(plan.steps):
            bands = 0
            if step.kind == "dedupe":
                fields.append((step_field(index), "V16"))
            elif step.kind == "near":
                bands = lsh_params(step.threshold, step.num_perm)[0]
                fields.append((step_field(index), "<u8", (bands,)))
                fields.append((step_field(index, "signed"), "u1"))
            elif step.kind == "max":
                fields.append((step_field(index, "tokens"), "<i8"))
                fields.append((step_field(index, "status"), "i1"))
            else:  # system, map, skip
                fields.append((step_field(index), "u1"))
            self.step_bands.append(bands)
        fields.append(("end", "u1"))  # RECORD_END
        self.dtype = np.dtype(fields)
        self.width = self.dtype.itemsize
        assert self.dtype.fields is not None and self.dtype.fields["system"][1] == SYSTEM_AT

    def bands_of(self, step: int) -> BandGeometry:
        """Where nearDedupe step `step`'s band hashes are in this layout's records."""
        fields = self.dtype.fields
        assert fields is not None
        hashes, start = fields[step_field(step)][:2]
        flag = fields[step_field(step, "signed")][1]
        count = int(hashes.shape[0]) if hashes.shape else 1
        return BandGeometry(self.width, start, count, flag)

    def near_steps(self) -> list[tuple[int, BandGeometry]]:
        """(step, `bands_of(step)`) of each of the plan's nearDedupe steps, in order."""
        return [(index, self.bands_of(index)) for index, n in enumerate(self.step_bands) if n]

    def empty(self, count: int) -> Records:
        records = np.zeros(count, dtype=self.dtype)
        records["end"] = RECORD_END
        return records

    def is_rare(self, result: RowResult) -> bool:
        """Whether the main loop needs more of `result` than its record."""
        return (
            result.error is not None
            or result.stop != self.steps
            or result.empty is not None
            or result.cut_off is not None
            or bool(result.secrets)
            or bool(result.issues)
        )

    def records(self, results: Sequence[RowResult], intern: Callable[[str | None], int]) -> Records:
        """The records of `results` (a field per column, each filled in one numpy call)."""
        n = len(results)
        out = self.empty(n)
        if n == 0:
            return out
        (
            error, steps, stop, _why, _line, digest, split_u, total, trained,
            refusal, _empty, _cut, _secrets, _issues, system, diversity, prompt,
            prompt_bands, text_bands,
        ) = zip(*results, strict=True)  # fmt: skip
        out["error"] = [e is not None for e in error]
        out["refusal"] = refusal
        out["rare"] = [self.is_rare(r) for r in results]
        out["stop"] = stop
        out["system"] = [intern(s) for s in system]
        out["split_u"] = split_u
        out["total"] = total
        out["trained"] = trained
        out["digest"] = _digests(digest)
        out["diversity"] = _digests(diversity)
        out["prompt"] = _digests(prompt)
        out["prompt_present"] = [bool(p) for p in prompt]
        if self.text_bands:
            out["text_bands"], out["text_signed"] = _bands(text_bands, self.text_bands)
        if self.prompt_bands:
            out["prompt_bands"], out["prompt_signed"] = _bands(prompt_bands, self.prompt_bands)
        for index, step in enumerate(self.plan.steps):
            # A row left out before this step has no value for it: zeros.
            values = [s[index] if len(s) > index else None for s in steps]
            if step.kind == "dedupe":
                out[step_field(index)] = _digests(values)
            elif step.kind == "near":
                hashes, signed = _bands(values, self.step_bands[index])
                out[step_field(index)] = hashes
                out[step_field(index, "signed")] = signed
            elif step.kind == "max":
                out[step_field(index, "tokens")] = [0 if v is None else v[0] for v in values]
                out[step_field(index, "status")] = [0 if v is None else v[1] for v in values]
            else:
                out[step_field(index)] = [bool(v) for v in values]
        return out

    @staticmethod
    def whole_value(result: RowResult) -> bytes:
        """A rare row's value in the example cache and (followed by `RARE`) in a row
        snapshot: its whole result as marshal data, without its line (the next build
        copies that). ValueError: a result marshal cannot hold."""
        return marshal.dumps(with_line(result, b""))

    @staticmethod
    def cache_value(record: bytes, system: str | None) -> bytes:
        """A plain row's example cache value: its record and the system prompt its id stood
        for (marshal data; read back by `result`, with the plan's layout)."""
        return marshal.dumps((record, system))

    def result(self, record: bytes, system: str | None) -> tuple[Any, ...] | None:
        """The whole result of a plain row (`is_rare` False) from its record's bytes, as a
        plain tuple with no line (what the example cache stores: `row_work.with_line`):
        `records` read back, the row's `system` prompt given as the string its id stood
        for. None for bytes that are not such a record of this layout."""
        if len(record) != self.width or record[-1] != RECORD_END:
            return None
        row = np.frombuffer(record, dtype=self.dtype)[0]
        if row["error"] or row["rare"] or int(row["stop"]) != self.steps:
            return None
        steps: list[Any] = []
        for index, step in enumerate(self.plan.steps):
            name = step_field(index)
            if step.kind == "dedupe":
                steps.append(bytes(row[name]))
            elif step.kind == "near":
                signed = bool(row[step_field(index, "signed")])
                steps.append(row[name].tobytes() if signed else None)
            elif step.kind == "max":
                tokens = int(row[step_field(index, "tokens")])
                steps.append((tokens, int(row[step_field(index, "status")])))
            else:
                steps.append(bool(row[name]))
        text_bands = row["text_bands"].tobytes() if self.text_bands and row["text_signed"] else None
        prompt_bands = (
            row["prompt_bands"].tobytes() if self.prompt_bands and row["prompt_signed"] else None
        )
        return (
            None,  # error
            tuple(steps),
            self.steps,  # stop: it reached the end
            "",  # stop_why
            b"",  # line
            bytes(row["digest"]),
            float(row["split_u"]),
            int(row["total"]),
            int(row["trained"]),
            bool(row["refusal"]),
            None,  # empty
            None,  # cut_off
            (),  # secrets
            (),  # issues
            system,
            bytes(row["diversity"]) if self.plan.diversity else b"",
            bytes(row["prompt"]) if row["prompt_present"] else b"",
            prompt_bands,
            text_bands,
        )


def _digests(values: Sequence[bytes | None]) -> npt.NDArray[np.void]:
    """16-byte digests (b"" or None: zeros) as one array."""
    joined = b"".join(v if v else _ZERO16 for v in values)
    if len(joined) != 16 * len(values):
        raise ValueError("a digest is not 16 bytes")
    return np.frombuffer(joined, dtype="V16")


def _bands(
    values: Sequence[bytes | None], bands: int
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint8]]:
    """Band hash bytes (None: a text without words) as (hashes, signed)."""
    blank = bytes(8 * bands)
    joined = b"".join(blank if v is None else v for v in values)
    if len(joined) != 8 * bands * len(values):
        raise ValueError("band hashes of another width")
    hashes = np.frombuffer(joined, dtype="<u8").reshape(len(values), bands)
    return hashes, np.array([v is not None for v in values], dtype=np.uint8)


class Interner:
    """Strings (system prompts) as small ints: the same string, the same id, for the
    build's whole life; `strings[id]` is the string."""

    def __init__(self) -> None:
        self.strings: list[str | None] = []
        self._ids: dict[str | None, int] = {}

    def __call__(self, value: str | None) -> int:
        found = self._ids.get(value)
        if found is None:
            found = self._ids[value] = len(self.strings)
            self.strings.append(value)
        return found


class Packed(NamedTuple):
    """Rows' results as a worker sends them (`pack`): their records' bytes, whose `system`
    ids number `strings` (the worker's own, first seen first); each row's canonical line; the
    rare rows' whole results as plain tuples, by position.

    A result sent as a tuple of twenty fields cost the worker its pickling and the build's
    process its unpickling, a `RowResult` and its share of `Layout.records`, row by row: the
    build's process, on a core it shares with a worker, now takes a batch's records as one
    block of bytes."""

    records: bytes
    lines: list[bytes]
    rare: dict[int, tuple[Any, ...]]
    strings: list[str | None]


def pack(layout: Layout, results: Sequence[RowResult]) -> Packed:
    """`results` as a worker sends them."""
    local = Interner()
    records = layout.records(results, local)
    rare = {i: tuple(results[i]) for i in np.flatnonzero(records["rare"]).tolist()}
    return Packed(record_bytes(records), [r.line for r in results], rare, local.strings)


@dataclass
class RowBlock:
    """Results of a batch's rows: records, canonical lines, and the rare rows' results."""

    records: Records
    lines: list[bytes]
    rare: dict[int, RowResult] = field(default_factory=dict)
    # Rows whose line is still in the last build's objects: (object, offset, length) a row
    # (`line_index.PreviousLines.locate`; the object -1 for a row whose line is in `lines`),
    # copied with its neighbours when written. None: every line is in `lines`.
    copied: npt.NDArray[np.int64] | None = None
    # Rows whose record is the last build's snapshot's, each the first of this build found
    # as that record (`row_reuse`; what `near_lonely` needs of a row). None: no row is.
    fresh: npt.NDArray[np.bool_] | None = None

    def __len__(self) -> int:
        return len(self.lines)

    @classmethod
    def of(
        cls,
        layout: Layout,
        results: Sequence[RowResult],
        intern: Callable[[str | None], int],
    ) -> RowBlock:
        records = layout.records(results, intern)
        rare = {i: results[i] for i in np.flatnonzero(records["rare"]).tolist()}
        return cls(records, [r.line for r in results], rare)

    @classmethod
    def unpacked(
        cls,
        layout: Layout,
        packed: Packed,
        start: int,
        stop: int,
        intern: Callable[[str | None], int],
    ) -> RowBlock:
        """Rows `start` to `stop` of `packed`, their `system` ids made the build's (`intern`):
        what `of` makes of the same results."""
        records = copy_records(
            np.frombuffer(
                packed.records, dtype=layout.dtype, count=stop - start, offset=start * layout.width
            )
        )
        local = records["system"]
        if local.size:
            # Interned in the order first seen, as `of` does row by row: a string first seen
            # in these rows has a larger id than every string seen in the rows before them.
            ids = np.zeros(len(packed.strings), dtype=np.int64)
            for used in distinct(local).tolist():
                ids[used] = intern(packed.strings[used])
            records["system"] = ids[local]
        rare = {
            at - start: RowResult._make(result)
            for at, result in packed.rare.items()
            if start <= at < stop
        }
        return cls(records, packed.lines[start:stop], rare)

    def put(self, positions: Sequence[int], other: RowBlock) -> None:
        """Fill `positions` (ascending) with `other`'s rows, in order."""
        if not positions:
            return
        at_positions = np.asarray(positions, dtype=np.intp)
        put_records(self.records, at_positions, other.records)
        for position, line in zip(positions, other.lines, strict=True):
            self.lines[position] = line
        for at, result in other.rare.items():
            self.rare[positions[at]] = result
        if self.copied is not None or other.copied is not None:
            self.copied_rows()[at_positions] = other.copied_rows()
        if self.fresh is not None:
            self.fresh[at_positions] = False if other.fresh is None else other.fresh

    def copied_rows(self) -> npt.NDArray[np.int64]:
        """`copied`, made (every row's line in `lines`) where there was none."""
        if self.copied is None:
            self.copied = unlocated(len(self))
        return self.copied

    @classmethod
    def joined(cls, blocks: Sequence[RowBlock]) -> RowBlock:
        if len(blocks) == 1:
            return blocks[0]
        records = join_records([b.records for b in blocks])
        lines: list[bytes] = []
        rare: dict[int, RowResult] = {}
        for block in blocks:
            start = len(lines)
            lines.extend(block.lines)
            for at, result in block.rare.items():
                rare[start + at] = result
        copied = None
        if any(b.copied is not None for b in blocks):
            copied = np.concatenate([b.copied_rows() for b in blocks])
        fresh = None
        if any(b.fresh is not None for b in blocks):
            fresh = np.concatenate(
                [np.zeros(len(b), np.bool_) if b.fresh is None else b.fresh for b in blocks]
            )
        return cls(records, lines, rare, copied, fresh)


__all__ = [
    "RECORD_END",
    "SYSTEM_AT",
    "Interner",
    "Layout",
    "Packed",
    "Records",
    "RowBlock",
    "copy_records",
    "join_records",
    "pack",
    "put_records",
    "record_bytes",
    "step_field",
    "take_records",
]
