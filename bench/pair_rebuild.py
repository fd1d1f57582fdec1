#!/usr/bin/env python3
"""A rebuild after a 1% edit, this ftctl against another, in alternating pairs.

A change to the build that saves 2-5% of a rebuild is smaller than what the hour moves
`bench_build.py`'s figures (a shared machine's speed varies by 10% and more), so changes
are measured in pairs: both versions run on the same data, turn about, and the medians of
their times are compared.

It writes `bench_build.py`'s workspace twice (the same generated data), one for each
version, then for each pair and each side, old and new taking turns at going first: the
workspace's `.ftctl` removed, a cold `ftctl data build`, the same 1% edit on both sides'
data (`bench_build.edit_one_percent`, other lines each pair), and the rebuild, timed. Wall
and CPU (user + system, with the worker processes) from `os.wait4`, as `bench_build.py`.

Usage: bench/pair_rebuild.py --before DIR [--shared ../shared] [--examples 50000] [--pairs 10]
DIR is the `src` folder of the other ftctl, e.g. after
`git worktree add /tmp/before <commit>`: `--before /tmp/before/src`. Both are compiled to
bytecode first (a run with PYTHONDONTWRITEBYTECODE would otherwise compile on every start).
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from bench_build import Run, edit_one_percent, make_workspace, run

THIS_SRC = Path(__file__).resolve().parents[1] / "src"


def _side(src: Path, workspace: Path) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ, PYTHONPATH=str(src), FTCTL_CACHE_DIR=str(workspace / "stats-cache"))
    command = [sys.executable, "-m", "ftctl", "--workspace", str(workspace)]
    return [*command, "--json", "data", "build", "bench"], env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the other ftctl's src")
    parser.add_argument("--shared", type=Path, default=Path(__file__).parents[2] / "shared")
    parser.add_argument("--examples", type=int, default=50_000)
    parser.add_argument("--pairs", type=int, default=10)
    args = parser.parse_args()
    before = args.before.resolve()
    if not (before / "ftctl" / "__init__.py").is_file():
        raise SystemExit(f"{before}: not a src folder holding ftctl")
    for src in (before, THIS_SRC):
        compileall.compile_dir(src, quiet=1)
    with tempfile.TemporaryDirectory(prefix="ftctl-pairs-") as temp:
        root = Path(temp)
        (root / "new").mkdir()
        data = make_workspace(args.shared, args.examples, root / "new")
        shutil.copytree(root / "new", root / "old")  # the same data on both sides
        sides = {
            name: (
                *_side(src, root / name),
                root / name,
                root / name / data.relative_to(root / "new"),
            )
            for name, src in (("old", before), ("new", THIS_SRC))
        }
        times: dict[str, list[Run]] = {"old": [], "new": []}
        print(f"{args.examples:,} examples; old: {before}; new: {THIS_SRC}")
        for pair in range(args.pairs):
            order = ("old", "new") if pair % 2 == 0 else ("new", "old")
            for name in order:
                command, env, workspace, side_data = sides[name]
                shutil.rmtree(workspace / ".ftctl", ignore_errors=True)
                run(command, env)  # the cold build the rebuild starts from
                edit_one_percent(side_data, pair + 1)
                times[name].append(run(command, env))
            old, new = times["old"][-1], times["new"][-1]
            print(
                f"pair {pair + 1} ({order[0]} first): old {old.wall:.3f} s / {old.cpu:.2f} "
                f"CPU-s, new {new.wall:.3f} s / {new.cpu:.2f} CPU-s",
                flush=True,
            )
        med = statistics.median
        old_wall, new_wall = med(r.wall for r in times["old"]), med(r.wall for r in times["new"])
        old_cpu, new_cpu = med(r.cpu for r in times["old"]), med(r.cpu for r in times["new"])
        print(
            f"median of {args.pairs} pairs: wall {old_wall:.3f} -> {new_wall:.3f} s "
            f"({new_wall / old_wall - 1:+.1%}), CPU {old_cpu:.2f} -> {new_cpu:.2f} s "
            f"({new_cpu / old_cpu - 1:+.1%})"
        )


if __name__ == "__main__":
    main()
