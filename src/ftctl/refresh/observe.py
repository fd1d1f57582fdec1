"""Observe the providers (read-only) and say what changed outside ftctl.

Requests are bounded by pages, not by objects: per provider one paginated
`list_jobs(metadata={ftctl_workspace: id})` (one request per 100 jobs) and at most one
`list_models`. Only a job the state names that the listing lacks (one adopted with
`ftctl import`, so without ftctl's metadata) and that is still in flight is retrieved
on its own, one request each.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from ftctl.errors import ProviderAPIError
from ftctl.plan.world import ObservedWorld
from ftctl.providers.base import (
    META_FINGERPRINT,
    META_PROJECT,
    META_WORKSPACE,
    Provider,
    RemoteJob,
)
from ftctl.state.model import StateSnapshot, VersionRecord

DriftKind = Literal[
    "job_cancelled",  # a running job was cancelled outside ftctl
    "job_failed",  # a running job failed since the last apply
    "job_succeeded",  # a running job finished since the last apply (has a model id)
    "job_missing",  # a job the state names no longer exists on the provider
    "model_deleted",  # a trained model was deleted outside ftctl
    "alias_target_missing",  # an alias points at a version or model that is gone
]
ACTIVE_JOB_STATUSES = frozenset({"validating_files", "queued", "running", "paused"})


@dataclass(frozen=True)
class Drift:
    """One difference between the state and the providers, for humans and for JSON."""

    address: str  # version.<project>.<n> or alias.<project>.<name>
    kind: DriftKind
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"address": self.address, "kind": self.kind, "message": self.message}


@dataclass(frozen=True)
class Observation:
    """What refresh saw.

    `jobs`: every ftctl job of this workspace on the observed providers, plus the jobs
    the state names that were retrieved individually, by id. `models`: model ids per
    observed provider (absent: not listed, so nothing is inferred). `observed_providers`:
    providers whose jobs were listed completely. `version_jobs`: the job of each version
    address whose job was seen. `untracked`: jobs stamped with this workspace whose id
    the state does not know (an apply that crashed right after creating them); the
    planner adopts them by fingerprint instead of paying for a second job.
    """

    jobs: Mapping[str, RemoteJob] = field(default_factory=dict)
    models: Mapping[str, frozenset[str]] = field(default_factory=dict)
    observed_providers: frozenset[str] = frozenset()
    version_jobs: Mapping[str, RemoteJob] = field(default_factory=dict)
    untracked: tuple[RemoteJob, ...] = ()
    drift: tuple[Drift, ...] = ()
    request_count: int = 0

    def world(self) -> ObservedWorld:
        """The planner's view of this observation."""
        return ObservedWorld(
            jobs=dict(self.jobs),
            models=dict(self.models),
            observed_providers=self.observed_providers,
        )

    def untracked_for(self, project: str, fingerprint: str) -> list[RemoteJob]:
        """Untracked jobs of `project` with this training fingerprint, oldest first."""
        found = [
            j
            for j in self.untracked
            if j.metadata.get(META_PROJECT) == project
            and j.metadata.get(META_FINGERPRINT) == fingerprint
        ]
        return sorted(found, key=lambda j: (j.created_at, j.id))


def refresh(
    snapshot: StateSnapshot, providers: Mapping[str, Provider], workspace_id: str
) -> Observation:
    """Observe `providers` (read-only) and compare with `snapshot`.

    Versions on providers not in `providers` are left unobserved: no drift is invented
    for them.
    """
    before = {name: p.request_count for name, p in providers.items()}
    jobs: dict[str, RemoteJob] = {}
    models: dict[str, frozenset[str]] = {}
    for name in sorted(providers):
        provider = providers[name]
        listed = provider.list_jobs(metadata={META_WORKSPACE: workspace_id})
        jobs.update((j.id, j) for j in listed)
        mine = [v for v in snapshot.versions if v.provider == name]
        for version in mine:
            if version.job_id and version.job_id not in jobs and version.active:
                found = _retrieve(provider, version.job_id)
                if found is not None:
                    jobs[found.id] = found
        if any(v.model_id for v in mine) or any(a.model_id for a in snapshot.aliases):
            models[name] = frozenset(m.id for m in provider.list_models())
    observed = frozenset(providers)
    known_jobs = {v.job_id for v in snapshot.versions if v.job_id}
    version_jobs = {
        v.address: jobs[v.job_id] for v in snapshot.versions if v.job_id and v.job_id in jobs
    }
    untracked = tuple(
        sorted(
            (j for j in jobs.values() if j.id not in known_jobs),
            key=lambda j: (j.created_at, j.id),
        )
    )
    drift = _drift(snapshot, jobs, models, observed)
    spent = sum(p.request_count - before[name] for name, p in providers.items())
    return Observation(
        jobs=jobs,
        models=models,
        observed_providers=observed,
        version_jobs=version_jobs,
        untracked=untracked,
        drift=tuple(drift),
        request_count=spent,
    )


def _retrieve(provider: Provider, job_id: str) -> RemoteJob | None:
    try:
        return provider.retrieve_job(job_id)
    except ProviderAPIError as error:
        if error.status == 404:
            return None
        raise


def _drift(
    snapshot: StateSnapshot,
    jobs: Mapping[str, RemoteJob],
    models: Mapping[str, frozenset[str]],
    observed: frozenset[str],
) -> list[Drift]:
    out: list[Drift] = []
    gone: set[str] = set()  # addresses of versions whose model is gone
    for v in snapshot.versions:
        if v.provider not in observed:
            continue
        item = _version_drift(v, jobs, models)
        if item is not None:
            out.append(item)
            if item.kind in ("model_deleted", "job_missing"):
                gone.add(v.address)
    for alias in snapshot.aliases:
        target = snapshot.version(alias.project, alias.version)
        address = f"version.{alias.project}.{alias.version}"
        reason: str | None = None
        if target is None:
            reason = f"its target {address} is not in the state"
        elif address in gone:
            reason = f"its target {address} no longer exists on provider {target.provider!r}"
        elif target.provider in models and alias.model_id not in models[target.provider]:
            reason = f"its model {alias.model_id} no longer exists on provider {target.provider!r}"
        if reason is not None:
            out.append(
                Drift(alias.address, "alias_target_missing", f"alias {alias.name}: {reason}")
            )
    return out


def _version_drift(
    v: VersionRecord, jobs: Mapping[str, RemoteJob], models: Mapping[str, frozenset[str]]
) -> Drift | None:
    job = jobs.get(v.job_id) if v.job_id else None
    if v.active and v.job_id:
        if job is None:
            return Drift(
                v.address, "job_missing", f"job {v.job_id} no longer exists on {v.provider!r}"
            )
        if job.status == "cancelled":
            return Drift(v.address, "job_cancelled", f"job {job.id} was cancelled outside ftctl")
        if job.status == "failed":
            why = f": {job.error}" if job.error else ""
            return Drift(v.address, "job_failed", f"job {job.id} failed{why}")
        if job.status == "succeeded":
            return Drift(
                v.address,
                "job_succeeded",
                f"job {job.id} finished since the last apply: model {job.fine_tuned_model}",
            )
        return None
    deleted = v.provider in models and v.model_id not in models[v.provider]
    if v.status == "succeeded" and v.model_id and deleted:
        return Drift(v.address, "model_deleted", f"model {v.model_id} was deleted outside ftctl")
    return None
