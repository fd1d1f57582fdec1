"""How many worker processes a data build starts: the CPUs the process may use (affinity,
cgroup CPU limits), at most a cap, or `FTCTL_DATA_WORKERS`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ftctl.datasets import worker_count
from ftctl.datasets.build import build_project
from ftctl.datasets.worker_count import (
    ENV,
    WorkerPlan,
    cgroup_cpu_limit,
    cgroup_memory_limit,
    data_workers,
    usable_cpus,
    worker_plan,
)
from ftctl.errors import ConfigError
from ftctl.events import Event

from . import build_helpers as h


def _cgroup(root: Path, path: str, **files: str) -> None:
    directory = root.joinpath(*[p for p in path.split("/") if p])
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name.replace("__", ".")).write_text(text)


def _membership(root: Path, text: str) -> Path:
    path = root / "proc-self-cgroup"
    path.write_text(text)
    return path


def test_cgroup_v2_limit_is_the_tightest_of_the_cgroup_and_those_above(tmp_path: Path) -> None:
    fs = tmp_path / "fs"
    _cgroup(fs, "/", cpu__max="max 100000\n")
    _cgroup(fs, "/kubepods/pod1", cpu__max="150000 100000\n")  # limits.cpu: 1.5
    _cgroup(fs, "/kubepods/pod1/ctr", cpu__max="max 100000\n")
    proc = _membership(tmp_path, "0::/kubepods/pod1/ctr\n")
    assert cgroup_cpu_limit(fs, proc) == 1.5
    unlimited = usable_cpus(tmp_path / "none", tmp_path / "none")  # affinity and machine
    assert usable_cpus(fs, proc) == min(2, unlimited)  # 1.5 rounded up

    _cgroup(fs, "/kubepods/pod1/ctr", cpu__max="50000 100000\n")  # tighter below
    assert cgroup_cpu_limit(fs, proc) == 0.5
    assert usable_cpus(fs, proc) == 1


def test_cgroup_v2_without_a_limit_or_unreadable(tmp_path: Path) -> None:
    fs = tmp_path / "fs"
    _cgroup(fs, "/", cpu__max="max 100000\n")
    _cgroup(fs, "/user.slice", cpu__max="garbage\n")
    assert cgroup_cpu_limit(fs, _membership(tmp_path, "0::/user.slice\n")) is None
    assert cgroup_cpu_limit(fs, tmp_path / "no-such-file") is None  # not Linux
    assert usable_cpus(fs, tmp_path / "no-such-file") == usable_cpus(
        tmp_path / "empty", tmp_path / "no-such-file"
    )


def test_cgroup_v1_quota(tmp_path: Path) -> None:
    fs = tmp_path / "fs"
    _cgroup(fs, "/cpu,cpuacct", cpu__cfs_quota_us="-1\n", cpu__cfs_period_us="100000\n")
    _cgroup(
        fs,
        "/cpu,cpuacct/docker/abc",
        cpu__cfs_quota_us="250000\n",  # docker run --cpus 2.5
        cpu__cfs_period_us="100000\n",
    )
    proc = _membership(tmp_path, "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n")
    assert cgroup_cpu_limit(fs, proc) == 2.5
    assert cgroup_cpu_limit(fs, _membership(tmp_path, "4:cpu,cpuacct:/\n")) is None  # -1


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity here")
def test_an_affinity_of_one_cpu_gives_one() -> None:
    one = sorted(os.sched_getaffinity(0))[0]
    code = (
        "import os\n"
        f"os.sched_setaffinity(0, {{{one}}})\n"
        "from ftctl.datasets.worker_count import data_workers, usable_cpus\n"
        "print(usable_cpus(), data_workers(12))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != ENV}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.split() == ["1", "1"]


def test_the_environment_variable_overrides_and_is_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    assert data_workers(1) == 1
    assert data_workers(1000) == usable_cpus()
    monkeypatch.setenv(ENV, "3")
    assert data_workers(1) == 3  # asked for: more than the cap or the CPUs is allowed
    for bad in ("0", "-2", "two", "1.5"):
        monkeypatch.setenv(ENV, bad)
        with pytest.raises(ConfigError, match=f"{ENV} must be a whole number.*{bad!r}"):
            data_workers(4)


def test_cgroup_memory_limits_v2_and_v1(tmp_path: Path) -> None:
    fs = tmp_path / "fs"
    _cgroup(fs, "/", memory__max="max\n")
    _cgroup(fs, "/ci", memory__max=f"{2 << 30}\n")
    _cgroup(fs, "/ci/job", memory__max="max\n")
    assert cgroup_memory_limit(fs, _membership(tmp_path, "0::/ci/job\n")) == 2 << 30
    assert cgroup_memory_limit(fs, _membership(tmp_path, "0::/\n")) is None

    v1 = tmp_path / "v1"
    _cgroup(v1, "/memory", memory__limit_in_bytes="9223372036854771712\n")  # "no limit"
    _cgroup(v1, "/memory/docker/abc", memory__limit_in_bytes=f"{512 << 20}\n")
    proc = _membership(tmp_path, "9:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n")
    assert cgroup_memory_limit(v1, proc) == 512 << 20
    assert cgroup_memory_limit(v1, _membership(tmp_path, "9:memory:/\n")) is None


def test_no_more_workers_than_fit_in_the_memory_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a 1 GiB container: 8 workers beside a small build, fewer as the data (and so
    the build's own process) grows, always at least one (the work done in process)."""
    monkeypatch.delenv(ENV, raising=False)
    fs = tmp_path / "fs"
    _cgroup(fs, "/", memory__max=f"{1 << 30}\n")
    monkeypatch.setattr(worker_count, "CGROUP_ROOT", fs)
    monkeypatch.setattr(worker_count, "PROC_CGROUP", _membership(tmp_path, "0::/\n"))
    cpus = usable_cpus()
    # 1 GiB less the build's own process (100 MB + an eighth of the data), in 110 MB workers.
    for data_bytes, fit in [(0, 8), (2 << 30, 6), (8 << 30, 1)]:
        expected = WorkerPlan(fit, 1 << 30, cpus) if fit < cpus else WorkerPlan(cpus, cpus=cpus)
        assert worker_plan(1000, data_bytes) == expected
        assert data_workers(1000, data_bytes) == min(fit, cpus)
    monkeypatch.setenv(ENV, "7")  # asked for: the memory limit is the user's to weigh
    assert worker_plan(1000, 8 << 30) == WorkerPlan(7, cpus=7)


def test_a_build_says_when_memory_made_the_workers_fewer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if usable_cpus() < 2:
        pytest.skip("one CPU: memory cannot make the workers fewer")
    monkeypatch.delenv(ENV, raising=False)
    fs = tmp_path / "fs"
    _cgroup(fs, "/", memory__max=f"{300 << 20}\n")  # room for the build alone
    monkeypatch.setattr(worker_count, "CGROUP_ROOT", fs)
    monkeypatch.setattr(worker_count, "PROC_CGROUP", _membership(tmp_path, "0::/\n"))
    root = tmp_path / "ws"
    h.big_workspace(root)
    project, workspace = h.load(root)
    events: list[Event] = []
    build_project(project, workspace, events.append)
    said = [e.message for e in events if e.kind == "info"]
    cpus = min(usable_cpus(), 12)
    assert (
        f"demo: working in this process, not {cpus} worker processes: the memory limit of "
        f"this process's cgroup is 300 MiB ({ENV} sets the number)"
    ) in said
    assert any(m.endswith("rows from earlier builds (in this process)") for m in said)


def _build(root: Path, workers: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, **{ENV: workers})
    return subprocess.run(
        [sys.executable, "-m", "ftctl", "--workspace", str(root), "data", "build", "demo"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_a_build_says_where_it_worked_and_gives_the_same_bytes(tmp_path: Path) -> None:
    """One in-process build, one on two workers (the file is past `POOL_MIN_BYTES`): the
    same splits; and a bad value fails before the cache is touched."""
    h.big_workspace(tmp_path)

    bad = _build(tmp_path, "lots")
    assert bad.returncode == 1
    assert f"{ENV} must be a whole number of at least 1" in bad.stderr
    assert not (tmp_path / ".ftctl").exists()

    here = _build(tmp_path, "1")
    assert here.returncode == 0, here.stderr
    assert "rows from earlier builds (in this process)" in here.stderr
    shutil.rmtree(tmp_path / ".ftctl")
    two = _build(tmp_path, "2")
    assert two.returncode == 0, two.stderr
    # A first build (no cache): its workers started with the command (`worker_prestart`).
    assert "rows from earlier builds (2 worker processes, started with the command)" in two.stderr
    assert two.stdout == here.stdout  # the split lines: sha256, examples, tokens
