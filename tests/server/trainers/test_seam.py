"""The Trainer seam: a second trainer that trains in a child process plugs in through the
registry alone, and the server runs it like the numpy one (events, checkpoints, pause and
resume from the last checkpoint, cancel, generation), through the real openai SDK."""

from __future__ import annotations

import time
from pathlib import Path

import openai
import pytest
from openai import OpenAI

from ftctl.server.app import ServerSettings
from ftctl.server.trainers.base import (
    Checkpoint,
    Message,
    StepMetrics,
    Trainer,
    decode_event,
    encode_event,
)
from ftctl.server.trainers.numpy_lm import NumpyTrainer
from ftctl.server.trainers.registry import TrainerRegistry, default_registry

from ..conftest import JobWaiter, ThreadServer, chat_jsonl
from .subprocess_trainer import BASE_MODEL, SubprocessTrainer

pytestmark = pytest.mark.e2e


def test_events_survive_a_line_of_json() -> None:
    events = [
        StepMetrics(3, 1, 10, 0.5, 0.75, valid_loss=float("nan")),
        Checkpoint(1, 3, Path("/tmp/x/epoch-1"), {"full_valid_loss": 0.25}),
        Message("Loading hf:gpt2", "warn"),
    ]
    for event in events:
        line = encode_event(event)
        assert "\n" not in line
        assert repr(decode_event(line)) == repr(event)
    with pytest.raises(ValueError, match="unknown trainer event kind"):
        decode_event('{"kind": "nonsense"}')
    with pytest.raises(ValueError, match="malformed step event"):
        decode_event('{"kind": "step", "step": 1}')


def test_the_built_in_registry_serves_local_tiny_with_numpy() -> None:
    registry = default_registry()
    trainer = registry.for_model("local-tiny")
    assert isinstance(trainer, Trainer)
    assert trainer.name == "numpy"
    assert registry.for_model("gpt-4o-mini-2024-07-18") is None
    with pytest.raises(ValueError, match="share a name"):
        TrainerRegistry([NumpyTrainer(), NumpyTrainer()])


@pytest.fixture
def client(tmp_path: Path, thread_server: ThreadServer) -> OpenAI:
    registry = TrainerRegistry([NumpyTrainer(), SubprocessTrainer()])
    base_url = thread_server(ServerSettings(tmp_path / "server"), registry)
    return OpenAI(base_url=f"{base_url}/v1", api_key="unused", max_retries=0)


def _checkpoints(client: OpenAI, job_id: str, count: int) -> list[str]:
    deadline = time.monotonic() + 60
    while True:
        found = client.fine_tuning.jobs.checkpoints.list(job_id).data
        if len(found) >= count:
            return [c.fine_tuned_model_checkpoint for c in found]
        job = client.fine_tuning.jobs.retrieve(job_id)
        assert job.status in ("validating_files", "queued", "running"), job.error
        assert time.monotonic() < deadline, f"{job_id} has {len(found)} checkpoints"
        time.sleep(0.05)


def test_a_subprocess_trainer_trains_pauses_resumes_and_serves(
    client: OpenAI, tmp_path: Path, wait_for_job: JobWaiter
) -> None:
    assert BASE_MODEL in [m.id for m in client.models.list()]
    data = client.files.create(file=("t.jsonl", chat_jsonl(3, answer="teal")), purpose="fine-tune")
    # DPO: this trainer has it, local-tiny does not.
    job = client.fine_tuning.jobs.create(
        model=BASE_MODEL, training_file=data.id, method={"type": "dpo"}, suffix="seam"
    )
    with pytest.raises(openai.BadRequestError, match="numpy trainer supports supervised"):
        client.fine_tuning.jobs.create(
            model="local-tiny", training_file=data.id, method={"type": "dpo"}
        )
    # The child waits after its first checkpoint: pause there, then let it go on.
    _checkpoints(client, job.id, 1)
    assert client.fine_tuning.jobs.pause(job.id).status == "paused"
    workdir = tmp_path / "server" / "weights" / job.id
    (workdir / "release").touch()
    client.fine_tuning.jobs.resume(job.id)
    done = wait_for_job(client, job.id)
    assert done.status == "succeeded", done.error
    assert done.hyperparameters.n_epochs == 2
    assert done.method.dpo is not None and done.method.dpo.hyperparameters is not None
    assert done.method.dpo.hyperparameters.beta == 0.1
    assert done.trained_tokens == 42
    messages = [e.message for e in client.fine_tuning.jobs.list_events(job.id, limit=100)]
    assert "dpo from epoch 1, beta=0.1" in messages
    assert "Fine-tuning job resumed from the checkpoint at step 1" in messages
    assert "dpo from epoch 2, beta=0.1" in messages
    assert "a stray line from a library" in messages  # not an event: passed on as text
    checkpoints = _checkpoints(client, job.id, 2)
    assert done.fine_tuned_model is not None
    for model in [done.fine_tuned_model, *checkpoints]:
        reply = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "colour?"}]
        )
        assert reply.choices[0].message.content == "teal", model
    base = client.chat.completions.create(
        model=BASE_MODEL, messages=[{"role": "user", "content": "colour?"}]
    )
    assert base.choices[0].message.content == "untrained"


def test_cancel_stops_the_child_process(
    client: OpenAI, tmp_path: Path, wait_for_job: JobWaiter
) -> None:
    data = client.files.create(file=("t.jsonl", chat_jsonl(3)), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model=BASE_MODEL, training_file=data.id)
    _checkpoints(client, job.id, 1)  # the child now waits for a release that never comes
    assert client.fine_tuning.jobs.cancel(job.id).status == "cancelled"
    # The server trains one job at a time: the next one runs only once the child is stopped.
    following = client.fine_tuning.jobs.create(model=BASE_MODEL, training_file=data.id)
    workdir = tmp_path / "server" / "weights" / following.id
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "release").touch()
    assert wait_for_job(client, following.id, timeout=60).status == "succeeded"
    cancelled = client.fine_tuning.jobs.retrieve(job.id)
    assert cancelled.status == "cancelled"
    assert cancelled.fine_tuned_model is None


def test_a_failed_training_process_fails_the_job_with_its_log(
    client: OpenAI, wait_for_job: JobWaiter
) -> None:
    data = client.files.create(file=("t.jsonl", chat_jsonl(2, answer="crash")), purpose="fine-tune")
    job = wait_for_job(
        client, client.fine_tuning.jobs.create(model=BASE_MODEL, training_file=data.id).id
    )
    assert job.status == "failed"
    assert job.error is not None and job.error.code == "internal_error"
    assert "exited with status 3" in job.error.message
    assert "CUDA out of memory (pretend)" in job.error.message
