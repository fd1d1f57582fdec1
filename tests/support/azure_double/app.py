"""A test double of one Azure OpenAI resource, its Resource Manager deployments and an
App Service managed-identity token endpoint, on loopback HTTP.

It implements the operations of the vendored descriptions (`specs/`) that ftctl calls, and
checks every request it receives and every response it sends against them
(`spec_check`): what does not match is recorded in `violations`, which the tests assert
empty. Jobs train instantly after a few polls; deployments provision after a few reads.
The test controls it in-process (`faults`, `drop_deployment`, counters).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from . import spec_check

BASE_MODELS = ("gpt-4o-mini-2024-07-18", "gpt-4.1-mini-2025-04-14")
MANAGEMENT = "https://management.azure.com"
COGNITIVE = "https://cognitiveservices.azure.com"


@dataclass
class Seen:
    """One request as the double saw it (headers that matter for auth, not their values)."""

    method: str
    path: str
    query: list[tuple[str, str]]
    auth: str  # "api-key" | "bearer" | "none"
    operation: str


@dataclass
class AzureDouble:
    api_key: str
    subscription_id: str = "00000000-0000-0000-0000-000000000000"
    resource_group: str = "ml"
    account: str = "acme-ft"
    arm_api_version: str = "2024-10-01"
    identity_header: str = field(default_factory=lambda: secrets.token_hex(16))
    polls_to_train: int = 2
    reads_to_provision: int = 1
    violations: list[str] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    faults: set[str] = field(default_factory=set)
    tokens: dict[str, str] = field(default_factory=dict)  # token -> audience
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    chats: list[str] = field(default_factory=list)  # deployment names that answered
    dated_api_versions: list[str] = field(default_factory=list)
    _polls: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ---- test controls

    def drop_deployment(self, name: str) -> None:
        """Delete a deployment out of band (as Azure does after 15 inactive days)."""
        with self._lock:
            self.deployments.pop(name, None)

    def count(self, operation: str) -> int:
        return sum(1 for s in self.seen if s.operation == operation)

    @property
    def secrets(self) -> list[str]:
        return [self.api_key, self.identity_header, *self.tokens]

    # ---- app

    def app(self) -> FastAPI:
        app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

        @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
        async def handle(path: str, request: Request) -> Response:
            raw = await request.body()
            form = None
            content_type = request.headers.get("content-type", "")
            if content_type.startswith("multipart/form-data"):
                form = await request.form()
            with self._lock:
                try:
                    return self._dispatch(request, "/" + path, raw, form)
                except Exception as error:  # a bug of the double fails the test too
                    self.violations.append(
                        f"the double failed on {request.method} /{path}: {error!r}"
                    )
                    raise

        return app

    def _dispatch(self, request: Request, path: str, raw: bytes, form: Any) -> Response:
        method = request.method
        query = parse_qsl(request.url.query, keep_blank_values=True)
        if path == "/msi/token":
            return self._msi_token(request, dict(query))
        path, raw = self._from_dated_api(path, query, raw)
        operation = spec_check.find_operation(method, path)
        auth = _auth_kind(request)
        self.seen.append(
            Seen(method, path, query, auth, operation.operation_id if operation else "?")
        )
        if operation is None:
            self.violations.append(f"{method} {path}: no such operation in the descriptions")
            return JSONResponse({"error": {"code": "404", "message": "not found"}}, 404)
        body: Any = None
        if raw and form is None:
            try:
                body = json.loads(raw)
            except ValueError:
                self.violations.append(f"{operation.operation_id}: request body is not JSON")
        problems = spec_check.check_request(
            operation, query, body, arm_api_version=self.arm_api_version
        )
        self.violations += [f"{operation.operation_id}: {p}" for p in problems]
        denied = self._authorize(request, operation.document)
        if denied is not None:
            status, payload = denied
        else:
            handler = self._handlers()[operation.operation_id]
            status, payload = handler(path, dict(query), body, form)
        problems = spec_check.check_response(operation, status, payload)
        self.violations += [f"{operation.operation_id} -> {status}: {p}" for p in problems]
        if payload is None:
            return Response(status_code=status)
        return JSONResponse(payload, status)

    def _from_dated_api(
        self, path: str, query: list[tuple[str, str]], raw: bytes
    ) -> tuple[str, bytes]:
        """The dated API (`/openai/...?api-version=…`, chat under `/deployments/{name}/`) is
        served by the v1 operations (its own description is not vendored); `api-version`
        is required there, and is a described (optional) parameter of the v1 operations."""
        if not path.startswith("/openai/") or path.startswith("/openai/v1/"):
            return path, raw
        self.dated_api_versions.extend(v for n, v in query if n == "api-version")
        if not any(n == "api-version" for n, _ in query):
            self.violations.append(f"{path}: the dated API needs api-version")
        rest = path.removeprefix("/openai")
        if rest.startswith("/deployments/") and rest.endswith("/chat/completions"):
            name = rest.split("/")[2]
            body = json.loads(raw) if raw else {}
            raw = json.dumps({**body, "model": name}).encode()
            rest = "/chat/completions"
        return "/openai/v1" + rest, raw

    def _authorize(self, request: Request, document: str) -> tuple[int, Any] | None:
        header = request.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else None
        if document == "arm":
            if token is not None and self.tokens.get(token) == MANAGEMENT:
                return None
            return 401, {"error": {"code": "AuthenticationFailed", "message": "bad token"}}
        if request.headers.get("api-key") == self.api_key:
            return None
        if token is not None and self.tokens.get(token) == COGNITIVE:
            return None
        return 401, {
            "error": {
                "code": "401",
                "message": "Access denied due to invalid subscription key or wrong API endpoint.",
            }
        }

    def _msi_token(self, request: Request, query: dict[str, str]) -> Response:
        """App Service managed identity (api-version 2019-08-01), as azure-identity calls it."""
        if request.headers.get("x-identity-header") != self.identity_header:
            return JSONResponse({"error": "unauthorized"}, 401)
        resource = query.get("resource", "").rstrip("/")
        token = "eyJ0eXAiOiJKV1QifQ." + secrets.token_urlsafe(24) + "." + secrets.token_urlsafe(8)
        self.tokens[token] = resource
        return JSONResponse(
            {
                "access_token": token,
                "expires_on": str(int(time.time()) + 3600),
                "resource": resource,
                "token_type": "Bearer",
            }
        )

    def _handlers(self) -> dict[str, Callable[[str, dict[str, str], Any, Any], tuple[int, Any]]]:
        return {
            "createFile": self._create_file,
            "listFiles": self._list_files,
            "createFineTuningJob": self._create_job,
            "listPaginatedFineTuningJobs": self._list_jobs,
            "retrieveFineTuningJob": self._retrieve_job,
            "cancelFineTuningJob": self._cancel_job,
            "listFineTuningEvents": self._events,
            "listFineTuningJobCheckpoints": self._checkpoints,
            "listModels": self._models,
            "createChatCompletion": self._chat,
            "Deployments_List": self._list_deployments,
            "Deployments_Get": self._get_deployment,
            "Deployments_CreateOrUpdate": self._put_deployment,
            "Deployments_Update": self._put_deployment,
            "Deployments_Delete": self._delete_deployment,
        }

    # ---- files

    def _create_file(
        self, path: str, query: dict[str, str], body: Any, form: Any
    ) -> tuple[int, Any]:
        upload = form.get("file") if form is not None else None
        if upload is None or form.get("purpose") != "fine-tune":
            return 400, {"error": {"code": "invalidPayload", "message": "file and purpose"}}
        content = upload.file.read()
        file_id = "file-" + secrets.token_hex(16)
        self.files[file_id] = {
            "id": file_id,
            "object": "file",
            "bytes": len(content),
            "created_at": int(time.time()),
            "filename": upload.filename,
            "purpose": "fine-tune",
            "status": "processed",
        }
        return 200, self.files[file_id]

    def _list_files(
        self, path: str, query: dict[str, str], body: Any, form: Any
    ) -> tuple[int, Any]:
        data = list(self.files.values())
        return 200, {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else "",
            "last_id": data[-1]["id"] if data else "",
            "has_more": False,
        }

    # ---- jobs

    def _create_job(
        self, path: str, query: dict[str, str], body: Any, form: Any
    ) -> tuple[int, Any]:
        if body.get("training_file") not in self.files:
            return 400, {"error": {"code": "invalidPayload", "message": "unknown training_file"}}
        job_id = "ftjob-" + secrets.token_hex(16)
        method = body.get("method") or {"type": "supervised"}
        settings = method.get(method["type"]) or {}
        hyper = {"n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": "auto"}
        hyper.update(
            {k: v for k, v in (settings.get("hyperparameters") or {}).items() if k in hyper}
        )
        self.jobs[job_id] = {
            "id": job_id,
            "object": "fine_tuning.job",
            "created_at": int(time.time()),
            "error": None,
            "fine_tuned_model": None,
            "finished_at": None,
            "hyperparameters": hyper,
            "model": body["model"],
            "organization_id": "org-azure",
            "result_files": [],
            "status": "validating_files",
            "trained_tokens": None,
            "training_file": body["training_file"],
            "validation_file": body.get("validation_file"),
            "seed": body.get("seed") if body.get("seed") is not None else 42,
            "metadata": body.get("metadata") or None,
            "method": method,
            "user_provided_suffix": body.get("suffix"),
        }
        self._polls[job_id] = 0
        if "lose_job_create" in self.faults:
            self.faults.discard("lose_job_create")
            # The job exists, but the answer is lost: a gateway error reaches the client.
            return 502, {"error": {"code": "BadGateway", "message": "upstream timed out"}}
        return 200, self.jobs[job_id]

    def _advance(self, job_id: str) -> None:
        job = self.jobs[job_id]
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return
        self._polls[job_id] += 1
        if self._polls[job_id] >= self.polls_to_train:
            suffix = f"-{job['user_provided_suffix']}" if job["user_provided_suffix"] else ""
            job.update(
                status="succeeded",
                fine_tuned_model=f"{job['model']}.ft-{secrets.token_hex(16)}{suffix}",
                finished_at=int(time.time()),
                trained_tokens=12_345,
                hyperparameters={"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 1.0},
            )
        else:
            job["status"] = "running"

    def _list_jobs(self, path: str, query: dict[str, str], body: Any, form: Any) -> tuple[int, Any]:
        limit = int(query.get("limit", "20"))
        ordered = sorted(self.jobs.values(), key=lambda j: (j["created_at"], j["id"]), reverse=True)
        after = query.get("after")
        if after is not None:
            ids = [j["id"] for j in ordered]
            ordered = ordered[ids.index(after) + 1 :] if after in ids else []
        page = ordered[:limit]
        return 200, {"object": "list", "data": page, "has_more": len(ordered) > limit}

    def _job_or_404(self, path: str) -> dict[str, Any] | None:
        return self.jobs.get(path.split("/")[5])

    def _retrieve_job(
        self, path: str, query: dict[str, str], body: Any, form: Any
    ) -> tuple[int, Any]:
        job = self._job_or_404(path)
        if job is None:
            return 404, {"error": {"code": "notFound", "message": "no such job"}}
        self._advance(job["id"])
        return 200, job

    def _cancel_job(
        self, path: str, query: dict[str, str], body: Any, form: Any
    ) -> tuple[int, Any]:
        job = self._job_or_404(path)
        if job is None:
            return 404, {"error": {"code": "notFound", "message": "no such job"}}
        if job["status"] not in ("succeeded", "failed"):
            job.update(status="cancelled", finished_at=int(time.time()))
        return 200, job

    def _events(self, path: str, query: dict[str, str], body: Any, form: Any) -> tuple[int, Any]:
        job = self._job_or_404(path)
        if job is None:
            return 404, {"error": {"code": "notFound", "message": "no such job"}}
        event = {
            "object": "fine_tuning.job.event",
            "id": "ftevent-" + job["id"][6:18],
            "created_at": job["created_at"],
            "level": "info",
            "message": f"Job {job['status']}",
            "type": "message",
        }
        return 200, {"object": "list", "data": [event], "has_more": False}

    def _checkpoints(
        self, path: str, query: dict[str, str], body: Any, form: Any
    ) -> tuple[int, Any]:
        job = self._job_or_404(path)
        if job is None:
            return 404, {"error": {"code": "notFound", "message": "no such job"}}
        data = []
        if job["status"] == "succeeded":
            data.append(
                {
                    "id": "ftckpt-" + job["id"][6:18],
                    "object": "fine_tuning.job.checkpoint",
                    "created_at": job["finished_at"],
                    "fine_tuned_model_checkpoint": job["fine_tuned_model"] + "-step-30",
                    "fine_tuning_job_id": job["id"],
                    "step_number": 30,
                    "metrics": {
                        "step": 30.0,
                        "train_loss": 0.41,
                        "train_mean_token_accuracy": 0.9,
                        "valid_loss": 0.52,
                        "valid_mean_token_accuracy": 0.85,
                        "full_valid_loss": 0.5,
                        "full_valid_mean_token_accuracy": 0.86,
                    },
                }
            )
        return 200, {"object": "list", "data": data, "has_more": False}

    def _fine_tuned(self) -> set[str]:
        return {j["fine_tuned_model"] for j in self.jobs.values() if j["fine_tuned_model"]}

    def _models(self, path: str, query: dict[str, str], body: Any, form: Any) -> tuple[int, Any]:
        ids = [*BASE_MODELS, *sorted(self._fine_tuned())]
        data = [
            {"id": i, "object": "model", "created": 1_700_000_000, "owned_by": "azure"} for i in ids
        ]
        return 200, {"object": "list", "data": data}

    def _chat(self, path: str, query: dict[str, str], body: Any, form: Any) -> tuple[int, Any]:
        name = body.get("model")
        deployment = self.deployments.get(name)
        if deployment is None or deployment["properties"]["provisioningState"] != "Succeeded":
            return 404, {
                "error": {
                    "code": "DeploymentNotFound",
                    "message": "The API deployment for this resource does not exist.",
                }
            }
        self.chats.append(name)
        return 200, {
            "id": "chatcmpl-" + secrets.token_hex(8),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": deployment["properties"]["model"]["name"],
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": '{"answer": "ok"}'},
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14},
        }

    # ---- deployments (ARM)

    def _deployment_name(self, path: str) -> str:
        return path.rsplit("/", 1)[1]

    def _resource_id(self, name: str) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.CognitiveServices/accounts/{self.account}/deployments/{name}"
        )

    def _read(self, deployment: dict[str, Any]) -> dict[str, Any]:
        properties = deployment["properties"]
        if properties["provisioningState"] in ("Creating", "Accepted"):
            deployment["_reads"] += 1
            if deployment["_reads"] >= self.reads_to_provision:
                properties["provisioningState"] = "Succeeded"
        return {k: v for k, v in deployment.items() if not k.startswith("_")}

    def _list_deployments(
        self, path: str, query: dict[str, str], body: Any, form: Any
    ) -> tuple[int, Any]:
        return 200, {"value": [self._read(d) for d in self.deployments.values()]}

    def _get_deployment(
        self, path: str, query: dict[str, str], body: Any, form: Any
    ) -> tuple[int, Any]:
        deployment = self.deployments.get(self._deployment_name(path))
        if deployment is None:
            return 404, {"error": {"code": "DeploymentNotFound", "message": "not found"}}
        return 200, self._read(deployment)

    def _put_deployment(
        self, path: str, query: dict[str, str], body: Any, form: Any
    ) -> tuple[int, Any]:
        name = self._deployment_name(path)
        model = ((body.get("properties") or {}).get("model") or {}).get("name")
        if model not in self._fine_tuned() and model not in BASE_MODELS:
            return 400, {
                "error": {"code": "InvalidResourceProperties", "message": f"no model {model}"}
            }
        existed = name in self.deployments
        self.deployments[name] = {
            "id": self._resource_id(name),
            "name": name,
            "type": "Microsoft.CognitiveServices/accounts/deployments",
            "sku": body.get("sku") or {"name": "Standard", "capacity": 1},
            "tags": body.get("tags") or {},
            "properties": {
                "model": {"format": "OpenAI", "name": model, "version": "1"},
                "provisioningState": "Creating",
            },
            "_reads": 0,
        }
        shown = {k: v for k, v in self.deployments[name].items() if not k.startswith("_")}
        return (200 if existed else 201), shown

    def _delete_deployment(
        self, path: str, query: dict[str, str], body: Any, form: Any
    ) -> tuple[int, Any]:
        name = self._deployment_name(path)
        if self.deployments.pop(name, None) is None:
            return 204, None
        return 200, None


def _auth_kind(request: Request) -> str:
    if request.headers.get("api-key"):
        return "api-key"
    if request.headers.get("authorization", "").lower().startswith("bearer "):
        return "bearer"
    return "none"


@contextmanager
def serving(double: AzureDouble) -> Iterator[str]:
    """Run the double on a free loopback port; yields its base URL."""
    config = uvicorn.Config(double.app(), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the Azure test double did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
