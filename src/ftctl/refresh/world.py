"""What refresh saw on the providers, as the planner consumes it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ftctl.providers.base import META_FINGERPRINT, META_PROJECT, RemoteDeployment, RemoteJob


@dataclass(frozen=True)
class ObservedWorld:
    """The provider side of a plan.

    `jobs`: ftctl-stamped jobs of this workspace (and any job the state names), by id.
    `models`: ids of the models that exist, per provider name; a provider missing from
    the mapping was not observed (nothing about its models is inferred).
    `observed_providers`: providers whose jobs were listed completely, so that a job the
    state names but the listing lacks is known to be gone.
    """

    jobs: Mapping[str, RemoteJob] = field(default_factory=dict)
    models: Mapping[str, frozenset[str]] = field(default_factory=dict)
    observed_providers: frozenset[str] = frozenset()
    # Deployments per provider name, for providers whose models serve only through one;
    # a provider missing from the mapping was not observed.
    deployments: Mapping[str, tuple[RemoteDeployment, ...]] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        jobs: Iterable[RemoteJob],
        models: Mapping[str, Iterable[str]] | None = None,
        observed_providers: Iterable[str] = (),
        deployments: Mapping[str, Iterable[RemoteDeployment]] | None = None,
    ) -> ObservedWorld:
        return cls(
            jobs={job.id: job for job in jobs},
            models={k: frozenset(v) for k, v in (models or {}).items()},
            observed_providers=frozenset(observed_providers),
            deployments={k: tuple(v) for k, v in (deployments or {}).items()},
        )

    def jobs_for(self, project: str, fingerprint: str) -> list[RemoteJob]:
        """Jobs stamped with this project and fingerprint, oldest first."""
        found = [
            job
            for job in self.jobs.values()
            if job.metadata.get(META_PROJECT) == project
            and job.metadata.get(META_FINGERPRINT) == fingerprint
        ]
        return sorted(found, key=lambda job: (job.created_at, job.id))

    def deployment_exists(self, provider: str, name: str) -> bool | None:
        """True/False when the provider's deployments were observed, None when unknown."""
        listed = self.deployments.get(provider)
        if listed is None:
            return None
        return any(d.name == name for d in listed)

    def model_exists(self, provider: str, model_id: str) -> bool | None:
        """True/False when the provider's models were observed, None when unknown."""
        models = self.models.get(provider)
        if models is None:
            return None
        return model_id in models
