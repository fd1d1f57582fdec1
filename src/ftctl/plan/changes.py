"""The plan as data: frozen values that renderers show and the executor runs.

A `Plan` is a pure value: JSON in, JSON out (`to_dict` / `from_dict`), so that a saved
plan file holds exactly what `apply` will do and a renderer never feeds decisions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ftctl.errors import PlanError
from ftctl.plan.fingerprint import FieldChange

PLAN_FORMAT_VERSION = 1

# Actions, in the order the executor runs a change's steps.
UPLOAD = "upload"
CREATE = "create"  # start a new fine-tuning job (a paid training run)
ADOPT = "adopt"  # record a job ftctl already started (found by its metadata)
WAIT = "wait"
GATE = "gate"
PROMOTE = "promote"
CANCEL = "cancel"
RETIRE = "retire"
FORGET = "forget"
RECORD_DRIFT = "record-drift"
NO_OP = "no-op"

ACTIONS = (UPLOAD, CREATE, ADOPT, WAIT, GATE, PROMOTE, CANCEL, RETIRE, FORGET, RECORD_DRIFT, NO_OP)


@dataclass(frozen=True)
class ResourceChange:
    """What the plan does to one resource (`version.support-bot.4`).

    `before`/`after` are plain JSON (None when the resource does not exist on that side);
    `after` also carries what the executor needs (the job request, the split hashes).
    `forces_new` lists the fingerprint fields that made this a new version.
    """

    address: str
    project: str
    actions: tuple[str, ...]
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    reason: str
    forces_new: tuple[FieldChange, ...] = ()
    cost_usd: float | None = None

    @property
    def kind(self) -> str:
        return self.address.split(".", 1)[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "project": self.project,
            "actions": list(self.actions),
            "before": _plain(self.before),
            "after": _plain(self.after),
            "reason": self.reason,
            "forces_new": [f.to_dict() for f in self.forces_new],
            "cost_usd": self.cost_usd,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResourceChange:
        actions = tuple(str(a) for a in data["actions"])
        unknown = [a for a in actions if a not in ACTIONS]
        if unknown:
            raise PlanError(f"unknown action(s) {unknown} in plan change {data.get('address')}")
        return cls(
            address=str(data["address"]),
            project=str(data["project"]),
            actions=actions,
            before=data.get("before"),
            after=data.get("after"),
            reason=str(data.get("reason", "")),
            forces_new=tuple(FieldChange.from_dict(f) for f in data.get("forces_new", ())),
            cost_usd=data.get("cost_usd"),
        )


@dataclass(frozen=True)
class DriftItem:
    """Something that changed outside ftctl since the state was written."""

    address: str
    project: str
    message: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "project": self.project,
            "message": self.message,
            "before": _plain(self.before),
            "after": _plain(self.after),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftItem:
        return cls(
            address=str(data["address"]),
            project=str(data["project"]),
            message=str(data["message"]),
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
    cost_by_project: Mapping[str, float] = field(default_factory=dict)
    options: PlanOptions = field(default_factory=PlanOptions)
    ftctl_version: str = ""
    format_version: int = PLAN_FORMAT_VERSION

    # ---- queries

    @property
    def actionable(self) -> tuple[ResourceChange, ...]:
        """The changes that do something (no-ops left out)."""
        return tuple(c for c in self.changes if c.actions != (NO_OP,))

    @property
    def has_changes(self) -> bool:
        return bool(self.actionable)

    @property
    def total_cost_usd(self) -> float:
        return round(sum(self.cost_by_project.values()), 6)

    def count(self, action: str) -> int:
        return sum(1 for c in self.changes if action in c.actions)

    def summary(self) -> dict[str, int]:
        """The counts of the summary line (`Plan: 1 to upload, 1 to train, ...`)."""
        return {
            "upload": self.count(UPLOAD),
            "train": self.count(CREATE),
            "promote": self.count(PROMOTE),
            "retire": self.count(RETIRE),
            "cancel": self.count(CANCEL),
            # Waiting that is part of a new version is not counted twice.
            "wait": sum(
                1
                for c in self.changes
                if WAIT in c.actions and not {CREATE, ADOPT} & set(c.actions)
            ),
            "forget": self.count(FORGET),
            "record_drift": self.count(RECORD_DRIFT),
        }

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
                    str(k): float(v) for k, v in data.get("cost", {}).get("projects", {}).items()
                },
                options=PlanOptions.from_dict(data.get("options", {})),
                ftctl_version=str(data.get("ftctl_version", "")),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise PlanError(f"malformed plan: missing or invalid {error}") from error


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
