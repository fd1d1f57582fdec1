"""Build a plan: a pure function of (desired projects, state, observed world, options).

No I/O and no clock: the plan id, the time and today's date come in as arguments, so the
same inputs always give the same plan. The order of the changes is the order `apply`
runs them: drift records first, then per project uploads, cancels of superseded jobs,
the version (create/adopt, wait, gate), the alias move, retirements (with `--destroy`:
cancels, deletions and forgets).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from ftctl.catalog.models import OPENAI_TRAINING_CUTOFF, ModelInfo, lookup_model
from ftctl.errors import DataError, PlanError
from ftctl.gates.describe import describe_gates
from ftctl.plan.changes import (
    Action,
    CancelChange,
    CheckChange,
    DeployChange,
    DriftItem,
    ForgetChange,
    GateDeployment,
    NewVersionChange,
    Plan,
    PlanOptions,
    PromoteChange,
    ResourceChange,
    RetireChange,
    UndeployChange,
    UploadChange,
    VersionSpec,
    gates_json,
)
from ftctl.plan.desired import DesiredProject
from ftctl.plan.drift import ObservedVersion, deployments_gone, observe_project, project_drift
from ftctl.plan.fingerprint import FieldChange, changed_fields, config_fingerprint, fingerprint
from ftctl.plan.reasons import Reason, ReasonCode
from ftctl.providers.base import RemoteJob
from ftctl.refresh.world import ObservedWorld
from ftctl.state.model import StateSnapshot

# Microsoft Learn, "Deploy a fine-tuned model" (Azure OpenAI): a customized model's
# deployment that receives no chat completions or responses calls for 15 days in a row is
# deleted (the model itself is kept and can be redeployed).
INACTIVE_DEPLOYMENT_RULE = (
    "Azure deletes a fine-tuned model's deployment once it has had no chat completions or "
    "responses calls for 15 consecutive days (the model is kept). ftctl deploys it again "
    "when this plan is applied; call a deployment at least every 15 days to keep it."
)


@dataclass(frozen=True)
class PlanContext:
    """The non-config inputs that make a plan reproducible."""

    plan_id: str
    created_at: str  # ISO-8601 UTC
    today: date
    ftctl_version: str = ""


def build_plan(
    desired: Sequence[DesiredProject],
    snapshot: StateSnapshot,
    world: ObservedWorld,
    options: PlanOptions,
    context: PlanContext,
) -> Plan:
    """The plan that makes the providers and the state match `desired`."""
    _check_replace(options.replace)
    by_name = {p.name: p for p in desired}
    selected = _select(by_name, snapshot, options)

    drift: list[DriftItem] = []
    drift_changes: list[ResourceChange] = []
    project_changes: list[ResourceChange] = []
    warnings: list[str] = []
    cost: dict[str, float | None] = {}

    for name in selected:
        observed = observe_project(name, snapshot, world)
        items, records = project_drift(name, observed, snapshot, world)
        drift += items
        drift_changes += records
        if options.refresh_only:
            continue
        project = by_name.get(name)
        if options.destroy:
            project_changes += _destroy(name, observed, snapshot, project)
            continue
        if project is None:
            warnings.append(
                f"Project {name!r} is in the state but not in the configuration; its models "
                f"are left alone. Run `ftctl destroy {name}` to delete them."
            )
            continue
        planned = _plan_project(project, observed, snapshot, world, options, context, warnings)
        project_changes += planned
        if deployments_gone(name, snapshot, world):
            warnings.append(INACTIVE_DEPLOYMENT_RULE)
        # A new job on a model with no per-token price (hf:, other endpoints' own models):
        # the project's cost is unknown (None), not $0.00.
        unpriced = any(
            isinstance(c, NewVersionChange) and not c.adopt and c.cost_usd is None for c in planned
        )
        cost[name] = None if unpriced else round(sum(c.cost_usd or 0.0 for c in planned), 6)
        warnings += _model_warnings(project, planned, context.today)

    changes = [*drift_changes, *project_changes]
    if options.targets:
        changes = _targeted(changes, options.targets)
        for target in options.targets:
            if not any(_matches(c.address, target) for c in changes):
                warnings.append(f"Target {target} matches no planned change.")
    return Plan(
        plan_id=context.plan_id,
        created_at=context.created_at,
        workspace_id=snapshot.workspace_id,
        state_lineage=snapshot.lineage,
        state_serial=snapshot.serial,
        data_hashes={
            f"{p.name}.{split}": s.sha256
            for p in desired
            if p.name in selected
            for split, s in sorted(p.splits.items())
        },
        changes=tuple(changes),
        drift=tuple(drift),
        warnings=tuple(dict.fromkeys(warnings)),
        cost_by_project={k: v for k, v in cost.items() if any(c.project == k for c in changes)},
        options=options,
        ftctl_version=context.ftctl_version,
    )


# --------------------------------------------------------------------------- selection


def _select(
    by_name: Mapping[str, DesiredProject], snapshot: StateSnapshot, options: PlanOptions
) -> list[str]:
    known = set(by_name) | set(snapshot.projects())
    if options.projects:
        unknown = [p for p in options.projects if p not in known]
        if unknown:
            names = ", ".join(sorted(known)) or "none"
            raise PlanError(f"unknown project(s) {', '.join(unknown)} (projects: {names})")
        return sorted(set(options.projects))
    return sorted(known)


# --------------------------------------------------------------------------- one project


def _gates_run(project: DesiredProject) -> bool:
    """Gates run when some are configured and the promote policy does not skip them."""
    gates = project.spec.gates
    configured = bool(gates.metrics) or gates.evals is not None
    promote = project.spec.promote
    return configured and not (promote is not None and promote.when == "always")


def _replace_requested(project: str, replace: Sequence[str]) -> bool:
    return any(r == f"version.{project}" or r.startswith(f"version.{project}.") for r in replace)


def _plan_project(
    project: DesiredProject,
    observed: Sequence[ObservedVersion],
    snapshot: StateSnapshot,
    world: ObservedWorld,
    options: PlanOptions,
    context: PlanContext,
    warnings: list[str],
) -> list[ResourceChange]:
    name = project.name
    replace = _replace_requested(name, options.replace)
    inputs = project.fingerprint_inputs(context.plan_id if replace else None)
    wanted = config_fingerprint(inputs)
    usable = ("running", "finished", "succeeded")
    matching = [
        o
        for o in observed
        if config_fingerprint(o.version.fingerprint_inputs) == wanted and o.status in usable
    ]
    live = None if replace else (matching[-1] if matching else None)
    gate = _gates_run(project)
    out: list[ResourceChange] = []
    next_number = snapshot.next_version_number(name)

    version_change: ResourceChange | None
    if live is None:
        target_number = next_number
        version_change, uploads = _new_version(
            project, observed, snapshot, world, inputs, target_number, replace, gate
        )
        out += uploads
        version_status = "planned"
    else:
        target_number = live.version.number
        version_change = _existing_version(project, live, gate)
        version_status = live.status

    # A running job for an older configuration would only cost money: cancel it.
    for o in observed:
        if o.status == "running" and (live is None or o.version.number != live.version.number):
            v = o.version
            out.append(
                CancelChange(
                    address=v.address,
                    project=name,
                    before={"status": v.status, "job_id": v.job_id},
                    reason=Reason.of(ReasonCode.SUPERSEDED, version=target_number),
                    job_id=v.job_id,
                )
            )
    if version_change is not None:
        out.append(version_change)

    gates_failed = (
        live is not None
        and live.version.gates is not None
        and not bool(live.version.gates.get("passed"))
        and version_change is None
    )
    promotes = _promote(project, snapshot, observed, target_number, gate, gates_failed, warnings)
    # The deployment serves before the alias moves to it.
    out += _deploy(project, snapshot, world, promotes)
    out += promotes
    if version_status in ("planned", "running", "finished", "succeeded"):
        out += _retire(project, observed, snapshot, target_number, warnings)
    return out


def _new_version(
    project: DesiredProject,
    observed: Sequence[ObservedVersion],
    snapshot: StateSnapshot,
    world: ObservedWorld,
    inputs: Mapping[str, Any],
    number: int,
    replace: bool,
    gate: bool,
) -> tuple[ResourceChange, list[ResourceChange]]:
    name = project.name
    fp = fingerprint(inputs)
    address = f"version.{name}.{number}"
    recorded_jobs = {o.version.job_id for o in observed if o.version.job_id}
    adoptable = [
        job
        for job in world.jobs_for(name, fp)
        if job.id not in recorded_jobs
        and job.status not in ("failed", "cancelled")
        and not _model_gone(job, project.provider, world)
    ]
    latest = observed[-1] if observed else None
    forces: list[FieldChange] = []
    if latest is not None:
        old = {k: v for k, v in latest.version.fingerprint_inputs.items() if k != "replace"}
        new = {k: v for k, v in inputs.items() if k != "replace"}
        forces = changed_fields(old, new)
    reason = _new_version_reason(latest, forces, replace)

    spec = VersionSpec(
        number=number,
        fingerprint=fp,
        fingerprint_inputs=dict(inputs),
        provider=project.provider,
        base_model=project.base_model,
        method=project.spec.training.method,
        hyperparameters=project.hyperparameters,
        seed=project.spec.training.seed,
        suffix=project.spec.suffix,
        train_sha256=project.splits["train"].sha256,
        validation_sha256=_sha(project, "validation"),
        examples=project.splits["train"].examples,
        epochs=project.epochs,
        billed_tokens=project.billed_tokens,
        grader=project.spec.training.grader,  # reinforcement: sent as configured
    )
    if adoptable:
        job = adoptable[-1]
        # The job is already paid for: adopting it costs nothing more.
        change = NewVersionChange(
            address=address,
            project=name,
            reason=Reason.of(ReasonCode.JOB_EXISTS, job_id=job.id),
            cost_usd=0.0,
            spec=spec,
            gates=project.spec.gates,
            run_gates=gate,
            job_id=job.id,
            gate_deployment=_gate_deployment(project, number, gate),
        )
        return change, []

    uploads: list[ResourceChange] = []
    for split in ("train", "validation"):
        built = project.splits.get(split)
        if built is None:
            continue
        if any(
            d.provider == project.provider and d.sha256 == built.sha256 for d in snapshot.datasets
        ):
            continue
        recorded = snapshot.dataset(name, split)
        diff = built.content_diff
        added: int | None = None
        removed: int | None = None
        if recorded is None:
            why = Reason.of(ReasonCode.NOT_UPLOADED)
        elif diff is not None and diff.base_sha256 == recorded.sha256:
            added, removed = diff.added, diff.removed
            why = Reason.of(ReasonCode.CONTENT_CHANGED, added=added, removed=removed)
        else:  # the recorded upload's file is no longer cached: only the counts are known
            why = Reason.of(
                ReasonCode.CONTENT_CHANGED, before=recorded.examples, after=built.examples
            )
        uploads.append(
            UploadChange(
                address=f"dataset.{name}.{split}",
                project=name,
                before=None
                if recorded is None
                else {"sha256": recorded.sha256, "examples": recorded.examples},
                reason=why,
                sha256=built.sha256,
                examples=built.examples,
                tokens=built.tokens,
                provider=project.provider,
                examples_added=added,
                examples_removed=removed,
            )
        )
    change = NewVersionChange(
        address=address,
        project=name,
        reason=reason,
        cost_usd=project.cost_usd,
        spec=spec,
        gates=project.spec.gates,
        run_gates=gate,
        fingerprint_changes=tuple(forces),
        gate_deployment=_gate_deployment(project, number, gate),
    )
    return change, uploads


def _model_gone(job: RemoteJob, provider: str, world: ObservedWorld) -> bool:
    """True when `job` succeeded but its model was deleted (e.g. by `ftctl destroy`): such a
    job is never adopted, or apply would promote a model that no longer exists."""
    if job.status != "succeeded":
        return False
    if not job.fine_tuned_model:
        return True
    return world.model_exists(provider, job.fine_tuned_model) is False


def _gate_deployment(project: DesiredProject, number: int, gate: bool) -> GateDeployment | None:
    """Where models serve only through deployments, eval gates call the candidate through a
    short-lived deployment of the gate tier (Developer: no hourly fee), deleted after."""
    wanted = project.deployment
    if wanted is None or not gate or project.spec.gates.evals is None:
        return None
    return GateDeployment(name=f"{project.name}-v{number}-gate", sku=wanted.gate_sku)


def _new_version_reason(
    latest: ObservedVersion | None, forces: Sequence[FieldChange], replace: bool
) -> Reason:
    if replace:
        return Reason.of(ReasonCode.REPLACE_REQUESTED)
    if latest is None:
        return Reason.of(ReasonCode.NO_VERSION_YET)
    number = latest.version.number
    if forces and latest.version.imported:
        # Adopted with `ftctl import` from a job trained with other settings or data.
        return Reason.of(ReasonCode.IMPORTED_MISMATCH, version=number)
    if forces:
        return Reason.of(ReasonCode.FINGERPRINT_CHANGED)
    if latest.status == "failed":
        return Reason.of(ReasonCode.VERSION_FAILED, version=number)
    if latest.status == "cancelled":
        return Reason.of(ReasonCode.VERSION_CANCELLED, version=number)
    if latest.status in ("retired", "missing"):
        return Reason.of(ReasonCode.VERSION_GONE, version=number)
    return Reason.of(ReasonCode.NO_USABLE_VERSION)


def _existing_version(
    project: DesiredProject, live: ObservedVersion, gate: bool
) -> ResourceChange | None:
    v = live.version
    before = {"number": v.number, "status": v.status, "job_id": v.job_id, "model_id": v.model_id}
    gates = project.spec.gates

    def check(reason: ReasonCode, *, wait: bool) -> CheckChange:
        return CheckChange(
            address=v.address,
            project=project.name,
            before=before,
            reason=Reason.of(reason),
            number=v.number,
            job_id=v.job_id,
            wait=wait,
            gates=gates,
            run_gates=gate,
            status="succeeded" if wait else v.status,
            model_id=None if wait else v.model_id,
            gate_deployment=_gate_deployment(project, v.number, gate),
        )

    if live.status in ("running", "finished"):
        running = live.status == "running"
        return check(ReasonCode.JOB_RUNNING if running else ReasonCode.JOB_FINISHED, wait=True)
    if gate and v.gates is None:
        return check(ReasonCode.GATES_NOT_RUN, wait=False)
    wanted = gates_json(gates)
    if gate and v.gates is not None and v.gates.get("config", wanted) != wanted:
        # Gates are outside the fingerprint: a changed gate re-checks the trained model
        # instead of training a new one.
        return check(ReasonCode.GATES_CHANGED, wait=False)
    return None


def _promote(
    project: DesiredProject,
    snapshot: StateSnapshot,
    observed: Sequence[ObservedVersion],
    number: int,
    gate: bool,
    gates_failed: bool,
    warnings: list[str],
) -> list[ResourceChange]:
    promote = project.spec.promote
    if promote is None or promote.when == "manual":
        return []
    if promote.version is not None:
        return _promote_pinned(project, snapshot, observed, promote.version, warnings)
    alias = snapshot.alias(project.name, promote.alias)
    gone = {o.version.number for o in observed if o.status in ("retired", "missing")}
    if alias is not None and alias.version == number and alias.version not in gone:
        return []
    address = f"alias.{project.name}.{promote.alias}"
    if gates_failed:
        where = f"stays at version {alias.version}" if alias else "is not created"
        warnings.append(f"version.{project.name}.{number} failed its gates: {address} {where}.")
        return []
    before = (
        None
        if alias is None or alias.version in gone
        else {"version": alias.version, "model_id": alias.model_id}
    )
    code = ReasonCode.PROMOTE_IF_GATES_PASS if gate else ReasonCode.PROMOTE
    return [
        PromoteChange(
            address=address,
            project=project.name,
            before=before,
            reason=Reason.of(code, version=number),
            version=number,
            when=promote.when,
            gates=tuple(describe_gates(project.spec.gates)) if gate else (),
        )
    ]


def _promote_pinned(
    project: DesiredProject,
    snapshot: StateSnapshot,
    observed: Sequence[ObservedVersion],
    number: int,
    warnings: list[str],
) -> list[ResourceChange]:
    """`promote.version: N`: the alias goes to (or stays at) version N, whatever is newer.
    Only a trained version that did not fail its gates (when they decide) qualifies."""
    promote = project.spec.promote
    assert promote is not None and promote.version is not None
    address = f"alias.{project.name}.{promote.alias}"
    alias = snapshot.alias(project.name, promote.alias)
    seen = {o.version.number: o.status for o in observed}
    version = snapshot.version(project.name, number)
    if version is None or seen.get(number, version.status) != "succeeded" or not version.model_id:
        where = f"stays at version {alias.version}" if alias else "is not created"
        warnings.append(
            f"promote.version {number} of {project.name} is not a trained version in the "
            f"state: {address} {where}."
        )
        return []
    failed = version.gates is not None and not bool(version.gates.get("passed"))
    if failed and promote.when == "gates_pass":
        where = f"stays at version {alias.version}" if alias else "is not created"
        warnings.append(
            f"promote.version {number}: {version.address} failed its gates: {address} {where}."
        )
        return []
    if alias is not None and alias.version == number:
        return []
    before = None if alias is None else {"version": alias.version, "model_id": alias.model_id}
    return [
        PromoteChange(
            address=address,
            project=project.name,
            before=before,
            reason=Reason.of(ReasonCode.PROMOTE_PINNED, version=number),
            version=number,
            when=promote.when,
        )
    ]


def _retire(
    project: DesiredProject,
    observed: Sequence[ObservedVersion],
    snapshot: StateSnapshot,
    target: int,
    warnings: list[str],
) -> list[ResourceChange]:
    keep = project.spec.lifecycle.keep_versions
    protected = {target} | {a.version for a in snapshot.aliases_of(project.name)}
    pinned = project.spec.promote.version if project.spec.promote else None
    if pinned is not None:
        protected.add(pinned)
    alive = sorted(
        {o.version.number for o in observed if o.status == "succeeded"} | {target}, reverse=True
    )
    excess = [n for n in alive[keep:] if n not in protected]
    out: list[ResourceChange] = []
    for number in sorted(excess):
        v = next(o.version for o in observed if o.version.number == number)
        if project.spec.lifecycle.prevent_destroy:
            warnings.append(
                f"Instance cannot be destroyed: {v.address} is beyond lifecycle.keepVersions "
                f"({keep}), but lifecycle.preventDestroy is set, so it is kept. To retire it, "
                "disable lifecycle.preventDestroy or raise lifecycle.keepVersions."
            )
            continue
        out.append(
            RetireChange(
                address=v.address,
                project=project.name,
                before={"status": v.status, "model_id": v.model_id},
                reason=Reason.of(ReasonCode.BEYOND_KEEP_VERSIONS, keep=keep),
                model_id=v.model_id,
            )
        )
    return out


def _deploy(
    project: DesiredProject,
    snapshot: StateSnapshot,
    world: ObservedWorld,
    promotes: Sequence[ResourceChange],
) -> list[ResourceChange]:
    """The alias's deployment (`deployment.<project>.<alias>`), where models serve only
    through deployments: created or updated with the promotion (when the gates pass), and
    re-created when it is missing (deleted outside ftctl) or its settings changed."""
    wanted = project.deployment
    promote = project.spec.promote
    if wanted is None or promote is None or promote.when == "manual":
        return []
    name = project.name
    record = snapshot.deployment(name, promote.alias)
    gone = record is not None and world.deployment_exists(record.provider, record.name) is False
    moving = next((c for c in promotes if isinstance(c, PromoteChange)), None)
    alias = snapshot.alias(name, promote.alias)
    if moving is not None:
        number, when = moving.version, moving.when
        code = ReasonCode.DEPLOY_IF_GATES_PASS if moving.gates else ReasonCode.DEPLOY
    elif alias is not None:
        target = snapshot.version(name, alias.version)
        if target is None or target.provider != project.provider:
            return []  # served elsewhere (a project that moved providers keeps it there)
        number, when = alias.version, "always"  # promoted already: its gates passed then
        if record is None or gone:
            code = ReasonCode.DEPLOYMENT_MISSING
        elif record.version != alias.version:
            code = ReasonCode.DEPLOY
        elif (record.name, record.sku, record.capacity) != (
            wanted.name,
            wanted.sku,
            wanted.capacity,
        ):
            code = ReasonCode.DEPLOYMENT_SETTINGS_CHANGED
        else:
            return []
    else:
        return []
    before = (
        None
        if record is None or gone
        else {
            "name": record.name,
            "version": record.version,
            "model_id": record.model_id,
            "sku": record.sku,
            "capacity": record.capacity,
        }
    )
    return [
        DeployChange(
            address=f"deployment.{name}.{promote.alias}",
            project=name,
            before=before,
            reason=Reason.of(code, version=number, name=wanted.name),
            deployment_name=wanted.name,
            provider=project.provider,
            version=number,
            sku=wanted.sku,
            capacity=wanted.capacity,
            when=when,
            hourly_usd=wanted.hourly_usd,
        )
    ]


def _destroy(
    name: str,
    observed: Sequence[ObservedVersion],
    snapshot: StateSnapshot,
    project: DesiredProject | None,
) -> list[ResourceChange]:
    if project is not None and project.spec.lifecycle.prevent_destroy:
        doomed = [o.version.address for o in observed if o.status == "succeeded"]
        if doomed:
            raise PlanError(
                "Instance cannot be destroyed\n\n"
                f"Resource {doomed[0]} has lifecycle.preventDestroy set, but the plan calls "
                "for this resource to be destroyed. To avoid this error and continue with "
                "the plan, either disable lifecycle.preventDestroy or reduce the scope of "
                "the plan using the --target flag."
            )
    out: list[ResourceChange] = []
    why = Reason.of(ReasonCode.DESTROY)
    for deployment in snapshot.deployments_of(name):
        # Billed by the hour while it exists: deleted first.
        out.append(
            UndeployChange(
                address=deployment.address,
                project=name,
                before={
                    "name": deployment.name,
                    "provider": deployment.provider,
                    "version": deployment.version,
                    "model_id": deployment.model_id,
                },
                reason=why,
                deployment_name=deployment.name,
                provider=deployment.provider,
            )
        )
    for alias in snapshot.aliases_of(name):
        before = {"version": alias.version, "model_id": alias.model_id}
        out.append(ForgetChange(address=alias.address, project=name, before=before, reason=why))
    for o in observed:
        v = o.version
        model_id = v.model_id or (o.job.fine_tuned_model if o.job else None)
        before = {"status": v.status, "job_id": v.job_id, "model_id": model_id}
        common: dict[str, Any] = {
            "address": v.address,
            "project": name,
            "before": before,
            "reason": why,
        }
        if o.status == "running":
            out.append(CancelChange(**common, job_id=v.job_id, forget=True))
        elif o.status in ("succeeded", "finished") and model_id:
            out.append(RetireChange(**common, model_id=model_id, forget=True))
        else:
            out.append(ForgetChange(**common))
    for d in snapshot.datasets_of(name):
        before = {"sha256": d.sha256, "file_id": d.file_id}
        out.append(ForgetChange(address=d.address, project=name, before=before, reason=why))
    return out


# --------------------------------------------------------------------------- targeting


def _matches(address: str, target: str) -> bool:
    return address == target or address.startswith(target + ".")


def _targeted(changes: Sequence[ResourceChange], targets: Sequence[str]) -> list[ResourceChange]:
    """The targeted changes and what they depend on (alias -> version -> datasets)."""
    keep: set[int] = set()
    for i, change in enumerate(changes):
        if not any(_matches(change.address, t) for t in targets):
            continue
        keep.add(i)
        needs = {
            "alias": ("version", "dataset", "deployment"),
            "deployment": ("version", "dataset"),
            "version": ("dataset",),
        }.get(change.kind, ())
        for j, other in enumerate(changes):
            if other.project != change.project or other.kind not in needs:
                continue
            if other.kind == "version" and not isinstance(other, NewVersionChange | CheckChange):
                continue
            keep.add(j)
    return [c for i, c in enumerate(changes) if i in keep]


def _check_replace(replace: Sequence[str]) -> None:
    for address in replace:
        if not address.startswith("version."):
            raise PlanError(
                f"--replace {address}: only versions can be replaced (version.<project>[.<n>])"
            )


# --------------------------------------------------------------------------- warnings


def _model_warnings(
    project: DesiredProject, planned: Sequence[ResourceChange], today: date
) -> list[str]:
    out: list[str] = []
    try:
        info: ModelInfo | None = lookup_model(project.base_model)
    except DataError:
        info = None
    trains = any(Action.CREATE in c.actions for c in planned)
    if project.provider_is_openai:
        cutoff = (info.training_available_until if info else None) or OPENAI_TRAINING_CUTOFF
        if today > cutoff:
            if trains:
                out.append(
                    f"OpenAI stopped accepting new fine-tuning jobs on {cutoff.isoformat()}: "
                    f"training {project.name!r} will fail (move it to another provider)."
                )
        else:
            days = (cutoff - today).days
            out.append(
                f"OpenAI accepts no new fine-tuning jobs after {cutoff.isoformat()} "
                f"({days} days from today)."
            )
    if info is not None and info.retires_on is not None:
        when = "retired" if today >= info.retires_on else "retires"
        out.append(
            f"Base model {info.id} of {project.name!r} {when} on {info.retires_on.isoformat()}; "
            "its fine-tuned models stop serving then."
        )
    return out


def _sha(project: DesiredProject, split: str) -> str | None:
    built = project.splits.get(split)
    return built.sha256 if built else None
