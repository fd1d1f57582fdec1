"""Plain values for pure plan tests: desired projects, state records, remote jobs.

No I/O: everything here is a value the planner takes as input.
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

from ftctl.config.models import FineTuneProject
from ftctl.plan.builder import PlanContext, build_plan
from ftctl.plan.changes import Plan, PlanOptions
from ftctl.plan.desired import DesiredProject, DesiredSplit
from ftctl.plan.fingerprint import fingerprint
from ftctl.providers.base import META_FINGERPRINT, META_PROJECT, RemoteJob
from ftctl.refresh.world import ObservedWorld
from ftctl.state.model import AliasRecord, DatasetRecord, StateSnapshot, VersionRecord

TODAY = date(2026, 11, 26)
NOW = "2026-11-26T01:00:00Z"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def project(
    name: str = "support-bot",
    *,
    base_model: str = "local-tiny",
    provider: str = "local",
    openai: bool = False,
    n_epochs: int | str = 3,
    train: str = "train-v1",
    validation: str | None = "valid-v1",
    owner: str = "ml@example.com",
    promote: dict[str, Any] | None = None,
    gates: dict[str, Any] | None = None,
    lifecycle: dict[str, Any] | None = None,
    cost: float | None = 0.0,
) -> DesiredProject:
    spec: dict[str, Any] = {
        "provider": provider,
        "baseModel": base_model,
        "suffix": "support",
        "data": {"train": {"sources": [{"path": "data/train.jsonl"}]}},
        "training": {"hyperparameters": {"nEpochs": n_epochs}, "seed": 7},
        "promote": promote if promote is not None else {"alias": "prod", "when": "gates_pass"},
        "gates": gates
        if gates is not None
        else {"metrics": [{"metric": "full_valid_loss", "max": 1.2}]},
        "lifecycle": lifecycle or {"keepVersions": 3},
    }
    model = FineTuneProject.model_validate(
        {
            "apiVersion": "ftctl/v1",
            "kind": "FineTuneProject",
            "metadata": {"name": name, "owner": owner},
            "spec": spec,
        }
    )
    splits = {"train": DesiredSplit(sha(train), 120, 41_000)}
    if validation is not None:
        splits["validation"] = DesiredSplit(sha(validation), 12, 4_100)
    return DesiredProject(
        name=name,
        provider=provider,
        spec=model.spec,
        splits=splits,
        provider_is_openai=openai,
        cost_usd=cost,
        billed_tokens=123_000,
        epochs=n_epochs if isinstance(n_epochs, int) else 3,
        owner=owner,
    )


def version_of(
    desired: DesiredProject,
    number: int,
    *,
    status: str = "succeeded",
    job_id: str | None = None,
    model_id: str | None = None,
    gates: dict[str, Any] | None = None,
) -> VersionRecord:
    inputs = desired.fingerprint_inputs()
    job = job_id or f"ftjob-{desired.name}-{number}"
    model = (
        model_id
        if model_id is not None
        else (
            f"ft:local-tiny:{desired.name}:{number}" if status in ("succeeded", "retired") else None
        )
    )
    return VersionRecord(
        project=desired.name,
        number=number,
        fingerprint=fingerprint(inputs),
        fingerprint_inputs=inputs,
        provider=desired.provider,
        base_model=desired.base_model,
        method="supervised",
        hyperparameters=desired.hyperparameters,
        seed=7,
        train_sha256=desired.splits["train"].sha256,
        validation_sha256=desired.splits["validation"].sha256
        if "validation" in desired.splits
        else None,
        train_file_id="file-train",
        validation_file_id=None,
        job_id=job,
        model_id=model,
        status=status,  # type: ignore[arg-type]
        gates=gates if gates is not None else ({"passed": True} if status == "succeeded" else None),
        created_at=NOW,
    )


def datasets_of(desired: DesiredProject) -> tuple[DatasetRecord, ...]:
    return tuple(
        DatasetRecord(
            project=desired.name,
            split=split,
            sha256=s.sha256,
            provider=desired.provider,
            file_id=f"file-{split}",
            examples=s.examples,
            tokens=s.tokens,
            uploaded_at=NOW,
        )
        for split, s in desired.splits.items()
    )


def alias(project: str, version: int, name: str = "prod") -> AliasRecord:
    return AliasRecord(project, name, version, f"ft:local-tiny:{project}:{version}", NOW)


def state(
    versions: tuple[VersionRecord, ...] = (),
    aliases: tuple[AliasRecord, ...] = (),
    datasets: tuple[DatasetRecord, ...] = (),
    serial: int = 4,
) -> StateSnapshot:
    return StateSnapshot(
        lineage="11111111-2222-3333-4444-555555555555",
        serial=serial,
        workspace_id="ws-acme",
        datasets=datasets,
        versions=versions,
        aliases=aliases,
    )


def remote_job(version: VersionRecord, status: str, *, job_id: str | None = None) -> RemoteJob:
    done = status in ("succeeded", "failed", "cancelled")
    return RemoteJob(
        id=job_id or version.job_id or "ftjob-x",
        status=status,
        model=version.base_model,
        fine_tuned_model=f"ft:local-tiny:{version.project}:{version.number}"
        if status == "succeeded"
        else None,
        training_file="file-train",
        validation_file=None,
        metadata={META_PROJECT: version.project, META_FINGERPRINT: version.fingerprint},
        created_at=1_764_000_000 + version.number,
        finished_at=1_764_000_100 if done else None,
        trained_tokens=None,
        error=None,
        hyperparameters={},
        method="supervised",
        seed=7,
    )


def world(
    *jobs: RemoteJob, models: dict[str, list[str]] | None = None, complete: bool = True
) -> ObservedWorld:
    return ObservedWorld.of(jobs, models, ["local"] if complete else [])


def plan(
    desired: list[DesiredProject],
    snapshot: StateSnapshot,
    observed: ObservedWorld | None = None,
    options: PlanOptions | None = None,
    *,
    today: date = TODAY,
) -> Plan:
    return build_plan(
        desired,
        snapshot,
        observed or ObservedWorld(),
        options or PlanOptions(),
        PlanContext(plan_id="plan-0001", created_at=NOW, today=today, ftctl_version="0.1.0"),
    )
