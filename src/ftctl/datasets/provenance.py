"""Where each example came from, so that findings name the source file and line.

A build keeps where every row was read (`ftctl.datasets.stream.RowTable`) and names it
with an `Origin` in findings. The build output itself has no provenance in it (its bytes
are what gets uploaded); the origins are kept next to it in the cache.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Origin:
    """A row of a source: `file` as shown to the user (workspace-relative, or
    `git:REV:PATH` for a file read from a git revision) and its 1-based line."""

    file: str
    line: int | None

    def __str__(self) -> str:
        return self.file if self.line is None else f"{self.file}:{self.line}"
