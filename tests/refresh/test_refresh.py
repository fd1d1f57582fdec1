"""Refresh against the real local server: drift from out-of-band changes (as the planner
decides it), adoption candidates, bounded requests, and recording the drift through a
refresh-only plan applied to a real SQLite state."""

from __future__ import annotations

import contextlib
import dataclasses
import time
import uuid
from datetime import date
from pathlib import Path

from ftctl.apply.executor import ApplyOptions, apply_plan
from ftctl.errors import ProviderAPIError
from ftctl.plan.builder import PlanContext, build_plan
from ftctl.plan.changes import PlanOptions
from ftctl.plan.drift import drift
from ftctl.providers.base import (
    META_FINGERPRINT,
    META_PROJECT,
    META_WORKSPACE,
    JobRequest,
    Provider,
    RemoteJob,
)
from ftctl.refresh import refresh
from ftctl.state.model import AliasRecord, StateSnapshot, VersionRecord
from ftctl.state.sqlite import SqliteStateStore


def start(provider: Provider, file_id: str, workspace: str, fp: str, epochs: int = 1) -> RemoteJob:
    return provider.create_job(
        JobRequest(
            model="local-tiny",
            training_file=file_id,
            validation_file=None,
            method="supervised",
            hyperparameters={"n_epochs": epochs},
            suffix="bot",
            seed=1,
            metadata={META_WORKSPACE: workspace, META_PROJECT: "bot", META_FINGERPRINT: fp},
        )
    )


def wait(provider: Provider, job: RemoteJob) -> RemoteJob:
    deadline = time.monotonic() + 60
    while not job.terminal and time.monotonic() < deadline:
        time.sleep(0.1)
        job = provider.retrieve_job(job.id)
    return job


def version(number: int, job: RemoteJob, **changes: object) -> VersionRecord:
    fields: dict[str, object] = {
        "project": "bot",
        "number": number,
        "fingerprint": job.metadata[META_FINGERPRINT],
        "fingerprint_inputs": {},
        "provider": "local",
        "base_model": "local-tiny",
        "method": "supervised",
        "hyperparameters": {"n_epochs": 1},
        "seed": 1,
        "train_sha256": "a" * 64,
        "validation_sha256": None,
        "train_file_id": job.training_file,
        "validation_file_id": None,
        "job_id": job.id,
        "model_id": job.fine_tuned_model,
        "status": "succeeded" if job.fine_tuned_model else "running",
        "created_at": "2026-11-26T00:00:00Z",
    }
    fields.update(changes)
    return VersionRecord(**fields)  # type: ignore[arg-type]


def test_out_of_band_changes_show_as_drift_and_are_recorded(
    provider: Provider, train_file_id: str, tmp_path: Path
) -> None:
    store = SqliteStateStore(tmp_path / "state.db", workspace_name="refresh")
    snapshot = store.read()
    ws = snapshot.workspace_id

    # v1: trained and promoted; its model is then deleted outside ftctl.
    v1_job = wait(provider, start(provider, train_file_id, ws, "fp1"))
    # v2: recorded as running; someone cancels it in the provider's dashboard.
    v2_job = start(provider, train_file_id, ws, "fp2", epochs=50)
    # v3: recorded as running; it finished since the last apply.
    v3_job = start(provider, train_file_id, ws, "fp3")
    provider.cancel_job(v2_job.id)
    v3_job = wait(provider, v3_job)
    provider.delete_model(str(v1_job.fine_tuned_model))
    # A job an apply created right before crashing: on the provider, not in the state.
    crashed = start(provider, train_file_id, ws, "fp4")
    # Another workspace's job must not be seen at all.
    foreign = start(provider, train_file_id, f"other-{uuid.uuid4().hex[:6]}", "fp4")

    snapshot = (
        snapshot.with_version(version(1, v1_job))
        .with_version(version(2, v2_job, status="running", model_id=None))
        .with_version(version(3, v3_job, status="running", model_id=None))
        .with_alias(
            AliasRecord("bot", "prod", 1, str(v1_job.fine_tuned_model), "2026-11-26T00:00:00Z")
        )
    )
    snapshot = store.write(snapshot)

    before = provider.request_count
    observation = refresh(snapshot, {"local": provider}, ws)
    assert provider.request_count - before == 2  # one page of jobs, one list of models
    assert observation.request_count == 2

    found = {d.address: d.message for d in drift(snapshot, observation.world())}
    assert found == {
        "version.bot.1": "model was deleted outside ftctl",
        "version.bot.2": "job was cancelled outside ftctl",
        "alias.bot.prod": "alias target (version 1) no longer exists",
    }  # v3 finished on its own: not drift, the next apply waits for it and runs its gates

    assert foreign.id not in observation.jobs
    assert observation.world().jobs_for("bot", "fp4")[0].id == crashed.id

    # Recorded the way `plan --refresh-only` + `apply` do it.
    context = PlanContext(plan_id="p1", created_at="2026-11-26T00:00:00Z", today=date(2026, 11, 26))
    plan = build_plan([], snapshot, observation.world(), PlanOptions(refresh_only=True), context)
    result = apply_plan(plan, store, {"local": provider}.__getitem__, {}, ApplyOptions(who="t"))
    assert result.ok
    again = store.read()
    assert again.serial > snapshot.serial
    v1, v2, v3 = (again.version("bot", n) for n in (1, 2, 3))
    assert v1 is not None and (v1.status, v1.model_id) == ("retired", None)
    assert v2 is not None and v2.status == "cancelled"
    assert v3 is not None and v3.status == "running"  # left to apply: it waits and gates
    assert again.alias("bot", "prod") is None
    for job in (crashed, foreign):  # they would train in the background for nothing
        with contextlib.suppress(ProviderAPIError):  # unless they finished already
            provider.cancel_job(job.id)


def test_a_quiet_world_has_no_drift_and_unobserved_providers_are_left_alone(
    provider: Provider, train_file_id: str
) -> None:
    ws = f"quiet-{uuid.uuid4().hex[:8]}"
    job = wait(provider, start(provider, train_file_id, ws, "fp1"))
    elsewhere = dataclasses.replace(version(2, job), provider="openai", model_id="ft:gone")
    snapshot = (
        StateSnapshot.empty(ws)
        .with_version(version(1, job))
        .with_version(elsewhere)
        .with_alias(AliasRecord("bot", "prod", 1, str(job.fine_tuned_model), "t"))
    )
    observation = refresh(snapshot, {"local": provider}, ws)
    assert drift(snapshot, observation.world()) == []
    assert observation.jobs[job.id].fine_tuned_model == job.fine_tuned_model
    assert "openai" not in observation.models  # not observed: "ft:gone" is not drift


def test_an_imported_job_without_ftctl_metadata_is_retrieved_while_in_flight(
    provider: Provider, train_file_id: str
) -> None:
    ws = f"import-{uuid.uuid4().hex[:8]}"
    job = wait(provider, start(provider, train_file_id, "not-this-workspace", "fp1"))
    snapshot = StateSnapshot.empty(ws).with_version(
        version(1, job, status="running", model_id=None)
    )
    before = provider.request_count
    observation = refresh(snapshot, {"local": provider}, ws)
    assert provider.request_count - before == 2  # the (empty) listing plus one retrieve
    assert observation.jobs[job.id].status == "succeeded"
    # Finished since the last apply: not drift; the plan waits for it (records, gates).
    assert drift(snapshot, observation.world()) == []
