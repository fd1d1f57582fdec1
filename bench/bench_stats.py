#!/usr/bin/env python3
"""Benchmark `ftctl data stats` against the data-prep notebook's logic and the tokenizer limit.

Generates the synthetic dataset with the shared `make_dataset.py`, then runs on the same
file, one after the other:

1. `cookbook_baseline.py` (the notebook's logic, single process) with `--bpe-file` pointing
   at the encoding ftctl ships;
2. `tokenizer_limit.py`: tiktoken alone on every core, JSON parsing not timed;
3. `ftctl data stats --json` with an empty cache (every check on), then again (cache hit).

Each run is a child process; wall time, CPU time and peak RSS come from `os.wait4`.
Prints a table and the ratios; checks that ftctl and the baseline count the same tokens.

Usage: bench/bench_stats.py [--shared ../shared] [--examples 50000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ENCODING = REPO / "src" / "ftctl" / "datasets" / "encodings" / "o200k_base.tiktoken.gz"


@dataclass
class Run:
    name: str
    wall: float
    cpu: float
    peak_mb: float
    stdout: str


def run(name: str, argv: list[str], env: dict[str, str] | None = None) -> Run:
    with tempfile.TemporaryFile("w+") as out:
        start = time.perf_counter()
        child = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        stdout = out.read()
    if child.returncode not in (0, 1):  # ftctl exits 1 on format errors; still a report
        raise SystemExit(f"{name} failed with exit code {child.returncode}: {argv}")
    # ru_maxrss is in kilobytes on Linux.
    return Run(name, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, stdout)


def median_run(name: str, argv: list[str], repeat: int, env: dict[str, str] | None = None) -> Run:
    runs = sorted((run(name, argv, env) for _ in range(repeat)), key=lambda r: r.wall)
    return runs[len(runs) // 2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--examples", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=1, help="runs per tool; the median is shown")
    parser.add_argument("--model", default="gpt-4o-mini-2024-07-18")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "ftctl-bench")
    args = parser.parse_args()

    bench = args.shared / "bench"
    for script in ("make_dataset.py", "cookbook_baseline.py", "tokenizer_limit.py"):
        if not (bench / script).is_file():
            raise SystemExit(f"{bench / script} not found; pass --shared DIR")
    args.workdir.mkdir(parents=True, exist_ok=True)
    data = args.workdir / f"chat-{args.examples}-seed{args.seed}.jsonl"
    if not data.is_file():
        print(f"generating {data} ...", file=sys.stderr)
        subprocess.run(
            [
                sys.executable,
                str(bench / "make_dataset.py"),
                str(data),
                str(args.examples),
                "--seed",
                str(args.seed),
            ],
            check=True,
        )
    size_mb = data.stat().st_size / 1e6
    py = sys.executable
    baseline = median_run(
        "cookbook_baseline.py",
        [py, str(bench / "cookbook_baseline.py"), str(data), "--bpe-file", str(ENCODING)],
        args.repeat,
    )
    limit = median_run(
        "tokenizer_limit.py",
        [py, str(bench / "tokenizer_limit.py"), str(data), "--bpe-file", str(ENCODING)],
        args.repeat,
    )
    ftctl_argv = [py, "-m", "ftctl", "data", "stats", str(data), "--json", "--model", args.model]
    # The cached lookup inside one process (hash the file, read the stored report).
    lookup = (
        "import sys, time; from pathlib import Path; "
        "from ftctl.catalog.models import lookup_model; "
        "from ftctl.datasets.stats_cache import stats_with_cache; "
        "t = time.perf_counter(); "
        f"r = stats_with_cache(Path({str(data)!r}), lookup_model({args.model!r})); "
        "print(r.cached, time.perf_counter() - t)"
    )
    cold_runs = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "FTCTL_CACHE_DIR": cache}
            cold_runs.append(run("ftctl data stats", ftctl_argv, env))
            warm = run("ftctl data stats (cached)", ftctl_argv, env)
            in_process = run("cached lookup in-process", [py, "-c", lookup], env)
    cold_runs.sort(key=lambda r: r.wall)
    cold = cold_runs[len(cold_runs) // 2]
    startup = median_run(
        "ftctl data stats --help", [py, "-m", "ftctl", "data", "stats", "--help"], args.repeat
    )
    was_cached, lookup_seconds = in_process.stdout.split()
    assert was_cached == "True"

    tokenize_seconds = float(re.search(r"seconds ([\d.]+)", limit.stdout).group(1))  # type: ignore[union-attr]
    report = json.loads(cold.stdout)
    assert json.loads(warm.stdout)["cached"] is True
    baseline_tokens = int(re.search(r"Dataset has ~(\d+) tokens", baseline.stdout).group(1))  # type: ignore[union-attr]

    print(
        f"file: {data} ({size_mb:.1f} MB, {report['examples']:,} examples), "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}"
    )
    print(f"{'run':<28} {'wall s':>8} {'cpu s':>8} {'peak MB':>8} {'MB/s':>7}")
    for r in (baseline, limit, cold, warm, startup):
        print(
            f"{r.name:<28} {r.wall:>8.2f} {r.cpu:>8.2f} {r.peak_mb:>8.0f} {size_mb / r.wall:>7.1f}"
        )
    print(f"tokenizer_limit.py: tokenization alone {tokenize_seconds:.2f} s")
    print(f"throughput vs cookbook_baseline: {baseline.wall / cold.wall:.2f}x")
    print(
        f"cached run / first run: {warm.wall / cold.wall:.1%} end to end "
        f"(of which CLI startup {startup.wall:.2f} s); the cached lookup itself "
        f"{float(lookup_seconds):.2f} s = {float(lookup_seconds) / cold.wall:.1%}"
    )
    same = report["total_tokens"] == baseline_tokens  # no example is over either limit here
    print(
        f"same token count as the baseline: {'yes' if same else 'NO'} "
        f"({report['total_tokens']:,} vs {baseline_tokens:,})"
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
