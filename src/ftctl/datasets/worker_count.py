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
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable
from pathlib import Path

from ftctl.errors import ConfigError

ENV = "FTCTL_DATA_WORKERS"
CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


def usable_cpus(cgroup_root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> int:
    """The CPUs this process may use: machine, affinity and cgroup limit (at least 1)."""
    counts = [os.cpu_count() or 1]
    if hasattr(os, "sched_getaffinity"):
        with contextlib.suppress(OSError):  # a sandbox that refuses the call
            counts.append(len(os.sched_getaffinity(0)))
    limit = cgroup_cpu_limit(cgroup_root, proc_cgroup)
    if limit is not None:
        counts.append(math.ceil(limit))
    return max(1, min(counts))


def data_workers(cap: int) -> int:
    """Worker processes for a data command: `FTCTL_DATA_WORKERS` when set (1: none, the work
    is done in this process), else the usable CPUs, at most `cap`."""
    wanted = os.environ.get(ENV, "").strip()
    if not wanted:
        return min(usable_cpus(), cap)
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


def cgroup_cpu_limit(
    cgroup_root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP
) -> float | None:
    """The tightest CPU bandwidth limit (quota / period, in CPUs) of this process's cgroup
    and of those above it, cgroup v2 or v1; None where there is none or it cannot be read
    (not Linux, no cgroup file system)."""
    try:
        memberships = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    limits: list[float] = []
    for membership in memberships:
        hierarchy, _, rest = membership.partition(":")
        controllers, _, path = rest.partition(":")
        if not path.startswith("/"):
            continue
        if hierarchy == "0" and controllers == "":
            limits.extend(_limits_up(cgroup_root, path, _v2_limit))
        elif "cpu" in controllers.split(","):
            for mount in (cgroup_root / controllers, cgroup_root / "cpu"):
                if mount.is_dir():
                    limits.extend(_limits_up(mount, path, _v1_limit))
                    break
    return min(limits) if limits else None


def _limits_up(mount: Path, path: str, read: Callable[[Path], float | None]) -> list[float]:
    """The limits found in the cgroup at `path` under `mount` and in each one above it.
    In a container the cgroup namespace usually shows the container's own cgroup as `/`."""
    found: list[float] = []
    parts = [p for p in path.split("/") if p and p not in (".", "..")]
    for depth in range(len(parts), -1, -1):
        limit = read(mount.joinpath(*parts[:depth]))
        if limit is not None:
            found.append(limit)
    return found


def _v2_limit(directory: Path) -> float | None:
    """`cpu.max` holds "$QUOTA $PERIOD" in microseconds, or "max $PERIOD" for no limit."""
    try:
        fields = (directory / "cpu.max").read_text().split()
    except OSError:
        return None
    return _ratio(fields[0], fields[1]) if len(fields) == 2 else None


def _v1_limit(directory: Path) -> float | None:
    """`cpu.cfs_quota_us` (-1: no limit) over `cpu.cfs_period_us`."""
    try:
        quota = (directory / "cpu.cfs_quota_us").read_text().strip()
        period = (directory / "cpu.cfs_period_us").read_text().strip()
    except OSError:
        return None
    return _ratio(quota, period)


def _ratio(quota: str, period: str) -> float | None:
    try:
        over, under = int(quota), int(period)
    except ValueError:  # "max", or a file not in the expected form: no limit
        return None
    return over / under if over > 0 and under > 0 else None
