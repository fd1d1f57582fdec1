"""What the configuration asks for, as plain values the planner can compare.

`DesiredProject` joins a loaded project (config) with its built datasets (hashes, sizes,
cost). The planner sees only these values, so it stays pure and testable without I/O;
`desired_project` is the one adapter from the config and dataset engines.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftctl.catalog.models import ALIASES, lookup_model
from ftctl.config.models import Deployment, ProjectSpec
from ftctl.errors import DataError
from ftctl.plan.fingerprint import fingerprint_inputs
from ftctl.providers.registry import capabilities, pricing, serves_through_deployments

if TYPE_CHECKING:
    from ftctl.config.loader import LoadedProject, LoadedWorkspace


@dataclass(frozen=True)
class ContentDiff:
    """How a built split's examples differ from an earlier build's (`base_sha256`, the
    recorded upload): examples (canonical lines) added and removed."""

    base_sha256: str
    added: int
    removed: int


@dataclass(frozen=True)
class DesiredSplit:
    """One built split: its canonical bytes' hash and size (and where the bytes are).

    `content_diff`: against the recorded upload of this split, when its canonical file
    is still in the dataset cache (computed by the I/O layer, `ftctl.ops.prepare`).
    """

    sha256: str
    examples: int
    tokens: int
    path: Path | None = None
    content_diff: ContentDiff | None = None


@dataclass(frozen=True)
class DesiredDeployment:
    """How the promoted alias is served where models serve only through deployments:
    the deployment's name, tier and capacity, the tier of the gates' temporary
    deployment, and the hourly hosting fees from the catalog (None: unknown)."""

    name: str
    sku: str
    capacity: int
    gate_sku: str
    hourly_usd: float | None
    gate_hourly_usd: float | None


@dataclass(frozen=True)
class DesiredProject:
    name: str
    provider: str  # the provider's name in ftctl.yaml
    spec: ProjectSpec
    splits: Mapping[str, DesiredSplit]  # train, and validation/test when configured
    # True for OpenAI itself (its training cut-off applies), False for the local server
    # and other compatible endpoints.
    provider_is_openai: bool = False
    cost_usd: float | None = 0.0  # None: not billed per token
    billed_tokens: int = 0
    epochs: int | None = None
    owner: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    # Set when the provider serves models only through deployments and a promotion is
    # configured: the alias's deployment (`deployment.<project>.<alias>`).
    deployment: DesiredDeployment | None = None

    @property
    def base_model(self) -> str:
        """The base model id, an undated name resolved to the snapshot it stands for."""
        return ALIASES.get(self.spec.base_model, self.spec.base_model)

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """Explicit values and "auto", snake_case as the fine-tuning API spells them; an
        open-weights model's adapter settings (`training.adapter`) travel with them."""
        training = self.spec.training
        values = training.hyperparameters.model_dump(by_alias=False, exclude_none=True)
        if training.adapter is not None:
            values.update(training.adapter.as_hyperparameters())
        return values

    def fingerprint_inputs(self, replace_nonce: str | None = None) -> dict[str, Any]:
        validation = self.splits.get("validation")
        return fingerprint_inputs(
            provider=self.provider,
            base_model=self.base_model,
            method=self.spec.training.method,
            hyperparameters=self.hyperparameters,
            seed=self.spec.training.seed,
            train_sha256=self.splits["train"].sha256,
            validation_sha256=validation.sha256 if validation else None,
            replace_nonce=replace_nonce,
            grader=self.spec.training.grader,
        )


def provider_is_openai(workspace: LoadedWorkspace, provider_name: str) -> bool:
    """True when `provider_name` is OpenAI itself (not the local server or another endpoint)."""
    caps = capabilities(workspace, provider_name)
    return caps is not None and caps.openai_itself


def desired_deployment(
    workspace: LoadedWorkspace, project: LoadedProject
) -> DesiredDeployment | None:
    """The alias's deployment, for a provider whose models serve only through one."""
    spec = project.model.spec
    if spec.promote is None or not serves_through_deployments(workspace, project.provider_name):
        return None
    wanted = spec.promote.deployment or Deployment()
    try:
        info = lookup_model(spec.base_model, pricing(workspace, project.provider_name))
        hourly: float | None = info.hosting_price_per_hour
    except DataError:
        hourly = None
    return DesiredDeployment(
        name=wanted.name or f"{project.name}-{spec.promote.alias}",
        sku=wanted.sku,
        capacity=wanted.capacity,
        gate_sku=wanted.gate_sku,
        hourly_usd=_hosting(wanted.sku, hourly),
        gate_hourly_usd=_hosting(wanted.gate_sku, hourly),
    )


def _hosting(sku: str, hourly: float | None) -> float | None:
    # A Developer deployment has no hourly hosting fee (Microsoft Learn, "Test a
    # fine-tuned model"); the other tiers are billed the catalog's hourly fee.
    return 0.0 if sku == "Developer" else hourly


def desired_project(
    workspace: LoadedWorkspace, project: LoadedProject, built: Any
) -> DesiredProject:
    """Join a loaded project with its `ftctl.datasets.build.BuiltProject`."""
    splits = {
        name: DesiredSplit(
            sha256=split.sha256,
            examples=int(split.examples),
            tokens=int(split.tokens),
            path=Path(split.path) if split.path is not None else None,
        )
        for name, split in built.splits.items()
    }
    cost = built.cost
    return DesiredProject(
        name=project.name,
        provider=project.provider_name,
        spec=project.model.spec,
        splits=splits,
        provider_is_openai=provider_is_openai(workspace, project.provider_name),
        deployment=desired_deployment(workspace, project),
        cost_usd=None if cost is None else cost.cost_usd,
        billed_tokens=0 if cost is None else int(cost.billed_tokens),
        epochs=None if cost is None else int(cost.epochs),
        owner=project.model.metadata.owner,
        labels=dict(project.model.metadata.labels),
    )
