"""`ftctl import --all`: rebuild every version from the providers after the state is lost.

Each provider of the workspace's projects is asked for the jobs stamped with those
projects (one listing per project, filtered by metadata on the server); the pure
`ftctl.plan.rebuild.plan_rebuild` decides which become which versions, and under the
state lock the executor records them (one `adopt` change each: status, model, final
metrics, the files when they hold the configured data, and the build record the job's
metadata carries). Aliases cannot be recovered and are reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ftctl.apply.executor import ApplyOptions, apply_locked
from ftctl.apply.identity import who
from ftctl.config.loader import load_workspace
from ftctl.datasets.build import build_project
from ftctl.errors import FtctlError
from ftctl.events import EventSink, ignore
from ftctl.ops.prepare import direct_plan, quiet_steps
from ftctl.plan.desired import DesiredProject, desired_project
from ftctl.plan.rebuild import plan_rebuild
from ftctl.providers.base import META_PROJECT, Provider, RemoteJob
from ftctl.providers.registry import open_provider
from ftctl.state.model import VersionRecord
from ftctl.state.store import open_state


@dataclass(frozen=True)
class RebuildResult:
    versions: tuple[VersionRecord, ...]
    skipped: tuple[str, ...]
    lost_aliases: tuple[str, ...]
    already_recorded: int


def import_all(root: Path, *, lock_timeout: float, events: EventSink = ignore) -> RebuildResult:
    workspace = load_workspace(root)
    store = open_state(workspace)
    providers: dict[str, Provider] = {}
    desired: dict[str, DesiredProject] = {}
    jobs: list[RemoteJob] = []
    for project in workspace.projects:
        if project.provider_name not in providers:
            providers[project.provider_name] = open_provider(workspace, project.provider_name)
        provider = providers[project.provider_name]
        jobs += provider.list_jobs(metadata={META_PROJECT: project.name})
        desired[project.name] = desired_project(
            workspace, project, build_project(project, workspace, events)
        )
    promoted: Mapping[str, list[str]] = {
        p.name: [p.model.spec.promote.alias] for p in workspace.projects if p.model.spec.promote
    }
    identity = who(root)
    with store.lock("import", identity, timeout_s=lock_timeout, events=events):
        snapshot = store.read()
        rebuild = plan_rebuild(
            workspace_name=workspace.model.metadata.name,
            desired=desired,
            jobs=jobs,
            snapshot=snapshot,
            promoted_aliases=promoted,
        )
        recorded: list[VersionRecord] = []
        if rebuild.changes:
            result = apply_locked(
                direct_plan(snapshot, rebuild.changes),
                store,
                lambda name: providers[name],
                desired,
                ApplyOptions(who=identity, operation="import"),
                quiet_steps(events),
            )
            if result.failed:
                raise FtctlError("; ".join(f"{a}: {m}" for a, m in result.failed))
            assert result.snapshot is not None
            for change in rebuild.changes:
                found = result.snapshot.find(change.address)
                if isinstance(found, VersionRecord):
                    recorded.append(found)
    return RebuildResult(
        tuple(recorded), rebuild.skipped, rebuild.lost_aliases, rebuild.already_recorded
    )
