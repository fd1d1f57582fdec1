"""The provider seam: what one `type:` of provider in ftctl.yaml is and can do.

A provider type is registered under the entry-point group `ftctl.providers` (the built-in
`openai` and `local` types too, in ftctl's own pyproject.toml), so adding a type is one
module that defines a `ProviderType` plus one entry point. Code outside `providers/`
asks the registry (`ftctl.providers.registry`) for a provider or its capabilities; it
never looks at a provider's config class.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    from ftctl.config.loader import LoadedWorkspace
    from ftctl.providers.base import Provider

Method = Literal["supervised", "dpo", "reinforcement"]


@dataclass(frozen=True)
class Capabilities:
    """What a configured provider can do, declared by its type."""

    # The fine-tuning methods its API accepts (a base model may allow fewer: see the catalog).
    training_methods: frozenset[Method]
    # A fine-tuned model serves only through a deployment (Azure OpenAI): promotion deploys.
    serving_needs_deployment: bool = False
    # `list_jobs(metadata=...)` filters on the server (else ftctl filters the full list).
    metadata_filtering: bool = True
    # Whose prices (and model list) in ftctl's catalog apply: "openai" (the default
    # catalog), "azure" (Azure's own prices for the same names), or "unknown": the
    # provider's price is not ftctl's to guess (known OpenAI names still get OpenAI's).
    pricing: Literal["openai", "azure", "unknown"] = "openai"
    # Base models may have names ftctl's catalog does not know (the endpoint's own models).
    own_models: bool = False
    # OpenAI's own API: its dates apply (no new fine-tuning jobs after the cut-off).
    openai_itself: bool = False
    # Started on demand by ftctl: after a restart it listens elsewhere, so a wait gives up
    # on an outage at once instead of polling a port nobody answers.
    started_on_demand: bool = False


class ProviderType(ABC):
    """One `type:` of provider. Subclasses name their type and config model."""

    # The `type:` value in ftctl.yaml.
    name: ClassVar[str]
    # The pydantic model of its `providers.<name>` block (in `ftctl.config.models`).
    config_model: ClassVar[type[Any]]

    @abstractmethod
    def capabilities(self, config: Any) -> Capabilities:
        """What the provider configured by `config` can do (may depend on the config)."""

    @abstractmethod
    def open(self, workspace: LoadedWorkspace, name: str, config: Any) -> Provider:
        """The provider called `name`, ready to use. Raise CredentialsError (naming the
        variable) when its API key is missing, before any request."""

    def local_data_dir(self, workspace: LoadedWorkspace, config: Any) -> Path | None:
        """Where a server ftctl runs itself keeps its data (files, jobs, weights), for
        commands that read it directly (`ftctl export`); None for remote providers."""
        return None

    def check_job_lookup(
        self, workspace: LoadedWorkspace, name: str, config: Any, job_id: str
    ) -> None:
        """Raise ProviderError when `job_id` cannot exist without asking the provider
        (before it is opened; e.g. a local server that never ran). Default: nothing."""
        return None
