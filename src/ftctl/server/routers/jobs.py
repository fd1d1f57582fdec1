"""/v1/fine_tuning/jobs: create, list, retrieve, cancel, pause, resume; events, checkpoints."""

from __future__ import annotations

import itertools
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from ftctl.server import ids, schemas
from ftctl.server.errors import not_found
from ftctl.server.schemas import (
    SEED_MAX,
    ApiError,
    JobCreateRequest,
    check_metadata,
    check_suffix,
    requested_method,
)
from ftctl.server.state import ServerState
from ftctl.server.store import ACTIVE_STATUSES, JobRecord, Page, Store, now
from ftctl.server.trainers.base import Trainer

# OpenAI sets no maximum page size; more than 100 are answered as 100 (clamped, not refused).
MAX_PAGE = 100
Limit = Annotated[
    int, Query(ge=1, description=f"Page size; values above {MAX_PAGE} are treated as {MAX_PAGE}.")
]

# Metadata keys are 1 to 64 characters (OpenAI's limit on the metadata a job carries).
MAX_METADATA_KEY = 64

# `metadata[key]=value` filters (deepObject), or `metadata=null` for jobs without metadata:
# declared by hand, as FastAPI has no deepObject parameters.
METADATA_FILTER = {
    "name": "metadata",
    "in": "query",
    "required": False,
    "style": "deepObject",
    "explode": True,
    "description": "Only jobs with all these metadata pairs: metadata[key]=value.",
    "schema": {
        "type": "object",
        "propertyNames": {"minLength": 1, "maxLength": MAX_METADATA_KEY},
        "additionalProperties": {"type": "string"},
    },
}


def router(state: ServerState) -> APIRouter:
    store = state.store
    api = APIRouter(prefix="/v1/fine_tuning/jobs", tags=["fine_tuning"])

    @api.post("", response_model=schemas.FineTuningJobObject, summary="Create a fine-tuning job")
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

    @api.get(
        "",
        response_model=schemas.FineTuningJobList,
        summary="List fine-tuning jobs",
        openapi_extra={"parameters": [METADATA_FILTER]},
    )
    def list_jobs(request: Request, after: str | None = None, limit: Limit = 20) -> dict[str, Any]:
        limit = min(limit, MAX_PAGE)
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

    @api.get(
        "/{fine_tuning_job_id}",
        response_model=schemas.FineTuningJobObject,
        summary="Retrieve a job",
    )
    def retrieve_job(fine_tuning_job_id: str) -> dict[str, Any]:
        return _job_api(state, _job(store, fine_tuning_job_id))

    @api.post(
        "/{fine_tuning_job_id}/cancel",
        response_model=schemas.FineTuningJobObject,
        summary="Cancel a job",
    )
    def cancel_job(fine_tuning_job_id: str) -> dict[str, Any]:
        updated = _change_status(
            store,
            fine_tuning_job_id,
            only_from=[*ACTIVE_STATUSES, "paused"],
            refusal="Job has already completed: {job_id} ({status}).",
            status="cancelled",
            finished_at=now(),
        )
        state.worker.request_stop(fine_tuning_job_id)
        store.add_event(fine_tuning_job_id, "Fine-tuning job cancelled")
        return _job_api(state, updated)

    @api.post(
        "/{fine_tuning_job_id}/pause",
        response_model=schemas.FineTuningJobObject,
        summary="Pause a job",
    )
    def pause_job(fine_tuning_job_id: str) -> dict[str, Any]:
        updated = _change_status(
            store,
            fine_tuning_job_id,
            only_from=["queued", "running"],
            refusal="Job {job_id} cannot be paused while {status}.",
            status="paused",
        )
        state.worker.request_stop(fine_tuning_job_id)
        store.add_event(
            fine_tuning_job_id, "Fine-tuning job paused; it resumes from its last epoch checkpoint"
        )
        return _job_api(state, updated)

    @api.post(
        "/{fine_tuning_job_id}/resume",
        response_model=schemas.FineTuningJobObject,
        summary="Resume a job",
    )
    def resume_job(fine_tuning_job_id: str) -> dict[str, Any]:
        updated = _change_status(
            store,
            fine_tuning_job_id,
            only_from=["paused"],
            refusal="Job {job_id} is not paused (status {status}).",
            status="queued",
        )
        store.add_event(fine_tuning_job_id, "Fine-tuning job resumed")
        state.worker.requeue(fine_tuning_job_id)
        return _job_api(state, updated)

    @api.get(
        "/{fine_tuning_job_id}/events", response_model=schemas.JobEventList, summary="Job events"
    )
    def list_events(
        fine_tuning_job_id: str, after: str | None = None, limit: Limit = 20
    ) -> dict[str, Any]:
        _job(store, fine_tuning_job_id)
        page = store.list_events(fine_tuning_job_id, after=after, limit=min(limit, MAX_PAGE))
        return page.to_api()

    @api.get(
        "/{fine_tuning_job_id}/checkpoints",
        response_model=schemas.CheckpointList,
        summary="Job checkpoints",
    )
    def list_checkpoints(
        fine_tuning_job_id: str, after: str | None = None, limit: Limit = 10
    ) -> dict[str, Any]:
        _job(store, fine_tuning_job_id)
        page = store.list_checkpoints(fine_tuning_job_id, after=after, limit=min(limit, MAX_PAGE))
        return page.to_api()

    return api


def _job(store: Store, job_id: str) -> JobRecord:
    job = store.get_job(job_id)
    if job is None:
        raise not_found("fine-tuning job", job_id, "fine_tuning_job_id")
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


def _metadata_filter(request: Request) -> tuple[dict[str, str], bool]:
    """`metadata[k]=v` query parameters (all must match), or `metadata=null`."""
    wanted: dict[str, str] = {}
    only_null = False
    for key, value in request.query_params.multi_items():
        if key == "metadata" and value == "null":
            only_null = True
        elif key.startswith("metadata[") and key.endswith("]"):
            name = key[len("metadata[") : -1]
            if "[" in name or "]" in name:
                # metadata[a][b]=...: metadata values are strings, never objects.
                raise ApiError(
                    400,
                    f"Invalid '{key}': metadata filters are metadata[key]=value, "
                    "with a string value.",
                    param="metadata",
                )
            if not 1 <= len(name) <= MAX_METADATA_KEY:
                # metadata[]=...: no job carries an empty (or over-long) key; found by fuzzing.
                raise ApiError(
                    400,
                    f"Invalid '{key}': a metadata key is 1 to {MAX_METADATA_KEY} characters.",
                    param="metadata",
                )
            if name in wanted:
                raise ApiError(
                    400,
                    f"Invalid '{key}': given more than once; a metadata filter has one value.",
                    param="metadata",
                )
            wanted[name] = value
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
    base_model, trainer = _trainable_base(state, body.model)
    _check_training_file(store, body.training_file, "training_file")
    if body.validation_file:
        _check_training_file(store, body.validation_file, "validation_file")
    _check_method_supported(trainer, base_model, body.method.type if body.method else "supervised")
    method = requested_method(body)
    if body.seed is not None and not 0 <= body.seed <= SEED_MAX:
        raise ApiError(400, "Invalid 'seed': must be between 0 and 2147483647.", param="seed")
    return JobRecord(
        id=ids.job_id(),
        created_at=now(),
        model=body.model,
        base_model=base_model,
        training_file=body.training_file,
        validation_file=body.validation_file,
        status="validating_files",
        method=method.record(),
        hyperparameters=dict(method.hyperparameters),
        seed=body.seed if body.seed is not None else secrets.randbelow(SEED_MAX),
        suffix=body.suffix,
        metadata=body.metadata,
    )


def _trainable_base(state: ServerState, model: str) -> tuple[str, Trainer]:
    """The base model a job on `model` trains (a fine-tuned model continues its base), and
    the trainer that serves it."""
    base = model
    trainer = state.trainers.for_model(model)
    if trainer is None:
        record = state.store.get_model(model)
        if record is not None and record.base_model:
            base = record.base_model
            trainer = state.trainers.for_model(base)
    if trainer is None:
        missing = "".join(f" Not installed: {reason}." for reason in state.trainers.unavailable)
        raise ApiError(
            400,
            f"Model {model} is not available for fine-tuning or does not exist. "
            f"Available: {', '.join(state.trainers.base_models())} and the server's "
            f"fine-tuned models.{missing}",
            param="model",
            code="model_not_available",
        )
    problem = trainer.base_model_problem(base)
    if problem is not None:
        raise ApiError(400, problem, param="model", code="model_not_available")
    return base, trainer


def _check_method_supported(trainer: Trainer, base_model: str, method: str) -> None:
    if method in trainer.methods:
        return
    supported = ", ".join(sorted(trainer.methods))
    raise ApiError(
        400,
        f"Method '{method}' is not supported for {base_model} by the local server: its "
        f"{trainer.name} trainer supports {supported}. Use one of those, another base "
        f"model, or a provider that supports {method}.",
        param="method.type",
        code="unsupported_method",
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
