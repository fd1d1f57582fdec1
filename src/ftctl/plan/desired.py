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

from ftctl.catalog.models import ALIASES
from ftctl.config.models import OpenAIProvider, ProjectSpec
from ftctl.plan.fingerprint import fingerprint_inputs

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

    @property
    def base_model(self) -> str:
        """The base model id, an undated name resolved to the snapshot it stands for."""
        return ALIASES.get(self.spec.base_model, self.spec.base_model)

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """Explicit values and "auto", snake_case as the fine-tuning API spells them."""
        return self.spec.training.hyperparameters.model_dump(by_alias=False, exclude_none=True)

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
    config = workspace.model.providers.get(provider_name)
    return isinstance(config, OpenAIProvider) and config.is_openai_itself


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
        cost_usd=None if cost is None else cost.cost_usd,
        billed_tokens=0 if cost is None else int(cost.billed_tokens),
        epochs=None if cost is None else int(cost.epochs),
        owner=project.model.metadata.owner,
        labels=dict(project.model.metadata.labels),
    )
