"""Apply a plan: a saved plan file, or one just made under the state lock.

The CLI renders the plan and asks for confirmation between planning and applying; the
lock is held from the state read that planning used until the last state write.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftctl.apply.executor import ApplyOptions, ApplyResult, apply_locked, apply_plan
from ftctl.apply.identity import git_commit, who
from ftctl.events import EventSink, ignore
from ftctl.lineage.sources import build_record
from ftctl.ops.prepare import (
    Prepared,
    ProviderPool,
    load_desired,
    make_plan,
    planning_under_lock,
)
from ftctl.plan.changes import Plan, PlanOptions
from ftctl.plan.savedplan import read_plan
from ftctl.providers.base import Provider
from ftctl.providers.registry import outage_timeouts
from ftctl.state.store import open_state


def apply_prepared(
    plan: Plan,
    prepared: Prepared,
    *,
    wait: bool,
    lock_timeout: float,
    operation: str = "apply",
    locked: bool = False,
    events: EventSink = ignore,
) -> ApplyResult:
    """Apply `plan`; `locked` when the caller planned under the state lock it still holds."""
    root = prepared.workspace.root
    commit, user = git_commit(root), who(root)
    options = ApplyOptions(
        who=user,
        git_commit=commit,
        operation=operation,
        wait=wait,
        lock_timeout_s=lock_timeout,
        project_dirs={p.name: p.dir for p in prepared.workspace.projects},
        build_records=build_records(plan, prepared, user, commit),
        outage_timeouts=outage_timeouts(prepared.workspace),
    )

    def provider(name: str) -> Provider:
        return prepared.providers(name)

    for name in providers_needed(plan, prepared):
        provider(name)  # a missing API key fails here, before anything is uploaded or trained
    execute = apply_locked if locked else apply_plan
    return execute(plan, prepared.store, provider, prepared.desired, options, events)


def build_records(
    plan: Plan, prepared: Prepared, who: str, commit: str | None
) -> dict[str, dict[str, Any]]:
    """What each project that trains a version is built from, read before anything runs."""
    training = {c.project for c in plan.changes if c.address.startswith("version.")}
    return {
        p.name: build_record(prepared.workspace, p, who=who, git_commit=commit)
        for p in prepared.workspace.projects
        if p.name in training
    }


def providers_needed(plan: Plan, prepared: Prepared) -> list[str]:
    """The providers of every project the plan changes (state-only projects: their versions')."""
    names: set[str] = set()
    for project in {change.project for change in plan.changes}:
        desired = prepared.desired.get(project)
        if desired is not None:
            names.add(desired.provider)
        else:
            names.update(v.provider for v in prepared.snapshot.versions_of(project))
    return sorted(names)


def open_saved_plan(
    root: Path, plan_file: Path, events: EventSink = ignore
) -> tuple[Plan, Prepared]:
    """A saved plan and what applying it needs (the data of its projects, rebuilt to check
    it is unchanged); PlanError when the file is not a plan of this format version."""
    saved = read_plan(plan_file)
    projects = sorted({key.split(".", 1)[0] for key in saved.data_hashes})
    workspace, desired = load_desired(root, projects, events)
    store = open_state(workspace)
    pool = ProviderPool(workspace, events=events)
    return saved, Prepared(workspace, desired, store, store.read(), pool)


@dataclass
class PlannedApply:
    """A plan made under the state lock, ready to apply while the lock is still held."""

    plan: Plan
    prepared: Prepared
    operation: str
    lock_timeout: float

    def apply(self, *, wait: bool = True, events: EventSink = ignore) -> ApplyResult:
        return apply_prepared(
            self.plan,
            self.prepared,
            wait=wait,
            lock_timeout=self.lock_timeout,
            operation=self.operation,
            locked=True,
            events=events,
        )


@contextmanager
def plan_for_apply(
    root: Path,
    options: PlanOptions,
    *,
    operation: str,
    lock_timeout: float,
    events: EventSink = ignore,
) -> Iterator[PlannedApply]:
    """`apply` and `destroy` without a plan file: plan under the state lock and hold it
    while the caller shows the plan, asks, and applies (`PlannedApply.apply`)."""
    projects: Sequence[str] = options.projects
    with planning_under_lock(root, projects, operation, lock_timeout, events) as prepared:
        plan = make_plan(prepared, options, events)
        yield PlannedApply(plan, prepared, operation, lock_timeout)
