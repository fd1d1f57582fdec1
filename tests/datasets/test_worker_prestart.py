"""`ftctl data build` starts the workers its workspace's last build used with the command,
from a hint that build left; the build adopts them only when they are what it wants, and
no process outlives the command either way."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from ftctl.datasets.worker_count import ENV
from ftctl.datasets.worker_fork import fork_available
from ftctl.datasets.worker_prestart import (
    Prestarted,
    drop_hint,
    hint_path,
    prestart,
    read_hint,
    write_hint,
)

from . import build_helpers as h

pytestmark = pytest.mark.skipif(not fork_available(), reason="workers are forked on Linux only")
MARK = "FTCTL_TEST_PRESTART_MARK"
ENCODING = ("o200k_base",)


def _two_cpus() -> None:
    if (os.cpu_count() or 1) < 2:
        pytest.skip("a hint asks for at most the machine's CPUs")


def test_a_hint_is_read_back_and_dropped(tmp_path: Path) -> None:
    _two_cpus()
    assert read_hint(tmp_path) is None
    write_hint(tmp_path, 2, ENCODING)
    assert read_hint(tmp_path) == (2, ENCODING)
    drop_hint(tmp_path)
    assert read_hint(tmp_path) is None and not hint_path(tmp_path).exists()


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        '{"workers": 2}',
        '{"workers": "2", "encodings": ["o200k_base"]}',
        '{"workers": 1, "encodings": ["o200k_base"]}',  # one worker: no pool
        '{"workers": 100000, "encodings": ["o200k_base"]}',
        '{"workers": 2, "encodings": ["../../etc/passwd"]}',
        '{"workers": 2, "encodings": "o200k_base"}',
        '{"workers": true, "encodings": []}',
    ],
)
def test_a_damaged_or_planted_hint_starts_nothing(tmp_path: Path, text: str) -> None:
    hint_path(tmp_path).write_text(text)
    assert read_hint(tmp_path) is None


def test_workers_that_are_not_what_the_build_wants_are_stopped() -> None:
    early = Prestarted(2, ENCODING)
    forked = early._forked
    assert forked is not None
    assert early.take(2, ("cl100k_base",)) is None
    assert forked.server.returncode is not None  # reaped
    assert early.take(2, ENCODING) is None  # taken once, whatever the answer
    early.discard()  # nothing left to stop


def test_workers_started_before_the_encoding_is_known_load_the_one_they_are_told(
    tmp_path: Path,
) -> None:
    """A first build's server starts before the build knows its encoding, loads the rest,
    and forks once told; its workers answer as this process does."""
    from ftctl.datasets import build as build_module
    from ftctl.datasets.row_pool import Job, LocalPool, ProcessPool

    _two_cpus()
    data = h.big_workspace(tmp_path)
    project, workspace = h.load(tmp_path)
    info, _ = build_module._model_info(project, workspace)
    plan = build_module._split_inputs(project, workspace, info, "chat")[0].plan
    rows: list[bytes | dict[str, object]] = list(data.read_bytes().splitlines()[:60])
    job = Job(plan, "test", None)

    early = Prestarted(2, None)
    assert early.take(3, (info.encoding,)) is None  # not the count the build wants: stopped
    early = Prestarted(2, None)
    forked = early.take(2, (info.encoding,))
    assert forked is not None
    local, pool = LocalPool(), ProcessPool(2, (info.encoding,), forked)
    try:
        for each in (local, pool):
            each.submit("a", job, rows[:30])
            each.submit("b", job, rows[30:])
        assert [pool.collect()[1], pool.collect()[1]] == [local.collect()[1], local.collect()[1]]
    finally:
        local.close()
        pool.close()


# Run in a process of its own: one that runs a single thread, as a command at its start is
# (the test process may run threads of its own, and has numpy imported already).
_SHARED_START = """
import json, os, pickle, sys, threading
from ftctl.datasets.worker_prestart import Prestarted

blocker = threading.Event()
if sys.argv[1] == "thread":
    threading.Thread(target=blocker.wait, daemon=True).start()
early = Prestarted(2, None, share=True)  # as `ftctl.cli.launch` does: nothing else loaded
forked = early._forked
kind = type(forked.server).__name__
blas = os.environ.get("OPENBLAS_NUM_THREADS")

from ftctl.datasets.row_pool import Job, LocalPool, ProcessPool

rows = [json.dumps(row).encode() for row in json.loads(sys.argv[2])]
encoding = sys.argv[3]
job = Job(pickle.loads(bytes.fromhex(sys.argv[4])), "test", None)
taken = early.take(2, (encoding,))
local, pool = LocalPool(), ProcessPool(2, (encoding,), taken)
try:
    for each in (local, pool):
        each.submit("a", job, rows[:3])
        each.submit("b", job, rows[3:])
    same = [pool.collect()[1], pool.collect()[1]] == [local.collect()[1], local.collect()[1]]
finally:
    local.close()
    pool.close()
blocker.set()
print(json.dumps({"kind": kind, "blas": blas, "same": same, "reaped": forked.server.returncode}))
"""


@pytest.mark.parametrize(("threads", "kind"), [("alone", "ForkedServer"), ("thread", "Popen")])
def test_a_command_alone_at_its_start_forks_the_server_from_itself(
    tmp_path: Path, threads: str, kind: str
) -> None:
    """The server is the command itself forked when the command runs one thread (it then
    begins with numpy, which the command imported), a fresh interpreter otherwise; either
    answers as this process does, the environment is as it was, and it is reaped."""
    import pickle

    from ftctl.datasets import build as build_module

    _two_cpus()
    data = h.big_workspace(tmp_path)
    project, workspace = h.load(tmp_path)
    info, _ = build_module._model_info(project, workspace)
    plan = build_module._split_inputs(project, workspace, info, "chat")[0].plan
    rows = [json.loads(line) for line in data.read_bytes().splitlines()[:8]]
    said = _run_alone(
        _SHARED_START, threads, json.dumps(rows), info.encoding, pickle.dumps(plan).hex()
    )
    assert said == {"kind": kind, "blas": None, "same": True, "reaped": 0}


def _run_alone(script: str, *args: str) -> object:
    """What `script` prints (JSON), run by a fresh interpreter with `args`, without
    `OPENBLAS_NUM_THREADS` in its environment (a command's start, as a user's shell has it)."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


_WAITING_SERVER = """
import json, subprocess
from ftctl.datasets.worker_prestart import Prestarted

early = Prestarted(2, None, share=True)  # waits to be told its encodings
server = early._forked.server
try:
    server.wait(timeout=0.05)
    waited = "exited"
except subprocess.TimeoutExpired:
    waited = "timed out"
early.discard()
print(json.dumps({"kind": type(server).__name__, "waited": waited, "code": server.returncode}))
"""


def test_a_server_forked_from_the_command_is_waited_for_as_a_process_is() -> None:
    """Waiting for a server that still waits times out; discarded, it is killed and reaped
    (-9: `subprocess`'s convention for a signal)."""
    said = _run_alone(_WAITING_SERVER)
    assert said == {"kind": "ForkedServer", "waited": "timed out", "code": -9}


def test_a_server_that_was_never_told_its_encodings_stops_with_the_command() -> None:
    early = Prestarted(2, None)
    forked = early._forked
    assert forked is not None
    early.discard()
    assert forked.server.returncode is not None  # reaped


def test_a_workspace_with_a_cache_and_no_hint_starts_nothing_early(tmp_path: Path) -> None:
    _two_cpus()
    early = prestart(tmp_path)  # no cache at all: its first build
    assert early is not None and early.encodings is None
    early.discard()
    (tmp_path / ".ftctl/cache/datasets").mkdir(parents=True)
    assert prestart(tmp_path) is None


@pytest.mark.parametrize("asked", ["1", "3", "lots"])
def test_no_workers_start_early_when_the_environment_asks_for_another_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, asked: str
) -> None:
    _two_cpus()
    write_hint(tmp_path / ".ftctl/cache/datasets", 2, ENCODING)
    monkeypatch.setenv(ENV, asked)
    assert prestart(tmp_path) is None
    monkeypatch.setenv(ENV, "2")
    early = prestart(tmp_path)
    assert early is not None
    early.discard()


def _ftctl(root: Path, *args: str, workers: str, mark: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, **{ENV: workers, MARK: mark})
    return subprocess.run(
        [sys.executable, "-m", "ftctl", "--workspace", str(root), "data", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def _marked_processes(mark: str) -> list[int]:
    """Processes still running with `mark` in their environment (the command's children)."""
    needle = f"{MARK}={mark}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue  # gone, or not ours to read
    return found


def _none_left(mark: str) -> bool:
    deadline = time.monotonic() + 5  # a process killed may take a moment to be gone
    while _marked_processes(mark):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_the_next_build_starts_its_workers_with_the_command(tmp_path: Path) -> None:
    _two_cpus()
    data = h.big_workspace(tmp_path)
    mark = uuid.uuid4().hex

    # The workspace's first build: no cache, so its workers start with the command too.
    first = _ftctl(tmp_path, "build", "demo", workers="2", mark=mark)
    assert first.returncode == 0, first.stderr
    assert "(2 worker processes, started with the command)" in first.stderr
    hint = json.loads((tmp_path / ".ftctl/cache/datasets/workers.json").read_text())
    assert hint["workers"] == 2 and len(hint["encodings"]) == 1
    assert _none_left(mark)

    # An edit, then a build that starts the workers first thing and gives the same bytes
    # as one in this process.
    lines = data.read_bytes().splitlines(keepends=True)
    lines[7] = lines[7].replace(b"You are Acme support.", b"You are Acme support!")
    data.write_bytes(b"".join(lines))
    early = _ftctl(tmp_path, "build", "demo", workers="2", mark=mark)
    assert early.returncode == 0, early.stderr
    assert "(2 worker processes, started with the command)" in early.stderr
    assert _none_left(mark)

    # A build without workers (found unchanged here) leaves no hint: the next starts none
    # early, though it has a cache.
    _ftctl(tmp_path, "build", "demo", workers="1", mark=mark)
    assert not (tmp_path / ".ftctl/cache/datasets/workers.json").exists()
    data.write_bytes(data.read_bytes().replace(b"Acme support!", b"Acme support?"))
    late = _ftctl(tmp_path, "build", "demo", workers="2", mark=mark)
    assert late.returncode == 0, late.stderr
    assert "(2 worker processes)" in late.stderr
    assert _none_left(mark)
    shutil.rmtree(tmp_path / ".ftctl")
    here = _ftctl(tmp_path, "build", "demo", workers="1", mark=mark)
    assert here.returncode == 0, here.stderr
    assert _shas(here.stdout) == _shas(late.stdout)


def test_a_plan_starts_the_workers_of_its_data_builds_with_the_command(tmp_path: Path) -> None:
    """`ftctl plan` (what a pull request's CI runs) builds through the ops layer: the workers
    started with the command wait for its first build that wants them, and none outlive it."""
    _two_cpus()
    h.big_workspace(tmp_path)
    mark = uuid.uuid4().hex
    env = dict(os.environ, **{ENV: "2", MARK: mark})
    planned = subprocess.run(
        [sys.executable, "-m", "ftctl", "--workspace", str(tmp_path), "plan"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert planned.returncode == 0, planned.stderr
    assert "(2 worker processes, started with the command)" in planned.stderr
    assert _none_left(mark)


def _shas(output: str) -> list[str]:
    """The splits' SHA-256s, as the build printed them."""
    found = re.findall(r"sha256=([0-9a-f]{64})", output)
    assert found, output
    return found


def test_workers_started_for_a_build_that_fails_are_stopped(tmp_path: Path) -> None:
    _two_cpus()
    h.big_workspace(tmp_path)
    write_hint(tmp_path / ".ftctl/cache/datasets", 2, ENCODING)
    mark = uuid.uuid4().hex

    failed = _ftctl(tmp_path, "build", "no-such-project", workers="2", mark=mark)
    assert failed.returncode == 1
    assert "no-such-project" in failed.stderr
    assert _none_left(mark)


def test_workers_started_before_a_command_line_that_click_refuses_are_stopped(
    tmp_path: Path,
) -> None:
    """`ftctl` starts them before it parses its arguments (`ftctl.cli.launch`): a usage error
    found after that stops them before the command exits."""
    _two_cpus()
    h.big_workspace(tmp_path)
    write_hint(tmp_path / ".ftctl/cache/datasets", 2, ENCODING)
    mark = uuid.uuid4().hex
    env = dict(os.environ, **{ENV: "2", MARK: mark})
    args = ["--workspace", str(tmp_path), "data", "build", "demo", "--no-such-option"]
    # Output to a file, not a pipe: a pipe's reader would also wait for a server holding it.
    with (tmp_path / "err.txt").open("w+") as err:
        code = subprocess.call([sys.executable, "-m", "ftctl", *args], stderr=err, env=env)
        assert not _marked_processes(mark)  # stopped, not left to notice that it is alone
        err.seek(0)
        assert code == 1 and "--no-such-option" in err.read()
