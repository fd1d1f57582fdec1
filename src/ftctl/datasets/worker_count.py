"""How many worker processes `data build` and `data stats` start: the CPUs this process may
use, at most a cap, unless `FTCTL_DATA_WORKERS` says otherwise.

`os.cpu_count()` is the machine's count, not what a process is given: in a CI container
limited to 2 CPUs on a 64-core host it says 64, and a build started 64 workers, each
loading the encoding (~0.3 CPU-s, ~100 MB), on two CPUs' worth of time. The CPUs a
process may use are the fewest of: the machine's, its affinity mask (`taskset`, docker's
`--cpuset-cpus`), and the CPU bandwidth limit of its cgroup and the cgroups above it
(docker's `--cpus`, Kubernetes' `limits.cpu`), rounded up. These are the rules of
loky's `cpu_count` (joblib) and of Go's GOMAXPROCS default since Go 1.25 (which, like this
module, also reads the limits of the cgroups above the process's own).

A container's memory limit bounds them too: with 16 CPUs and 1 GiB, 12 workers of ~110 MB
beside the build's own process would meet the OOM killer, which picks the largest process:
the build itself. So no more workers start than fit in the cgroup's memory limit beside the
build's own process, at the sizes measured (`WORKER_BYTES`, `main_process_bytes`).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ftctl.errors import ConfigError

ENV = "FTCTL_DATA_WORKERS"
# A data build's worker processes at most, by default (`FTCTL_DATA_WORKERS` overrides): past
# this the build's main process, which decides the rows in order, is the limit
# (bench/README.md).
BUILD_WORKERS_MOST = 12
CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


# What a process is charged for is its private memory, not its RSS (which counts the shared
# libraries in every process): a worker's peaked at 109-112 MB (o200k_base; smaps_rollup
# during a 50k build), the build's own process at ~90 MB plus, by the end of the pass, ~0.1
# of the data's bytes (its per-row columns and indexes; the workers are gone before the
# whole-set checks add the rest). A limit that only just holds them is not lowered: the
# kernel reclaims page cache first (a 350 MB cgroup ran 2 workers on 118 MB of data).
WORKER_BYTES = 110 << 20
MAIN_BYTES = 100 << 20
_NO_LIMIT = 1 << 62  # cgroup v1 writes "no limit" as the largest page-aligned counter


@dataclass(frozen=True)
class WorkerPlan:
    """How many worker processes, and the cgroup memory limit when it is what made them
    fewer than the CPUs allow (None otherwise)."""

    count: int
    memory_limit: int | None = None
    cpus: int = 1  # what the CPUs alone would have given


def worker_plan(cap: int, data_bytes: int = 0) -> WorkerPlan:
    """Worker processes for a data command over `data_bytes` of data:
    `FTCTL_DATA_WORKERS` when set (1: none, the work is done in this process); else the
    usable CPUs, at most `cap`, and no more than fit in the memory limit of the process's
    cgroup beside the main process (`WORKER_BYTES` each; `main_process_bytes`)."""
    asked = workers_from_env()
    if asked is not None:
        return WorkerPlan(asked, cpus=asked)
    cpus = min(usable_cpus(), cap)
    limit = cgroup_memory_limit()
    if limit is None:
        return WorkerPlan(cpus, cpus=cpus)
    fit = max(1, (limit - main_process_bytes(data_bytes)) // WORKER_BYTES)
    if fit >= cpus:
        return WorkerPlan(cpus, cpus=cpus)
    return WorkerPlan(fit, limit, cpus)


def data_workers(cap: int, data_bytes: int = 0) -> int:
    """`worker_plan(cap, data_bytes).count`."""
    return worker_plan(cap, data_bytes).count


def main_process_bytes(data_bytes: int) -> int:
    """What the build's own process holds while its workers run, for `data_bytes` of data."""
    return MAIN_BYTES + data_bytes // 8


def workers_from_env() -> int | None:
    """`FTCTL_DATA_WORKERS` as a number, None when unset; ConfigError when not a whole
    number of at least 1 (checked before a command touches anything)."""
    wanted = os.environ.get(ENV, "").strip()
    if not wanted:
        return None
    try:
        count = int(wanted)
    except ValueError:
        count = 0
    if count < 1:
        raise ConfigError(
            f"environment variable {ENV} must be a whole number of at least 1 "
            f"(the worker processes of data build and data stats), not {wanted!r}"
        )
    return count


def usable_cpus(cgroup_root: Path | None = None, proc_cgroup: Path | None = None) -> int:
    """The CPUs this process may use: machine, affinity and cgroup limit (at least 1)."""
    counts = [os.cpu_count() or 1]
    if hasattr(os, "sched_getaffinity"):
        with contextlib.suppress(OSError):  # a sandbox that refuses the call
            counts.append(len(os.sched_getaffinity(0)))
    limit = cgroup_cpu_limit(cgroup_root, proc_cgroup)
    if limit is not None:
        counts.append(math.ceil(limit))
    return max(1, min(counts))


def cgroup_cpu_limit(
    cgroup_root: Path | None = None, proc_cgroup: Path | None = None
) -> float | None:
    """The tightest CPU bandwidth limit (quota / period, in CPUs) of this process's cgroup
    and of those above it, cgroup v2 or v1; None where there is none or it cannot be read
    (not Linux, no cgroup file system)."""
    return _tightest("cpu", _v2_cpu, _v1_cpu, cgroup_root, proc_cgroup)


def cgroup_memory_limit(
    cgroup_root: Path | None = None, proc_cgroup: Path | None = None
) -> int | None:
    """The tightest memory limit in bytes of this process's cgroup and of those above it
    (v2 `memory.max`, v1 `memory.limit_in_bytes`); None where there is none."""
    limit = _tightest("memory", _v2_memory, _v1_memory, cgroup_root, proc_cgroup)
    return None if limit is None else int(limit)


_Reader = Callable[[Path], float | None]


def _tightest(
    controller: str,
    v2: _Reader,
    v1: _Reader,
    cgroup_root: Path | None,
    proc_cgroup: Path | None,
) -> float | None:
    """The smallest limit that `v2` (unified hierarchy) or `v1` (the `controller`'s own
    hierarchy) reads in the process's cgroups and those above them."""
    root = CGROUP_ROOT if cgroup_root is None else cgroup_root
    try:
        memberships = (PROC_CGROUP if proc_cgroup is None else proc_cgroup).read_text()
    except OSError:
        return None
    limits: list[float] = []
    for membership in memberships.splitlines():
        hierarchy, _, rest = membership.partition(":")
        controllers, _, path = rest.partition(":")
        if not path.startswith("/"):
            continue
        if hierarchy == "0" and controllers == "":
            limits.extend(_limits_up(root, path, v2))
        elif controller in controllers.split(","):
            for mount in (root / controllers, root / controller):
                if mount.is_dir():
                    limits.extend(_limits_up(mount, path, v1))
                    break
    return min(limits) if limits else None


def _limits_up(mount: Path, path: str, read: _Reader) -> list[float]:
    """The limits found in the cgroup at `path` under `mount` and in each one above it.
    In a container the cgroup namespace usually shows the container's own cgroup as `/`."""
    found: list[float] = []
    parts = [p for p in path.split("/") if p and p not in (".", "..")]
    for depth in range(len(parts), -1, -1):
        limit = read(mount.joinpath(*parts[:depth]))
        if limit is not None:
            found.append(limit)
    return found


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _v2_cpu(directory: Path) -> float | None:
    """`cpu.max` holds "$QUOTA $PERIOD" in microseconds, or "max $PERIOD" for no limit."""
    fields = (_read(directory / "cpu.max") or "").split()
    return _ratio(fields[0], fields[1]) if len(fields) == 2 else None


def _v1_cpu(directory: Path) -> float | None:
    """`cpu.cfs_quota_us` (-1: no limit) over `cpu.cfs_period_us`."""
    quota = _read(directory / "cpu.cfs_quota_us")
    period = _read(directory / "cpu.cfs_period_us")
    return None if quota is None or period is None else _ratio(quota, period)


def _v2_memory(directory: Path) -> float | None:
    """`memory.max`: bytes, or "max" for no limit."""
    return _bytes(_read(directory / "memory.max"))


def _v1_memory(directory: Path) -> float | None:
    """`memory.limit_in_bytes`: bytes; "no limit" is a number near 2^63."""
    return _bytes(_read(directory / "memory.limit_in_bytes"))


def _bytes(text: str | None) -> float | None:
    try:
        value = int(text or "")
    except ValueError:  # "max", missing, or not in the expected form: no limit
        return None
    return float(value) if 0 < value < _NO_LIMIT else None


def _ratio(quota: str, period: str) -> float | None:
    try:
        over, under = int(quota), int(period)
    except ValueError:  # "max", or a file not in the expected form: no limit
        return None
    return over / under if over > 0 and under > 0 else None
