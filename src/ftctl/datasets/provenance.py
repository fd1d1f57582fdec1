"""Where each example came from, so that findings name the source file and line.

Every row carries an `Origin` from the moment it is read until it is written: transforms
and splits move `Record`s, never bare dicts. The build output itself has no provenance
in it (its bytes are what gets uploaded); the origins are kept next to it in the cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ftctl.datasets.canonical import canonical_line


@dataclass(frozen=True, order=True)
class Origin:
    """A row of a source: `file` as shown to the user (workspace-relative, or
    `git:REV:PATH` for a file read from a git revision) and its 1-based line."""

    file: str
    line: int | None

    def __str__(self) -> str:
        return self.file if self.line is None else f"{self.file}:{self.line}"

    def to_json(self) -> list[Any]:
        return [self.file, self.line]


@dataclass(frozen=True)
class Record:
    """One example and where it came from.

    `source` is the index of the source within its split (for per-source weights and the
    report); `copy` numbers the repeats a weight above 1 makes (0 for the original), so that
    intentional repeats are not counted as duplicates.
    """

    example: dict[str, Any]
    origin: Origin
    source: int = 0
    copy: int = 0
    _line: bytes | None = field(default=None, compare=False, repr=False)

    @property
    def canonical(self) -> bytes:
        """The example's canonical JSONL line (computed once)."""
        cached = self._line
        if cached is None:
            cached = canonical_line(self.example)
            object.__setattr__(self, "_line", cached)
        return cached

    def with_example(self, example: dict[str, Any]) -> Record:
        return Record(example=example, origin=self.origin, source=self.source, copy=self.copy)
