"""Progress as log lines, for when nobody watches a terminal (CI logs, pipes).

A live progress bar makes no sense in a log, and a line per poll floods it. So: one line
when a task's status changes, and a heartbeat line for every task still going at least
once a minute (its status, step or count, loss, and the time elapsed), so a job training
for hours never leaves a CI log silent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ftctl.events import Event, EventSink

# Progress events arrive at least every 10 s while a job is polled (the poll interval's
# maximum), so a heartbeat due after 50 s is printed within the minute.
HEARTBEAT_S = 50.0


def elapsed(seconds: float) -> str:
    """`45s`, `3m05s`, `2h04m`."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


@dataclass
class LineProgress:
    """An event sink printing progress as lines; other events go to `plain`."""

    echo: Callable[[str], None]
    plain: EventSink
    clock: Callable[[], float] = time.monotonic
    heartbeat_s: float = HEARTBEAT_S
    _status: dict[str, str] = field(default_factory=dict)
    _started: dict[str, float] = field(default_factory=dict)
    _printed: dict[str, float] = field(default_factory=dict)

    def __call__(self, event: Event) -> None:
        now = self.clock()
        if event.kind != "progress":
            self.plain(event)
            if event.task:  # the step that starts a task counts as its first line
                self._started.setdefault(event.task, now)
                self._printed[event.task] = now
            return
        task = event.task
        started = self._started.setdefault(task, now)
        status = event.data.get("status")
        changed = status is not None and self._status.get(task) != str(status)
        due = now - self._printed.get(task, started) >= self.heartbeat_s
        if not (changed or due):
            return
        if status is not None:
            self._status[task] = str(status)
        self._printed[task] = now
        text = event.message
        if status is None and event.total:  # a count (an eval): say how far it got
            text += f": {int(event.completed)}/{int(event.total)}"
        if not changed:
            text += f" ({elapsed(now - started)} elapsed)"
        self.echo(text)
