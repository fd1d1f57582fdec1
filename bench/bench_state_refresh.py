#!/usr/bin/env python3
"""Benchmark the state store and refresh.

1. SQLite state: read and compare-and-swap write of a state holding P projects with V
   versions each (the snapshot is one JSON document), and a lock take + release.
2. Refresh against a local server holding J ftctl jobs of one workspace: wall time and the
   number of HTTP requests (expected: ceil(J / 100) listing pages; the models are listed
   only when the state records model ids, and none here do).
   Jobs are created and cancelled at once, so the server does not train them.

Usage: bench/bench_state_refresh.py [--projects 100] [--versions 5] [--jobs 250]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import tempfile
import time
from pathlib import Path

from ftctl.plan.drift import drift
from ftctl.providers.base import META_FINGERPRINT, META_PROJECT, META_WORKSPACE, JobRequest
from ftctl.providers.openai_api import OpenAIProvider
from ftctl.refresh import refresh
from ftctl.server.launcher import ensure_local_server, stop_local_server
from ftctl.state.model import AliasRecord, StateSnapshot, VersionRecord
from ftctl.state.sqlite import SqliteStateStore


def timed(fn: object, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def version(project: str, number: int, job_id: str | None = None) -> VersionRecord:
    return VersionRecord(
        project=project,
        number=number,
        fingerprint=f"{project}-{number}".ljust(64, "0"),
        fingerprint_inputs={"base_model": "local-tiny", "hyperparameters": {"n_epochs": 3}},
        provider="local",
        base_model="local-tiny",
        method="supervised",
        hyperparameters={"n_epochs": 3},
        seed=7,
        train_sha256="a" * 64,
        validation_sha256="b" * 64,
        train_file_id="file-1",
        validation_file_id="file-2",
        job_id=job_id or f"ftjob-{project}-{number}",
        model_id=f"ft:local-tiny:local:{project}:{number}",
        status="succeeded",
        metrics={"train_loss": 0.5, "full_valid_loss": 0.7},
        created_at="2026-11-26T00:00:00Z",
    )


def bench_store(root: Path, projects: int, versions: int) -> None:
    store = SqliteStateStore(root / "state.db")
    snapshot = store.read()
    for p in range(projects):
        for n in range(1, versions + 1):
            snapshot = snapshot.with_version(version(f"p{p}", n))
        snapshot = snapshot.with_alias(AliasRecord(f"p{p}", "prod", versions, "m", "t"))
    snapshot = store.write(snapshot)
    size = len(json.dumps(snapshot.to_dict()))

    def write_once() -> None:
        store.write(store.read())

    def lock_once() -> None:
        with store.lock("bench", "bench"):
            pass

    print(f"state: {projects} projects x {versions} versions, snapshot {size / 1024:.0f} KiB")
    print(f"  read                 {timed(store.read, 20):7.2f} ms (median of 20)")
    print(f"  read + CAS write     {timed(write_once, 20):7.2f} ms")
    print(f"  lock take + release  {timed(lock_once, 20):7.2f} ms")


def bench_refresh(root: Path, jobs: int) -> None:
    handle = ensure_local_server(root / "server")
    try:
        provider = OpenAIProvider("local", api_key="bench", base_url=handle.base_url)
        path = root / "train.jsonl"
        rows = [
            {
                "messages": [
                    {"role": "user", "content": f"q{i}"},
                    {"role": "assistant", "content": f"a{i}"},
                ]
            }
            for i in range(10)
        ]
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        file_id = provider.upload_file(path, "train.jsonl").id
        workspace = "bench.0000"
        ids = []
        for i in range(jobs):
            job = provider.create_job(
                JobRequest(
                    "local-tiny",
                    file_id,
                    None,
                    "supervised",
                    {"n_epochs": 1},
                    None,
                    1,
                    {
                        META_WORKSPACE: workspace,
                        META_PROJECT: f"p{i % 100}",
                        META_FINGERPRINT: str(i),
                    },
                )
            )
            provider.cancel_job(job.id)
            ids.append(job.id)
        snapshot = StateSnapshot.empty(workspace)
        for i, job_id in enumerate(ids[:100]):
            # Recorded as the provider shows them (cancelled, no model): a no-op refresh.
            recorded = dataclasses.replace(
                version(f"p{i}", 1, job_id), status="cancelled", model_id=None
            )
            snapshot = snapshot.with_version(recorded)
        before = provider.request_count
        start = time.perf_counter()
        observation = refresh(snapshot, {"local": provider}, workspace)
        wall = time.perf_counter() - start
        requests = provider.request_count - before
        expected = math.ceil(jobs / 100)  # no model ids recorded: no model listing
        print(f"refresh: {jobs} jobs on the server, 100 versions in state")
        print(
            f"  wall {wall * 1000:.0f} ms, HTTP requests {requests} (listing pages: {expected}),"
            f" jobs seen {len(observation.jobs)}, drift items {len(drift(snapshot, observation.world()))}"
        )
    finally:
        stop_local_server(root / "server")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--projects", type=int, default=100)
    parser.add_argument("--versions", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=250)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench_store(Path(tmp), args.projects, args.versions)
        bench_refresh(Path(tmp), args.jobs)


if __name__ == "__main__":
    main()
