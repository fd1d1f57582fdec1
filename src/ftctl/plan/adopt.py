"""The change `ftctl import ADDR JOB_ID` applies: a pure function of the job and the config.

The version's fingerprint is computed exactly as the planner computes it
(`DesiredProject.fingerprint_inputs`) when the job demonstrably trained what the
configuration asks for: same base model, method, seed, explicit hyperparameters and the
same data bytes. Otherwise the inputs are taken from the job itself (its data named by
file id), the mismatches are reported, and the next plan trains a new version rather
than pretending the adopted model matches the configuration.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ftctl.plan.changes import ImportChange, RecordedFile, VersionSpec
from ftctl.plan.desired import DesiredProject
from ftctl.plan.fingerprint import fingerprint, fingerprint_inputs
from ftctl.plan.reasons import Reason, ReasonCode
from ftctl.providers.base import RemoteJob


def import_change(
    *, desired: DesiredProject, number: int, job: RemoteJob, data_match: Mapping[str, bool]
) -> ImportChange:
    """The change that records `job` as version `number` of `desired`.

    `data_match`: for `train` and `validation`, whether the job's file is known to hold
    the configured split's bytes (see `ftctl.ops.adopt.data_matches`)."""
    mismatches = _mismatches(desired, job, data_match)
    inputs = _job_inputs(desired, job, data_match) if mismatches else desired.fingerprint_inputs()
    train = desired.splits.get("train")
    spec = VersionSpec(
        number=number,
        fingerprint=fingerprint(inputs),
        fingerprint_inputs=inputs,
        provider=desired.provider,
        base_model=job.model,
        method=job.method,
        hyperparameters=dict(job.hyperparameters),
        seed=job.seed,
        suffix=None,
        train_sha256=str(inputs["data"]["train"]),
        validation_sha256=inputs["data"]["validation"],
        examples=train.examples if train else 0,
        epochs=None,
        billed_tokens=None,
    )
    files: list[RecordedFile] = []
    if not mismatches:
        for split, file_id in (("train", job.training_file), ("validation", job.validation_file)):
            built = desired.splits.get(split)
            if built is not None and file_id is not None:
                files.append(
                    RecordedFile(split, built.sha256, file_id, built.examples, built.tokens)
                )
    return ImportChange(
        address=f"version.{desired.name}.{number}",
        project=desired.name,
        reason=Reason.of(ReasonCode.IMPORT, job_id=job.id),
        spec=spec,
        job_id=job.id,
        files=tuple(files),
        mismatches=tuple(mismatches),
    )


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
