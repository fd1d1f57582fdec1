"""The process that holds the state lock, and whether it still runs.

A lock records its holder's host, pid and process start time. On the same host a dead
holder is certain (`kill(pid, 0)` finds no process, or the pid now belongs to a process
started later: the pid was reused), so its lock is stale at once. On another host
nothing can be checked and the lock's expiry decides.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    started: str | None  # process start time (clock ticks after boot); None if unknown


def this_process() -> Holder:
    pid = os.getpid()
    return Holder(socket.gethostname(), pid, process_start_time(pid))


def _stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat from field 3 on (Linux); [] where /proc is unavailable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    # The command name (field 2) is parenthesised and may hold spaces: split after it.
    return stat[stat.rfind(")") + 2 :].split()


def process_start_time(pid: int) -> str | None:
    """Field 22 of /proc/<pid>/stat (Linux), None where /proc is unavailable."""
    fields = _stat_fields(pid)
    return fields[19] if len(fields) > 19 else None


def holder_is_dead(host: str, pid: int | None, started: str | None) -> bool:
    """True only when the holder certainly no longer runs: same host, and its pid is gone
    or now belongs to another process (a different start time)."""
    if pid is None or not host or host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # a live process of another user
    fields = _stat_fields(pid)
    if fields and fields[0] in ("Z", "X"):
        return True  # killed, not yet reaped by its parent
    if started is None or len(fields) <= 19:
        return False
    return fields[19] != started


def holder_is_alive(host: str, pid: int | None, started: str | None) -> bool:
    """True only when the holder certainly still runs: same host, its pid is a live
    process, and (where known) that process started when the holder did."""
    if pid is None or not host or host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # a live process of another user
    fields = _stat_fields(pid)
    if fields and fields[0] in ("Z", "X"):
        return False
    return started is None or len(fields) <= 19 or fields[19] == started
