#!/usr/bin/env python3
"""How `ftctl data build` scales with its worker processes (`FTCTL_DATA_WORKERS`).

The same workspace as bench_build.py (the shared generator's file, `dedupe` +
`nearDedupe`, a 10% validation split, every policy check on). For each size, once:
`data stats --no-cache` (its default processes), then for each worker count a cold build
and a rebuild after editing 1% of the lines. Wall, CPU (user + system, the workers
included), the largest process's peak RSS and, in brackets, the peak of the RSS summed
over the process and its workers. What it is for: choosing the default cap of workers
(`ftctl.datasets.build.MAX_WORKERS`) on a machine with more cores than this project's
2-core CI; one run per cell, so read it for the shape, not the last 5%.

Usage: bench/bench_workers.py [--shared ../shared] [--sizes 50000 200000]
       [--workers 1 2 4 8 12 16]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from bench_build import Run, edit_one_percent, make_workspace, run


def cell(r: Run) -> str:
    return f"{r.wall:.2f} / {r.cpu:.2f} / {r.peak_mb:.0f} ({r.sum_mb:.0f})"


def bench_size(shared: Path, examples: int, counts: list[int], root: Path) -> None:
    base_env = dict(os.environ, FTCTL_CACHE_DIR=str(root / "stats-cache"))
    data = make_workspace(shared, examples, root)
    ftctl = [sys.executable, "-m", "ftctl"]
    stats = run([*ftctl, "--json", "data", "stats", str(data), "--no-cache"], base_env)
    print(f"\n## {examples:,} examples ({data.stat().st_size / 1e6:.1f} MB)")
    print(f"data stats --no-cache (default processes): {cell(stats)}")
    print(
        "| workers | cold build wall / CPU / MB (all) | rebuild wall / CPU / MB (all) "
        "| cold / stats | cold speed-up over the first row |"
    )
    print("|---|---|---|---|---|")
    build = [*ftctl, "--workspace", str(root), "--json", "data", "build", "bench"]
    first: float | None = None
    for n, workers in enumerate(counts):
        env = dict(base_env, FTCTL_DATA_WORKERS=str(workers))
        shutil.rmtree(root / ".ftctl", ignore_errors=True)
        cold = run(build, env)
        edit_one_percent(data, n + 1)
        rebuild = run(build, env)
        first = first or cold.wall
        print(
            f"| {workers} | {cell(cold)} | {cell(rebuild)} | {cold.wall / stats.wall:.2f}x "
            f"| {first / cold.wall:.2f}x |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", type=Path, default=Path(__file__).parents[2] / "shared")
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 200_000])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8, 12, 16])
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
    for examples in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            bench_size(args.shared, examples, args.workers, Path(tmp))


if __name__ == "__main__":
    main()
