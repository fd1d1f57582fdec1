"""The plan as data: frozen values that renderers show and the executor runs.

A `Plan` is a pure value: JSON in, JSON out (`to_dict` / `from_dict`), so that a saved
plan file holds exactly what `apply` will do and a renderer never feeds decisions.

The contract between the planner and the executor is typed: `Action` is a closed enum,
and each kind of change is its own frozen class whose fields are what the executor
needs (`UploadChange.sha256`, `NewVersionChange.spec`, the gates as a `Gates` model).
The JSON `after` object is derived from those fields for people and tools; the executor
never reads it. `before` is what the state recorded, for display only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, cast

from pydantic import ValidationError

from ftctl.config.models import Gates
from ftctl.errors import PlanError
from ftctl.plan.fingerprint import FieldChange
from ftctl.plan.reasons import Reason
from ftctl.state.model import VERSION_STATUSES, VersionStatus

# 2: typed changes, reason codes (`reason_code`, `reason_args`), no `no-op` action.
PLAN_FORMAT_VERSION = 2


class Action(StrEnum):
    """The steps apply runs, in the order a change's steps run."""

    UPLOAD = "upload"
    CREATE = "create"  # start a new fine-tuning job (a paid training run)
    ADOPT = "adopt"  # record a job that already exists (found by metadata, or imported)
    WAIT = "wait"
    GATE = "gate"
    PROMOTE = "promote"
    CANCEL = "cancel"
    RETIRE = "retire"
    FORGET = "forget"
    RECORD_DRIFT = "record-drift"
    # Providers whose models serve only through deployments (Azure): create or update the
    # deployment that serves an alias; delete one (destroy).
    DEPLOY = "deploy"
    UNDEPLOY = "undeploy"


# Short names (`act.CREATE`) for the enum members.
UPLOAD = Action.UPLOAD
CREATE = Action.CREATE
ADOPT = Action.ADOPT
WAIT = Action.WAIT
GATE = Action.GATE
PROMOTE = Action.PROMOTE
CANCEL = Action.CANCEL
RETIRE = Action.RETIRE
FORGET = Action.FORGET
RECORD_DRIFT = Action.RECORD_DRIFT
DEPLOY = Action.DEPLOY
UNDEPLOY = Action.UNDEPLOY
ACTIONS = tuple(Action)


# --------------------------------------------------------------------------- changes


@dataclass(frozen=True, kw_only=True)
class ResourceChange:
    """What the plan does to one resource (`version.support-bot.4`): the base of the
    typed changes below. `actions` are derived from the change's fields."""

    address: str
    project: str
    reason: Reason
    before: Mapping[str, Any] | None = None  # the state's record, shown; apply ignores it
    cost_usd: float | None = None

    @property
    def kind(self) -> str:
        return self.address.split(".", 1)[0]

    @property
    def name(self) -> str:
        """The last part of the address: the split, version number or alias name."""
        return self.address.split(".", 2)[2]

    @property
    def actions(self) -> tuple[Action, ...]:
        raise NotImplementedError

    @property
    def after(self) -> Mapping[str, Any] | None:
        """The resource as it will be (None: removed from the state), for display/JSON."""
        return None

    @property
    def forces_new(self) -> tuple[FieldChange, ...]:
        return ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "project": self.project,
            "actions": [str(a) for a in self.actions],
            "before": _plain(self.before),
            "after": _plain(self.after),
            "reason": self.reason.text,
            "reason_code": str(self.reason.code),
            "reason_args": dict(self.reason.args),
            "forces_new": [f.to_dict() for f in self.forces_new],
            "cost_usd": self.cost_usd,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResourceChange:
        address = data.get("address")
        try:
            actions = tuple(Action(str(a)) for a in data["actions"])
        except ValueError as error:
            raise PlanError(f"unknown action(s) in plan change {address}: {error}") from error
        if not actions:
            raise PlanError(f"plan change {address} has no actions")
        common: dict[str, Any] = {
            "address": str(data["address"]),
            "project": str(data["project"]),
            "reason": Reason.parse(data.get("reason_code"), data.get("reason_args")),
            "before": data.get("before"),
            "cost_usd": data.get("cost_usd"),
        }
        after = data.get("after")
        kind = ImportChange if actions == (Action.ADOPT,) else _BY_FIRST_ACTION[actions[0]]
        try:
            change = kind.parse(common, after if isinstance(after, Mapping) else None, data)
        except ValidationError as error:
            raise PlanError(f"plan change {address}: invalid gates: {error}") from error
        if change.actions != actions:
            raise PlanError(
                f"plan change {address}: actions {[str(a) for a in actions]} do not match "
                f"its fields ({[str(a) for a in change.actions]})"
            )
        return change

    @classmethod
    def parse(
        cls, common: dict[str, Any], after: Mapping[str, Any] | None, data: Mapping[str, Any]
    ) -> ResourceChange:
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class UploadChange(ResourceChange):
    """Upload a built split's canonical JSONL to a provider (`dataset.<project>.<split>`)."""

    sha256: str
    examples: int
    tokens: int
    provider: str
    examples_added: int | None = None
    examples_removed: int | None = None

    @property
    def split(self) -> str:
        return self.name

    @property
    def actions(self) -> tuple[Action, ...]:
        return (Action.UPLOAD,)

    @property
    def after(self) -> Mapping[str, Any]:
        out: dict[str, Any] = {
            "sha256": self.sha256,
            "examples": self.examples,
            "tokens": self.tokens,
            "provider": self.provider,
        }
        if self.examples_added is not None:
            out["examples_added"] = self.examples_added
            out["examples_removed"] = self.examples_removed
        return out

    @classmethod
    def parse(
        cls, common: dict[str, Any], after: Mapping[str, Any] | None, data: Mapping[str, Any]
    ) -> UploadChange:
        a = _need(after, common)
        return cls(
            **common,
            sha256=str(a["sha256"]),
            examples=int(a["examples"]),
            tokens=int(a["tokens"]),
            provider=str(a["provider"]),
            examples_added=_opt_int(a.get("examples_added")),
            examples_removed=_opt_int(a.get("examples_removed")),
        )


@dataclass(frozen=True)
class VersionSpec:
    """What a new version is trained from: the job request and its fingerprint."""

    number: int
    fingerprint: str
    fingerprint_inputs: Mapping[str, Any]
    provider: str
    base_model: str
    method: str
    hyperparameters: Mapping[str, Any]  # snake_case, "auto" kept (the API drops it)
    seed: int | None
    suffix: str | None
    train_sha256: str
    validation_sha256: str | None
    examples: int
    epochs: int | None
    billed_tokens: int | None
    grader: Mapping[str, Any] | None = None  # reinforcement only: sent with the job as is

    def to_dict(self) -> dict[str, Any]:
        out = {
            "number": self.number,
            "fingerprint": self.fingerprint,
            "fingerprint_inputs": _plain(self.fingerprint_inputs),
            "provider": self.provider,
            "base_model": self.base_model,
            "method": self.method,
            "hyperparameters": _plain(self.hyperparameters),
            "seed": self.seed,
            "suffix": self.suffix,
            "train_sha256": self.train_sha256,
            "validation_sha256": self.validation_sha256,
            "examples": self.examples,
            "epochs": self.epochs,
            "billed_tokens": self.billed_tokens,
        }
        if self.grader is not None:
            out["grader"] = _plain(self.grader)
        return out

    @classmethod
    def from_dict(cls, a: Mapping[str, Any]) -> VersionSpec:
        return cls(
            number=int(a["number"]),
            fingerprint=str(a["fingerprint"]),
            fingerprint_inputs=dict(a["fingerprint_inputs"]),
            provider=str(a["provider"]),
            base_model=str(a["base_model"]),
            method=str(a["method"]),
            hyperparameters=dict(a["hyperparameters"]),
            seed=_opt_int(a.get("seed")),
            suffix=None if a.get("suffix") is None else str(a["suffix"]),
            train_sha256=str(a["train_sha256"]),
            validation_sha256=(
                None if a.get("validation_sha256") is None else str(a["validation_sha256"])
            ),
            examples=int(a.get("examples") or 0),
            epochs=_opt_int(a.get("epochs")),
            billed_tokens=_opt_int(a.get("billed_tokens")),
            grader=None if a.get("grader") is None else dict(a["grader"]),
        )


@dataclass(frozen=True)
class GateDeployment:
    """The short-lived deployment a candidate's gates call it through (providers whose
    models serve only through deployments): created before the gates, deleted after."""

    name: str
    sku: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "sku": self.sku}

    @classmethod
    def from_dict(cls, data: Any) -> GateDeployment | None:
        if not isinstance(data, Mapping):
            return None
        return cls(name=str(data["name"]), sku=str(data["sku"]))


def gates_json(gates: Gates) -> dict[str, Any]:
    """The gates as the plan and the state record them (camelCase, JSON values)."""
    return gates.model_dump(mode="json", by_alias=True)


@dataclass(frozen=True, kw_only=True)
class NewVersionChange(ResourceChange):
    """A new version: start its job (`create`), or record a job for this fingerprint that
    already exists (`adopt`, when `job_id` is set); then wait, and gate when `run_gates`."""

    spec: VersionSpec
    gates: Gates
    run_gates: bool
    job_id: str | None = None
    fingerprint_changes: tuple[FieldChange, ...] = ()
    gate_deployment: GateDeployment | None = None

    @property
    def adopt(self) -> bool:
        return self.job_id is not None

    @property
    def forces_new(self) -> tuple[FieldChange, ...]:
        return self.fingerprint_changes

    @property
    def actions(self) -> tuple[Action, ...]:
        first = Action.ADOPT if self.adopt else Action.CREATE
        return (first, Action.WAIT, Action.GATE) if self.run_gates else (first, Action.WAIT)

    @property
    def after(self) -> Mapping[str, Any]:
        out = self.spec.to_dict()
        out["gates_config"] = gates_json(self.gates)
        out["run_gates"] = self.run_gates
        if self.job_id is not None:
            out["job_id"] = self.job_id
        if self.gate_deployment is not None and self.run_gates:
            out["gate_deployment"] = self.gate_deployment.to_dict()
        return out

    @classmethod
    def parse(
        cls, common: dict[str, Any], after: Mapping[str, Any] | None, data: Mapping[str, Any]
    ) -> NewVersionChange:
        a = _need(after, common)
        return cls(
            **common,
            spec=VersionSpec.from_dict(a),
            gates=Gates.model_validate(a.get("gates_config") or {}),
            run_gates=bool(a.get("run_gates")),
            job_id=None if a.get("job_id") is None else str(a["job_id"]),
            fingerprint_changes=tuple(FieldChange.from_dict(f) for f in data.get("forces_new", ())),
            gate_deployment=GateDeployment.from_dict(a.get("gate_deployment")),
        )


@dataclass(frozen=True)
class RecordedFile:
    """A provider file known to hold a built split (recorded by an import)."""

    split: str
    sha256: str
    file_id: str
    examples: int
    tokens: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "split": self.split,
            "sha256": self.sha256,
            "file_id": self.file_id,
            "examples": self.examples,
            "tokens": self.tokens,
        }

    @classmethod
    def from_dict(cls, a: Mapping[str, Any]) -> RecordedFile:
        return cls(
            str(a["split"]),
            str(a["sha256"]),
            str(a["file_id"]),
            int(a["examples"]),
            int(a["tokens"]),
        )


@dataclass(frozen=True, kw_only=True)
class ImportChange(ResourceChange):
    """`ftctl import`: record an existing job as a version, as the provider shows it then
    (status, model, final metrics), and the files it trained on when they hold the
    configured data. `mismatches` say how the job differs from the configuration."""

    spec: VersionSpec
    job_id: str
    files: tuple[RecordedFile, ...] = ()
    mismatches: tuple[str, ...] = ()

    @property
    def actions(self) -> tuple[Action, ...]:
        return (Action.ADOPT,)

    @property
    def after(self) -> Mapping[str, Any]:
        out = self.spec.to_dict()
        out["job_id"] = self.job_id
        out["files"] = [f.to_dict() for f in self.files]
        out["mismatches"] = list(self.mismatches)
        return out

    @classmethod
    def parse(
        cls, common: dict[str, Any], after: Mapping[str, Any] | None, data: Mapping[str, Any]
    ) -> ImportChange:
        a = _need(after, common)
        return cls(
            **common,
            spec=VersionSpec.from_dict(a),
            job_id=str(a["job_id"]),
            files=tuple(RecordedFile.from_dict(f) for f in a.get("files") or ()),
            mismatches=tuple(str(m) for m in a.get("mismatches") or ()),
        )


@dataclass(frozen=True, kw_only=True)
class CheckChange(ResourceChange):
    """A recorded version: wait for its job (`wait`) and/or run its gates (`gate`)."""

    number: int
    job_id: str | None
    wait: bool
    gates: Gates
    run_gates: bool
    status: str  # the status it will have (shown)
    model_id: str | None = None
    gate_deployment: GateDeployment | None = None

    @property
    def actions(self) -> tuple[Action, ...]:
        steps = (Action.WAIT,) if self.wait else ()
        return (*steps, Action.GATE) if self.run_gates else steps

    @property
    def after(self) -> Mapping[str, Any]:
        out: dict[str, Any] = {
            "number": self.number,
            "job_id": self.job_id,
            "gates_config": gates_json(self.gates),
            "run_gates": self.run_gates,
            "status": self.status,
        }
        if not self.wait:
            out["model_id"] = self.model_id
        if self.gate_deployment is not None and self.run_gates:
            out["gate_deployment"] = self.gate_deployment.to_dict()
        return out

    @classmethod
    def parse(
        cls, common: dict[str, Any], after: Mapping[str, Any] | None, data: Mapping[str, Any]
    ) -> CheckChange:
        a = _need(after, common)
        actions = [str(x) for x in data["actions"]]
        return cls(
            **common,
            number=int(a["number"]),
            job_id=None if a.get("job_id") is None else str(a["job_id"]),
            wait=Action.WAIT in actions,
            gates=Gates.model_validate(a.get("gates_config") or {}),
            run_gates=bool(a.get("run_gates")) and Action.GATE in actions,
            status=str(a.get("status", "")),
            model_id=None if a.get("model_id") is None else str(a["model_id"]),
            gate_deployment=GateDeployment.from_dict(a.get("gate_deployment")),
        )


@dataclass(frozen=True, kw_only=True)
class PromoteChange(ResourceChange):
    """Move an alias to a version (only if its gates passed, unless `when` is `always`)."""

    version: int
    when: str  # gates_pass | always (`manual` plans no promotion)
    gates: tuple[str, ...] = ()  # the one-line gate descriptions (shown)

    @property
    def alias(self) -> str:
        return self.name

    @property
    def actions(self) -> tuple[Action, ...]:
        return (Action.PROMOTE,)

    @property
    def after(self) -> Mapping[str, Any]:
        return {"version": self.version, "when": self.when, "gates": list(self.gates)}

    @classmethod
    def parse(
        cls, common: dict[str, Any], after: Mapping[str, Any] | None, data: Mapping[str, Any]
    ) -> PromoteChange:
        a = _need(after, common)
        return cls(
            **common,
            version=int(a["version"]),
            when=str(a.get("when", "gates_pass")),
            gates=tuple(str(g) for g in a.get("gates") or ()),
        )


@dataclass(frozen=True, kw_only=True)
class DeployChange(ResourceChange):
    """Create or update the deployment that serves an alias (`deployment.<project>.<alias>`)
    to serve `version`'s model, and wait until it serves. Like a promotion, it happens only
    if the version passed its gates (unless `when` is `always`). `hourly_usd`: the hosting
    fee the deployment is billed by the hour (None: unknown), shown next to training cost."""

    deployment_name: str
    provider: str
    version: int
    sku: str
    capacity: int
    when: str
    hourly_usd: float | None = None

    @property
    def alias(self) -> str:
        return self.name

    @property
    def actions(self) -> tuple[Action, ...]:
        return (Action.DEPLOY,)

    @property
    def after(self) -> Mapping[str, Any]:
        return {
            "deployment_name": self.deployment_name,
            "provider": self.provider,
            "version": self.version,
            "sku": self.sku,
            "capacity": self.capacity,
            "when": self.when,
            "hourly_usd": self.hourly_usd,
        }

    @classmethod
    def parse(
        cls, common: dict[str, Any], after: Mapping[str, Any] | None, data: Mapping[str, Any]
    ) -> DeployChange:
        a = _need(after, common)
        hourly = a.get("hourly_usd")
        return cls(
            **common,
            deployment_name=str(a["deployment_name"]),
            provider=str(a["provider"]),
            version=int(a["version"]),
            sku=str(a["sku"]),
            capacity=int(a["capacity"]),
            when=str(a.get("when", "gates_pass")),
            hourly_usd=None if hourly is None else float(hourly),
        )


@dataclass(frozen=True, kw_only=True)
class UndeployChange(ResourceChange):
    """Delete an alias's deployment (destroy); with `forget`, then drop its record."""

    deployment_name: str
    provider: str
    forget: bool = True

    @property
    def actions(self) -> tuple[Action, ...]:
        return (Action.UNDEPLOY, Action.FORGET) if self.forget else (Action.UNDEPLOY,)

    @property
    def after(self) -> Mapping[str, Any] | None:
        return None

    @classmethod
    def parse(
        cls, common: dict[str, Any], after: Mapping[str, Any] | None, data: Mapping[str, Any]
    ) -> UndeployChange:
        source = common["before"] or {}
        return cls(
            **common,
            deployment_name=str(source["name"]),
            provider=str(source["provider"]),
            forget=Action.FORGET in _acts(data),
        )


@dataclass(frozen=True, kw_only=True)
class CancelChange(ResourceChange):
    """Cancel a version's running job; with `forget` (destroy), then drop it from the state."""

    job_id: str | None
    forget: bool = False

    @property
    def actions(self) -> tuple[Action, ...]:
        return (Action.CANCEL, Action.FORGET) if self.forget else (Action.CANCEL,)

    @property
    def after(self) -> Mapping[str, Any] | None:
        return None if self.forget else {"status": "cancelled", "job_id": self.job_id}

    @classmethod
    def parse(
        cls, common: dict[str, Any], after: Mapping[str, Any] | None, data: Mapping[str, Any]
    ) -> CancelChange:
        source = after or common["before"] or {}
        job = source.get("job_id")
        return cls(
            **common, job_id=None if job is None else str(job), forget=Action.FORGET in _acts(data)
        )


@dataclass(frozen=True, kw_only=True)
class RetireChange(ResourceChange):
    """Delete a version's model; with `forget` (destroy), then drop it from the state.
    `model_id`: the model to delete when the state has none recorded (seen by refresh)."""

    model_id: str | None
    forget: bool = False

    @property
    def actions(self) -> tuple[Action, ...]:
        return (Action.RETIRE, Action.FORGET) if self.forget else (Action.RETIRE,)

    @property
    def after(self) -> Mapping[str, Any] | None:
        return None if self.forget else {"status": "retired", "model_id": self.model_id}

    @classmethod
    def parse(
        cls, common: dict[str, Any], after: Mapping[str, Any] | None, data: Mapping[str, Any]
    ) -> RetireChange:
        source = after or common["before"] or {}
        model = source.get("model_id")
        return cls(
            **common,
            model_id=None if model is None else str(model),
            forget=Action.FORGET in _acts(data),
        )


@dataclass(frozen=True, kw_only=True)
class ForgetChange(ResourceChange):
    """Drop a resource from the state; the provider is not touched."""

    @property
    def actions(self) -> tuple[Action, ...]:
        return (Action.FORGET,)

    @classmethod
    def parse(
        cls, common: dict[str, Any], after: Mapping[str, Any] | None, data: Mapping[str, Any]
    ) -> ForgetChange:
        return cls(**common)


@dataclass(frozen=True, kw_only=True)
class DriftChange(ResourceChange):
    """Record in the state what refresh saw changed outside ftctl. `status` None: the
    resource is gone and its record is removed."""

    status: VersionStatus | None
    job_id: str | None = None
    model_id: str | None = None

    @property
    def actions(self) -> tuple[Action, ...]:
        return (Action.RECORD_DRIFT,)

    @property
    def after(self) -> Mapping[str, Any] | None:
        if self.status is None:
            return None
        return {"status": self.status, "job_id": self.job_id, "model_id": self.model_id}

    @classmethod
    def parse(
        cls, common: dict[str, Any], after: Mapping[str, Any] | None, data: Mapping[str, Any]
    ) -> DriftChange:
        if after is None:
            return cls(**common, status=None)
        status = str(after.get("status"))
        if status not in VERSION_STATUSES:
            raise PlanError(f"plan change {common['address']}: unknown status {status!r}")
        return cls(
            **common,
            status=cast(VersionStatus, status),
            job_id=None if after.get("job_id") is None else str(after["job_id"]),
            model_id=None if after.get("model_id") is None else str(after["model_id"]),
        )


_BY_FIRST_ACTION: dict[Action, type[ResourceChange]] = {
    Action.UPLOAD: UploadChange,
    Action.CREATE: NewVersionChange,
    Action.ADOPT: NewVersionChange,
    Action.WAIT: CheckChange,
    Action.GATE: CheckChange,
    Action.PROMOTE: PromoteChange,
    Action.CANCEL: CancelChange,
    Action.RETIRE: RetireChange,
    Action.FORGET: ForgetChange,
    Action.RECORD_DRIFT: DriftChange,
    Action.DEPLOY: DeployChange,
    Action.UNDEPLOY: UndeployChange,
}


@dataclass(frozen=True)
class DriftItem:
    """Something that changed outside ftctl since the state was written."""

    address: str
    project: str
    reason: Reason
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None

    @property
    def message(self) -> str:
        return self.reason.text

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "project": self.project,
            "message": self.message,
            "code": str(self.reason.code),
            "args": dict(self.reason.args),
            "before": _plain(self.before),
            "after": _plain(self.after),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftItem:
        return cls(
            address=str(data["address"]),
            project=str(data["project"]),
            reason=Reason.parse(data.get("code"), data.get("args")),
            before=data.get("before"),
            after=data.get("after"),
        )


@dataclass(frozen=True)
class PlanOptions:
    """How the plan was asked for (`--target`, `--replace`, `--destroy`, `--refresh-only`)."""

    projects: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()
    destroy: bool = False
    refresh_only: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "projects": list(self.projects),
            "targets": list(self.targets),
            "replace": list(self.replace),
            "destroy": self.destroy,
            "refresh_only": self.refresh_only,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlanOptions:
        return cls(
            projects=tuple(data.get("projects", ())),
            targets=tuple(data.get("targets", ())),
            replace=tuple(data.get("replace", ())),
            destroy=bool(data.get("destroy", False)),
            refresh_only=bool(data.get("refresh_only", False)),
        )


@dataclass(frozen=True)
class Plan:
    """Everything `apply` will do, and what it was computed from."""

    plan_id: str
    created_at: str
    workspace_id: str
    state_lineage: str
    state_serial: int
    data_hashes: Mapping[str, str]  # "project.split" -> sha256 of the built split
    changes: tuple[ResourceChange, ...]
    drift: tuple[DriftItem, ...] = ()
    warnings: tuple[str, ...] = ()
    # None: a project whose new job has no per-token price (shown as "price unknown").
    cost_by_project: Mapping[str, float | None] = field(default_factory=dict)
    options: PlanOptions = field(default_factory=PlanOptions)
    ftctl_version: str = ""
    format_version: int = PLAN_FORMAT_VERSION

    # ---- queries

    @property
    def actionable(self) -> tuple[ResourceChange, ...]:
        """The changes that do something (every change does: there is no no-op)."""
        return tuple(c for c in self.changes if c.actions)

    @property
    def has_changes(self) -> bool:
        return bool(self.actionable)

    @property
    def total_cost_usd(self) -> float:
        """The known costs' sum (projects whose price is unknown count nothing)."""
        return round(sum(v or 0.0 for v in self.cost_by_project.values()), 6)

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if action in c.actions)

    def summary(self) -> dict[str, int]:
        """The counts of the summary line (`Plan: 1 to upload, 1 to train, ...`)."""
        return {
            "upload": self.count(Action.UPLOAD),
            "train": self.count(Action.CREATE),
            "promote": self.count(Action.PROMOTE),
            "retire": self.count(Action.RETIRE),
            "cancel": self.count(Action.CANCEL),
            # Waiting that is part of a new version is not counted twice.
            "wait": sum(
                1
                for c in self.changes
                if Action.WAIT in c.actions and not isinstance(c, NewVersionChange)
            ),
            "forget": self.count(Action.FORGET),
            "record_drift": self.count(Action.RECORD_DRIFT),
            "deploy": self.count(Action.DEPLOY),
            "undeploy": self.count(Action.UNDEPLOY),
        }

    @property
    def hourly_usd(self) -> float:
        """The hosting fee per hour of the deployments the plan creates or updates."""
        return round(
            sum(c.hourly_usd or 0.0 for c in self.changes if isinstance(c, DeployChange)), 6
        )

    # ---- JSON

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "ftctl_version": self.ftctl_version,
            "plan_id": self.plan_id,
            "created_at": self.created_at,
            "workspace_id": self.workspace_id,
            "state": {"lineage": self.state_lineage, "serial": self.state_serial},
            "data_hashes": dict(sorted(self.data_hashes.items())),
            "options": self.options.to_dict(),
            "resource_changes": [c.to_dict() for c in self.changes],
            "drift": [d.to_dict() for d in self.drift],
            "warnings": list(self.warnings),
            "cost": {
                "currency": "USD",
                "projects": dict(sorted(self.cost_by_project.items())),
                "total": self.total_cost_usd,
                # Deployments are billed by the hour while they exist, not once.
                "hosting_per_hour": self.hourly_usd,
            },
            "summary": self.summary(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        version = data.get("format_version")
        if version != PLAN_FORMAT_VERSION:
            raise PlanError(
                f"unsupported plan format_version {version!r}: this ftctl reads version "
                f"{PLAN_FORMAT_VERSION}; make a new plan with `ftctl plan -out FILE`"
            )
        try:
            state = data["state"]
            return cls(
                plan_id=str(data["plan_id"]),
                created_at=str(data["created_at"]),
                workspace_id=str(data["workspace_id"]),
                state_lineage=str(state["lineage"]),
                state_serial=int(state["serial"]),
                data_hashes={str(k): str(v) for k, v in data.get("data_hashes", {}).items()},
                changes=tuple(ResourceChange.from_dict(c) for c in data["resource_changes"]),
                drift=tuple(DriftItem.from_dict(d) for d in data.get("drift", ())),
                warnings=tuple(str(w) for w in data.get("warnings", ())),
                cost_by_project={
                    str(k): None if v is None else float(v)
                    for k, v in data.get("cost", {}).get("projects", {}).items()
                },
                options=PlanOptions.from_dict(data.get("options", {})),
                ftctl_version=str(data.get("ftctl_version", "")),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise PlanError(f"malformed plan: missing or invalid {error}") from error


def _need(after: Mapping[str, Any] | None, common: Mapping[str, Any]) -> Mapping[str, Any]:
    if after is None:
        raise PlanError(f"plan change {common['address']} has no `after`")
    return after


def _acts(data: Mapping[str, Any]) -> list[str]:
    return [str(a) for a in data.get("actions", ())]


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
