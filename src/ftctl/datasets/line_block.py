"""A file's lines as one bytes object and where each line is.

A data build's main process reads its sources in chunks of a few MB. Making and stripping
one bytes object per line there cost it several µs a row (profiled), and the objects of the
batches in flight were a good part of its peak memory (~14 MB at 200,000 rows). A
`LineBlock` keeps a chunk's bytes whole: the lines are found with numpy, and a worker
process cuts its batch into lines (`lines()`), on its own core.

The rule of a JSONL file's lines, here for every reader of one (a data build, `data stats`
and its workers, `jsonl.read_jsonl`): lines end at `\\n`, the terminator (and any `\\r`
before it) is not part of the line, and lines of ASCII whitespace only are skipped
(numbered, not kept).
"""

from __future__ import annotations

import io
from array import array
from collections.abc import Iterator
from typing import Any, BinaryIO, NamedTuple

import numpy as np
import numpy.typing as npt

# ASCII whitespace as `bytes.strip` sees it: a line of these only is blank.
_BLANK = np.zeros(256, dtype=np.bool_)
_BLANK[list(b" \t\n\r\x0b\x0c")] = True
_NEWLINE = 10
_SAMPLE = 1 << 16  # bytes `_line_ends` looks at to choose how to find the line ends
_LONG_LINE = 512  # bytes a line has on average where `bytes.find` is the quicker


class LineBlock:
    """Some lines of a file: `data` holds them; line i is `data[starts[i]:ends[i]]`, without
    its `\\r`s and `\\n`."""

    __slots__ = ("data", "ends", "starts")

    def __init__(self, data: bytes, starts: array[int], ends: array[int]) -> None:
        self.data = data
        self.starts = starts
        self.ends = ends

    def __len__(self) -> int:
        return len(self.starts)

    def __reduce__(self) -> tuple[Any, ...]:
        return (LineBlock, (self.data, self.starts, self.ends))

    def lines(self) -> list[bytes]:
        data = self.data
        return [data[s:e].rstrip(b"\r") for s, e in zip(self.starts, self.ends, strict=True)]

    def line(self, index: int) -> bytes:
        return self.data[self.starts[index] : self.ends[index]].rstrip(b"\r")

    def bounds(self) -> tuple[list[int], list[int]]:
        """Where each line is in `data`, as `lines` has it: (starts, ends), its `\\r`s left
        out (looked for in all lines at once, not line by line)."""
        if not len(self.starts):
            return [], []
        starts = np.frombuffer(self.starts, dtype=np.int64)
        ends = np.frombuffer(self.ends, dtype=np.int64).copy()
        raw = np.frombuffer(self.data, dtype=np.uint8)
        while True:  # a line's `\r`s before its `\n`, one more each time
            cut = np.flatnonzero(ends > starts)
            cut = cut[raw[ends[cut] - 1] == 13]
            if not cut.size:
                return starts.tolist(), ends.tolist()
            ends[cut] -= 1

    def shared(self, first: int, stop: int) -> LineBlock:
        """Lines first..stop-1 over the same bytes, not copied (what the build's own process
        keys and looks up; `part` is what a worker is sent)."""
        return LineBlock(self.data, self.starts[first:stop], self.ends[first:stop])

    def part(self, first: int, stop: int) -> LineBlock:
        """Lines first..stop-1, with only their own bytes (what is sent to a worker)."""
        stop = min(stop, len(self))
        if first >= stop:
            return LineBlock(b"", array("q"), array("q"))
        begin, end = self.starts[first], self.ends[stop - 1]
        starts = np.frombuffer(self.starts, dtype=np.int64)[first:stop] - begin
        ends = np.frombuffer(self.ends, dtype=np.int64)[first:stop] - begin
        return LineBlock(self.data[begin:end], _int64s(starts), _int64s(ends))


class Lines(NamedTuple):
    """A chunk's lines as `split_lines` finds them."""

    block: LineBlock  # the non-blank lines
    numbers: list[int]  # their line numbers
    offsets: list[int]  # where each starts in the file
    total: int  # lines in the chunk, blank ones included


def split_lines(data: bytes, first_line: int, offset: int = 0, size: int | None = None) -> Lines:
    """The lines of `data[:size]` (whole lines; the last may lack its `\\n`): numbered from
    `first_line`, where `data` starts at `offset` in the file."""
    size = len(data) if size is None else size
    if not size:
        return Lines(LineBlock(b"", array("q"), array("q")), [], [], 0)
    raw = np.frombuffer(data, dtype=np.uint8, count=size)
    stops = _line_ends(data, raw, size) + 1  # each line's end, its `\n` included
    if raw[-1] != _NEWLINE:
        stops = np.append(stops, raw.size)
    starts = np.concatenate(([0], stops[:-1])).astype(np.int64)
    ends = stops - (raw[stops - 1] == _NEWLINE)  # without the `\n`
    # A line is blank when all its bytes are whitespace. Most lines start with a byte that is
    # not (`{`), which settles them; only the others are looked at whole (looking up every
    # byte of the chunk in `_BLANK` cost three times the rest of this function).
    unsure = np.flatnonzero(_BLANK[raw[starts]])
    if unsure.size:
        blank = [i for i in unsure.tolist() if not data[starts[i] : stops[i]].strip()]
        kept = np.delete(np.arange(starts.size), blank)
    else:
        kept = np.arange(starts.size)
    block = LineBlock(data, _int64s(starts[kept]), _int64s(ends[kept]))
    return Lines(block, (kept + first_line).tolist(), (starts[kept] + offset).tolist(), stops.size)


def _line_ends(data: bytes, raw: npt.NDArray[np.uint8], size: int) -> npt.NDArray[np.int64]:
    """Where each `\n` of `data[:size]` is. Where lines are long (training examples: a
    few KB), `bytes.find` (memchr) from one to the next takes a third of the time of numpy's
    comparison of every byte and the search of the mask (a 4 MB chunk: 0.36 against 0.8 ms);
    where they are short, numpy. The first 64 KB tell which."""
    if data.count(b"\n", 0, min(size, _SAMPLE)) * _LONG_LINE > min(size, _SAMPLE):
        return np.flatnonzero(raw == _NEWLINE)
    ends: list[int] = []
    at = data.find(b"\n", 0, size)
    while at >= 0:
        ends.append(at)
        at = data.find(b"\n", at + 1, size)
    return np.array(ends, dtype=np.int64)


def whole_line_chunks(handle: BinaryIO, chunk_bytes: int) -> Iterator[tuple[bytes, int]]:
    """A file's bytes about `chunk_bytes` at a time: (data, size), `data[:size]` being whole
    lines (to a line end, or the file's end), what `split_lines` is given. The bytes after
    `size`, the start of a line, are read again as the start of the next chunk: cutting
    them off, or adding the rest of their line, would copy the whole chunk (~0.3 s of a
    200,000-row build's main process)."""
    while True:
        data = handle.read(chunk_bytes)
        if not data:
            return
        size = len(data)
        if size == chunk_bytes and not data.endswith(b"\n"):
            end = data.rfind(b"\n") + 1
            if end:
                handle.seek(end - size, io.SEEK_CUR)
                size = end
            else:  # a line longer than the chunk: taken whole
                data += handle.readline()
                size = len(data)
        yield data, size


def numbered_lines(lines: Lines) -> list[tuple[int, bytes]]:
    """(line number, line) of each non-blank line: the form `data stats` reads lines in."""
    return list(zip(lines.numbers, lines.block.lines(), strict=True))


def _int64s(values: Any) -> array[int]:
    out = array("q")
    out.frombytes(np.ascontiguousarray(values, dtype=np.int64).tobytes())
    return out
