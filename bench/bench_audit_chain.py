#!/usr/bin/env python3
"""Benchmark the hash-chained audit log (prints figures, asserts nothing).

1. Append N entries to a SQLite state, one transaction each (what an apply does per
   step): entries per second, and the cost per append.
2. `verify_chain` over the whole log (read + re-hash every entry): wall time.
3. `ftctl state audit --verify` as a user runs it (a process: start-up included).

Usage: bench/bench_audit_chain.py [--entries 5000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ftctl.state.audit_chain import verify_chain
from ftctl.state.model import AuditEntry
from ftctl.state.sqlite import SqliteStateStore


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=5000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "ftctl.yaml").write_text(
            "apiVersion: ftctl/v1\nkind: Workspace\nmetadata: {name: bench}\n"
            "providers:\n  local: {type: local}\n"
        )
        store = SqliteStateStore(root / ".ftctl" / "state.db")
        started = time.perf_counter()
        for n in range(args.entries):
            store.append_audit(
                AuditEntry.new(
                    who="bench",
                    operation="apply",
                    address=f"version.p{n % 50}.{n}",
                    action="wait",
                    plan_id="plan",
                    detail={"job_id": f"ftjob-{n}", "metrics": {"loss": n / 7, "acc": 0.5}},
                )
            )
        append_s = time.perf_counter() - started
        started = time.perf_counter()
        entries = store.audit()
        read_s = time.perf_counter() - started
        started = time.perf_counter()
        report = verify_chain(entries, store.audit_head())
        verify_s = time.perf_counter() - started
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "ftctl", "--workspace", str(root), "state", "audit", "--verify"],
            capture_output=True,
            text=True,
        )
        cli_s = time.perf_counter() - started
    print(f"entries                    {args.entries}")
    print(
        f"append (1 txn each)        {append_s:.2f} s  ({args.entries / append_s:,.0f}/s, "
        f"{append_s / args.entries * 1000:.2f} ms each)"
    )
    print(f"read whole log             {read_s * 1000:.0f} ms")
    print(f"verify_chain (re-hash all) {verify_s * 1000:.0f} ms  valid={report.ok}")
    print(
        f"ftctl state audit --verify {cli_s:.2f} s  exit {done.returncode}: {done.stdout.strip()}"
    )


if __name__ == "__main__":
    main()
