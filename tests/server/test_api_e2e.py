"""End to end: the real openai SDK over loopback against a server started by the launcher."""

from __future__ import annotations

import csv
import io
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI
from openai.types.fine_tuning import FineTuningJob

from ftctl.providers.local_launcher import LocalServerHandle

from ..support.local_server import running_local_server

JsonlMaker = Callable[..., bytes]
JobWaiter = Callable[..., FineTuningJob]  # the fixtures of conftest.py

pytestmark = pytest.mark.e2e

KEY_ENV = "FTCTL_TEST_SERVER_KEY"


@pytest.fixture(scope="module")
def api_key() -> Iterator[str]:
    key = f"sk-test-{uuid.uuid4().hex}"
    previous = os.environ.get(KEY_ENV)
    os.environ[KEY_ENV] = key  # the launched server inherits it; it never reaches a file
    yield key
    if previous is None:
        os.environ.pop(KEY_ENV, None)
    else:
        os.environ[KEY_ENV] = previous


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server-data")


@pytest.fixture(scope="module")
def server(data_dir: Path, api_key: str) -> Iterator[LocalServerHandle]:
    with running_local_server(data_dir, api_key_env=KEY_ENV) as handle:
        yield handle


@pytest.fixture(scope="module")
def client(server: LocalServerHandle, api_key: str) -> OpenAI:
    return OpenAI(base_url=server.base_url, api_key=api_key, max_retries=0)


@pytest.fixture(scope="module")
def job(client: OpenAI, make_jsonl: JsonlMaker, wait_for_job: JobWaiter) -> FineTuningJob:
    """One tiny job (10 examples, 2 epochs, batch 2) trained to success."""
    train = client.files.create(file=("train.jsonl", make_jsonl(10)), purpose="fine-tune")
    valid = client.files.create(
        file=("valid.jsonl", make_jsonl(4, prompt="Colour of thing {i}?")), purpose="fine-tune"
    )
    created = client.fine_tuning.jobs.create(
        model="local-tiny",
        training_file=train.id,
        validation_file=valid.id,
        suffix="colours",
        metadata={"project": "e2e"},
        method={
            "type": "supervised",
            "supervised": {"hyperparameters": {"n_epochs": 2, "batch_size": 2}},
        },
    )
    assert created.status == "validating_files"
    assert created.hyperparameters.learning_rate_multiplier == "auto"
    finished = wait_for_job(client, created.id)
    assert finished.status == "succeeded", finished.error
    return finished


def test_job_succeeds_with_resolved_settings_and_model_name(job: FineTuningJob) -> None:
    assert job.fine_tuned_model == f"ft:local-tiny:local:colours:{job.id.removeprefix('ftjob-')}"
    assert job.trained_tokens and job.trained_tokens > 0
    assert job.finished_at is not None
    assert job.hyperparameters.n_epochs == 2
    assert job.hyperparameters.batch_size == 2
    assert isinstance(job.hyperparameters.learning_rate_multiplier, float)  # "auto" resolved
    assert job.method is not None and job.method.type == "supervised"
    assert job.method.supervised is not None and job.method.supervised.hyperparameters is not None
    assert job.method.supervised.hyperparameters.n_epochs == 2
    assert isinstance(job.seed, int)  # generated, then recorded
    assert job.metadata == {"project": "e2e"}
    assert job.estimated_finish is None  # only while running


def test_events_are_newest_first_and_carry_metrics(client: OpenAI, job: FineTuningJob) -> None:
    events = list(client.fine_tuning.jobs.list_events(job.id, limit=7))  # auto-paginates
    assert events[0].message == "The job has successfully completed"
    assert events[-1].message.startswith("Created fine-tuning job")
    assert [e.created_at for e in events] == sorted((e.created_at for e in events), reverse=True)
    metrics = [e for e in events if e.type == "metrics"]
    steps = [e.data for e in metrics if isinstance(e.data, dict) and "total_steps" in e.data]
    assert len(steps) == 10  # 10 examples / batch 2 * 2 epochs
    assert {"step", "train_loss", "train_mean_token_accuracy", "valid_loss"} <= set(steps[0])
    epoch_ends = [
        e.data for e in metrics if isinstance(e.data, dict) and "full_valid_loss" in e.data
    ]
    assert len(epoch_ends) == 2
    page = client.fine_tuning.jobs.list_events(job.id, limit=3)
    assert len(page.data) == 3 and page.has_more


def test_one_checkpoint_per_epoch_with_full_validation_metrics(
    client: OpenAI, job: FineTuningJob
) -> None:
    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
    assert [c.step_number for c in checkpoints] == [10, 5]  # newest first
    for checkpoint in checkpoints:
        assert checkpoint.object == "fine_tuning.job.checkpoint"
        assert checkpoint.fine_tuning_job_id == job.id
        assert checkpoint.fine_tuned_model_checkpoint == (
            f"{job.fine_tuned_model}:ckpt-step-{checkpoint.step_number}"
        )
        assert checkpoint.metrics.full_valid_loss is not None
        assert checkpoint.metrics.full_valid_mean_token_accuracy is not None
    # The model learns: validation loss after epoch 2 is below that after epoch 1.
    assert checkpoints[0].metrics.full_valid_loss < checkpoints[1].metrics.full_valid_loss


def test_result_file_is_a_csv_of_step_metrics(client: OpenAI, job: FineTuningJob) -> None:
    (result_id,) = job.result_files
    meta = client.files.retrieve(result_id)
    assert meta.purpose == "fine-tune-results"
    rows = list(csv.DictReader(io.StringIO(client.files.content(result_id).text)))
    assert [int(row["step"]) for row in rows] == list(range(1, 11))
    assert all(float(row["train_loss"]) > 0 for row in rows)
    assert rows[-1]["full_valid_loss"] != ""


def test_only_the_last_three_epochs_keep_their_checkpoints(
    client: OpenAI, data_dir: Path, make_jsonl: JsonlMaker, wait_for_job: JobWaiter
) -> None:
    train = client.files.create(file=("five.jsonl", make_jsonl(4)), purpose="fine-tune")
    created = client.fine_tuning.jobs.create(
        model="local-tiny",
        training_file=train.id,
        hyperparameters={"n_epochs": 5, "batch_size": 4},  # one step per epoch
    )
    job = wait_for_job(client, created.id)
    assert job.status == "succeeded", job.error

    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id, limit=10).data
    assert [c.step_number for c in checkpoints] == [5, 4, 3]
    weights = sorted(p.name for p in data_dir.rglob("epoch-*.npz") if job.id in str(p))
    assert weights == ["epoch-3.npz", "epoch-4.npz", "epoch-5.npz"]
    # A dropped checkpoint is no model any more; a kept one answers.
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(
            model=f"{job.fine_tuned_model}:ckpt-step-1",
            messages=[{"role": "user", "content": "Colour of thing 1?"}],
            max_tokens=2,
        )
    kept = client.chat.completions.create(
        model=checkpoints[-1].fine_tuned_model_checkpoint,
        messages=[{"role": "user", "content": "Colour of thing 1?"}],
        max_tokens=2,
    )
    assert kept.model == checkpoints[-1].fine_tuned_model_checkpoint


def test_chat_completion_from_the_fine_tuned_model(client: OpenAI, job: FineTuningJob) -> None:
    assert job.fine_tuned_model
    messages = [{"role": "user", "content": "Say the colour for item 42"}]
    first = client.chat.completions.create(
        model=job.fine_tuned_model, messages=messages, temperature=0, max_tokens=20
    )
    again = client.chat.completions.create(
        model=job.fine_tuned_model, messages=messages, temperature=0, max_tokens=20
    )
    assert first.choices[0].message.content == "blue"
    assert again.choices[0].message.content == "blue"  # greedy decoding is deterministic
    assert first.choices[0].finish_reason == "stop"
    assert first.usage is not None
    assert first.usage.completion_tokens == 4  # byte tokens of "blue"
    assert first.usage.total_tokens == first.usage.prompt_tokens + 4
    short = client.chat.completions.create(
        model="local-tiny", messages=messages, temperature=0.8, seed=3, max_completion_tokens=3
    )
    assert short.choices[0].finish_reason == "length"
    assert short.usage is not None and short.usage.completion_tokens == 3
    with pytest.raises(openai.BadRequestError, match="n=1"):
        client.chat.completions.create(model="local-tiny", messages=messages, n=2)


def test_files_list_filters_and_paginates(client: OpenAI, make_jsonl: JsonlMaker) -> None:
    uploaded = [
        client.files.create(file=(f"page-{i}.jsonl", make_jsonl(2)), purpose="fine-tune").id
        for i in range(3)
    ]
    first = client.files.list(purpose="fine-tune", limit=2, order="desc")
    assert [f.id for f in first.data] == uploaded[::-1][:2]
    assert first.has_more
    everything = [f.id for f in client.files.list(purpose="fine-tune", limit=2)]
    assert everything[:3] == uploaded[::-1]
    assert all(f.purpose == "fine-tune" for f in client.files.list(purpose="fine-tune"))
    assert client.files.content(uploaded[0]).content == make_jsonl(2)
    deleted = client.files.delete(uploaded[0])
    assert deleted.deleted
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(uploaded[0])


def test_upload_rejects_a_file_that_is_not_jsonl(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.files.create(file=("notes.txt", b"just some text\n"), purpose="fine-tune")
    assert raised.value.code == "invalid_file_format"
    assert "line 1" in raised.value.message


def test_job_with_an_invalid_training_file_fails_with_an_error(
    client: OpenAI, wait_for_job: JobWaiter
) -> None:
    legacy = b'{"prompt": "2+2", "completion": "4"}\n'  # JSONL, but not chat examples
    file = client.files.create(file=("legacy.jsonl", legacy), purpose="fine-tune")
    created = client.fine_tuning.jobs.create(model="local-tiny", training_file=file.id)
    failed = wait_for_job(client, created.id)
    assert failed.status == "failed"
    assert failed.error is not None
    assert failed.error.code == "invalid_training_file"
    assert failed.error.param == "training_file"
    assert "messages" in failed.error.message
    assert failed.fine_tuned_model is None


def test_create_rejects_bad_requests_like_openai(client: OpenAI, job: FineTuningJob) -> None:
    training_file = job.training_file
    cases = [
        ({"model": "gpt-nonexistent"}, "model", "model_not_available"),
        (
            {"metadata": {f"k{i}": "v" for i in range(17)}},
            "metadata",
            "object_above_max_properties",
        ),
        ({"metadata": {"k" * 65: "v"}}, "metadata", "string_above_max_length"),
        ({"metadata": {"k": "v" * 513}}, "metadata.k", "string_above_max_length"),
        ({"training_file": "file-missing"}, "training_file", "invalid_file"),
        ({"suffix": "a:b"}, "suffix", "invalid_value"),
        ({"suffix": "s" * 65}, "suffix", "string_above_max_length"),
        ({"hyperparameters": {"n_epochs": 0}}, "hyperparameters.n_epochs", None),
        ({"method": {"type": "dpo"}}, "method.type", "unsupported_method"),
        ({"method": {"type": "reinforcement"}}, "method.type", "unsupported_method"),
    ]
    for change, param, code in cases:
        request = {"model": "local-tiny", "training_file": training_file, **change}
        with pytest.raises(openai.BadRequestError) as raised:
            client.fine_tuning.jobs.create(**request)
        assert raised.value.param == param, change
        assert raised.value.code == code, change
    with pytest.raises(openai.BadRequestError, match="Unrecognized request argument"):
        client.fine_tuning.jobs.create(
            model="local-tiny", training_file=training_file, extra_body={"n_epochz": 3}
        )
    with pytest.raises(openai.NotFoundError):
        client.fine_tuning.jobs.retrieve("ftjob-missing")


def test_list_jobs_by_metadata_with_pagination(client: OpenAI) -> None:
    # Jobs on a file the trainer rejects: they fail at validation, so nothing trains here.
    legacy = client.files.create(
        file=("l.jsonl", b'{"prompt": "a", "completion": "b"}\n'), purpose="fine-tune"
    )
    ids = []
    for index in range(3):
        created = client.fine_tuning.jobs.create(
            model="local-tiny",
            training_file=legacy.id,
            metadata={"batch": "listing", "index": str(index)},
        )
        ids.append(created.id)
    client.fine_tuning.jobs.create(
        model="local-tiny", training_file=legacy.id, metadata={"batch": "other"}
    )
    first = client.fine_tuning.jobs.list(limit=2, metadata={"batch": "listing"})
    assert [j.id for j in first.data] == ids[::-1][:2]
    assert first.has_more
    second = client.fine_tuning.jobs.list(limit=2, after=ids[1], metadata={"batch": "listing"})
    assert [j.id for j in second.data] == [ids[0]]
    assert not second.has_more
    every = [j.id for j in client.fine_tuning.jobs.list(limit=2, metadata={"batch": "listing"})]
    assert every == ids[::-1]
    one = client.fine_tuning.jobs.list(metadata={"batch": "listing", "index": "1"}).data
    assert [j.id for j in one] == [ids[1]]
    assert client.fine_tuning.jobs.list(metadata={"batch": "nobody"}).data == []


def test_pause_resume_and_cancel_a_running_job(client: OpenAI, make_jsonl: JsonlMaker) -> None:
    big = client.files.create(file=("big.jsonl", make_jsonl(200)), purpose="fine-tune")
    created = client.fine_tuning.jobs.create(
        model="local-tiny", training_file=big.id, hyperparameters={"n_epochs": 5, "batch_size": 1}
    )
    running = _wait_status(client, created.id, "running")
    assert running.hyperparameters.n_epochs == 5
    deadline = time.monotonic() + 60
    while running.estimated_finish is None:  # known once the first steps are timed
        assert time.monotonic() < deadline, "no estimated_finish while running"
        time.sleep(0.05)
        running = client.fine_tuning.jobs.retrieve(created.id)
    assert running.estimated_finish > running.created_at
    paused = client.fine_tuning.jobs.pause(created.id)
    assert paused.status == "paused"
    with pytest.raises(openai.BadRequestError, match="cannot be paused"):
        client.fine_tuning.jobs.pause(created.id)
    resumed = client.fine_tuning.jobs.resume(created.id)
    assert resumed.status == "queued"
    _wait_status(client, created.id, "running")
    cancelled = client.fine_tuning.jobs.cancel(created.id)
    assert cancelled.status == "cancelled"
    with pytest.raises(openai.BadRequestError, match="already completed"):
        client.fine_tuning.jobs.cancel(created.id)
    messages = [e.message for e in client.fine_tuning.jobs.list_events(created.id, limit=100)]
    assert "Fine-tuning job paused; it resumes from its last epoch checkpoint" in messages
    assert "Fine-tuning job cancelled" in messages
    assert client.fine_tuning.jobs.retrieve(created.id).fine_tuned_model is None


def _wait_status(client: OpenAI, job_id: str, status: str, timeout: float = 60.0) -> FineTuningJob:
    deadline = time.monotonic() + timeout
    while True:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if job.status == status:
            return job
        assert time.monotonic() < deadline, f"{job_id} never reached {status} (is {job.status})"
        time.sleep(0.05)


def test_a_fine_tuned_model_can_be_fine_tuned_further(
    client: OpenAI, job: FineTuningJob, wait_for_job: JobWaiter
) -> None:
    assert job.fine_tuned_model
    created = client.fine_tuning.jobs.create(
        model=job.fine_tuned_model,
        training_file=job.training_file,
        hyperparameters={"n_epochs": 1, "batch_size": 5},
    )
    assert created.model == job.fine_tuned_model
    continued = wait_for_job(client, created.id)
    assert continued.status == "succeeded", continued.error
    # Named after the base model, with an empty suffix, as OpenAI names them.
    assert continued.fine_tuned_model == f"ft:local-tiny:local::{created.id.removeprefix('ftjob-')}"
    reply = client.chat.completions.create(
        model=continued.fine_tuned_model,
        messages=[{"role": "user", "content": "Say the colour for item 5"}],
        temperature=0,
    )
    assert reply.choices[0].message.content == "blue"


def test_requests_without_the_key_get_401(server: LocalServerHandle) -> None:
    wrong = OpenAI(base_url=server.base_url, api_key="sk-wrong-key-123456", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as raised:
        wrong.models.list()
    assert raised.value.code == "invalid_api_key"
    assert "sk-wrong-key" not in raised.value.message  # never echo a whole key
    anonymous = httpx.get(f"{server.base_url}/files", trust_env=False)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "invalid_api_key"
    assert set(anonymous.json()["error"]) == {"message", "type", "param", "code"}
    assert httpx.get(f"{server.url}/health", trust_env=False).status_code == 200


def test_models_list_retrieve_and_delete(client: OpenAI, job: FineTuningJob) -> None:
    model = job.fine_tuned_model
    assert model is not None
    ids = [m.id for m in client.models.list()]
    assert "local-tiny" in ids and model in ids
    assert client.models.retrieve(model).owned_by == "local"
    with pytest.raises(openai.PermissionDeniedError):
        client.models.delete("local-tiny")
    assert client.models.delete(model).deleted
    assert model not in [m.id for m in client.models.list()]
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve(model)
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    assert raised.value.code == "model_not_found"


def test_the_api_key_is_never_written_to_the_data_dir(
    client: OpenAI, job: FineTuningJob, data_dir: Path, api_key: str
) -> None:
    client.models.list()  # the key went over the wire...
    for path in data_dir.rglob("*"):
        if path.is_file():
            assert api_key.encode() not in path.read_bytes(), path  # ...and nowhere else
