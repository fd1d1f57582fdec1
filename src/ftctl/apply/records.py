"""The one way a version record is made from a provider's job.

`apply` records a job it started or found (`create`, `adopt`: recorded as running; the
`wait` that follows records the result), and `ftctl import` records a job as the
provider shows it now (status, model, final metrics).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ftctl.plan.changes import VersionSpec
from ftctl.providers.base import RemoteCheckpoint, RemoteJob
from ftctl.state.model import VersionRecord, VersionStatus, iso_from_unix, utc_now


def version_record(
    project: str,
    spec: VersionSpec,
    job: RemoteJob,
    *,
    plan_id: str | None,
    git_commit: str | None,
    imported: bool = False,
    checkpoints: Sequence[RemoteCheckpoint] = (),
    build: dict[str, Any] | None = None,
) -> VersionRecord:
    """The record of `job` as version `spec.number` of `project`."""
    status: VersionStatus = job_status(job) if imported else "running"
    return VersionRecord(
        project=project,
        number=spec.number,
        fingerprint=spec.fingerprint,
        fingerprint_inputs=dict(spec.fingerprint_inputs),
        provider=spec.provider,
        base_model=spec.base_model,
        method=spec.method,
        hyperparameters=dict(spec.hyperparameters),
        seed=spec.seed,
        train_sha256=spec.train_sha256,
        validation_sha256=spec.validation_sha256,
        train_file_id=job.training_file,
        validation_file_id=job.validation_file,
        job_id=job.id,
        model_id=job.fine_tuned_model if imported else None,
        status=status,
        metrics=final_metrics(checkpoints),
        trained_tokens=job.trained_tokens if imported else None,
        git_commit=git_commit,
        plan_id=plan_id,
        created_at=iso_from_unix(job.created_at) if job.created_at else utc_now(),
        finished_at=iso_from_unix(job.finished_at) if imported and job.finished_at else None,
        imported=imported,
        build=build,
    )


def final_metrics(checkpoints: Sequence[RemoteCheckpoint]) -> dict[str, float]:
    """The metrics of the last checkpoint (the final model's)."""
    if not checkpoints:
        return {}
    last = max(checkpoints, key=lambda c: c.step)
    return {k: float(v) for k, v in sorted(last.metrics.items())}


def job_status(job: RemoteJob) -> VersionStatus:
    """A job's status as a version's: anything not finished is running."""
    if job.status == "succeeded":
        return "succeeded"
    if job.status == "failed":
        return "failed"
    if job.status == "cancelled":
        return "cancelled"
    return "running"
