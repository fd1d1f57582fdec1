"""Events: how core code reports progress without printing.

Core functions take an optional `EventSink` and call it; the CLI turns events into
progress bars and log lines (or nothing, in `--json` mode). Tests collect them in a list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

EventKind = Literal["progress", "info", "warning", "step"]


@dataclass(frozen=True)
class Event:
    kind: EventKind
    message: str
    # For "progress": a stable task id, units done and the total (None when unknown).
    task: str = ""
    completed: float = 0.0
    total: float | None = None
    data: dict[str, Any] = field(default_factory=dict)


EventSink = Callable[[Event], None]


def ignore(_event: Event) -> None:
    """The sink used when nobody listens."""
