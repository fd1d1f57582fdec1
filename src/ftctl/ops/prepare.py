"""Gather a plan's inputs: load the workspace, build data, read state, refresh providers.

This is the I/O side that `plan`, `apply`, `destroy` and `show` share; the planner itself
(`ftctl.plan.builder`) stays pure. Providers are opened lazily, only those a plan needs.
`planning_under_lock` is how `apply` and `destroy` plan: under the state lock they then
apply with (`ftctl.ops.apply`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ftctl import __version__
from ftctl.apply.identity import who
from ftctl.config.loader import LoadedWorkspace, load_workspace
from ftctl.datasets.build import build_project
from ftctl.datasets.cache import DatasetCache, cache_root
from ftctl.datasets.line_index import line_digests
from ftctl.errors import CredentialsError
from ftctl.events import Event, EventSink, ignore
from ftctl.plan.builder import PlanContext, build_plan
from ftctl.plan.changes import Plan, PlanOptions, ResourceChange
from ftctl.plan.desired import ContentDiff, DesiredProject, desired_project
from ftctl.plan.savedplan import NO_STATE_LINEAGE
from ftctl.plan.selection import check_selection
from ftctl.providers.base import Provider
from ftctl.providers.registry import open_provider
from ftctl.refresh import Observation, refresh
from ftctl.state.model import StateSnapshot
from ftctl.state.store import StateStore, open_state


@dataclass
class ProviderPool:
    """Opens each provider once, on first use (a local one starts its server then)."""

    workspace: LoadedWorkspace
    opened: dict[str, Provider] = field(default_factory=dict)
    events: EventSink = ignore  # hears where an on-demand local server was started

    def __call__(self, name: str) -> Provider:
        if name not in self.opened:
            self.opened[name] = open_provider(self.workspace, name, self.events)
        return self.opened[name]

    @property
    def request_count(self) -> int:
        return sum(p.request_count for p in self.opened.values())


@dataclass
class Prepared:
    workspace: LoadedWorkspace
    desired: dict[str, DesiredProject]
    store: StateStore
    snapshot: StateSnapshot
    providers: ProviderPool
    observation: Observation | None = None
    warnings: list[str] = field(default_factory=list)
    # False when no state has been recorded yet: `snapshot` is then an empty one that is
    # not saved (planning never creates a state) and there is nothing to refresh.
    recorded: bool = True


def load_desired(
    root: Path, projects: Sequence[str] = (), events: EventSink = ignore
) -> tuple[LoadedWorkspace, dict[str, DesiredProject]]:
    """Load the workspace and build the data of the selected projects (all when none).

    Names not in the configuration are left to the planner, which knows the state too
    (a project removed from the YAML can still be destroyed).
    """
    workspace = load_workspace(root)
    desired: dict[str, DesiredProject] = {}
    for project in workspace.projects:
        if projects and project.name not in projects:
            continue
        built = build_project(project, workspace, events)
        for diagnostic in built.diagnostics:
            events(Event("warning", str(diagnostic)))
        desired[project.name] = desired_project(workspace, project, built)
    return workspace, desired


def prepare(root: Path, projects: Sequence[str] = (), events: EventSink = ignore) -> Prepared:
    workspace, desired = load_desired(root, projects, events)
    return with_state(workspace, desired, open_state(workspace), events)


def with_state(
    workspace: LoadedWorkspace,
    desired: dict[str, DesiredProject],
    store: StateStore,
    events: EventSink = ignore,
) -> Prepared:
    """The plan's inputs once the state is read (`apply` calls this under the state lock).
    Without a recorded state the snapshot is an unsaved empty one (see `NO_STATE_LINEAGE`)."""
    recorded = store.exists()
    snapshot = store.read() if recorded else StateSnapshot.empty("", lineage=NO_STATE_LINEAGE)
    desired = with_content_diffs(workspace, desired, snapshot)
    pool = ProviderPool(workspace, events=events)
    return Prepared(workspace, desired, store, snapshot, pool, recorded=recorded)


def with_content_diffs(
    workspace: LoadedWorkspace, desired: dict[str, DesiredProject], snapshot: StateSnapshot
) -> dict[str, DesiredProject]:
    """`desired` with each changed split's examples added/removed since its recorded
    upload, when the dataset cache still holds that upload's canonical file (else the
    plan falls back to the example counts)."""
    cache = DatasetCache(cache_root(workspace.root))
    out: dict[str, DesiredProject] = {}
    for name, project in desired.items():
        splits = dict(project.splits)
        for split, built in project.splits.items():
            recorded = snapshot.dataset(name, split)
            if recorded is None or recorded.sha256 == built.sha256 or built.path is None:
                continue
            if not cache.has_object(recorded.sha256):
                continue
            cache.use([recorded.sha256])  # what plans compare with stays in the cache
            added, removed = lines_added_removed(cache.object_path(recorded.sha256), built.path)
            diff = ContentDiff(recorded.sha256, added=added, removed=removed)
            splits[split] = dataclasses.replace(built, content_diff=diff)
        out[name] = dataclasses.replace(project, splits=splits)
    return out


def lines_added_removed(old_path: Path, new_path: Path) -> tuple[int, int]:
    """How many distinct lines `new_path` has that `old_path` has not, and the reverse: from
    the objects' line indexes where both have one (no reading of the data), else by
    hashing every line."""
    old_digests, new_digests = line_digests(old_path), line_digests(new_path)
    if old_digests is not None and new_digests is not None:
        added = np.setdiff1d(new_digests, old_digests).size
        removed = np.setdiff1d(old_digests, new_digests).size
        return int(added), int(removed)
    old, new = _line_hashes(old_path), _line_hashes(new_path)
    return len(new - old), len(old - new)


def _line_hashes(path: Path) -> set[bytes]:
    """The hashes of a canonical JSONL file's lines (one example each)."""
    with path.open("rb") as handle:
        return {hashlib.sha256(line.rstrip(b"\n")).digest() for line in handle if line.strip()}


@contextmanager
def planning_under_lock(
    root: Path,
    projects: Sequence[str],
    operation: str,
    lock_timeout: float,
    events: EventSink = ignore,
) -> Iterator[Prepared]:
    """Build the data, then take the state lock and read the state under it, as Terraform
    does: the plan is made from (and applied to) a state nobody else changes meanwhile."""
    workspace, desired = load_desired(root, projects, events)
    store = open_state(workspace)
    with store.lock(operation, who(workspace.root), timeout_s=lock_timeout, events=events):
        yield with_state(workspace, desired, store, events)


def plan_workspace(root: Path, options: PlanOptions, events: EventSink = ignore) -> Plan:
    """`ftctl plan`: load, build, refresh (read-only) and plan, without the state lock."""
    prepared = prepare(root, options.projects, events)
    return make_plan(prepared, options, events)


def plan_context() -> PlanContext:
    """A new plan's id and time (the only clock read of planning)."""
    now = datetime.now(UTC)
    return PlanContext(
        plan_id=str(uuid.uuid4()),
        created_at=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        today=now.date(),
        ftctl_version=__version__,
    )


def observe(prepared: Prepared, projects: Sequence[str] = (), events: EventSink = ignore) -> None:
    """Refresh (read-only) the providers the selected projects and their state use.

    Without a recorded state ftctl cannot have created anything: no provider is opened
    (a local one's server is not started)."""
    if not prepared.recorded:
        prepared.observation = refresh(prepared.snapshot, {}, prepared.snapshot.workspace_id)
        return
    names = set(projects) or set(prepared.desired) | set(prepared.snapshot.projects())
    wanted = {p.provider for p in prepared.desired.values() if p.name in names}
    wanted |= {v.provider for v in prepared.snapshot.versions if v.project in names}
    configured = set(prepared.workspace.model.providers)
    providers: dict[str, Provider] = {}
    for name in sorted(wanted & configured):
        try:
            providers[name] = prepared.providers(name)
        except CredentialsError as error:
            # Plan the rest; this provider's projects are planned from the state alone
            # (apply fails for them until the key is set).
            prepared.warnings.append(f"Provider {name!r} was not refreshed: {error.message}")
            events(Event("warning", prepared.warnings[-1]))
    if providers:
        events(Event("step", f"Refreshing {', '.join(sorted(providers))}"))
    prepared.observation = refresh(prepared.snapshot, providers, prepared.snapshot.workspace_id)
    for warning in prepared.observation.warnings:
        prepared.warnings.append(warning)
        events(Event("warning", warning))


def make_plan(prepared: Prepared, options: PlanOptions, events: EventSink = ignore) -> Plan:
    """Refresh, then build the plan."""
    configured = [p.name for p in prepared.workspace.projects]
    check_selection(options, configured, prepared.snapshot.projects())
    observe(prepared, options.projects, events)
    assert prepared.observation is not None
    context = plan_context()
    plan = build_plan(
        list(prepared.desired.values()),
        prepared.snapshot,
        prepared.observation.world(),
        options,
        context,
    )
    if prepared.warnings:
        plan = dataclasses.replace(plan, warnings=(*prepared.warnings, *plan.warnings))
    return plan


def recorded_or_empty(store: StateStore) -> StateSnapshot:
    """The stored snapshot, or an empty one (not persisted) when there is no state yet:
    inspecting a workspace must not create `.ftctl/state.db` (reading a store first does)."""
    return store.read() if store.exists() else StateSnapshot.empty(workspace_id="")


def direct_plan(snapshot: StateSnapshot, changes: Sequence[ResourceChange]) -> Plan:
    """A plan of `changes` made by a command itself (`import`, `state rm`), bound to
    `snapshot` like any plan, for the executor to carry out under the same lock."""
    context = plan_context()
    return Plan(
        plan_id=context.plan_id,
        created_at=context.created_at,
        workspace_id=snapshot.workspace_id,
        state_lineage=snapshot.lineage,
        state_serial=snapshot.serial,
        data_hashes={},
        changes=tuple(changes),
        options=PlanOptions(projects=tuple(sorted({c.project for c in changes}))),
        ftctl_version=context.ftctl_version,
    )


def quiet_steps(events: EventSink) -> EventSink:
    """The executor's events without its per-step lines (for one-step commands)."""

    def sink(event: Event) -> None:
        if event.kind != "step":
            events(event)

    return sink
