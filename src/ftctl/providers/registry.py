"""Open the provider a workspace names, from its `ftctl.yaml` entry.

`type: openai` reads its API key from the environment variable the config names (and
fails before any request when it is unset). `type: local` talks to `base_url` when given,
otherwise to ftctl's own server, started on demand with its data under the workspace.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ftctl.config.checks import missing_api_key
from ftctl.config.models import AzureProvider as AzureProviderConfig
from ftctl.config.models import LocalProvider
from ftctl.config.models import OpenAIProvider as OpenAIProviderConfig
from ftctl.errors import ConfigError, CredentialsError
from ftctl.providers.base import Provider

if TYPE_CHECKING:
    from ftctl.config.loader import LoadedWorkspace

# The SDK refuses to run without a key; a local server without `apiKeyEnv` accepts any.
LOCAL_PLACEHOLDER_KEY = "ftctl-local"
# The local server answers on loopback; generous retries cover its start-up.
_LOCAL_TIMEOUT_S = 60.0
_LOCAL_MAX_RETRIES = 2


def serves_through_deployments(workspace: LoadedWorkspace, name: str) -> bool:
    """Capability: the provider's models serve only through deployments (Azure), so an
    alias is served by a deployment and gates call a candidate through a temporary one."""
    return isinstance(workspace.model.providers.get(name), AzureProviderConfig)


def provider_type(workspace: LoadedWorkspace, name: str) -> str | None:
    """The `type` of the provider called `name` (None: not configured)."""
    config = workspace.model.providers.get(name)
    return config.type if config is not None else None


def open_provider(workspace: LoadedWorkspace, name: str) -> Provider:
    """The provider called `name` in `ftctl.yaml`, ready to use.

    Raises ConfigError for an unknown name and CredentialsError (naming the variable)
    when the API key's environment variable is unset; both before any request is made.
    """
    from ftctl.providers.openai_api import OpenAIProvider

    config = workspace.model.providers.get(name)
    if config is None:
        known = ", ".join(sorted(workspace.model.providers)) or "none"
        raise ConfigError(f"no provider named {name!r} in {workspace.path} (providers: {known})")
    if isinstance(config, OpenAIProviderConfig):
        return OpenAIProvider(
            name,
            api_key=_key_from_env(workspace, config.api_key_env, name),
            base_url=config.base_url,
            organization=config.organization,
            project=config.project,
            max_retries=config.max_retries,
            timeout=config.timeout_seconds,
        )
    if isinstance(config, AzureProviderConfig):
        from ftctl.providers.azure import open_azure

        return open_azure(name, config, lambda variable: _key_from_env(workspace, variable, name))
    return _open_local(workspace, name, config)


def _open_local(workspace: LoadedWorkspace, name: str, config: LocalProvider) -> Provider:
    from ftctl.providers.openai_api import OpenAIProvider

    key = (
        _key_from_env(workspace, config.api_key_env, name)
        if config.api_key_env
        else LOCAL_PLACEHOLDER_KEY
    )
    base_url = config.base_url
    if base_url is None:
        from ftctl.server.launcher import ensure_local_server

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


def _key_from_env(workspace: LoadedWorkspace, variable: str, provider: str) -> str:
    value = os.environ.get(variable, "")
    if not value.strip():
        diagnostics = []
        if workspace.source_map is not None:
            # Points at the line of ftctl.yaml that names the variable.
            diagnostics.append(missing_api_key(workspace.source_map, provider, variable))
        raise CredentialsError(
            f"no API key for provider {provider!r}: environment variable {variable} is not "
            "set (set it, or change `apiKeyEnv` in ftctl.yaml)",
            diagnostics,
        )
    return value.strip()
