"""API keys come from the environment only: read one, or fail naming the variable."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ftctl.config.checks import missing_api_key
from ftctl.errors import CredentialsError

if TYPE_CHECKING:
    from ftctl.config.loader import LoadedWorkspace


def api_key_from_env(workspace: LoadedWorkspace, variable: str, provider: str) -> str:
    """The value of `variable`; CredentialsError (pointing at ftctl.yaml's line) when unset."""
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
