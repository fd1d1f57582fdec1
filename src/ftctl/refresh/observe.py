"""Observe the providers (read-only): the jobs and models that exist now.

Requests are bounded by pages, not by objects: per provider one paginated
`list_jobs(metadata={ftctl_workspace: id})` (one request per 100 jobs) and at most one
`list_models`. Only a job the state names that the listing lacks (one adopted with
`ftctl import`, so without ftctl's metadata) and that is still in flight is retrieved
on its own, one request each. What differs from the state (drift) is decided from the
observation by `ftctl.plan.drift`, the planner's single source of truth.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ftctl.errors import CredentialsError, ProviderAPIError
from ftctl.providers.base import (
    META_WORKSPACE,
    Provider,
    RemoteDeployment,
    RemoteJob,
    deployments_api,
)
from ftctl.refresh.world import ObservedWorld
from ftctl.state.model import StateSnapshot


@dataclass(frozen=True)
class Observation:
    """What refresh saw.

    `jobs`: every ftctl job of this workspace on the observed providers, plus the jobs
    the state names that were retrieved individually, by id. `models`: model ids per
    observed provider (absent: not listed, so nothing is inferred). `observed_providers`:
    providers whose jobs were listed completely.
    """

    jobs: Mapping[str, RemoteJob] = field(default_factory=dict)
    models: Mapping[str, frozenset[str]] = field(default_factory=dict)
    observed_providers: frozenset[str] = frozenset()
    request_count: int = 0
    deployments: Mapping[str, tuple[RemoteDeployment, ...]] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def world(self) -> ObservedWorld:
        """The planner's view of this observation."""
        return ObservedWorld(
            jobs=dict(self.jobs),
            models=dict(self.models),
            observed_providers=self.observed_providers,
            deployments=dict(self.deployments),
        )


def refresh(
    snapshot: StateSnapshot, providers: Mapping[str, Provider], workspace_id: str
) -> Observation:
    """Observe `providers` (read-only) for the versions `snapshot` records.

    Providers not in `providers` are left unobserved, so no drift is inferred for the
    versions on them.
    """
    before = {name: p.request_count for name, p in providers.items()}
    jobs: dict[str, RemoteJob] = {}
    models: dict[str, frozenset[str]] = {}
    deployments: dict[str, tuple[RemoteDeployment, ...]] = {}
    warnings: list[str] = []
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
        recorded = {v.job_id for v in mine}
        # A finished job the state does not record may be adopted, but only while its
        # model exists (after `ftctl destroy` it does not): the models tell.
        unrecorded = any(j.status == "succeeded" and j.id not in recorded for j in listed)
        if unrecorded or any(v.model_id for v in mine) or any(a.model_id for a in snapshot.aliases):
            models[name] = frozenset(m.id for m in provider.list_models())
        api = deployments_api(provider)
        if api is not None and any(d.provider == name for d in snapshot.deployments):
            try:
                deployments[name] = tuple(api.list_deployments())
            except CredentialsError as error:
                # Planned from the state alone; no drift is inferred for its deployments.
                warnings.append(f"Deployments of provider {name!r} were not refreshed: {error}")
    spent = sum(p.request_count - before[name] for name, p in providers.items())
    return Observation(
        jobs=jobs,
        models=models,
        observed_providers=frozenset(providers),
        request_count=spent,
        deployments=deployments,
        warnings=tuple(warnings),
    )


def _retrieve(provider: Provider, job_id: str) -> RemoteJob | None:
    try:
        return provider.retrieve_job(job_id)
    except ProviderAPIError as error:
        if error.status == 404:
            return None
        raise
