"""The local server against OpenAI's API (issue 8, "Local server vs OpenAI's API"): each test
failed on the server before its fix. The real openai SDK over loopback HTTP throughout."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI
from openai.types.fine_tuning import FineTuningJob

from ftctl.server.app import ServerSettings, create_app
from ftctl.server.faults import FaultSpec
from ftctl.server.store import JobRecord, Store

from .conftest import JobWaiter, ThreadServer, chat_jsonl

pytestmark = pytest.mark.e2e

KEY = "sk-parity-0123456789"
HOUR = 3_600


@dataclass
class Clock:
    """The server's clock for file expiry: a test moves it forward instead of waiting."""

    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Served:
    client: OpenAI
    base_url: str
    clock: Clock
    data_dir: Path


@pytest.fixture
def served(tmp_path: Path, thread_server: ThreadServer) -> Served:
    clock = Clock()
    data_dir = tmp_path / "server"
    base_url = thread_server(ServerSettings(data_dir, api_key=KEY, clock=clock))
    client = OpenAI(base_url=f"{base_url}/v1", api_key=KEY, max_retries=0)
    return Served(client, base_url, clock, data_dir)


# --- files: expires_after ----------------------------------------------------------------


def test_a_file_with_expires_after_disappears_when_it_expires(served: Served) -> None:
    client = served.client
    kept = client.files.create(file=("kept.jsonl", chat_jsonl(2)), purpose="fine-tune")
    brief = client.files.create(
        file=("brief.jsonl", chat_jsonl(2)),
        purpose="fine-tune",
        expires_after={"anchor": "created_at", "seconds": HOUR},
    )
    assert brief.expires_at == brief.created_at + HOUR  # was None: the field was ignored
    assert kept.expires_at is None
    served.clock.now += HOUR - 1
    assert client.files.retrieve(brief.id).id == brief.id
    served.clock.now += 1
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(brief.id)
    with pytest.raises(openai.NotFoundError):
        client.files.content(brief.id)
    assert [f.id for f in client.files.list()] == [kept.id]
    assert not (served.data_dir / "files" / brief.id).exists()
    # A job cannot train on an expired file either.
    with pytest.raises(openai.BadRequestError, match="no such file"):
        client.fine_tuning.jobs.create(model="local-tiny", training_file=brief.id)


@pytest.mark.parametrize(
    ("expires_after", "param"),
    [
        ({"anchor": "created_at", "seconds": 60}, "expires_after.seconds"),
        ({"anchor": "created_at", "seconds": 2_592_001}, "expires_after.seconds"),
        ({"anchor": "last_active_at", "seconds": HOUR}, "expires_after.anchor"),
        ({"anchor": "created_at"}, "expires_after.seconds"),
        ({"seconds": HOUR}, "expires_after.anchor"),
    ],
    ids=["too-short", "too-long", "unknown-anchor", "no-seconds", "no-anchor"],
)
def test_a_malformed_expires_after_is_refused_like_openai(
    served: Served, expires_after: Any, param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        served.client.files.create(
            file=("t.jsonl", chat_jsonl(2)), purpose="fine-tune", expires_after=expires_after
        )
    assert raised.value.param == param
    body = raised.value.response.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["type"] == "invalid_request_error"
    assert list(served.client.files.list()) == []  # nothing stored


# --- pagination and hyperparameters ---------------------------------------------------------


def _job(number: int) -> JobRecord:
    return JobRecord(
        id=f"ftjob-{number:04d}",
        created_at=1_700_000_000 + number,
        model="local-tiny",
        base_model="local-tiny",
        training_file="file-x",
        validation_file=None,
        status="failed",
        method={"type": "supervised"},
        hyperparameters={"n_epochs": 1},
        seed=7,
    )


def test_a_page_size_above_100_is_clamped_not_refused(
    tmp_path: Path, thread_server: ThreadServer
) -> None:
    store = Store(tmp_path / "server")
    for number in range(120):
        store.add_job(_job(number))
    store.close()
    base_url = thread_server(ServerSettings(tmp_path / "server"))
    client = OpenAI(base_url=f"{base_url}/v1", api_key="unused", max_retries=0)
    page = client.fine_tuning.jobs.list(limit=500)  # was a 400
    assert len(page.data) == 100 and page.has_more
    assert client.fine_tuning.jobs.list_events("ftjob-0001", limit=101).data == []
    assert client.fine_tuning.jobs.checkpoints.list("ftjob-0001", limit=1000).data == []


def test_integral_numbers_are_accepted_as_epochs_and_batch_size(served: Served) -> None:
    data = served.client.files.create(file=("t.jsonl", chat_jsonl(4)), purpose="fine-tune")
    job = served.client.fine_tuning.jobs.create(
        model="local-tiny",
        training_file=data.id,
        # JSON does not tell 1.0 from 1: OpenAI takes it; this server answered 400.
        method={
            "type": "supervised",
            "supervised": {"hyperparameters": {"n_epochs": 1.0, "batch_size": 2.0}},
        },
    )
    assert job.hyperparameters.n_epochs == 1 and job.hyperparameters.batch_size == 2
    served.client.fine_tuning.jobs.cancel(job.id)
    with pytest.raises(openai.BadRequestError) as raised:
        served.client.fine_tuning.jobs.create(
            model="local-tiny", training_file=data.id, hyperparameters={"n_epochs": 1.5}
        )
    assert raised.value.param == "hyperparameters.n_epochs"


# --- x-request-id -------------------------------------------------------------------------


def test_every_response_has_a_request_id(served: Served, tmp_path: Path) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    responses = [
        httpx.get(f"{served.base_url}/health"),
        httpx.get(f"{served.base_url}/v1/models", headers=auth),
        httpx.get(f"{served.base_url}/v1/models"),  # 401
        httpx.get(f"{served.base_url}/v1/files/file-missing", headers=auth),  # 404
        httpx.post(f"{served.base_url}/v1/fine_tuning/jobs", headers=auth, json={}),  # 400
        httpx.get(f"{served.base_url}/v1/nowhere", headers=auth),  # no such route
    ]
    ids = [response.headers.get("x-request-id") for response in responses]
    assert [r.status_code for r in responses] == [200, 200, 401, 404, 400, 404]
    assert all(i and i.startswith("req_") for i in ids), ids
    assert len(set(ids)) == len(ids)
    assert served.client.models.with_raw_response.list().headers["x-request-id"].startswith("req_")


def test_an_injected_fault_has_a_request_id_too(
    tmp_path: Path, thread_server: ThreadServer
) -> None:
    faults = FaultSpec(rate=1.0, codes=(503,), seed=1)
    base_url = thread_server(ServerSettings(tmp_path / "server", faults=faults))
    response = httpx.get(f"{base_url}/v1/models")
    assert response.status_code == 503
    assert response.headers["x-request-id"].startswith("req_")


# --- checkpoint permissions -----------------------------------------------------------------


@pytest.fixture
def trained(served: Served, wait_for_job: JobWaiter) -> FineTuningJob:
    data = served.client.files.create(file=("t.jsonl", chat_jsonl(4)), purpose="fine-tune")
    job = served.client.fine_tuning.jobs.create(
        model="local-tiny", training_file=data.id, hyperparameters={"n_epochs": 1, "batch_size": 4}
    )
    done = wait_for_job(served.client, job.id)
    assert done.status == "succeeded", done.error
    return done


def test_checkpoint_permissions_are_created_listed_and_deleted(
    served: Served, trained: FineTuningJob
) -> None:
    permissions = served.client.fine_tuning.checkpoints.permissions
    checkpoint = served.client.fine_tuning.jobs.checkpoints.list(trained.id).data[0]
    name = checkpoint.fine_tuned_model_checkpoint
    made = permissions.create(name, project_ids=["proj-a", "proj-b", "proj-a"])
    assert [p.project_id for p in made.data] == ["proj-a", "proj-b"]
    assert all(p.object == "checkpoint.permission" and p.id.startswith("cp_") for p in made.data)
    # Granting again keeps the existing permission.
    assert permissions.create(name, project_ids=["proj-b"]).data[0].id == made.data[1].id

    listed = permissions.list(name)
    assert [p.project_id for p in listed.data] == ["proj-b", "proj-a"]  # newest first
    oldest_first = permissions.list(name, order="ascending", limit=1)
    assert [p.project_id for p in oldest_first.data] == ["proj-a"] and oldest_first.has_more
    after = permissions.list(name, order="ascending", after=oldest_first.data[0].id)
    assert [p.project_id for p in after.data] == ["proj-b"] and not after.has_more
    only_b = permissions.list(name, project_id="proj-b")
    assert [p.id for p in only_b.data] == [made.data[1].id]

    deleted = permissions.delete(made.data[0].id, fine_tuned_model_checkpoint=name)
    assert deleted.deleted and deleted.id == made.data[0].id
    assert [p.project_id for p in permissions.list(name).data] == ["proj-b"]
    with pytest.raises(openai.NotFoundError):
        permissions.delete(made.data[0].id, fine_tuned_model_checkpoint=name)

    # The fine-tuned model itself can be shared too (OpenAI's examples use its name).
    assert trained.fine_tuned_model is not None
    assert permissions.create(trained.fine_tuned_model, project_ids=["proj-c"]).data
    with pytest.raises(openai.NotFoundError):
        permissions.create("ft:local-tiny:local::nope", project_ids=["proj-a"])
    with pytest.raises(openai.BadRequestError):
        permissions.create(name, project_ids=[])


# --- the server's OpenAPI document ------------------------------------------------------------


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    app = create_app(ServerSettings(tmp_path_factory.mktemp("doc")))
    try:
        yield app.openapi()
    finally:
        app.state.server.store.close()


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = document["components"]["schemas"][name]
    return schema


def test_the_document_declares_what_the_server_enforces(document: dict[str, Any]) -> None:
    paths = document["paths"]
    # OpenAI's name for the job path parameter.
    assert "/v1/fine_tuning/jobs/{fine_tuning_job_id}" in paths
    assert not any("{job_id}" in path for path in paths)
    listing = paths["/v1/fine_tuning/jobs"]["get"]["parameters"]
    metadata = next(p for p in listing if p["name"] == "metadata")
    assert metadata["style"] == "deepObject" and metadata["in"] == "query"
    limit = next(p for p in listing if p["name"] == "limit")
    assert "maximum" not in limit["schema"]

    upload = paths["/v1/files"]["post"]["requestBody"]["content"]["multipart/form-data"]
    form = _resolve(document, upload["schema"])["properties"]
    assert form["expires_after[anchor]"]["anyOf"] == [{"type": "string", "enum": ["created_at"]}]
    seconds = form["expires_after[seconds]"]["anyOf"][0]
    assert (seconds["minimum"], seconds["maximum"]) == (3_600, 2_592_000)

    body = paths["/v1/fine_tuning/jobs"]["post"]["requestBody"]["content"]["application/json"]
    create = _resolve(document, body["schema"])["properties"]
    assert (create["seed"]["minimum"], create["seed"]["maximum"]) == (0, 2_147_483_647)
    assert create["suffix"]["maxLength"] == 64 and "pattern" in create["suffix"]
    assert create["metadata"]["maxProperties"] == 16
    hyper = _resolve(document, {"$ref": "#/components/schemas/SupervisedHyperparameters"})
    ranges = {
        name: next(s for s in hyper["properties"][name]["anyOf"] if s.get("type") != "string")
        for name in ("n_epochs", "batch_size", "learning_rate_multiplier")
    }
    assert (ranges["n_epochs"]["minimum"], ranges["n_epochs"]["maximum"]) == (1, 50)
    assert (ranges["batch_size"]["minimum"], ranges["batch_size"]["maximum"]) == (1, 256)
    assert ranges["learning_rate_multiplier"]["exclusiveMinimum"] == 0
    assert "/v1/fine_tuning/checkpoints/{fine_tuned_model_checkpoint}/permissions" in paths


def test_metadata_filters_that_are_not_key_value_strings_are_refused(served: Served) -> None:
    # Found by fuzzing the document's deepObject filter: both were answered as if absent.
    auth = {"Authorization": f"Bearer {KEY}"}
    too_long = "k" * 65
    for query in (
        "metadata[a][b]=x",
        "metadata[a]=x&metadata[a]=y",
        "metadata[]=null",
        f"metadata[{too_long}]=x",
    ):
        response = httpx.get(f"{served.base_url}/v1/fine_tuning/jobs?{query}", headers=auth)
        assert response.status_code == 400, query
        assert response.json()["error"]["param"] == "metadata"
