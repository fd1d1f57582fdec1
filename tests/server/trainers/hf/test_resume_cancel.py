"""An hf job survives a killed server (it resumes from its last epoch checkpoint) and stops
at once when cancelled (its training process is gone, not left running)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest

from ftctl.providers.local_launcher import ensure_local_server, stop_local_server

from ....support.hf_tiny import ticket_rows, write_jsonl

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _wait(what: str, check: Callable[[], Any], timeout: float = 240) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _trainers_of(job_id: str) -> list[int]:
    """Pids of training processes working on `job_id` (their spec lies in the job's dir)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "ftctl.server.trainers.hf.run" in command and job_id in command:
            pids.append(int(entry.name))
    return pids


def _create(client: openai.OpenAI, model: Path, file_id: str, epochs: int) -> str:
    job = client.fine_tuning.jobs.create(
        model=f"hf:{model}",
        training_file=file_id,
        seed=7,
        method={
            "type": "supervised",
            "supervised": {
                "hyperparameters": {
                    "n_epochs": epochs,
                    "batch_size": 8,
                    "learning_rate_multiplier": 50.0,
                    "lora_rank": 8,
                }
            },
        },
    )
    return job.id


@pytest.fixture
def server_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    data_dir = tmp_path / "server"
    yield data_dir  # type: ignore[misc]
    stop_local_server(data_dir)


def test_a_killed_server_resumes_the_job_from_its_checkpoint(
    tiny_model: Path, server_dir: Path, tmp_path: Path
) -> None:
    handle = ensure_local_server(server_dir)
    client = openai.OpenAI(base_url=handle.base_url, api_key="unused")
    train = write_jsonl(tmp_path / "train.jsonl", ticket_rows(48, seed=1))
    uploaded = client.files.create(file=train.open("rb"), purpose="fine-tune")
    job_id = _create(client, tiny_model, uploaded.id, epochs=4)
    _wait("the first checkpoint", lambda: client.fine_tuning.jobs.checkpoints.list(job_id).data)

    os.kill(handle.pid, signal.SIGKILL)
    # The training process notices that its server is gone and exits too.
    _wait("the orphaned trainer to exit", lambda: not _trainers_of(job_id), timeout=30)
    handle = ensure_local_server(server_dir)
    client = openai.OpenAI(base_url=handle.base_url, api_key="unused")
    job = _wait(
        "the resumed job to finish",
        lambda: (
            (j := client.fine_tuning.jobs.retrieve(job_id)).status in ("succeeded", "failed") and j
        ),
    )

    assert job.status == "succeeded", job.error
    messages = [e.message for e in client.fine_tuning.jobs.list_events(job_id, limit=100)]
    assert any("resumed from the checkpoint at step" in m for m in messages)
    checkpoints = client.fine_tuning.jobs.checkpoints.list(job_id, limit=10).data
    # 4 epochs of 6 steps; like OpenAI, the server keeps the last 3 epochs' checkpoints.
    assert sorted(c.step_number for c in checkpoints) == [12, 18, 24]
    assert job.trained_tokens and job.fine_tuned_model


def test_cancel_stops_the_training_process(
    tiny_model: Path, server_dir: Path, tmp_path: Path
) -> None:
    handle = ensure_local_server(server_dir)
    client = openai.OpenAI(base_url=handle.base_url, api_key="unused")
    train = write_jsonl(tmp_path / "train.jsonl", ticket_rows(48, seed=1))
    uploaded = client.files.create(file=train.open("rb"), purpose="fine-tune")
    job_id = _create(client, tiny_model, uploaded.id, epochs=50)
    _wait(
        "training steps",
        lambda: any(
            e.type == "metrics" for e in client.fine_tuning.jobs.list_events(job_id, limit=5)
        ),
    )
    assert _trainers_of(job_id)

    cancelled = client.fine_tuning.jobs.cancel(job_id)

    assert cancelled.status == "cancelled"
    _wait("the trainer to exit", lambda: not _trainers_of(job_id), timeout=15)
    job = client.fine_tuning.jobs.retrieve(job_id)
    assert job.status == "cancelled" and job.fine_tuned_model is None
