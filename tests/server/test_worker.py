"""The job worker's scheduling: FIFO with one worker, concurrent jobs with `workers=2`."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from openai import OpenAI

from ftctl.server.app import ServerSettings

JsonlMaker = Callable[..., bytes]
ThreadServer = Callable[[ServerSettings], str]  # the fixtures of conftest.py


def _statuses(client: OpenAI, job_ids: list[str]) -> list[str]:
    return [client.fine_tuning.jobs.retrieve(job_id).status for job_id in job_ids]


def _start_jobs(client: OpenAI, make_jsonl: JsonlMaker, count: int) -> list[str]:
    file = client.files.create(file=("big.jsonl", make_jsonl(100)), purpose="fine-tune")
    return [
        client.fine_tuning.jobs.create(
            model="local-tiny",
            training_file=file.id,
            # Long enough that no job finishes before the test cancels it.
            hyperparameters={"n_epochs": 20, "batch_size": 1},
        ).id
        for _ in range(count)
    ]


def _wait_until(predicate: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_one_worker_trains_one_job_at_a_time_in_order(
    tmp_path: Path, thread_server: ThreadServer, make_jsonl: JsonlMaker
) -> None:
    url = thread_server(ServerSettings(data_dir=tmp_path / "data"))
    client = OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    first, second = _start_jobs(client, make_jsonl, 2)
    _wait_until(lambda: _statuses(client, [first])[0] == "running", "the first job to run")
    # The second job's file check runs in its own thread: wait for it, then it must queue.
    _wait_until(
        lambda: _statuses(client, [second])[0] != "validating_files", "the second file check"
    )
    assert _statuses(client, [first, second]) == ["running", "queued"]
    client.fine_tuning.jobs.cancel(first)
    _wait_until(lambda: _statuses(client, [second])[0] == "running", "the second job to run")
    client.fine_tuning.jobs.cancel(second)
    assert _statuses(client, [first, second]) == ["cancelled", "cancelled"]


def test_two_workers_train_two_jobs_at_once(
    tmp_path: Path, thread_server: ThreadServer, make_jsonl: JsonlMaker
) -> None:
    url = thread_server(ServerSettings(data_dir=tmp_path / "data", workers=2))
    client = OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    jobs = _start_jobs(client, make_jsonl, 3)
    _wait_until(
        lambda: _statuses(client, jobs) == ["running", "running", "queued"], "two running jobs"
    )
    for job_id in jobs:
        client.fine_tuning.jobs.cancel(job_id)
