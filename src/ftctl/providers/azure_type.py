"""`type: azure`: Azure OpenAI (Microsoft Foundry), whose models serve only through deployments."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ftctl.config.models import AzureProvider as AzureConfig
from ftctl.providers.credentials import api_key_from_env
from ftctl.providers.types import Capabilities, ProviderType

if TYPE_CHECKING:
    from ftctl.config.loader import LoadedWorkspace
    from ftctl.providers.base import Provider


class AzureType(ProviderType):
    name = "azure"
    config_model = AzureConfig

    def capabilities(self, config: AzureConfig) -> Capabilities:
        return Capabilities(
            training_methods=frozenset({"supervised", "dpo", "reinforcement"}),
            serving_needs_deployment=True,
            metadata_filtering=False,  # the job listing has no metadata filter
            pricing="azure",  # Azure bills its own prices for the same model names
        )

    def open(self, workspace: LoadedWorkspace, name: str, config: AzureConfig) -> Provider:
        from ftctl.providers.azure import open_azure  # the SDKs: only when used

        return open_azure(
            name, config, lambda variable: api_key_from_env(workspace, variable, name)
        )


PROVIDER_TYPE = AzureType()
