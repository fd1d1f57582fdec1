#!/usr/bin/env python3
"""Benchmark `ftctl data build` against `ftctl data stats --no-cache`, side by side.

For each size (default: the shared generator's 50,000 and 200,000 examples) it writes a
workspace whose project reads that file, with `dedupe` + `nearDedupe {threshold: 0.9}`, a
10% hash validation split and every policy check on (leakage, secrets and empty answers at
`warn`, so the build completes), then runs, each as a user would (`python -m ftctl`, a new
process), in rounds:

- `ftctl --json data stats FILE --no-cache`;
- a cold `ftctl --json data build bench` (the workspace's `.ftctl/cache` removed first:
  no build cache, no example cache);
- a rebuild after editing 1% of the lines (every 100th line's last answer gets a few
  words more; other lines in each round), with the cache of the cold build.

Even rounds run stats first, odd rounds the builds first (A B / B A), so that a change in
the machine's load hits both sides alike; the ratios (cold / stats, rebuild / cold) are
computed within each round and their medians printed. Wall time, CPU time (user + system,
the process and the workers it waited for) and peak RSS (the largest of the process and its
workers) come from `os.wait4`; in brackets, the peak of the RSS summed over the process and
its workers (sampled from /proc every 10 ms, as bench_stats.py does). The load average is
printed with each round. The SHA-256 of the first cold build's splits (of the unedited
file) is printed so that it can be compared with other versions.

Usage: bench/bench_build.py [--shared ../shared] [--sizes 50000 200000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench_stats import RssSampler  # the same sampling of a process tree's RSS

PROJECT = """\
apiVersion: ftctl/v1
kind: FineTuneProject
metadata: {name: bench}
spec:
  provider: local
  baseModel: gpt-4o-mini-2024-07-18
  data:
    train:
      sources: [{path: data/train.jsonl}]
      transforms: [{dedupe: {}}, {nearDedupe: {threshold: 0.9}}]
    validation: {split: {fraction: 0.1, seed: 7}}
  policy:
    leakage: warn
    secrets: warn
    emptyAnswers: warn
"""
WORKSPACE = """\
apiVersion: ftctl/v1
kind: Workspace
metadata: {name: bench}
providers: {local: {type: local}}
"""


@dataclass
class Run:
    wall: float
    cpu: float
    peak_mb: float  # the largest process's peak RSS
    sum_mb: float  # the peak of the RSS summed over the run's processes (sampled)
    stdout: str


def run(command: list[str], env: dict[str, str]) -> Run:
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.DEVNULL, env=env)
        sampler = RssSampler(process.pid)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        sampler.done.set()
        sampler.join()
        out.seek(0)
        stdout = out.read().decode("utf-8", "replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{stdout[-2000:]}")
    cpu = usage.ru_utime + usage.ru_stime
    return Run(wall, cpu, usage.ru_maxrss / 1024, sampler.peak / 2**20, stdout)


def edit_one_percent(path: Path, round_no: int) -> int:
    """Every 100th line (from `round_no % 100`) gets a few more words in its last answer.

    Streamed line by line: this process stays small, since a child's peak RSS as
    `wait4` reports it starts from this process's size at the fork.
    """
    edited = 0
    temporary = path.with_suffix(".edit")
    with path.open(encoding="utf-8") as source, temporary.open("w", encoding="utf-8") as out:
        for i, line in enumerate(source):
            if i % 100 == round_no % 100:
                row = json.loads(line)
                row["messages"][-1]["content"] += f" Edited in round {round_no}."
                line = json.dumps(row, ensure_ascii=False) + "\n"
                edited += 1
            out.write(line)
    temporary.replace(path)
    return edited


def make_workspace(shared: Path, examples: int, root: Path) -> Path:
    """The bench workspace under `root`, its project reading `examples` generated rows: the
    data file's path."""
    (root / "ftctl.yaml").write_text(WORKSPACE)
    project_dir = root / "projects" / "bench"
    (project_dir / "data").mkdir(parents=True)
    (project_dir / "project.yaml").write_text(PROJECT)
    data = project_dir / "data" / "train.jsonl"
    subprocess.run(
        [sys.executable, str(shared / "bench/make_dataset.py"), str(data), str(examples)],
        check=True,
    )
    return data


def bench_size(shared: Path, examples: int, rounds: int, root: Path) -> None:
    env = dict(os.environ, FTCTL_CACHE_DIR=str(root / "stats-cache"))
    data = make_workspace(shared, examples, root)
    size_mb = data.stat().st_size / 1e6
    ftctl = [sys.executable, "-m", "ftctl"]
    stats_cmd = [*ftctl, "--json", "data", "stats", str(data), "--no-cache"]
    build_cmd = [*ftctl, "--workspace", str(root), "--json", "data", "build", "bench"]
    print(f"\n## {examples:,} examples ({size_mb:.1f} MB)")
    print(
        "| round | load avg | stats wall / CPU / MB (all) | cold build wall / CPU / MB (all) "
        "| rebuild (1% edited) wall / CPU / MB (all) | cold/stats | rebuild/cold |"
    )
    print("|---|---|---|---|---|---|---|")
    cold_ratios: list[float] = []
    rebuild_ratios: list[float] = []
    rows: list[tuple[Run, Run, Run]] = []
    for round_no in range(rounds):

        def builds(round_no: int = round_no) -> tuple[Run, Run]:
            shutil.rmtree(root / ".ftctl", ignore_errors=True)
            cold = run(build_cmd, env)
            if round_no == 0:
                splits = json.loads(cold.stdout)["splits"]
                shas = ", ".join(f"{n} {s['sha256'][:12]}" for n, s in splits.items())
                print(f"(unedited file: {shas})")
            edit_one_percent(data, round_no + 1)
            return cold, run(build_cmd, env)

        if round_no % 2 == 0:
            stats = run(stats_cmd, env)
            cold, rebuild = builds()
        else:
            cold, rebuild = builds()
            stats = run(stats_cmd, env)
        rows.append((stats, cold, rebuild))
        cold_ratios.append(cold.wall / stats.wall)
        rebuild_ratios.append(rebuild.wall / cold.wall)
        load = os.getloadavg()[0]
        cells = [
            f"{r.wall:.2f} / {r.cpu:.2f} / {r.peak_mb:.0f} ({r.sum_mb:.0f})"
            for r in (stats, cold, rebuild)
        ]
        print(
            f"| {round_no + 1} | {load:.2f} | {' | '.join(cells)} "
            f"| {cold_ratios[-1]:.2f}x | {rebuild_ratios[-1]:.1%} |",
            flush=True,
        )
    med = statistics.median
    cells = [
        f"{med(r[i].wall for r in rows):.2f} / {med(r[i].cpu for r in rows):.2f} "
        f"/ {med(r[i].peak_mb for r in rows):.0f} ({med(r[i].sum_mb for r in rows):.0f})"
        for i in range(3)
    ]
    print(
        f"| median | | {' | '.join(cells)} "
        f"| **{med(cold_ratios):.2f}x** | **{med(rebuild_ratios):.1%}** |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", type=Path, default=Path(__file__).parents[2] / "shared")
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 200_000])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    package = subprocess.run(
        [sys.executable, "-c", "import ftctl; print(ftctl.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # Measured as installed (pip writes every module's bytecode): with PYTHONDONTWRITEBYTECODE
    # set, a checkout without it would compile ftctl's modules in every command (~0.05 s).
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(Path(package).parent)], check=True
    )
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores, ftctl from {package} "
        "(bytecode compiled first)"
    )
    for examples in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            bench_size(args.shared, examples, args.rounds, Path(tmp))


if __name__ == "__main__":
    main()
