"""The local fine-tuning server: an OpenAI-compatible HTTP API over the store and worker.

Shapes, status codes and error bodies follow OpenAI's API as the installed openai SDK
reads them (files, fine_tuning.jobs with events and checkpoints, models, chat
completions), so the same client code talks to OpenAI and to this server.
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, File, Form, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from ftctl import __version__
from ftctl.server import ids, schemas, trainer
from ftctl.server.auth import BearerAuthMiddleware
from ftctl.server.faults import FaultMiddleware, FaultSpec
from ftctl.server.schemas import (
    ApiError,
    ChatCompletionRequest,
    JobCreateRequest,
    check_metadata,
    check_suffix,
    error_body,
    requested_hyperparameters,
)
from ftctl.server.store import ACTIVE_STATUSES, FileRecord, JobRecord, Page, Store, now
from ftctl.server.worker import JobWorker, parse_jsonl

UPLOAD_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
BASE_MODEL_CREATED = 1_735_689_600  # 2025-01-01: a fixed date, so listings are stable
DEFAULT_MAX_TOKENS = 256
MAX_STOP_SEQUENCES = 4
_WEIGHTS_CACHE_SIZE = 8


@dataclass(frozen=True)
class ServerSettings:
    data_dir: Path
    api_key: str | None = None
    workers: int = 1
    faults: FaultSpec = field(default_factory=FaultSpec)
    # Answer job creation like OpenAI does for organisations past its fine-tuning cut-off.
    training_cutoff: bool = False


@dataclass
class ServerState:
    settings: ServerSettings
    store: Store
    worker: JobWorker
    weights: WeightsCache


class WeightsCache:
    """Loaded model weights by model name (a few, least recently used evicted)."""

    def __init__(self, size: int = _WEIGHTS_CACHE_SIZE) -> None:
        self._size = size
        self._items: OrderedDict[str, trainer.Weights] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, load: Callable[[], trainer.Weights]) -> trainer.Weights:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        weights = load()
        with self._lock:
            self._items[key] = weights
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return weights

    def forget(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)


def create_app(settings: ServerSettings) -> FastAPI:
    """The ASGI app; the worker runs between the app's startup and shutdown."""
    store = Store(settings.data_dir)
    state = ServerState(
        settings, store, JobWorker(store, n_workers=settings.workers), WeightsCache()
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        state.worker.start()
        try:
            yield
        finally:
            state.worker.stop()
            store.close()

    app = FastAPI(
        title="ftctl local fine-tuning server",
        version=__version__,
        description="An OpenAI-compatible fine-tuning API (files, fine_tuning.jobs, models, "
        "chat completions) backed by a small local numpy model.",
        lifespan=lifespan,
        # Every error has OpenAI's body; FastAPI's default 422 is never sent (validation
        # problems are 400s), and declaring the ranges keeps it out of the document.
        responses={
            "4XX": {"model": schemas.ErrorResponse, "description": "Invalid request"},
            "5XX": {"model": schemas.ErrorResponse, "description": "Server error"},
        },
    )
    app.state.server = state
    _install_error_handlers(app)
    app.add_middleware(BearerAuthMiddleware, api_key=settings.api_key)
    # Added last, so outermost: an injected fault happens before authentication, as at a gateway.
    app.add_middleware(FaultMiddleware, spec=settings.faults)
    _add_routes(app, state)
    return app


# --- errors ------------------------------------------------------------------------------


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_request: Request, error: ApiError) -> JSONResponse:
        return JSONResponse(error.body(), status_code=error.status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
        message, param = _validation_message(error.errors())
        return JSONResponse(error_body(message, param=param), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 404:
            message = f"Invalid URL ({request.method} {request.url.path})"
        elif error.status_code == 405:
            message = f"Method {request.method} not allowed for {request.url.path}"
        else:
            message = str(error.detail)
        headers = dict(error.headers or {})
        if error.status_code == 405:
            # RFC 9110: a 405 lists every method of the resource; Starlette names only the
            # methods of the first route that matched the path (one route per method here).
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return JSONResponse(error_body(message), status_code=error.status_code, headers=headers)

    @app.exception_handler(Exception)
    async def internal_error(_request: Request, error: Exception) -> JSONResponse:
        body = error_body(
            f"The server had an error while processing your request: {type(error).__name__}",
            type="server_error",
        )
        return JSONResponse(body, status_code=500)


def _allowed_methods(request: Request) -> list[str]:
    """The methods of all routes whose path matches the request's."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return sorted(methods)


# pydantic names the member of a union it tried in an error's location (`int`,
# `literal['auto']`, `list[str]`): not a parameter, so left out of `param`.
_UNION_MEMBER = re.compile(r"(int|float|str|bool|bytes|none|[a-z-]+\[.*\])")


def _is_union_member(part: object) -> bool:
    return isinstance(part, str) and _UNION_MEMBER.fullmatch(part) is not None


def _validation_message(errors: Any) -> tuple[str, str | None]:
    """OpenAI-like wording for the first problem pydantic found in a request."""
    if not errors:
        return "Invalid request.", None
    first = errors[0]
    param = _error_param(first)
    kind = first.get("type", "")
    # A value that fits no member of a union fails once per member: name them all.
    reasons = list(dict.fromkeys(e.get("msg", "") for e in errors if _error_param(e) == param))
    should = "Input should be "
    reason = first.get("msg", "invalid value")
    if len(reasons) > 1 and all(r.startswith(should) for r in reasons):
        reason = should + " or ".join(r.removeprefix(should) for r in reasons)
    if param is None and kind != "missing" and kind != "json_invalid":
        # About the body as a whole (not an object, not valid Unicode...): no parameter.
        return f"Invalid request body: {reason}.", None
    if kind == "extra_forbidden":
        return f"Unrecognized request argument supplied: {param}", param
    if kind == "missing" and param is None:
        # The whole body is absent (no parameter to name).
        return "Missing request body: send the parameters as a JSON object.", None
    if kind == "missing":
        return f"Missing required parameter: '{param}'.", param
    if kind == "json_invalid":
        return (
            "We could not parse the JSON body of your request. The body must be valid JSON.",
            None,
        )
    return f"Invalid '{param}': {reason}.", param


def _error_param(error: Any) -> str | None:
    location = [
        str(part)
        for part in error.get("loc", ())
        if part not in ("body", "query", "path") and not _is_union_member(part)
    ]
    return ".".join(location) or None


def _not_found(kind: str, object_id: str, param: str) -> ApiError:
    return ApiError(404, f"No such {kind}: '{object_id}'.", param=param)


# --- routes ------------------------------------------------------------------------------

Limit100 = Annotated[int, Query(ge=1, le=100)]


def _add_routes(app: FastAPI, state: ServerState) -> None:
    store = state.store

    @app.get(
        "/health",
        response_model=schemas.Health,
        tags=["server"],
        summary="Liveness probe (no auth, no faults)",
    )
    def health() -> dict[str, Any]:
        return {"status": "ok", "pid": os.getpid(), "version": __version__}

    # --- files ---------------------------------------------------------------------

    @app.post(
        "/v1/files", response_model=schemas.FileObject, tags=["files"], summary="Upload a file"
    )
    async def upload_file(
        file: Annotated[UploadFile, File(description="The file (JSONL for fine-tune)")],
        # Checked below (for OpenAI's message); the document lists the values.
        purpose: Annotated[
            str,
            Form(description="fine-tune, batch, ...", json_schema_extra={"enum": UPLOAD_PURPOSES}),
        ],
    ) -> dict[str, Any]:
        content = await file.read()
        if purpose not in UPLOAD_PURPOSES:
            raise ApiError(
                400,
                f"'{purpose}' is not one of {list(UPLOAD_PURPOSES)} - 'purpose'",
                param="purpose",
            )
        filename = file.filename or "upload"
        if purpose == "fine-tune":
            _check_fine_tune_upload(content)
        record = FileRecord(
            id=ids.file_id(),
            filename=filename,
            purpose=purpose,
            bytes=len(content),
            created_at=now(),
        )
        store.add_file(record, content)
        return record.to_api()

    @app.get("/v1/files", response_model=schemas.FileList, tags=["files"], summary="List files")
    def list_files(
        purpose: str | None = None,
        after: str | None = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 10_000,
        order: Literal["asc", "desc"] = "desc",
    ) -> dict[str, Any]:
        return store.list_files(purpose=purpose, after=after, limit=limit, order=order).to_api()

    @app.get(
        "/v1/files/{file_id}",
        response_model=schemas.FileObject,
        tags=["files"],
        summary="Retrieve a file object",
    )
    def retrieve_file(file_id: str) -> dict[str, Any]:
        return _file(store, file_id).to_api()

    @app.get(
        "/v1/files/{file_id}/content",
        tags=["files"],
        summary="Download a file's bytes",
        # The bytes as uploaded, not JSON: say so in the document.
        response_class=Response,
        responses={
            200: {
                "description": "The file's content",
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                },
            }
        },
    )
    def file_content(file_id: str) -> Response:
        content = store.read_file(file_id)
        if content is None:
            raise _not_found("File", file_id, "file_id")
        return Response(content, media_type="application/octet-stream")

    @app.delete(
        "/v1/files/{file_id}",
        response_model=schemas.Deleted,
        tags=["files"],
        summary="Delete a file",
    )
    def delete_file(file_id: str) -> dict[str, Any]:
        if not store.delete_file(file_id):
            raise _not_found("File", file_id, "file_id")
        return {"id": file_id, "object": "file", "deleted": True}

    # --- fine-tuning jobs ------------------------------------------------------------

    @app.post(
        "/v1/fine_tuning/jobs",
        response_model=schemas.FineTuningJobObject,
        tags=["fine_tuning"],
        summary="Create a fine-tuning job",
    )
    def create_job(body: JobCreateRequest) -> dict[str, Any]:
        job = _new_job(state, body)
        store.add_job(job)
        store.add_event(job.id, f"Created fine-tuning job: {job.id}")
        files = f"Validating training file: {job.training_file}"
        if job.validation_file:
            files += f" and validation file: {job.validation_file}"
        store.add_event(job.id, files)
        state.worker.submit(job.id)
        return job.to_api()

    @app.get(
        "/v1/fine_tuning/jobs",
        response_model=schemas.FineTuningJobList,
        tags=["fine_tuning"],
        summary="List fine-tuning jobs",
    )
    def list_jobs(
        request: Request, after: str | None = None, limit: Limit100 = 20
    ) -> dict[str, Any]:
        wanted, only_null = _metadata_filter(request)
        matching = (
            job
            for job in store.iter_jobs_newest_first(before=after, batch=max(limit + 1, 100))
            if (job.metadata is None if only_null else _matches(job.metadata, wanted))
        )
        jobs = list(itertools.islice(matching, limit + 1))  # one more: is there a next page?
        page = Page(jobs[:limit], len(jobs) > limit)
        body = page.to_api()
        body["data"] = [_job_api(state, job) for job in page.items]
        return body

    @app.get(
        "/v1/fine_tuning/jobs/{job_id}",
        response_model=schemas.FineTuningJobObject,
        tags=["fine_tuning"],
        summary="Retrieve a job",
    )
    def retrieve_job(job_id: str) -> dict[str, Any]:
        return _job_api(state, _job(store, job_id))

    @app.post(
        "/v1/fine_tuning/jobs/{job_id}/cancel",
        response_model=schemas.FineTuningJobObject,
        tags=["fine_tuning"],
        summary="Cancel a job",
    )
    def cancel_job(job_id: str) -> dict[str, Any]:
        updated = _change_status(
            store,
            job_id,
            only_from=[*ACTIVE_STATUSES, "paused"],
            refusal="Job has already completed: {job_id} ({status}).",
            status="cancelled",
            finished_at=now(),
        )
        state.worker.request_stop(job_id)
        store.add_event(job_id, "Fine-tuning job cancelled")
        return _job_api(state, updated)

    @app.post(
        "/v1/fine_tuning/jobs/{job_id}/pause",
        response_model=schemas.FineTuningJobObject,
        tags=["fine_tuning"],
        summary="Pause a job",
    )
    def pause_job(job_id: str) -> dict[str, Any]:
        updated = _change_status(
            store,
            job_id,
            only_from=["queued", "running"],
            refusal="Job {job_id} cannot be paused while {status}.",
            status="paused",
        )
        state.worker.request_stop(job_id)
        store.add_event(job_id, "Fine-tuning job paused; it resumes from its last epoch checkpoint")
        return _job_api(state, updated)

    @app.post(
        "/v1/fine_tuning/jobs/{job_id}/resume",
        response_model=schemas.FineTuningJobObject,
        tags=["fine_tuning"],
        summary="Resume a job",
    )
    def resume_job(job_id: str) -> dict[str, Any]:
        updated = _change_status(
            store,
            job_id,
            only_from=["paused"],
            refusal="Job {job_id} is not paused (status {status}).",
            status="queued",
        )
        store.add_event(job_id, "Fine-tuning job resumed")
        state.worker.requeue(job_id)
        return _job_api(state, updated)

    @app.get(
        "/v1/fine_tuning/jobs/{job_id}/events",
        response_model=schemas.JobEventList,
        tags=["fine_tuning"],
        summary="Job events",
    )
    def list_events(job_id: str, after: str | None = None, limit: Limit100 = 20) -> dict[str, Any]:
        _job(store, job_id)
        return store.list_events(job_id, after=after, limit=limit).to_api()

    @app.get(
        "/v1/fine_tuning/jobs/{job_id}/checkpoints",
        response_model=schemas.CheckpointList,
        tags=["fine_tuning"],
        summary="Job checkpoints",
    )
    def list_checkpoints(
        job_id: str, after: str | None = None, limit: Limit100 = 10
    ) -> dict[str, Any]:
        _job(store, job_id)
        return store.list_checkpoints(job_id, after=after, limit=limit).to_api()

    # --- models ----------------------------------------------------------------------

    @app.get("/v1/models", response_model=schemas.ModelList, tags=["models"], summary="List models")
    def list_models() -> dict[str, Any]:
        data = [_base_model_api(name) for name in trainer.BASE_MODELS]
        data += [model.to_api() for model in store.list_models()]
        return {"object": "list", "data": data}

    @app.get(
        "/v1/models/{model}",
        response_model=schemas.ModelObject,
        tags=["models"],
        summary="Retrieve a model",
    )
    def retrieve_model(model: str) -> dict[str, Any]:
        if model in trainer.BASE_MODELS:
            return _base_model_api(model)
        record = store.get_model(model)
        if record is None:
            raise _model_not_found(model)
        return record.to_api()

    @app.delete(
        "/v1/models/{model}",
        response_model=schemas.Deleted,
        tags=["models"],
        summary="Delete a fine-tuned model",
    )
    def delete_model(model: str) -> dict[str, Any]:
        if model in trainer.BASE_MODELS:
            raise ApiError(
                403,
                f"You do not have permission to delete the base model '{model}'; only "
                "fine-tuned models can be deleted.",
                param="model",
                code="model_not_deletable",
            )
        if not store.delete_model(model):
            raise _model_not_found(model)
        state.weights.forget(model)
        return {"id": model, "object": "model", "deleted": True}

    # --- chat completions ------------------------------------------------------------

    @app.post(
        "/v1/chat/completions",
        response_model=schemas.ChatCompletionObject,
        tags=["chat"],
        summary="Create a chat completion",
    )
    def chat_completion(body: ChatCompletionRequest) -> dict[str, Any]:
        return _complete(state, body)


# --- helpers -----------------------------------------------------------------------------


def _check_fine_tune_upload(content: bytes) -> None:
    """OpenAI rejects a fine-tune upload that is not JSONL at once (400)."""
    try:
        rows = parse_jsonl(content)
    except ValueError as error:
        raise ApiError(
            400,
            f"Invalid file format for Fine-Tuning API. Must be .jsonl: {error}.",
            param="file",
            code="invalid_file_format",
        ) from error
    if not rows:
        raise ApiError(
            400,
            "Invalid file format for Fine-Tuning API: the file is empty.",
            param="file",
            code="invalid_file_format",
        )


def _file(store: Store, file_id: str) -> FileRecord:
    record = store.get_file(file_id)
    if record is None:
        raise _not_found("File", file_id, "file_id")
    return record


def _job(store: Store, job_id: str) -> JobRecord:
    job = store.get_job(job_id)
    if job is None:
        raise _not_found("fine-tuning job", job_id, "fine_tuning_job_id")
    return job


def _change_status(
    store: Store, job_id: str, *, only_from: list[str], refusal: str, **changes: Any
) -> JobRecord:
    """Apply `changes` to a job whose status is one of `only_from`; otherwise a 400 whose
    message is `refusal` filled with the job's id and status (a missing job is a 404)."""
    job = _job(store, job_id)
    updated = store.update_job(job_id, only_from=only_from, **changes)
    if updated is None:
        raise ApiError(
            400,
            refusal.format(job_id=job_id, status=job.status),
            param="fine_tuning_job_id",
        )
    return updated


def _job_api(state: ServerState, job: JobRecord) -> dict[str, Any]:
    return job.to_api(state.worker.estimated_finish(job.id))


def _base_model_api(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": BASE_MODEL_CREATED, "owned_by": "system"}


def _model_not_found(model: str) -> ApiError:
    return ApiError(
        404,
        f"The model '{model}' does not exist or you do not have access to it.",
        param="model",
        code="model_not_found",
    )


def _metadata_filter(request: Request) -> tuple[dict[str, str], bool]:
    """`metadata[k]=v` query parameters (all must match), or `metadata=null`."""
    wanted: dict[str, str] = {}
    only_null = False
    for key, value in request.query_params.multi_items():
        if key == "metadata" and value == "null":
            only_null = True
        elif key.startswith("metadata[") and key.endswith("]"):
            wanted[key[len("metadata[") : -1]] = value
    if only_null and wanted:
        raise ApiError(
            400,
            "Use either metadata=null or metadata[key]=value filters, not both.",
            param="metadata",
        )
    return wanted, only_null


def _matches(metadata: dict[str, str] | None, wanted: dict[str, str]) -> bool:
    have = metadata or {}
    return all(key in have and have[key] == value for key, value in wanted.items())


def _new_job(state: ServerState, body: JobCreateRequest) -> JobRecord:
    """Check a create request the way OpenAI does and make the job record."""
    store = state.store
    if state.settings.training_cutoff:
        raise ApiError(
            403,
            "Fine-tuning is no longer available for this organization: new fine-tuning jobs "
            "cannot be created. Existing fine-tuned models keep working.",
            code="training_not_available",
        )
    check_metadata(body.metadata)
    check_suffix(body.suffix)
    if body.integrations:
        raise ApiError(
            400, "Integrations are not supported by the local server.", param="integrations"
        )
    base_model = _trainable_base(store, body.model)
    _check_training_file(store, body.training_file, "training_file")
    if body.validation_file:
        _check_training_file(store, body.validation_file, "validation_file")
    method_type, requested = requested_hyperparameters(body)
    if body.seed is not None and not 0 <= body.seed <= 2_147_483_647:
        raise ApiError(400, "Invalid 'seed': must be between 0 and 2147483647.", param="seed")
    hyperparameters = {
        "n_epochs": requested.n_epochs if requested.n_epochs is not None else "auto",
        "batch_size": requested.batch_size if requested.batch_size is not None else "auto",
        "learning_rate_multiplier": (
            requested.learning_rate_multiplier
            if requested.learning_rate_multiplier is not None
            else "auto"
        ),
    }
    return JobRecord(
        id=ids.job_id(),
        created_at=now(),
        model=body.model,
        base_model=base_model,
        training_file=body.training_file,
        validation_file=body.validation_file,
        status="validating_files",
        method={"type": method_type, method_type: {"hyperparameters": dict(hyperparameters)}},
        hyperparameters=hyperparameters,
        seed=body.seed if body.seed is not None else secrets.randbelow(2_147_483_647),
        suffix=body.suffix,
        metadata=body.metadata,
    )


def _trainable_base(store: Store, model: str) -> str:
    """The base model a job on `model` trains (a fine-tuned model continues its base)."""
    if model in trainer.BASE_MODELS:
        return model
    record = store.get_model(model)
    if record is not None and record.base_model:
        return record.base_model
    raise ApiError(
        400,
        f"Model {model} is not available for fine-tuning or does not exist. "
        f"Available: {', '.join(trainer.BASE_MODELS)} and the server's fine-tuned models.",
        param="model",
        code="model_not_available",
    )


def _check_training_file(store: Store, file_id: str, param: str) -> None:
    record = store.get_file(file_id)
    if record is None:
        raise ApiError(
            400, f"invalid {param}: {file_id} (no such file)", param=param, code="invalid_file"
        )
    if record.purpose != "fine-tune":
        raise ApiError(
            400,
            f"invalid {param}: {file_id} has purpose '{record.purpose}'; fine-tuning "
            "needs a file uploaded with purpose 'fine-tune'",
            param=param,
            code="invalid_file",
        )


def _complete(state: ServerState, body: ChatCompletionRequest) -> dict[str, Any]:
    if body.stream:
        raise ApiError(
            400,
            "Streaming is not supported by the local server; send stream=false.",
            param="stream",
            code="unsupported_parameter",
        )
    if body.n not in (None, 1):
        raise ApiError(
            400, "The local server supports only n=1.", param="n", code="unsupported_parameter"
        )
    stop = [body.stop] if isinstance(body.stop, str) else body.stop
    if stop is not None and len(stop) > MAX_STOP_SEQUENCES:
        raise ApiError(
            400, f"Invalid 'stop': at most {MAX_STOP_SEQUENCES} sequences.", param="stop"
        )
    weights = _weights_for(state, body.model)
    max_tokens = body.max_completion_tokens or body.max_tokens or DEFAULT_MAX_TOKENS
    temperature = 1.0 if body.temperature is None else body.temperature
    messages = [message.model_dump(exclude_none=True) for message in body.messages]
    # numpy's generator takes only non-negative seeds; OpenAI's seed is any int64.
    seed = None if body.seed is None else body.seed % 2**64
    generation = trainer.generate(weights, messages, max_tokens, temperature, seed, stop)
    return {
        "id": ids.completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": generation.text,
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": generation.finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": generation.prompt_tokens,
            "completion_tokens": generation.completion_tokens,
            "total_tokens": generation.prompt_tokens + generation.completion_tokens,
        },
        "system_fingerprint": f"fp_ftctl_{__version__}",
        "service_tier": None,
    }


def _weights_for(state: ServerState, model: str) -> trainer.Weights:
    """Weights of a base model, a (not deleted) fine-tuned model or one of its checkpoints."""
    if model in trainer.BASE_MODELS:
        return state.weights.get(model, lambda: trainer.base_weights(model, 0))
    record = state.store.get_model(model)
    path = record.weights_path if record is not None else None
    if path is None:
        checkpoint = state.store.checkpoint_by_model(model)
        path = checkpoint.weights_path if checkpoint is not None else None
    if path is None:
        raise _model_not_found(model)
    weights_path = Path(path)
    return state.weights.get(model, lambda: trainer.Weights.load(weights_path))
