"""Streaming JSONL reading with precise errors.

Files are read in binary chunks of whole lines (a few MB), so memory stays flat whatever
the file size. Each line is decoded as strict UTF-8 and parsed as JSON on its own, so one
broken line is reported (with its line number and column) without hiding the others.
Blank lines are skipped (they are not examples; a trailing newline is normal).

    for line_no, value in read_jsonl(path):
        if isinstance(value, LineError): ...   # value.category: invalid_utf8 | invalid_json
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

LineErrorCategory = Literal["invalid_utf8", "invalid_json"]

CHUNK_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class LineError:
    """A line that is not a JSON value: `column` is 1-based (bytes for invalid_utf8)."""

    category: LineErrorCategory
    message: str
    column: int | None = None


@dataclass(frozen=True)
class LineChunk:
    """Consecutive non-blank lines of a file, without their line terminators."""

    lines: list[tuple[int, bytes]]  # (1-based line number, raw bytes)
    bytes_read: int  # bytes of the file consumed so far (for progress)


class _Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> None: ...


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# One decoder for all lines: `json.loads` with options would build a new one per call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
# The decoder's own scanner (C): `decode` is this plus whitespace handling.
_SCAN: Callable[[str, int], tuple[object, int]] = _DECODER.scan_once  # type: ignore[attr-defined]


def parse_line(raw: bytes) -> object | LineError:
    """Decode one line (without its terminator) as UTF-8 and parse it as JSON."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return LineError(
            "invalid_utf8",
            f"invalid UTF-8 at byte {error.start + 1}: {error.reason}",
            column=error.start + 1,
        )
    if text.startswith("\ufeff"):
        return LineError(
            "invalid_json",
            "line starts with a UTF-8 byte-order mark (BOM); save the file as UTF-8 without BOM",
            column=1,
        )
    value: object
    try:
        # Most lines are one value with no surrounding whitespace: scan it directly, which
        # skips `decode`'s two whitespace regexes; anything else takes the full path.
        try:
            value, end = _SCAN(text, 0)
            if end == len(text):
                return value
        except StopIteration:
            pass
        value = _DECODER.decode(text)
        return value
    except json.JSONDecodeError as error:
        return LineError(
            "invalid_json", f"invalid JSON: {error.msg} (column {error.colno})", error.colno
        )
    except (ValueError, RecursionError) as error:
        return LineError("invalid_json", f"invalid JSON: {error}")


def iter_line_chunks(
    path: Path | str,
    *,
    chunk_bytes: int = CHUNK_BYTES,
    hasher: _Hasher | None = None,
) -> Iterator[LineChunk]:
    """Yield the file's non-blank lines in chunks of about `chunk_bytes`.

    If `hasher` is given it is fed every byte of the file, so a content hash comes for free.
    Lines are found by `line_block.split_lines`, as a data build finds them.
    """
    # Imported here: numpy is a cost that `data stats` pays after its workers have started.
    from ftctl.datasets.line_block import numbered_lines, split_lines, whole_line_chunks

    line_no = 0
    consumed = 0
    with open(path, "rb") as handle:
        for data, size in whole_line_chunks(handle, chunk_bytes):
            if hasher is not None:
                hasher.update(memoryview(data)[:size])
            found = split_lines(data, line_no + 1, size=size)
            line_no += found.total
            consumed += size
            yield LineChunk(numbered_lines(found), consumed)


def read_jsonl(
    path: Path | str,
    *,
    chunk_bytes: int = CHUNK_BYTES,
    on_chunk: Callable[[LineChunk], None] | None = None,
) -> Iterator[tuple[int, object | LineError]]:
    """Yield `(line_no, value_or_error)` for every non-blank line, streaming."""
    for chunk in iter_line_chunks(path, chunk_bytes=chunk_bytes):
        if on_chunk is not None:
            on_chunk(chunk)
        for line_no, raw in chunk.lines:
            yield line_no, parse_line(raw)


__all__ = ["LineChunk", "LineError", "iter_line_chunks", "parse_line", "read_jsonl"]
