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
from ftctl.plan import changes as act
from ftctl.plan.changes import DriftItem, Plan, PlanOptions, ResourceChange
from ftctl.plan.desired import DesiredProject
from ftctl.plan.drift import ObservedVersion, observe_project, project_drift
from ftctl.plan.fingerprint import FieldChange, changed_fields, config_fingerprint, fingerprint
from ftctl.refresh.world import ObservedWorld
from ftctl.state.model import StateSnapshot


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
    cost: dict[str, float] = {}

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
        cost[name] = round(sum(c.cost_usd or 0.0 for c in planned), 6)
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
                ResourceChange(
                    v.address,
                    name,
                    (act.CANCEL,),
                    {"status": v.status, "job_id": v.job_id},
                    {"status": "cancelled", "job_id": v.job_id},
                    f"superseded by version {target_number}",
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
    out += _promote(project, snapshot, observed, target_number, gate, gates_failed, warnings)
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
        if job.id not in recorded_jobs and job.status not in ("failed", "cancelled")
    ]
    latest = observed[-1] if observed else None
    forces: list[FieldChange] = []
    if latest is not None:
        old = {k: v for k, v in latest.version.fingerprint_inputs.items() if k != "replace"}
        new = {k: v for k, v in inputs.items() if k != "replace"}
        forces = changed_fields(old, new)
    reason = _new_version_reason(latest, forces, replace)

    after: dict[str, Any] = {
        "number": number,
        "fingerprint": fp,
        "fingerprint_inputs": dict(inputs),
        "provider": project.provider,
        "base_model": project.base_model,
        "method": project.spec.training.method,
        "hyperparameters": project.hyperparameters,
        "seed": project.spec.training.seed,
        "suffix": project.spec.suffix,
        "train_sha256": project.splits["train"].sha256,
        "validation_sha256": _sha(project, "validation"),
        "examples": project.splits["train"].examples,
        "epochs": project.epochs,
        "billed_tokens": project.billed_tokens,
        "gates_config": project.spec.gates.model_dump(mode="json", by_alias=True),
        "run_gates": gate,
    }
    tail = (act.WAIT, act.GATE) if gate else (act.WAIT,)
    if adoptable:
        job = adoptable[-1]
        after["job_id"] = job.id
        reason = f"job {job.id} for this fingerprint already exists on the provider; adopting it"
        # The job is already paid for: adopting it costs nothing more.
        change = ResourceChange(
            address, name, (act.ADOPT, *tail), None, after, reason, cost_usd=0.0
        )
        return change, []

    before = None
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
        upload: dict[str, Any] = {
            "sha256": built.sha256,
            "examples": built.examples,
            "tokens": built.tokens,
            "provider": project.provider,
        }
        diff = built.content_diff
        if recorded is None:
            why = "not uploaded yet"
        elif diff is not None and diff.base_sha256 == recorded.sha256:
            why = f"content changed: +{diff.added:,} / -{diff.removed:,} examples"
            upload["examples_added"] = diff.added
            upload["examples_removed"] = diff.removed
        else:  # the recorded upload's file is no longer cached: only the counts are known
            why = f"content changed: {recorded.examples:,} -> {built.examples:,} examples"
        uploads.append(
            ResourceChange(
                f"dataset.{name}.{split}",
                name,
                (act.UPLOAD,),
                None
                if recorded is None
                else {"sha256": recorded.sha256, "examples": recorded.examples},
                upload,
                why,
            )
        )
    change = ResourceChange(
        address,
        name,
        (act.CREATE, *tail),
        before,
        after,
        reason,
        forces_new=tuple(forces),
        cost_usd=project.cost_usd,
    )
    return change, uploads


def _new_version_reason(
    latest: ObservedVersion | None, forces: Sequence[FieldChange], replace: bool
) -> str:
    if replace:
        return "replacement requested with --replace"
    if latest is None:
        return "no version trained yet"
    if forces and latest.version.imported:
        # Adopted with `ftctl import` from a job trained with other settings or data.
        return f"imported version {latest.version.number} does not match the configuration"
    if forces:
        return "fingerprint changed"
    number = latest.version.number
    if latest.status == "failed":
        return f"version {number} failed"
    if latest.status == "cancelled":
        return f"version {number} was cancelled"
    if latest.status in ("retired", "missing"):
        return f"version {number} no longer exists on the provider"
    return "no usable version for this fingerprint"


def _existing_version(
    project: DesiredProject, live: ObservedVersion, gate: bool
) -> ResourceChange | None:
    v = live.version
    before = {"number": v.number, "status": v.status, "job_id": v.job_id, "model_id": v.model_id}
    common = {
        "number": v.number,
        "job_id": v.job_id,
        "gates_config": project.spec.gates.model_dump(mode="json", by_alias=True),
        "run_gates": gate,
    }
    if live.status in ("running", "finished"):
        after = {**common, "status": "succeeded"}
        actions = (act.WAIT, act.GATE) if gate else (act.WAIT,)
        reason = "job is running" if live.status == "running" else "job finished since last apply"
        return ResourceChange(v.address, project.name, actions, before, after, reason)
    if gate and v.gates is None:
        after = {**common, "status": v.status, "model_id": v.model_id}
        return ResourceChange(
            v.address, project.name, (act.GATE,), before, after, "gates not run yet"
        )
    if (
        gate
        and v.gates is not None
        and v.gates.get("config", common["gates_config"]) != common["gates_config"]
    ):
        # Gates are outside the fingerprint: a changed gate re-checks the trained model
        # instead of training a new one.
        after = {**common, "status": v.status, "model_id": v.model_id}
        return ResourceChange(
            v.address,
            project.name,
            (act.GATE,),
            before,
            after,
            "gates changed since they last ran",
        )
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
    after = {
        "version": number,
        "when": promote.when,
        "gates": describe_gates(project.spec.gates) if gate else [],
    }
    reason = f"move to version {number} if its gates pass" if gate else f"move to version {number}"
    return [ResourceChange(address, project.name, (act.PROMOTE,), before, after, reason)]


def _retire(
    project: DesiredProject,
    observed: Sequence[ObservedVersion],
    snapshot: StateSnapshot,
    target: int,
    warnings: list[str],
) -> list[ResourceChange]:
    keep = project.spec.lifecycle.keep_versions
    protected = {target} | {a.version for a in snapshot.aliases_of(project.name)}
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
            ResourceChange(
                v.address,
                project.name,
                (act.RETIRE,),
                {"status": v.status, "model_id": v.model_id},
                {"status": "retired", "model_id": v.model_id},
                f"beyond lifecycle.keepVersions ({keep})",
            )
        )
    return out


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
    for alias in snapshot.aliases_of(name):
        before = {"version": alias.version, "model_id": alias.model_id}
        out.append(ResourceChange(alias.address, name, (act.FORGET,), before, None, "destroy"))
    for o in observed:
        v = o.version
        model_id = v.model_id or (o.job.fine_tuned_model if o.job else None)
        before = {"status": v.status, "job_id": v.job_id, "model_id": model_id}
        if o.status == "running":
            actions: tuple[str, ...] = (act.CANCEL, act.FORGET)
        elif o.status in ("succeeded", "finished") and model_id:
            actions = (act.RETIRE, act.FORGET)
        else:
            actions = (act.FORGET,)
        out.append(ResourceChange(v.address, name, actions, before, None, "destroy"))
    for d in snapshot.datasets_of(name):
        before = {"sha256": d.sha256, "file_id": d.file_id}
        out.append(ResourceChange(d.address, name, (act.FORGET,), before, None, "destroy"))
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
        needs = {"alias": ("version", "dataset"), "version": ("dataset",)}.get(change.kind, ())
        for j, other in enumerate(changes):
            if other.project != change.project or other.kind not in needs:
                continue
            if other.kind == "version" and not {act.CREATE, act.ADOPT, act.WAIT, act.GATE} & set(
                other.actions
            ):
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
    trains = any(act.CREATE in c.actions for c in planned)
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
