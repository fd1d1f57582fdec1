"""Conformance: every response the local server gives in an end-to-end run driven by the real
openai SDK is checked against OpenAI's published OpenAPI description.

The description is vendored in `openai_openapi/` (an extract of openai/openai-openapi at a
named commit, with its licence; `supplement.yaml` adds, from the SDK's types, what that
commit predates: pause/resume and checkpoint permissions). Every recorded response is
matched to its operation by method and path; a 2xx body is validated against the
operation's response schema, any other against OpenAI's `ErrorResponse`. The run must
produce no violation other than the deliberate ones listed in `DELIBERATE` (each also
documented in docs/local-server.md), and must exercise every operation of the documents.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml
from jsonschema import Draft202012Validator
from openai import OpenAI

from ftctl.server.app import ServerSettings

from .conftest import TERMINAL, JobWaiter, ThreadServer, chat_jsonl

pytestmark = pytest.mark.e2e

SPEC_DIR = Path(__file__).parent / "openai_openapi"
KEY = "sk-conformance-0123456789"


# --- the documents ---------------------------------------------------------------------------


def _openapi_to_json_schema(node: Any) -> Any:
    """An OpenAPI 3.0 schema as JSON Schema 2020-12: `nullable: true` becomes a null type (or
    a null alternative), and annotation-only keys (`example`, `deprecated`, `x-...`) go."""
    if isinstance(node, list):
        return [_openapi_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {
        key: _openapi_to_json_schema(value)
        for key, value in node.items()
        if key not in ("nullable", "example", "deprecated") and not str(key).startswith("x-")
    }
    if node.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def _documents() -> dict[str, Any]:
    """The extract and the supplement as one document (their names never collide)."""
    subset = yaml.safe_load((SPEC_DIR / "openapi.subset.yaml").read_text())
    supplement = yaml.safe_load((SPEC_DIR / "supplement.yaml").read_text())
    paths, schemas = dict(subset["paths"]), dict(subset["components"]["schemas"])
    assert not set(paths) & set(supplement["paths"])
    assert not set(schemas) & set(supplement["components"]["schemas"])
    paths.update(supplement["paths"])
    schemas.update(supplement["components"]["schemas"])
    return {"paths": paths, "components": {"schemas": schemas}}


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    operation_id: str
    pattern: re.Pattern[str]
    responses: dict[str, Any]


def _operations(document: dict[str, Any]) -> list[Operation]:
    found = []
    for template, methods in document["paths"].items():
        pattern = re.compile(re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)))
        for method, operation in methods.items():
            found.append(
                Operation(
                    method.upper(),
                    template,
                    operation["operationId"],
                    pattern,
                    operation["responses"],
                )
            )
    return found


# --- recording what the SDK gets ---------------------------------------------------------------


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str  # without the /v1 prefix
    status: int
    content_type: str
    body: Any  # parsed JSON, or None


def _recorder(into: list[Exchange]) -> Callable[[httpx.Response], None]:
    def record(response: httpx.Response) -> None:
        response.read()
        content_type = response.headers.get("content-type", "")
        body = response.json() if content_type.startswith("application/json") else None
        path = response.request.url.path.removeprefix("/v1")
        into.append(
            Exchange(response.request.method, path, response.status_code, content_type, body)
        )

    return record


@dataclass
class Run:
    client: OpenAI
    exchanges: list[Exchange]


@pytest.fixture
def run(tmp_path: Path, thread_server: ThreadServer) -> Iterator[Run]:
    exchanges: list[Exchange] = []
    base_url = thread_server(ServerSettings(tmp_path / "server", api_key=KEY))
    http = httpx.Client(event_hooks={"response": [_recorder(exchanges)]})
    client = OpenAI(base_url=f"{base_url}/v1", api_key=KEY, max_retries=0, http_client=http)
    yield Run(client, exchanges)
    http.close()


# --- deliberate deviations ---------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    operation: str
    where: str  # JSON path in the body, array indices as [*]
    keyword: str  # the JSON Schema keyword that failed
    value: Any


# Each: why, and the test that recognises it. Keep this list short and true: the test fails
# when one of them is no longer observed, as when a new violation appears.
DELIBERATE: dict[str, Callable[[Violation], bool]] = {
    # A paused job says so; OpenAI's own pause endpoint returns it, the extract's enum lacks it.
    "job status 'paused'": lambda v: (
        v.where.endswith(".status") and v.keyword == "enum" and v.value == "paused"
    ),
    # OpenAI sends `"status_details": null` on files (and the SDK types it Optional), but the
    # document declares a non-nullable string.
    "file status_details null": lambda v: (
        v.where.endswith(".status_details") and v.keyword == "type" and v.value is None
    ),
    # The download is the file's bytes (application/octet-stream), as from OpenAI and as the
    # SDK reads it; the document declares a JSON string.
    "file content as bytes": lambda v: (
        v.operation == "downloadFile" and v.keyword == "content-type"
    ),
}


def _violations(
    document: dict[str, Any], exchanges: list[Exchange]
) -> tuple[list[Violation], set[str]]:
    """Every violation in the recorded exchanges, and the operations they exercised."""
    root = _openapi_to_json_schema({"components": document["components"]})
    operations = _operations(document)
    found: list[Violation] = []
    seen: set[str] = set()
    for exchange in exchanges:
        matching = [
            op
            for op in operations
            if op.method == exchange.method and op.pattern.fullmatch(exchange.path)
        ]
        if not matching:
            found.append(
                Violation("(none)", f"{exchange.method} {exchange.path}", "operation", None)
            )
            continue
        # The most specific template wins (/jobs/{id}/events over /jobs/{id}).
        operation = max(matching, key=lambda op: op.template.count("/"))
        seen.add(operation.operation_id)
        if 200 <= exchange.status < 300:
            declared = operation.responses.get(str(exchange.status))
            if declared is None:
                found.append(Violation(operation.operation_id, "$", "status", exchange.status))
                continue
            content = declared["content"]
            if "application/json" in content and not exchange.content_type.startswith(
                "application/json"
            ):
                found.append(
                    Violation(operation.operation_id, "$", "content-type", exchange.content_type)
                )
                continue
            schema = _openapi_to_json_schema(content["application/json"]["schema"])
        else:
            schema = {"$ref": "#/components/schemas/ErrorResponse"}
        validator = Draft202012Validator({**root, **schema})
        for error in validator.iter_errors(exchange.body):
            where = re.sub(r"\[\d+\]", "[*]", error.json_path)
            found.append(
                Violation(operation.operation_id, where, str(error.validator), error.instance)
            )
    return found, seen


# --- the run ---------------------------------------------------------------------------------


def _wait_status(client: OpenAI, job_id: str, wanted: tuple[str, ...]) -> str:
    deadline = time.monotonic() + 60
    while True:
        status = client.fine_tuning.jobs.retrieve(job_id).status
        if status in wanted or status in TERMINAL:
            return status
        assert time.monotonic() < deadline, f"{job_id} still {status}"
        time.sleep(0.05)


def _exercise(client: OpenAI, wait_for_job: JobWaiter) -> None:
    """What a user of the SDK does with files, fine-tuning and models, successes and errors."""
    train = client.files.create(file=("train.jsonl", chat_jsonl(8)), purpose="fine-tune")
    valid = client.files.create(file=("valid.jsonl", chat_jsonl(4)), purpose="fine-tune")
    client.files.list()
    client.files.list(purpose="fine-tune")
    client.files.retrieve(train.id)
    client.files.content(train.id).read()

    job = client.fine_tuning.jobs.create(
        model="local-tiny",
        training_file=train.id,
        validation_file=valid.id,
        hyperparameters={"n_epochs": 2, "batch_size": 4},
        suffix="conformance",
        seed=7,
        metadata={"team": "conformance"},
    )
    done = wait_for_job(client, job.id)
    assert done.status == "succeeded", done.error
    assert done.fine_tuned_model is not None
    client.fine_tuning.jobs.list(limit=5)
    client.fine_tuning.jobs.list(metadata={"team": "conformance"})
    client.fine_tuning.jobs.list_events(job.id, limit=100)
    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
    assert checkpoints

    permissions = client.fine_tuning.checkpoints.permissions
    name = checkpoints[0].fine_tuned_model_checkpoint
    made = permissions.create(name, project_ids=["proj-a", "proj-b"])
    permissions.list(name)
    permissions.delete(made.data[0].id, fine_tuned_model_checkpoint=name)

    client.models.list()
    client.models.retrieve("local-tiny")
    client.models.retrieve(done.fine_tuned_model)

    # Pause, resume and cancel a job long enough to be caught running.
    big = client.files.create(file=("big.jsonl", chat_jsonl(400)), purpose="fine-tune")
    long = client.fine_tuning.jobs.create(
        model="local-tiny", training_file=big.id, hyperparameters={"n_epochs": 5, "batch_size": 1}
    )
    if _wait_status(client, long.id, ("running",)) == "running":
        client.fine_tuning.jobs.pause(long.id)
        client.fine_tuning.jobs.retrieve(long.id)
        client.fine_tuning.jobs.resume(long.id)
    client.fine_tuning.jobs.cancel(long.id)

    # A job that fails: its error object.
    bad = client.files.create(file=("bad.jsonl", b'{"messages": []}\n'), purpose="fine-tune")
    failed = wait_for_job(
        client, client.fine_tuning.jobs.create(model="local-tiny", training_file=bad.id).id
    )
    assert failed.status == "failed"

    # Errors, in OpenAI's shape.
    for call in (
        lambda: client.files.retrieve("file-missing"),
        lambda: client.fine_tuning.jobs.retrieve("ftjob-missing"),
        lambda: client.fine_tuning.jobs.create(model="no-such-model", training_file=train.id),
        lambda: client.models.retrieve("ft:nope"),
        lambda: client.fine_tuning.jobs.cancel(job.id),  # already succeeded
    ):
        with pytest.raises(openai.APIStatusError):
            call()

    client.models.delete(done.fine_tuned_model)
    client.files.delete(valid.id)


def test_every_response_conforms_to_openais_openapi_description(
    run: Run, wait_for_job: JobWaiter
) -> None:
    _exercise(run.client, wait_for_job)
    document = _documents()
    violations, seen = _violations(document, run.exchanges)

    unexpected = [v for v in violations if not any(test(v) for test in DELIBERATE.values())]
    assert unexpected == [], "\n".join(map(str, unexpected))
    observed = {name for name, test in DELIBERATE.items() if any(test(v) for v in violations)}
    assert observed == set(DELIBERATE), f"no longer observed: {set(DELIBERATE) - observed}"
    every = {op.operation_id for op in _operations(document)}
    assert seen == every, f"not exercised: {every - seen}"


def test_the_checker_finds_violations() -> None:
    # The checker itself: a response that breaks the document is reported, not waved through.
    document = _documents()
    broken = Exchange("GET", "/models/m", 200, "application/json", {"id": "m", "object": "model"})
    wrong_error = Exchange("GET", "/files/f", 404, "application/json", {"detail": "Not Found"})
    violations, _ = _violations(document, [broken, wrong_error])
    assert {(v.operation, v.keyword) for v in violations} == {
        ("retrieveModel", "required"),
        ("retrieveFile", "required"),
    }
