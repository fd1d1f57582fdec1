"""Benchmark (prints figures, asserts nothing): launcher start/reuse and HTTP latency of
the local server while idle and while a job trains.

    /tmp/venv/bin/python tests/server/bench_server.py
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from openai import OpenAI

from ftctl.providers.local_launcher import ensure_local_server, stop_local_server


def _latencies_ms(url: str, n: int = 40) -> list[float]:
    found = []
    with httpx.Client(trust_env=False) as client:
        for _ in range(n):
            started = time.perf_counter()
            client.get(f"{url}/v1/models").raise_for_status()
            found.append((time.perf_counter() - started) * 1000)
    return sorted(found)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "server"
        started = time.perf_counter()
        handle = ensure_local_server(data_dir)
        print(f"launcher start (cold):      {time.perf_counter() - started:6.2f} s")
        started = time.perf_counter()
        ensure_local_server(data_dir)
        print(f"launcher reuse:             {(time.perf_counter() - started) * 1000:6.1f} ms")
        try:
            client = OpenAI(base_url=handle.base_url, api_key="unused")
            rows = [
                {
                    "messages": [
                        {"role": "user", "content": f"Q{i}?"},
                        {"role": "assistant", "content": f"A{i}"},
                    ]
                }
                for i in range(100)
            ]
            body = "\n".join(json.dumps(row) for row in rows).encode()
            file = client.files.create(file=("t.jsonl", body), purpose="fine-tune")
            idle = _latencies_ms(handle.url)
            job = client.fine_tuning.jobs.create(
                model="local-tiny",
                training_file=file.id,
                hyperparameters={"n_epochs": 3, "batch_size": 1},
            )
            while client.fine_tuning.jobs.retrieve(job.id).status != "running":
                time.sleep(0.05)
            started = time.perf_counter()
            busy = _latencies_ms(handle.url)
            while (current := client.fine_tuning.jobs.retrieve(job.id)).status == "running":
                time.sleep(0.2)
            print(
                f"job of 300 steps:           {time.perf_counter() - started:6.1f} s ({current.status})"
            )
            for name, values in (("idle", idle), ("during training", busy)):
                p95 = values[int(len(values) * 0.95)]
                print(
                    f"GET /v1/models {name:16} median {statistics.median(values):5.1f} ms, p95 {p95:5.1f} ms"
                )
        finally:
            started = time.perf_counter()
            stop_local_server(data_dir)
            print(f"stop:                       {time.perf_counter() - started:6.2f} s")


if __name__ == "__main__":
    main()
