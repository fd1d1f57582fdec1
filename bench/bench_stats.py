#!/usr/bin/env python3
"""Benchmark `ftctl data stats` against the data-prep notebook's logic and the tokenizer limit.

Generates the synthetic dataset with the shared `make_dataset.py`, then, on the same file:

1. The ratio, as the median of alternating pairs: `cookbook_baseline.py` (the notebook's
   logic, single process, `--bpe-file` pointing at the encoding ftctl ships), then
   `ftctl data stats --json --no-cache` (every check on), then the baseline again, ...;
   each pair gives one ratio (baseline wall / ftctl wall), and the median of the pairs'
   ratios is the figure. Alternating spreads a change in the machine's load over both
   tools rather than over one of them; the median drops the odd disturbed pair.
2. `tokenizer_limit.py`: tiktoken alone on every core (JSON parsing not timed).
3. `ftctl data stats --json` with a warm cache, the cached lookup inside one process, and
   `ftctl data stats --help` (the command's start-up floor).

Each run is a child process; wall time, CPU time (user + system, its own processes
included) and the largest single process's peak RSS come from `os.wait4`; the peak of the
RSS summed over the run's processes (`data stats` starts worker processes) is sampled from
/proc every 10 ms; the 1-minute load average is read after each run, and "others" is the
CPU time the rest of the machine used during the run (busy time from /proc/stat less the
run's own): on a shared machine it says which runs had the cores to themselves (CPU time is
the steadier figure). The pairs whose two runs each had under 0.3 CPU-s of others' work
get their own median. Children compile byte code into a cache under --workdir
(`PYTHONPYCACHEPREFIX`), as an installed ftctl has it, even where PYTHONDONTWRITEBYTECODE
is set. Checks that ftctl and the baseline count the same tokens.

`--compare-src DIR` adds another ftctl (its `src` directory, e.g. from `git archive`) to
every round, between the baseline and this tree's ftctl, for a before/after in one run.

Usage: bench/bench_stats.py [--shared ../shared] [--examples 50000] [--pairs 5]
                            [--compare-src DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
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
    peak_mb: float  # the largest process's peak RSS (wait4)
    sum_mb: float  # the peak of the RSS summed over the run's processes (sampled)
    load: float  # 1-minute load average right after the run
    others: float  # CPU seconds the rest of the machine used meanwhile
    stdout: str


PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")


def busy_seconds() -> float:
    """CPU time spent by the whole machine (all cores, not idle or waiting for I/O)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / TICK


def tree_rss(pid: int) -> int:
    """The RSS in bytes of process `pid` and its descendants (0 once it is gone)."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * PAGE
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            pass
    return total


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.01):
            self.peak = max(self.peak, tree_rss(self.pid))


def run(name: str, argv: list[str], env: dict[str, str]) -> Run:
    with tempfile.TemporaryFile("w+") as out:
        busy = busy_seconds()
        start = time.perf_counter()
        child = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL, env=env)
        sampler = RssSampler(child.pid)
        sampler.start()
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        busy = busy_seconds() - busy
        sampler.done.set()
        sampler.join()
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        stdout = out.read()
    if code not in (0, 1):  # ftctl exits 1 on format errors; still a report
        raise SystemExit(f"{name} failed with exit code {code}: {argv}")
    # ru_maxrss is in kilobytes on Linux.
    cpu = usage.ru_utime + usage.ru_stime
    return Run(
        name,
        wall,
        cpu,
        usage.ru_maxrss / 1024,
        sampler.peak / 2**20,
        os.getloadavg()[0],
        max(0.0, busy - cpu),
        stdout,
    )


def median_run(name: str, argv: list[str], repeat: int, env: dict[str, str]) -> Run:
    runs = sorted((run(name, argv, env) for _ in range(repeat)), key=lambda r: r.wall)
    return runs[len(runs) // 2]


def row(r: Run, size_mb: float) -> str:
    return (
        f"{r.name:<30} {r.wall:>7.2f} {r.cpu:>7.2f} {r.peak_mb:>8.0f} {r.sum_mb:>7.0f}"
        f" {size_mb / r.wall:>7.1f} {r.load:>6.2f} {r.others:>6.2f}"
    )


HEADER = (
    f"{'run':<30} {'wall s':>7} {'CPU s':>7} {'peak MB':>8} {'sum MB':>7} {'MB/s':>7} {'load':>6}"
    f" {'others':>6}"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--examples", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pairs", type=int, default=5, help="alternating (baseline, ftctl) pairs")
    parser.add_argument("--repeat", type=int, default=1, help="runs of the other tools (median)")
    parser.add_argument("--model", default="gpt-4o-mini-2024-07-18")
    parser.add_argument(
        "--compare-src", type=Path, help="another ftctl's src/ directory, run in every round"
    )
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
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(args.workdir / "pycache")
    baseline_argv = [
        py,
        str(bench / "cookbook_baseline.py"),
        str(data),
        "--bpe-file",
        str(ENCODING),
    ]
    ftctl_argv = [py, "-m", "ftctl", "data", "stats", str(data), "--json", "--model", args.model]
    # Once untimed: byte code compiled, the file in the page cache.
    run("warm-up", [*ftctl_argv, "--no-cache"], env)

    print(
        f"file: {data} ({size_mb:.1f} MB), {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.2f} at the start"
    )
    print(HEADER)
    pairs: list[tuple[Run, Run]] = []
    others: list[tuple[Run, Run]] = []  # (baseline, --compare-src ftctl)
    other_env = {**env, "PYTHONPATH": str(args.compare_src)} if args.compare_src else None
    if other_env is not None:
        run("warm-up", [*ftctl_argv, "--no-cache"], other_env)
    for i in range(args.pairs):
        baseline = run(f"pair {i + 1}: cookbook_baseline", baseline_argv, env)
        print(row(baseline, size_mb))
        if other_env is not None:
            other = run(
                f"pair {i + 1}: compared --no-cache", [*ftctl_argv, "--no-cache"], other_env
            )
            others.append((baseline, other))
            print(f"{row(other, size_mb)}   ratio {baseline.wall / other.wall:.2f}x")
        ftctl = run(f"pair {i + 1}: ftctl --no-cache", [*ftctl_argv, "--no-cache"], env)
        pairs.append((baseline, ftctl))
        print(f"{row(ftctl, size_mb)}   ratio {baseline.wall / ftctl.wall:.2f}x")
    ratios = [b.wall / f.wall for b, f in pairs]
    cpu_ratios = [b.cpu / f.cpu for b, f in pairs]

    limit = median_run(
        "tokenizer_limit.py",
        [py, str(bench / "tokenizer_limit.py"), str(data), "--bpe-file", str(ENCODING)],
        args.repeat,
        env,
    )
    # The cached lookup inside one process (hash the file, read the stored report).
    lookup = (
        "import sys, time; from pathlib import Path; "
        "from ftctl.catalog.models import lookup_model; "
        "from ftctl.datasets.stats_cache import stats_with_cache; "
        "t = time.perf_counter(); "
        f"r = stats_with_cache(Path({str(data)!r}), lookup_model({args.model!r})); "
        "print(r.cached, time.perf_counter() - t)"
    )
    with tempfile.TemporaryDirectory() as cache:
        cache_env = {**env, "FTCTL_CACHE_DIR": cache}
        cold = run("ftctl data stats (cache empty)", ftctl_argv, cache_env)
        warm = median_run("ftctl data stats (cached)", ftctl_argv, args.repeat, cache_env)
        in_process = run("cached lookup in-process", [py, "-c", lookup], cache_env)
    startup = median_run(
        "ftctl data stats --help", [py, "-m", "ftctl", "data", "stats", "--help"], args.repeat, env
    )
    for r in (limit, cold, warm, startup):
        print(row(r, size_mb))
    was_cached, lookup_seconds = in_process.stdout.split()
    assert was_cached == "True"
    tokenize_seconds = float(re.search(r"seconds ([\d.]+)", limit.stdout).group(1))  # type: ignore[union-attr]
    report = json.loads(pairs[-1][1].stdout)
    assert json.loads(warm.stdout)["cached"] is True
    baseline_tokens = int(re.search(r"Dataset has ~(\d+) tokens", pairs[-1][0].stdout).group(1))  # type: ignore[union-attr]

    print(f"examples: {report['examples']:,}")
    print(f"tokenizer_limit.py: tokenization alone {tokenize_seconds:.2f} s")
    print(
        f"ratio baseline wall / ftctl wall, median of {len(pairs)} alternating pairs: "
        f"{statistics.median(ratios):.2f}x (pairs: {', '.join(f'{r:.2f}' for r in ratios)})"
    )
    print(
        f"ftctl wall median {statistics.median(f.wall for _, f in pairs):.2f} s, "
        f"CPU median {statistics.median(f.cpu for _, f in pairs):.2f} s; baseline wall median "
        f"{statistics.median(b.wall for b, _ in pairs):.2f} s, CPU median "
        f"{statistics.median(b.cpu for b, _ in pairs):.2f} s; "
        f"CPU ratio median {statistics.median(cpu_ratios):.2f}x"
    )
    clean = [b.wall / f.wall for b, f in pairs if max(b.others, f.others) < 0.3]
    if clean:
        print(
            f"pairs without others' work (under 0.3 CPU-s in each run): {len(clean)}, median "
            f"ratio {statistics.median(clean):.2f}x ({', '.join(f'{r:.2f}' for r in clean)})"
        )
    if others:
        other_ratios = [b.wall / o.wall for b, o in others]
        print(
            f"--compare-src {args.compare_src}: median ratio {statistics.median(other_ratios):.2f}x "
            f"(rounds: {', '.join(f'{r:.2f}' for r in other_ratios)}), wall median "
            f"{statistics.median(o.wall for _, o in others):.2f} s, CPU median "
            f"{statistics.median(o.cpu for _, o in others):.2f} s, summed peak RSS "
            f"{max(o.sum_mb for _, o in others):.0f} MB"
        )
    print(
        f"ftctl peak RSS: largest process {max(f.peak_mb for _, f in pairs):.0f} MB, summed "
        f"over its processes {max(f.sum_mb for _, f in pairs):.0f} MB (sampled); baseline "
        f"{max(b.peak_mb for b, _ in pairs):.0f} MB"
    )
    print(
        f"cached run / first run: {warm.wall / cold.wall:.1%} end to end "
        f"(of which CLI startup {startup.wall:.2f} s); the cached lookup itself "
        f"{float(lookup_seconds):.2f} s = {float(lookup_seconds) / cold.wall:.1%}"
    )
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    same = report["total_tokens"] == baseline_tokens  # no example is over either limit here
    print(
        f"same token count as the baseline: {'yes' if same else 'NO'} "
        f"({report['total_tokens']:,} vs {baseline_tokens:,})"
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
