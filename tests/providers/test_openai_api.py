"""OpenAIProvider with the real openai SDK against the real local server over loopback."""

from __future__ import annotations

import contextlib
import math
import time
import uuid
from pathlib import Path

import pytest

from ftctl.errors import ProviderAPIError, ProviderError, TrainingNotAvailableError
from ftctl.providers.base import (
    META_FINGERPRINT,
    META_WORKSPACE,
    JobRequest,
    Provider,
    RemoteJob,
)
from ftctl.providers.local_launcher import LocalServerHandle
from ftctl.providers.openai_api import (
    META_REQUEST,
    OpenAIProvider,
    training_not_available_hint,
)

from ..support.fake_openai import fake_openai


def request(training_file: str, metadata: dict[str, str], **changes: object) -> JobRequest:
    fields: dict[str, object] = {
        "model": "local-tiny",
        "training_file": training_file,
        "validation_file": None,
        "method": "supervised",
        "hyperparameters": {"n_epochs": 1},
        "suffix": "t",
        "seed": 7,
        "metadata": metadata,
    }
    fields.update(changes)
    return JobRequest(**fields)  # type: ignore[arg-type]


def wait(provider: Provider, job: RemoteJob) -> RemoteJob:
    deadline = time.monotonic() + 60
    while not job.terminal and time.monotonic() < deadline:
        time.sleep(0.1)
        job = provider.retrieve_job(job.id)
    assert job.terminal, f"job {job.id} still {job.status}"
    return job


def test_provider_satisfies_the_protocol(provider: OpenAIProvider) -> None:
    assert isinstance(provider, Provider)


def test_upload_train_and_read_back_a_job(provider: OpenAIProvider, train_file: Path) -> None:
    uploaded = provider.upload_file(train_file, "bot-train.jsonl")
    assert (uploaded.filename, uploaded.purpose) == ("bot-train.jsonl", "fine-tune")
    assert uploaded.bytes == train_file.stat().st_size
    assert uploaded.id in {f.id for f in provider.list_files()}

    metadata = {META_WORKSPACE: f"ws-{uuid.uuid4().hex[:8]}", META_FINGERPRINT: "f" * 64}
    job = wait(provider, provider.create_job(request(uploaded.id, metadata)))
    assert job.status == "succeeded", job.error
    assert dict(job.metadata) == metadata
    assert (job.method, job.seed, job.hyperparameters["n_epochs"]) == ("supervised", 7, 1)
    assert job.fine_tuned_model and job.fine_tuned_model.startswith("ft:local-tiny:")
    assert job.fine_tuned_model in {m.id for m in provider.list_models()}
    [checkpoint] = provider.list_checkpoints(job.id)
    assert "train_loss" in checkpoint.metrics
    events = provider.list_events(job.id, limit=3)
    assert len(events) == 3
    assert events[0].created_at >= events[-1].created_at  # newest first
    assert isinstance(
        provider.chat(
            job.fine_tuned_model,
            [{"role": "user", "content": "hi"}],
            max_tokens=5,
            temperature=0.0,
            seed=1,
        ),
        str,
    )


def test_list_by_metadata_pages_with_one_request_per_page(
    local_server: LocalServerHandle, train_file: Path
) -> None:
    paged = OpenAIProvider("local", api_key="unused", base_url=local_server.base_url, page_size=2)
    try:
        file_id = paged.upload_file(train_file, "train.jsonl").id
        mine = {META_WORKSPACE: f"ws-{uuid.uuid4().hex[:8]}"}
        other = {META_WORKSPACE: f"ws-{uuid.uuid4().hex[:8]}"}
        created = [paged.create_job(request(file_id, mine)).id for _ in range(5)]
        for _ in range(3):  # unfiltered, the listing would need at least 4 pages
            paged.create_job(request(file_id, other))

        before = paged.request_count
        listed = paged.list_jobs(metadata=mine)
        requests = paged.request_count - before

        assert sorted(j.id for j in listed) == sorted(created)
        # The server filters by metadata: three pages of mine, one HTTP request each.
        assert requests == math.ceil(5 / 2)
        for job in paged.list_jobs():
            if not job.terminal:
                # Nothing to learn from training them; one may finish between list and cancel.
                with contextlib.suppress(ProviderAPIError):
                    paged.cancel_job(job.id)
    finally:
        paged.close()


def test_training_not_available_is_terminal_and_says_what_to_do(
    closed_server: LocalServerHandle, server_key: str, train_file: Path
) -> None:
    provider = OpenAIProvider("openai", api_key=server_key, base_url=closed_server.base_url)
    file_id = provider.upload_file(train_file, "train.jsonl").id
    before = provider.request_count
    with pytest.raises(TrainingNotAvailableError) as raised:
        provider.create_job(request(file_id, {META_WORKSPACE: "w"}))
    assert provider.request_count - before == 1  # not retried: it will not change
    message = str(raised.value)
    # A compatible endpoint, not OpenAI: worded for it, without OpenAI's cut-off dates.
    assert (
        f"the endpoint {closed_server.base_url.rstrip('/')}/" in message and "'openai'" in message
    )
    assert "accepts no new fine-tuning jobs" in message and "2027-01-06" not in message
    assert provider.list_jobs() == []  # no job was started


def test_api_errors_keep_status_and_code_and_never_show_the_key(
    closed_server: LocalServerHandle,
) -> None:
    wrong_key = "sk-wrong-secret-key-abcdefghijkl"
    provider = OpenAIProvider("openai", api_key=wrong_key, base_url=closed_server.base_url)
    with pytest.raises(ProviderAPIError) as raised:
        provider.list_models()
    assert raised.value.status == 401
    assert "HTTP 401" in str(raised.value)
    assert wrong_key not in str(raised.value) and wrong_key[-8:] not in str(raised.value)
    assert wrong_key not in repr(provider)


def test_not_found_is_a_provider_api_error_with_status(provider: OpenAIProvider) -> None:
    with pytest.raises(ProviderAPIError) as raised:
        provider.retrieve_job("ftjob-does-not-exist")
    assert raised.value.status == 404
    assert "retrieve job ftjob-does-not-exist" in str(raised.value)


def test_an_unreachable_endpoint_is_a_provider_error_and_every_attempt_counts() -> None:
    provider = OpenAIProvider(
        "local", api_key="k", base_url="http://127.0.0.1:9/v1", max_retries=1, timeout=5
    )
    with pytest.raises(ProviderError, match=r"cannot reach http://127\.0\.0\.1:9/v1"):
        provider.list_jobs()
    assert provider.request_count == 2  # the first attempt and the SDK's one retry


def test_retried_uploads_send_the_whole_file(
    flaky_server: LocalServerHandle, tmp_path: Path
) -> None:
    provider = OpenAIProvider(
        "local", api_key="unused", base_url=flaky_server.base_url, max_retries=10
    )
    sizes = {}
    for i in range(4):
        path = tmp_path / f"part{i}.jsonl"
        path.write_text('{"messages": []}\n' * (50 + i))
        sizes[provider.upload_file(path, path.name).id] = path.stat().st_size
    uploads = provider.request_count
    assert uploads > 4  # some uploads were answered with an error and sent again
    listed = {f.id: f.bytes for f in provider.list_files()}
    assert {file_id: listed[file_id] for file_id in sizes} == sizes


def test_training_not_available_names_openai_cut_off_only_for_openai() -> None:
    assert "2027-01-06" in training_not_available_hint("https://api.openai.com/v1/")
    compatible = training_not_available_hint("https://llm.example.com/v1/")
    assert "llm.example.com" in compatible and "OpenAI" not in compatible


def test_lost_response_recovery_finds_the_job_beyond_the_first_page() -> None:
    # An endpoint that pages but ignores the metadata filter, with the tagged job behind 24
    # newer ones: the recovery looked at the first 10 jobs only, so it would train twice.
    with fake_openai() as fake:
        for n in range(25):
            tag = "the-lost-one" if n == 0 else f"other-{n}"
            fake.jobs[f"ftjob-{n}"] = {
                "id": f"ftjob-{n}",
                "object": "fine_tuning.job",
                "created_at": 1_700_000_000 + n,
                "model": "gpt-4o-mini-2024-07-18",
                "status": "queued",
                "training_file": "file-1",
                "hyperparameters": {},
                "metadata": {META_REQUEST: tag},
            }
        provider = OpenAIProvider("compat", api_key="unused", base_url=fake.base_url, page_size=7)
        found = provider._job_tagged("the-lost-one")
        assert found is not None and found.id == "ftjob-0"
        assert provider._job_tagged("never-made") is None
        listings = [r for r in fake.requests if r.path == "/v1/fine_tuning/jobs"]
        assert len(listings) == 2 * 4  # 25 jobs in pages of 7, read to the end each time
