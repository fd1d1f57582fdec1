"""`type: local`: ftctl's own fine-tuning server, started on demand unless `baseUrl` is set.

An on-demand server keeps its data under the workspace (`dataDir`) and is started by
`ftctl.providers.local_launcher`; it speaks the OpenAI fine-tuning API, so the same
client (`ftctl.providers.openai_api`) talks to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ftctl.config.local_server import has_data
from ftctl.config.models import LocalProvider as LocalConfig
from ftctl.errors import ProviderError
from ftctl.providers.credentials import api_key_from_env
from ftctl.providers.types import Capabilities, ProviderType

if TYPE_CHECKING:
    from ftctl.config.loader import LoadedWorkspace
    from ftctl.providers.base import Provider

# The SDK refuses to run without a key; a local server without `apiKeyEnv` accepts any.
LOCAL_PLACEHOLDER_KEY = "ftctl-local"
# The local server answers on loopback; generous retries cover its start-up.
_LOCAL_TIMEOUT_S = 60.0
_LOCAL_MAX_RETRIES = 2


class LocalType(ProviderType):
    name = "local"
    config_model = LocalConfig

    def capabilities(self, config: LocalConfig) -> Capabilities:
        return Capabilities(
            # Its trainers: numpy `local-tiny` (supervised) and Hugging Face `hf:` models
            # (supervised, DPO); the base model's catalog entry says which of them apply.
            training_methods=frozenset({"supervised", "dpo"}),
            started_on_demand=config.base_url is None,
        )

    def open(self, workspace: LoadedWorkspace, name: str, config: LocalConfig) -> Provider:
        from ftctl.providers.openai_api import OpenAIProvider  # the SDK: only when used

        key = (
            api_key_from_env(workspace, config.api_key_env, name)
            if config.api_key_env
            else LOCAL_PLACEHOLDER_KEY
        )
        base_url = config.base_url
        if base_url is None:
            from ftctl.providers.local_launcher import ensure_local_server

            server = ensure_local_server(
                workspace.root / config.data_dir, config.api_key_env, models_root=workspace.root
            )
            base_url = server.base_url
        return OpenAIProvider(
            name,
            api_key=key,
            base_url=base_url,
            max_retries=_LOCAL_MAX_RETRIES,
            timeout=_LOCAL_TIMEOUT_S,
        )

    def local_data_dir(self, workspace: LoadedWorkspace, config: LocalConfig) -> Path | None:
        return None if config.base_url is not None else workspace.root / config.data_dir

    def check_job_lookup(
        self, workspace: LoadedWorkspace, name: str, config: LocalConfig, job_id: str
    ) -> None:
        """An on-demand server that has never run knows no job: say so without starting
        one (a failing command leaves no server process and no data directory)."""
        if config.base_url is not None:
            return
        data_dir = workspace.root / config.data_dir
        if not has_data(data_dir):
            raise ProviderError(
                f"provider {name!r}: no fine-tuning job {job_id}: the local server of "
                f"this workspace has no jobs yet (no data in {data_dir})"
            )


PROVIDER_TYPE = LocalType()
