"""Run a trainer's training process: its stdout lines are events, should_stop stops it.

For trainers whose training runs in a child process (`python -m ...`, `accelerate launch
...`, `torchrun ...`): the child writes one `encode_event` line per event on stdout (other
lines are passed on as messages, so a library's stray print does not break the run) and
anything on stderr, which goes to a log file in the workdir; its last lines explain a
failure. A thread reads the child's stdout, so that polling `should_stop` never waits on
a pipe (and never misses lines already read into a buffer).
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ftctl.server.trainers.base import Emit, Message, decode_event

POLL_SECONDS = 0.1
STOP_GRACE_SECONDS = 10.0
_EOF = None


class TrainingProcessError(RuntimeError):
    """The training process failed; the message ends with the tail of its log."""


@dataclass(frozen=True)
class ChildOutcome:
    stopped: bool  # should_stop said so and the child was stopped
    log: Path


def run_training_process(
    argv: Sequence[str],
    emit: Emit,
    should_stop: Callable[[], bool],
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> ChildOutcome:
    """Run `argv` until it exits (TrainingProcessError unless with status 0) or until
    `should_stop()` (then the child's process group gets SIGTERM, SIGKILL after a grace
    period). Events are emitted in this thread, in the order the child wrote them."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as log_file:
        child = subprocess.Popen(
            list(argv),
            stdout=subprocess.PIPE,
            stderr=log_file,
            stdin=subprocess.DEVNULL,
            env=None if env is None else dict(env),
            cwd=cwd,
            text=True,
            # Its own process group: a launcher's workers are stopped with it.
            start_new_session=True,
        )
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_read_lines, args=(child, lines), daemon=True)
    reader.start()
    while True:
        if should_stop():
            _stop(child)
            reader.join(STOP_GRACE_SECONDS)
            return ChildOutcome(stopped=True, log=log)
        try:
            line = lines.get(timeout=POLL_SECONDS)
        except queue.Empty:
            continue
        if line is _EOF:
            break
        _emit_line(line, emit)
    status = child.wait()
    if status != 0:
        raise TrainingProcessError(
            f"the training process exited with status {status}: {_tail(log)}"
        )
    return ChildOutcome(stopped=False, log=log)


def _read_lines(child: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
    assert child.stdout is not None
    for line in child.stdout:
        lines.put(line)
    lines.put(_EOF)


def _emit_line(line: str, emit: Emit) -> None:
    text = line.rstrip("\n")
    if not text.strip():
        return
    try:
        event = decode_event(text) if text.lstrip().startswith("{") else None
    except ValueError:
        event = None
    emit(event if event is not None else Message(text[:2000]))


def _stop(child: subprocess.Popen[str]) -> None:
    if child.poll() is not None:
        return
    try:
        os.killpg(child.pid, signal.SIGTERM)
        child.wait(STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    except ProcessLookupError:
        child.wait()


def _tail(log: Path, lines: int = 20) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return "(no log)"
    tail = "\n".join(text.strip().splitlines()[-lines:])
    return tail or "(nothing on stderr)"
