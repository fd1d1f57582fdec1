"""Adopt an existing fine-tuning job as a version (`ftctl import ADDR JOB_ID`).

The version's fingerprint is computed exactly as the planner computes it
(`DesiredProject.fingerprint_inputs`) when the job demonstrably trained what the
configuration asks for: same base model, method, seed, explicit hyperparameters and the
same data bytes. Otherwise the inputs are taken from the job itself (its data named by
file id), the mismatches are reported, and the next plan trains a new version rather
than pretending the adopted model matches the configuration.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ftctl.errors import ProviderError
from ftctl.plan.desired import DesiredProject
from ftctl.plan.fingerprint import fingerprint, fingerprint_inputs
from ftctl.providers.base import (
    META_COMMIT,
    Provider,
    RemoteCheckpoint,
    RemoteJob,
    SupportsDownload,
)
from ftctl.state.model import (
    DatasetRecord,
    StateSnapshot,
    VersionRecord,
    VersionStatus,
    iso_from_unix,
    utc_now,
)


@dataclass(frozen=True)
class Adoption:
    """What `ftctl import` records: the version, any dataset records, and the reasons
    the job does not match the configuration (empty when it does)."""

    version: VersionRecord
    datasets: tuple[DatasetRecord, ...]
    mismatches: tuple[str, ...]


def data_matches(
    provider: Provider, snapshot: StateSnapshot, desired: DesiredProject, job: RemoteJob
) -> dict[str, bool]:
    """For `train` and `validation`: do the job's files hold the configuration's bytes?

    Known from a dataset record of this state (same file id and hash), else by
    downloading the file when the provider allows it; False when it cannot be shown.
    """
    files = {"train": job.training_file, "validation": job.validation_file}
    out: dict[str, bool] = {}
    for split, file_id in files.items():
        wanted = desired.splits.get(split)
        if wanted is None or file_id is None:
            out[split] = wanted is None and file_id is None
            continue
        record = snapshot.dataset(desired.name, split)
        if record is not None and record.file_id == file_id:
            out[split] = record.sha256 == wanted.sha256
            continue
        out[split] = _downloaded_sha256(provider, file_id) == wanted.sha256
    return out


def _downloaded_sha256(provider: Provider, file_id: str) -> str | None:
    if not isinstance(provider, SupportsDownload):
        return None
    try:
        return hashlib.sha256(provider.download_file(file_id)).hexdigest()
    except ProviderError:
        return None  # e.g. OpenAI refuses to return fine-tune files: not verifiable


def adopt_job(
    *,
    desired: DesiredProject,
    number: int,
    job: RemoteJob,
    data_match: Mapping[str, bool],
    checkpoints: Sequence[RemoteCheckpoint] = (),
    plan_id: str | None = None,
) -> Adoption:
    """The version (and dataset records) that adopting `job` as `number` records."""
    mismatches = _mismatches(desired, job, data_match)
    inputs = _job_inputs(desired, job, data_match) if mismatches else desired.fingerprint_inputs()
    train_sha = str(inputs["data"]["train"])
    validation_sha = inputs["data"]["validation"]
    version = VersionRecord(
        project=desired.name,
        number=number,
        fingerprint=fingerprint(inputs),
        fingerprint_inputs=inputs,
        provider=desired.provider,
        base_model=job.model,
        method=job.method,
        hyperparameters=dict(job.hyperparameters),
        seed=job.seed,
        train_sha256=train_sha,
        validation_sha256=validation_sha,
        train_file_id=job.training_file,
        validation_file_id=job.validation_file,
        job_id=job.id,
        model_id=job.fine_tuned_model,
        status=_status(job),
        metrics=final_metrics(checkpoints),
        trained_tokens=job.trained_tokens,
        git_commit=job.metadata.get(META_COMMIT),
        plan_id=plan_id,
        created_at=iso_from_unix(job.created_at),
        finished_at=iso_from_unix(job.finished_at) if job.finished_at else None,
        imported=True,
    )
    datasets: list[DatasetRecord] = []
    if not mismatches:
        for split, file_id in (("train", job.training_file), ("validation", job.validation_file)):
            built = desired.splits.get(split)
            if built is not None and file_id is not None:
                datasets.append(
                    DatasetRecord(
                        project=desired.name,
                        split=split,
                        sha256=built.sha256,
                        provider=desired.provider,
                        file_id=file_id,
                        examples=built.examples,
                        tokens=built.tokens,
                        uploaded_at=utc_now(),
                    )
                )
    return Adoption(version, tuple(datasets), tuple(mismatches))


def _job_inputs(
    desired: DesiredProject, job: RemoteJob, data_match: Mapping[str, bool]
) -> dict[str, Any]:
    """The fingerprint inputs of a job that differs from the configuration: the
    configuration's inputs with each differing field replaced by the job's value (data
    it cannot be shown to match is named by file id), so that the next plan lists exactly
    those fields as forcing a new version."""
    wanted = desired.fingerprint_inputs()
    seed = desired.spec.training.seed
    hyperparameters = dict(wanted["hyperparameters"])
    for key, value in wanted["hyperparameters"].items():
        if value != "auto" and not _same_number(job.hyperparameters.get(key), value):
            hyperparameters[key] = job.hyperparameters.get(key)
    data = {}
    for split, file_id in (("train", job.training_file), ("validation", job.validation_file)):
        if data_match.get(split, False):
            data[split] = wanted["data"][split]
        else:
            data[split] = f"file:{file_id}" if file_id else None
    return fingerprint_inputs(
        provider=desired.provider,
        base_model=job.model,
        method=job.method,
        hyperparameters=hyperparameters,
        seed=job.seed if seed is not None else None,
        train_sha256=str(data["train"]),
        validation_sha256=data["validation"],
    )


def _same_number(got: object, wanted: object) -> bool:
    return (
        isinstance(got, int | float)
        and isinstance(wanted, int | float)
        and math.isclose(float(got), float(wanted), rel_tol=1e-9)
    )


def final_metrics(checkpoints: Sequence[RemoteCheckpoint]) -> dict[str, float]:
    """The metrics of the last checkpoint (the final model's)."""
    if not checkpoints:
        return {}
    last = max(checkpoints, key=lambda c: c.step)
    return {k: float(v) for k, v in sorted(last.metrics.items())}


def _status(job: RemoteJob) -> VersionStatus:
    if job.status == "succeeded":
        return "succeeded"
    if job.status == "failed":
        return "failed"
    if job.status == "cancelled":
        return "cancelled"
    return "running"


def _mismatches(
    desired: DesiredProject, job: RemoteJob, data_match: Mapping[str, bool]
) -> list[str]:
    out: list[str] = []
    if job.model != desired.base_model:
        out.append(f"base model: job {job.model!r}, configuration {desired.base_model!r}")
    method = desired.spec.training.method
    if job.method != method:
        out.append(f"method: job {job.method!r}, configuration {method!r}")
    seed = desired.spec.training.seed
    if seed is not None and job.seed != seed:
        out.append(f"seed: job {job.seed}, configuration {seed}")
    for key, wanted in sorted(desired.hyperparameters.items()):
        if wanted == "auto":
            continue  # the provider's rule chose the job's value; any value agrees
        got = job.hyperparameters.get(key)
        if not _same_number(got, wanted):
            out.append(f"hyperparameters.{key}: job {got!r}, configuration {wanted!r}")
    for split in ("train", "validation"):
        if not data_match.get(split, False):
            out.append(f"data.{split}: the job's file does not hold the configured data")
    return out
