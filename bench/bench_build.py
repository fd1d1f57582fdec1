#!/usr/bin/env python3
"""Benchmark `build_project`: a first build (every transform and check) and a cached rebuild.

Writes a workspace whose project reads a synthetic chat dataset made by the shared
`make_dataset.py` (refusals, duplicates, non-ASCII), with dedupe + nearDedupe transforms,
a 10% hash validation split and the default policy at `warn` (so the build completes and
every check runs). Prints wall and CPU time per stage (CPU: every thread of the process),
the peak RSS of the process after each stage, and the figures of the result.

Usage: bench/bench_build.py [--shared ../shared] [--examples 10000]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", type=Path, default=Path(__file__).parents[2] / "shared")
    parser.add_argument("--examples", type=int, default=10_000)
    args = parser.parse_args()

    from ftctl.config.loader import load_workspace
    from ftctl.datasets.build import build_project
    from ftctl.errors import DataError

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "ftctl.yaml").write_text(WORKSPACE)
        project_dir = root / "projects" / "bench"
        (project_dir / "data").mkdir(parents=True)
        (project_dir / "project.yaml").write_text(PROJECT)
        data = project_dir / "data" / "train.jsonl"
        subprocess.run(
            [
                sys.executable,
                str(args.shared / "bench/make_dataset.py"),
                str(data),
                str(args.examples),
            ],
            check=True,
        )
        size = data.stat().st_size
        workspace = load_workspace(root)
        project = workspace.project("bench")
        for label in ("first build", "cached rebuild"):
            start, cpu = time.perf_counter(), time.process_time()
            try:
                built = build_project(project, workspace)
            except DataError as error:
                print(f"{label}: DataError with {len(error.diagnostics)} diagnostics")
                raise
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
            print(
                f"{label:15s} {elapsed:7.2f} s wall, {cpu:6.2f} s CPU, peak RSS {peak_mb:5.0f} MB"
                f"   ({args.examples:,} rows, {size / 1e6:.1f} MB)"
            )
        for name, split in built.splits.items():
            print(
                f"  {name:10s} examples={split.examples:,} tokens={split.tokens:,} "
                f"sha256={split.sha256[:12]}"
            )
        transforms = built.report["splits"]["train"]["transforms"]
        for t in transforms:
            print(f"  transform {t['name']}: {t['rows_in']:,} -> {t['rows_out']:,}")
        print(f"  findings: {len(built.diagnostics)}   cost: ${built.cost.cost_usd}")


if __name__ == "__main__":
    main()
