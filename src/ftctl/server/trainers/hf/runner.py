"""The server's side of an hf training run: start the subprocess, relay its events, stop it.

The command is `python -m ftctl.server.trainers.hf.run SPEC.json`, or that module under the
launcher named by `$FTCTL_HF_LAUNCHER` (for example `accelerate launch --num_processes 4`
or `torchrun --nproc-per-node 4`): data-parallel training on several GPUs is the same job.
The process's stdout carries the events (`run.EVENT_PREFIX`); everything else it prints
goes to `train.log` in the job's directory, whose tail becomes the job's error when the
process fails without saying why.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from ftctl.server.trainers.hf.run import EVENT_PREFIX, EXIT_STOPPED, WATCH_STDIN
from ftctl.server.trainers.hf.spec import JobSpec

LAUNCHER_ENV = "FTCTL_HF_LAUNCHER"
# After a stop request the process gets this long to finish its step, then it is killed:
# cancel takes effect within seconds even when one step of a large model takes minutes.
STOP_GRACE_S = 3.0
_POLL_S = 0.2
LOG_TAIL_BYTES = 2000


@dataclass(frozen=True)
class RunResult:
    status: Literal["succeeded", "stopped", "failed"]
    final_dir: Path | None = None
    error: str | None = None


def command(spec_path: Path) -> list[str]:
    module = ["-m", "ftctl.server.trainers.hf.run", str(spec_path)]
    launcher = os.environ.get(LAUNCHER_ENV, "").strip()
    if not launcher:
        return [sys.executable, *module]
    parts = shlex.split(launcher)
    # `accelerate launch` and `torchrun` take `-m module` as their script.
    return [*parts, *module]


def _pump(stream: IO[bytes], events: queue.Queue[dict[str, Any] | None], log: IO[bytes]) -> None:
    for raw in stream:
        line = raw.decode("utf-8", "replace")
        if line.startswith(EVENT_PREFIX):
            try:
                events.put(json.loads(line[len(EVENT_PREFIX) :]))
                continue
            except ValueError:
                pass
        log.write(raw)
        log.flush()
    events.put(None)


def run(
    spec: JobSpec,
    job_dir: Path,
    on_event: Callable[[dict[str, Any]], None],
    should_stop: Callable[[], bool],
) -> RunResult:
    """Train `spec` in a subprocess; `on_event` gets each event (start, step, checkpoint)."""
    job_dir.mkdir(parents=True, exist_ok=True)
    spec_path = job_dir / "spec.json"
    spec.write(spec_path)
    log_path = job_dir / "train.log"
    env = {**os.environ, WATCH_STDIN: "1", "PYTHONUNBUFFERED": "1"}
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command(spec_path),
            stdin=subprocess.PIPE,  # closed when the server dies: the trainer exits too
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            start_new_session=True,  # a launcher's children are stopped as one group
        )
        assert process.stdout is not None
        events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        pump = threading.Thread(
            target=_pump, args=(process.stdout, events, log), name="ftctl-hf-events", daemon=True
        )
        pump.start()
        final: Path | None = None
        error: str | None = None
        stop_sent: float | None = None
        finished = False
        while not finished:
            if stop_sent is None and should_stop():
                _signal(process, signal.SIGTERM)
                stop_sent = time.monotonic()
            if stop_sent is not None and time.monotonic() - stop_sent > STOP_GRACE_S:
                _signal(process, signal.SIGKILL)
            try:
                event = events.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            if event is None:
                finished = True
            elif event.get("event") == "done":
                final = Path(str(event["path"]))
                on_event(event)
            elif event.get("event") == "error":
                error = str(event.get("message"))
            elif stop_sent is None:
                on_event(event)
        code = process.wait()
        pump.join(timeout=5)
        if process.stdin is not None:
            process.stdin.close()
    if stop_sent is not None:
        return RunResult("stopped")
    if code == EXIT_STOPPED and final is None:
        return RunResult("stopped")
    if code != 0 or final is None:
        return RunResult("failed", error=error or _failure(code, log_path))
    return RunResult("succeeded", final_dir=final)


def _signal(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def _failure(code: int, log_path: Path) -> str:
    try:
        with open(log_path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - LOG_TAIL_BYTES))
            tail = handle.read().decode("utf-8", "replace").strip()
    except OSError:
        tail = ""
    last = tail.splitlines()[-1] if tail else "no output"
    return f"the training process exited with code {code}: {last} (log: {log_path})"
