"""`ftctl promote PROJECT VERSION --alias A --reason "…"`: move an alias by hand.

For promotion and rollback outside the normal gated flow. It is still a plan run by the
executor (the only writer of state and audit): one `PromoteChange` built under the state
lock, so the audit log records who moved which alias, from and to which version, and why.
The YAML stays the source of truth: unless `promote.version` pins the same version, the
next `ftctl apply` moves the alias back to what the configuration asks for (the plan
shows it). Pin it in a pull request to make a rollback stick.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ftctl import __version__
from ftctl.apply.executor import ApplyOptions, ApplyResult, apply_locked
from ftctl.apply.identity import git_commit, who
from ftctl.config.loader import load_workspace
from ftctl.errors import PlanError, StateError
from ftctl.events import EventSink, ignore
from ftctl.ops.prepare import ProviderPool
from ftctl.plan.changes import Plan, PlanOptions, PromoteChange
from ftctl.plan.reasons import Reason, ReasonCode
from ftctl.state.model import StateSnapshot
from ftctl.state.store import open_state


@dataclass(frozen=True)
class PromoteRequest:
    project: str
    version: int
    alias: str
    reason: str
    force: bool = False  # promote a version whose gates failed
    lock_timeout_s: float = 0.0


def promotion_plan(snapshot: StateSnapshot, request: PromoteRequest, by: str) -> Plan:
    """The one-change plan; PlanError/StateError when the version cannot be promoted."""
    if not request.reason.strip():
        raise PlanError("--reason is required: the audit log records why an alias moved")
    version = snapshot.version(request.project, request.version)
    address = f"version.{request.project}.{request.version}"
    if version is None:
        known = ", ".join(str(v.number) for v in snapshot.versions_of(request.project))
        raise StateError(f"no {address} in the state (versions: {known or 'none'})")
    if version.status != "succeeded" or not version.model_id:
        raise StateError(f"{address} has no model to promote (status {version.status})")
    failed = version.gates is not None and not bool(version.gates.get("passed"))
    if failed and not request.force:
        failures = [
            str(r.get("message", ""))
            for r in version.gates.get("results", [])  # type: ignore[union-attr]
            if not r.get("passed")
        ]
        raise PlanError(
            f"{address} failed its gates ({'; '.join(failures)}); pass --force to promote it anyway"
        )
    alias = snapshot.alias(request.project, request.alias)
    change = PromoteChange(
        address=f"alias.{request.project}.{request.alias}",
        project=request.project,
        before=None if alias is None else {"version": alias.version, "model_id": alias.model_id},
        reason=Reason.of(
            ReasonCode.MANUAL_PROMOTE, version=request.version, who=by, why=request.reason
        ),
        version=request.version,
        when="always",  # a person decided; failed gates were refused above unless --force
    )
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Plan(
        plan_id=str(uuid.uuid4()),
        created_at=now,
        workspace_id=snapshot.workspace_id,
        state_lineage=snapshot.lineage,
        state_serial=snapshot.serial,
        data_hashes={},
        changes=(change,),
        options=PlanOptions(projects=(request.project,)),
        ftctl_version=__version__,
    )


def promote(root: Path, request: PromoteRequest, events: EventSink = ignore) -> ApplyResult:
    """Build the promotion under the state lock and run it through the executor."""
    workspace = load_workspace(root)
    store = open_state(workspace)
    if not store.exists():
        raise StateError("no state yet: nothing has been trained (run `ftctl apply`)")
    by = who(workspace.root)
    options = ApplyOptions(
        who=by,
        git_commit=git_commit(workspace.root),
        operation="promote",
        lock_timeout_s=request.lock_timeout_s,
    )
    with store.lock("promote", by, timeout_s=request.lock_timeout_s, events=events):
        plan = promotion_plan(store.read(), request, by)
        return apply_locked(plan, store, ProviderPool(workspace), {}, options, events)
