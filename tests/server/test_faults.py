"""Fault injection and the training cut-off, against in-process servers on loopback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI

from ftctl.server.app import ServerSettings
from ftctl.server.faults import FaultInjector, FaultSpec, FaultSpecError

JsonlMaker = Callable[..., bytes]
ThreadServer = Callable[[ServerSettings], str]  # the fixtures of conftest.py


def test_spec_parses_the_documented_form() -> None:
    spec = FaultSpec.parse("rate=0.1,codes=429:500:503,latency_ms=50,drop=0.02,seed=1")
    assert spec == FaultSpec(rate=0.1, codes=(429, 500, 503), latency_ms=50, drop=0.02, seed=1)
    assert FaultSpec.parse("training_not_available").training_not_available
    assert not FaultSpec.parse("").active
    assert not FaultSpec.parse(None).training_not_available


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rate=2", "between 0 and 1"),
        ("codes=200", "400-599"),
        ("latency_ms=-1", "must not be negative"),
        ("colour=red", "unknown fault spec key 'colour'"),
        ("rate", "needs a value"),
        ("seed=x", "bad value for 'seed'"),
    ],
)
def test_spec_rejects_bad_input_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(FaultSpecError, match=message):
        FaultSpec.parse(text)


def test_same_seed_same_faults() -> None:
    spec = FaultSpec(rate=0.3, drop=0.1, seed=7)
    one, two = FaultInjector(spec), FaultInjector(spec)
    decisions = [one.decide() for _ in range(50)]
    assert decisions == [two.decide() for _ in range(50)]
    assert {d.kind for d in decisions} == {"none", "error", "drop"}


def test_sdk_retries_through_injected_faults(
    tmp_path: Path, thread_server: ThreadServer, make_jsonl: JsonlMaker
) -> None:
    spec = FaultSpec(rate=0.4, codes=(429, 500, 503), drop=0.1, seed=5, retry_after_ms=5)
    url = thread_server(ServerSettings(data_dir=tmp_path / "data", faults=spec))
    # Without retries, some requests fail...
    raw_statuses = []
    with httpx.Client(trust_env=False) as raw:
        for _ in range(30):
            try:
                raw_statuses.append(raw.get(f"{url}/v1/models").status_code)
            except httpx.HTTPError:
                raw_statuses.append(-1)  # dropped connection
    assert {429, 500, 503, -1} & set(raw_statuses)
    assert 200 in raw_statuses
    # ...and the SDK's retries get every call through.
    client = OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=12)
    retries = 0
    uploaded = []
    for index in range(6):
        response = client.files.with_raw_response.create(
            file=(f"t{index}.jsonl", make_jsonl(3)), purpose="fine-tune"
        )
        retries += response.retries_taken
        uploaded.append(response.parse().id)
    listed = client.files.with_raw_response.list(purpose="fine-tune")
    retries += listed.retries_taken
    # Faults are decided before a request is handled: a retried upload is stored once.
    assert sorted(f.id for f in listed.parse().data) == sorted(uploaded)
    assert retries > 0
    assert httpx.get(f"{url}/health", trust_env=False).status_code == 200


def test_every_v1_request_fails_but_health_answers(
    tmp_path: Path, thread_server: ThreadServer
) -> None:
    url = thread_server(
        ServerSettings(data_dir=tmp_path / "data", faults=FaultSpec(rate=1.0, codes=(503,)))
    )
    client = OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.InternalServerError) as raised:
        client.models.list()
    assert raised.value.status_code == 503
    assert httpx.get(f"{url}/health", trust_env=False).json()["status"] == "ok"


def test_dropped_connections_surface_as_connection_errors(
    tmp_path: Path, thread_server: ThreadServer
) -> None:
    url = thread_server(ServerSettings(data_dir=tmp_path / "data", faults=FaultSpec(drop=1.0)))
    client = OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.APIConnectionError):
        client.models.list()


def test_training_cutoff_answers_403_training_not_available(
    tmp_path: Path, thread_server: ThreadServer, make_jsonl: JsonlMaker
) -> None:
    url = thread_server(ServerSettings(data_dir=tmp_path / "data", training_cutoff=True))
    client = OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    file = client.files.create(file=("t.jsonl", make_jsonl(3)), purpose="fine-tune")
    with pytest.raises(openai.PermissionDeniedError) as raised:
        client.fine_tuning.jobs.create(model="local-tiny", training_file=file.id)
    assert raised.value.status_code == 403
    assert raised.value.code == "training_not_available"
    assert client.fine_tuning.jobs.list().data == []  # nothing was created
    # Serving goes on: chat completions still work past the cut-off.
    reply = client.chat.completions.create(
        model="local-tiny", messages=[{"role": "user", "content": "hi"}], max_tokens=2
    )
    assert reply.usage is not None and reply.usage.completion_tokens <= 2
