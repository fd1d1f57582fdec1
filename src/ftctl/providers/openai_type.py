"""`type: openai`: OpenAI itself, or any endpoint that speaks its fine-tuning API."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ftctl.config.models import OpenAIProvider as OpenAIConfig
from ftctl.providers.credentials import api_key_from_env
from ftctl.providers.types import Capabilities, ProviderType

if TYPE_CHECKING:
    from ftctl.config.loader import LoadedWorkspace
    from ftctl.providers.base import Provider


class OpenAIType(ProviderType):
    name = "openai"
    config_model = OpenAIConfig

    def capabilities(self, config: OpenAIConfig) -> Capabilities:
        itself = config.is_openai_itself
        return Capabilities(
            training_methods=frozenset({"supervised", "dpo", "reinforcement"}),
            pricing="openai" if itself else "unknown",
            own_models=not itself,  # another endpoint's model names are its own business
            openai_itself=itself,
        )

    def open(self, workspace: LoadedWorkspace, name: str, config: OpenAIConfig) -> Provider:
        from ftctl.providers.openai_api import OpenAIProvider  # the SDK: only when used

        return OpenAIProvider(
            name,
            api_key=api_key_from_env(workspace, config.api_key_env, name),
            base_url=config.base_url,
            organization=config.organization,
            project=config.project,
            max_retries=config.max_retries,
            timeout=config.timeout_seconds,
            max_tokens_field=config.max_tokens_field,
        )


PROVIDER_TYPE = OpenAIType()
