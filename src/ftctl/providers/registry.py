"""The registry of provider types, and opening the provider a workspace names.

Provider types are found through the entry-point group `ftctl.providers` (ftctl's own
`openai` and `local` are registered there by its pyproject.toml, as a third party would
register its own): each entry point names a `ProviderType` instance. A workspace's
`providers.<name>` block is matched to its type by its `type:` value.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftctl.config.local_server import ServerInfo
from ftctl.errors import ConfigError
from ftctl.events import Event, EventSink, ignore
from ftctl.providers.types import Capabilities, ProviderType

if TYPE_CHECKING:
    from ftctl.config.loader import LoadedWorkspace
    from ftctl.providers.base import Provider

ENTRY_POINT_GROUP = "ftctl.providers"
DEFAULT_DATA_DIR = ".ftctl/server"  # where an on-demand local server keeps its data


@cache
def provider_types() -> dict[str, ProviderType]:
    """Every registered provider type, by its `type:` name."""
    found: dict[str, ProviderType] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        loaded = entry.load()
        kind = loaded() if isinstance(loaded, type) else loaded
        if not isinstance(kind, ProviderType):
            raise ConfigError(
                f"entry point {entry.name} = {entry.value} in group {ENTRY_POINT_GROUP} "
                "is not an ftctl ProviderType"
            )
        found[kind.name] = kind
    return found


def provider_type(type_name: str) -> ProviderType:
    kinds = provider_types()
    kind = kinds.get(type_name)
    if kind is None:
        known = ", ".join(sorted(kinds)) or "none"
        raise ConfigError(
            f"no provider type {type_name!r} is registered (entry points {ENTRY_POINT_GROUP}: "
            f"{known}); is ftctl, or the package that adds it, installed?"
        )
    return kind


def _config(workspace: LoadedWorkspace, name: str) -> Any:
    config = workspace.model.providers.get(name)
    if config is None:
        known = ", ".join(sorted(workspace.model.providers)) or "none"
        raise ConfigError(f"no provider named {name!r} in {workspace.path} (providers: {known})")
    return config


def serves_through_deployments(workspace: LoadedWorkspace, name: str) -> bool:
    """The provider's models serve only through deployments (Azure), so an alias is served
    by a deployment and gates call a candidate through a temporary one."""
    caps = capabilities(workspace, name)
    return caps is not None and caps.serving_needs_deployment


def pricing(workspace: LoadedWorkspace, name: str) -> str | None:
    """Whose catalog prices apply to the provider called `name` (see `Capabilities.pricing`);
    None when the workspace names no such provider."""
    caps = capabilities(workspace, name)
    return caps.pricing if caps is not None else None


def open_provider(workspace: LoadedWorkspace, name: str, events: EventSink = ignore) -> Provider:
    """The provider called `name` in `ftctl.yaml`, ready to use.

    Raises ConfigError for an unknown name and CredentialsError (naming the variable)
    when the API key's environment variable is unset; both before any request is made.
    A server ftctl starts on demand for it is announced once, on `events`.
    """
    config = _config(workspace, name)
    kind = provider_type(config.type)
    data_dir = kind.local_data_dir(workspace, config)
    before = ServerInfo.read(data_dir) if data_dir is not None else None
    provider = kind.open(workspace, name, config)
    after = ServerInfo.read(data_dir) if data_dir is not None else None
    if data_dir is not None and after is not None and (before is None or before.pid != after.pid):
        events(Event("info", _started(name, after, data_dir, workspace.root)))
    return provider


def _started(name: str, server: ServerInfo, data_dir: Path, root: Path) -> str:
    """Where the on-demand server runs and how to stop it (said once: when it starts)."""
    try:
        shown = data_dir.relative_to(root).as_posix()
    except ValueError:
        shown = str(data_dir)
    stop = "ftctl server --stop"
    if shown != DEFAULT_DATA_DIR:
        stop += f" --data-dir {shown}"
    return (
        f"Started the local fine-tuning server for provider {name!r} at {server.url} "
        f"(pid {server.pid}, data in {shown}); it keeps running in the background. "
        f"Stop it with `{stop}`."
    )


def capabilities(workspace: LoadedWorkspace, name: str) -> Capabilities | None:
    """What the provider called `name` can do; None when the workspace names no such provider."""
    config = workspace.model.providers.get(name)
    if config is None:
        return None
    return provider_type(config.type).capabilities(config)


def outage_timeouts(workspace: LoadedWorkspace) -> dict[str, float]:
    """Providers whose waits give up at once on an outage: servers ftctl starts itself come
    back on another port after a restart, so polling the old one cannot succeed."""
    return {
        name: 0.0
        for name in workspace.model.providers
        if (caps := capabilities(workspace, name)) is not None and caps.started_on_demand
    }


def local_data_dir(workspace: LoadedWorkspace, name: str) -> Path | None:
    """The data directory of the server ftctl runs itself for provider `name` (None: the
    provider is remote, or not configured)."""
    config = workspace.model.providers.get(name)
    if config is None:
        return None
    return provider_type(config.type).local_data_dir(workspace, config)


def check_job_lookup(workspace: LoadedWorkspace, name: str, job_id: str) -> None:
    """Fail before opening the provider when `job_id` cannot exist there (see
    `ProviderType.check_job_lookup`)."""
    config = _config(workspace, name)
    provider_type(config.type).check_job_lookup(workspace, name, config, job_id)
