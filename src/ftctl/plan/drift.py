"""Drift: what changed outside ftctl, the one place it is decided.

A pure function of the state and the observed world (what refresh saw). The planner
plans a `record-drift` change for each item, so `plan --refresh-only` and `apply` of
that plan are how an observation is recorded; `ftctl plan` shows the same items.

A job that finished on its own since the last apply (succeeded or failed) is not drift:
the planner plans a `wait` for it, which records the result with its metrics and runs
the gates (recording it as drift would skip them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ftctl.plan.changes import DriftChange, DriftItem, ResourceChange
from ftctl.plan.reasons import Reason, ReasonCode
from ftctl.providers.base import RemoteJob
from ftctl.refresh.world import ObservedWorld
from ftctl.state.model import DeploymentRecord, StateSnapshot, VersionRecord, VersionStatus

ACTIVE_JOB = frozenset({"validating_files", "queued", "running", "paused"})


@dataclass(frozen=True)
class ObservedVersion:
    """A recorded version as the provider shows it now."""

    version: VersionRecord
    status: str  # running | finished | succeeded | failed | cancelled | retired | missing
    job: RemoteJob | None
    drift: Reason | None  # what changed outside ftctl, if anything


def observe_version(version: VersionRecord, world: ObservedWorld) -> ObservedVersion:
    job = world.jobs.get(version.job_id) if version.job_id else None
    if version.active:
        if job is None:
            if version.job_id and version.provider in world.observed_providers:
                return ObservedVersion(version, "missing", None, Reason.of(ReasonCode.JOB_MISSING))
            return ObservedVersion(version, "running", None, None)
        if job.status in ACTIVE_JOB:
            return ObservedVersion(version, "running", job, None)
        if job.status == "cancelled":
            why = Reason.of(ReasonCode.JOB_CANCELLED_OUTSIDE)
            return ObservedVersion(version, "cancelled", job, why)
        # succeeded or failed since the last apply: a wait records the result.
        return ObservedVersion(version, "finished", job, None)
    if version.status == "succeeded" and version.model_id:
        exists = world.model_exists(version.provider, version.model_id)
        if exists is False:
            why = Reason.of(ReasonCode.MODEL_DELETED_OUTSIDE)
            return ObservedVersion(version, "retired", job, why)
    return ObservedVersion(version, version.status, job, None)


def observe_project(
    project: str, snapshot: StateSnapshot, world: ObservedWorld
) -> list[ObservedVersion]:
    return [observe_version(v, world) for v in snapshot.versions_of(project)]


def project_drift(
    project: str,
    observed: Sequence[ObservedVersion],
    snapshot: StateSnapshot,
    world: ObservedWorld,
) -> tuple[list[DriftItem], list[ResourceChange]]:
    """The drift of one project and the `record-drift` changes that record it."""
    items: list[DriftItem] = []
    changes: list[ResourceChange] = []
    gone: set[int] = set()
    for o in observed:
        if o.drift is None:
            continue
        v = o.version
        if o.status in ("retired", "missing"):
            gone.add(v.number)
        before: dict[str, Any] = {"status": v.status, "job_id": v.job_id, "model_id": v.model_id}
        status: VersionStatus = "cancelled"
        if o.status == "missing":
            status = "failed"
        elif o.status == "retired":
            status = "retired"
        change = DriftChange(
            address=v.address,
            project=project,
            before=before,
            reason=o.drift,
            status=status,
            job_id=v.job_id,
            model_id=None if o.status in ("retired", "missing") else v.model_id,
        )
        items.append(DriftItem(v.address, project, o.drift, before, change.after))
        changes.append(change)
    for alias in snapshot.aliases_of(project):
        target = snapshot.version(project, alias.version)
        if target is None:
            why = Reason.of(ReasonCode.ALIAS_TARGET_NOT_IN_STATE, version=alias.version)
        elif alias.version in gone:
            why = Reason.of(ReasonCode.ALIAS_TARGET_GONE, version=alias.version)
        elif world.model_exists(target.provider, alias.model_id) is False:
            why = Reason.of(ReasonCode.ALIAS_MODEL_GONE, model_id=alias.model_id)
        else:
            continue
        before = {"version": alias.version, "model_id": alias.model_id}
        items.append(DriftItem(alias.address, project, why, before, None))
        changes.append(
            DriftChange(
                address=alias.address, project=project, before=before, reason=why, status=None
            )
        )
    for deployment in deployments_gone(project, snapshot, world):
        why = Reason.of(ReasonCode.DEPLOYMENT_DELETED_OUTSIDE, name=deployment.name)
        before = {
            "name": deployment.name,
            "version": deployment.version,
            "model_id": deployment.model_id,
            "sku": deployment.sku,
        }
        items.append(DriftItem(deployment.address, project, why, before, None))
        changes.append(
            DriftChange(
                address=deployment.address, project=project, before=before, reason=why, status=None
            )
        )
    return items, changes


def deployments_gone(
    project: str, snapshot: StateSnapshot, world: ObservedWorld
) -> list[DeploymentRecord]:
    """The project's recorded deployments that refresh saw missing on their provider."""
    return [
        d
        for d in snapshot.deployments_of(project)
        if world.deployment_exists(d.provider, d.name) is False
    ]


def drift(snapshot: StateSnapshot, world: ObservedWorld) -> list[DriftItem]:
    """Every project's drift (what `plan --refresh-only` reports)."""
    out: list[DriftItem] = []
    for project in sorted(snapshot.projects()):
        observed = observe_project(project, snapshot, world)
        out += project_drift(project, observed, snapshot, world)[0]
    return out
