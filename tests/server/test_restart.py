"""A server killed mid-training (SIGKILL) and started again on the same data directory
finishes the job, resuming from its last epoch checkpoint; plus the launcher's reuse."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from openai import OpenAI
from openai.types.fine_tuning import FineTuningJob

from ftctl.config.local_server import ServerInfo
from ftctl.providers.local_launcher import ensure_local_server, stop_local_server

JsonlMaker = Callable[..., bytes]
JobWaiter = Callable[..., FineTuningJob]  # the fixtures of conftest.py

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _wait_dead(pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def test_killed_server_resumes_the_job_after_restart(
    tmp_path: Path, make_jsonl: JsonlMaker, wait_for_job: JobWaiter
) -> None:
    data_dir = tmp_path / "server"
    first = ensure_local_server(data_dir)
    try:
        client = OpenAI(base_url=first.base_url, api_key="unused", max_retries=0)
        file = client.files.create(file=("train.jsonl", make_jsonl(40)), purpose="fine-tune")
        job = client.fine_tuning.jobs.create(
            model="local-tiny",
            training_file=file.id,
            suffix="restart",
            seed=11,
            hyperparameters={"n_epochs": 3, "batch_size": 1},
        )
        # Kill once the first epoch is checkpointed and training is still under way.
        deadline = time.monotonic() + 120
        while not client.fine_tuning.jobs.checkpoints.list(job.id).data:
            assert time.monotonic() < deadline, "no checkpoint within 120s"
            time.sleep(0.02)
        assert client.fine_tuning.jobs.retrieve(job.id).status == "running"
        os.kill(first.pid, signal.SIGKILL)
        _wait_dead(first.pid)

        second = ensure_local_server(data_dir)
        assert second.pid != first.pid
        client = OpenAI(base_url=second.base_url, api_key="unused", max_retries=0)
        finished = wait_for_job(client, job.id)
        assert finished.status == "succeeded", finished.error
        assert finished.seed == 11
        assert (
            finished.fine_tuned_model
            == f"ft:local-tiny:local:restart:{job.id.removeprefix('ftjob-')}"
        )
        checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
        assert [c.step_number for c in checkpoints] == [120, 80, 40]
        messages = [e.message for e in client.fine_tuning.jobs.list_events(job.id, limit=100)]
        assert any(m.startswith("Server restarted: the job is queued again") for m in messages)
        resumed = [
            m for m in messages if m.startswith("Fine-tuning job resumed from the checkpoint")
        ]
        assert resumed in (
            ["Fine-tuning job resumed from the checkpoint at step 40"],
            ["Fine-tuning job resumed from the checkpoint at step 80"],  # killed a bit later
        )
        # Files and the model survived the restart too.
        assert client.files.content(file.id).content == make_jsonl(40)
        reply = client.chat.completions.create(
            model=finished.fine_tuned_model or "",
            messages=[{"role": "user", "content": "Say the colour for item 7"}],
            temperature=0,
        )
        assert reply.choices[0].message.content == "blue"
    finally:
        stop_local_server(data_dir)


def test_launcher_reuses_a_live_server_and_stops_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "server"
    keyless = ensure_local_server(data_dir)
    assert ensure_local_server(data_dir) == keyless
    # Asking for a key setting the live server lacks restarts it with the key.
    monkeypatch.setenv("FTCTL_TEST_LAUNCH_KEY", "sk-launch-secret-value")
    handle = ensure_local_server(data_dir, api_key_env="FTCTL_TEST_LAUNCH_KEY")
    assert handle.pid != keyless.pid
    assert ensure_local_server(data_dir, api_key_env="FTCTL_TEST_LAUNCH_KEY") == handle
    assert httpx.get(f"{handle.base_url}/models", trust_env=False).status_code == 401
    authorised = {"Authorization": "Bearer sk-launch-secret-value"}
    assert httpx.get(f"{handle.base_url}/models", headers=authorised, trust_env=False).is_success
    assert "sk-launch-secret-value" not in (data_dir / "server.json").read_text()
    info = ServerInfo.read(data_dir)
    assert info is not None and info.pid == handle.pid and info.url == handle.url
    assert info.api_key_env == "FTCTL_TEST_LAUNCH_KEY"
    assert handle.url.startswith("http://127.0.0.1:")
    assert (data_dir / "server.log").exists()
    assert stop_local_server(data_dir)
    _wait_dead(handle.pid)
    assert not (data_dir / "server.json").exists()
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{handle.url}/health", trust_env=False, timeout=2)
    assert not stop_local_server(data_dir)
