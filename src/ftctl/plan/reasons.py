"""Why a change or a drift item is in the plan: a closed set of codes, with display text.

A plan carries a `Reason` (a code and the few values its sentence needs), never prose:
tools read `reason_code` from the JSON plan (docs/plan-json.md lists every code), and
the text people read is derived here, in one place, from the code and its arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ftctl.errors import PlanError

ReasonArg = str | int | None


class ReasonCode(StrEnum):
    # datasets
    NOT_UPLOADED = "not-uploaded"
    CONTENT_CHANGED = "content-changed"
    # new versions
    REPLACE_REQUESTED = "replace-requested"
    NO_VERSION_YET = "no-version-yet"
    IMPORTED_MISMATCH = "imported-mismatch"
    FINGERPRINT_CHANGED = "fingerprint-changed"
    VERSION_FAILED = "version-failed"
    VERSION_CANCELLED = "version-cancelled"
    VERSION_GONE = "version-gone"
    NO_USABLE_VERSION = "no-usable-version"
    JOB_EXISTS = "job-exists"
    # existing versions
    SUPERSEDED = "superseded"
    JOB_RUNNING = "job-running"
    JOB_FINISHED = "job-finished"
    GATES_NOT_RUN = "gates-not-run"
    GATES_CHANGED = "gates-changed"
    BEYOND_KEEP_VERSIONS = "beyond-keep-versions"
    # aliases
    PROMOTE = "promote"
    PROMOTE_IF_GATES_PASS = "promote-if-gates-pass"
    # deployments (providers whose models serve only through them)
    DEPLOY = "deploy"
    DEPLOY_IF_GATES_PASS = "deploy-if-gates-pass"
    DEPLOYMENT_MISSING = "deployment-missing"
    DEPLOYMENT_SETTINGS_CHANGED = "deployment-settings-changed"
    PROMOTE_PINNED = "promote-pinned"  # spec.promote.version
    MANUAL_PROMOTE = "manual-promote"  # `ftctl promote PROJECT VERSION --reason ...`
    # destroy, import, state rm
    DESTROY = "destroy"
    IMPORT = "import"
    STATE_RM = "state-rm"
    # drift (changes made outside ftctl)
    JOB_CANCELLED_OUTSIDE = "job-cancelled-outside"
    JOB_MISSING = "job-missing"
    MODEL_DELETED_OUTSIDE = "model-deleted-outside"
    ALIAS_TARGET_NOT_IN_STATE = "alias-target-not-in-state"
    ALIAS_TARGET_GONE = "alias-target-gone"
    ALIAS_MODEL_GONE = "alias-model-gone"
    DEPLOYMENT_DELETED_OUTSIDE = "deployment-deleted-outside"


def _content_changed(a: Mapping[str, ReasonArg]) -> str:
    if a.get("added") is not None and a.get("removed") is not None:
        return f"content changed: +{_int(a, 'added'):,} / -{_int(a, 'removed'):,} examples"
    return f"content changed: {_int(a, 'before'):,} -> {_int(a, 'after'):,} examples"


def _int(args: Mapping[str, ReasonArg], key: str) -> int:
    value = args.get(key)
    return value if isinstance(value, int) else 0


_TEXT: dict[ReasonCode, Callable[[Mapping[str, ReasonArg]], str]] = {
    ReasonCode.NOT_UPLOADED: lambda a: "not uploaded yet",
    ReasonCode.CONTENT_CHANGED: _content_changed,
    ReasonCode.REPLACE_REQUESTED: lambda a: "replacement requested with --replace",
    ReasonCode.NO_VERSION_YET: lambda a: "no version trained yet",
    ReasonCode.IMPORTED_MISMATCH: lambda a: (
        f"imported version {a.get('version')} does not match the configuration"
    ),
    ReasonCode.FINGERPRINT_CHANGED: lambda a: "fingerprint changed",
    ReasonCode.VERSION_FAILED: lambda a: f"version {a.get('version')} failed",
    ReasonCode.VERSION_CANCELLED: lambda a: f"version {a.get('version')} was cancelled",
    ReasonCode.VERSION_GONE: lambda a: (
        f"version {a.get('version')} no longer exists on the provider"
    ),
    ReasonCode.NO_USABLE_VERSION: lambda a: "no usable version for this fingerprint",
    ReasonCode.JOB_EXISTS: lambda a: (
        f"job {a.get('job_id')} for this fingerprint already exists on the provider; adopting it"
    ),
    ReasonCode.SUPERSEDED: lambda a: f"superseded by version {a.get('version')}",
    ReasonCode.JOB_RUNNING: lambda a: "job is running",
    ReasonCode.JOB_FINISHED: lambda a: "job finished since last apply",
    ReasonCode.GATES_NOT_RUN: lambda a: "gates not run yet",
    ReasonCode.GATES_CHANGED: lambda a: "gates changed since they last ran",
    ReasonCode.BEYOND_KEEP_VERSIONS: lambda a: f"beyond lifecycle.keepVersions ({a.get('keep')})",
    ReasonCode.PROMOTE: lambda a: f"move to version {a.get('version')}",
    ReasonCode.PROMOTE_IF_GATES_PASS: lambda a: (
        f"move to version {a.get('version')} if its gates pass"
    ),
    ReasonCode.DEPLOY: lambda a: f"serve version {a.get('version')} through {a.get('name')}",
    ReasonCode.DEPLOY_IF_GATES_PASS: lambda a: (
        f"serve version {a.get('version')} through {a.get('name')} if its gates pass"
    ),
    ReasonCode.DEPLOYMENT_MISSING: lambda a: (
        f"deployment {a.get('name')} does not exist; version {a.get('version')} is served "
        "through it again"
    ),
    ReasonCode.DEPLOYMENT_SETTINGS_CHANGED: lambda a: "sku or capacity changed",
    ReasonCode.PROMOTE_PINNED: lambda a: (
        f"move to version {a.get('version')} (pinned by promote.version)"
    ),
    ReasonCode.MANUAL_PROMOTE: lambda a: (
        f"manual promotion to version {a.get('version')}"
        + (f" by {a['who']}" if a.get("who") else "")
        + (f": {a['why']}" if a.get("why") else "")
    ),
    ReasonCode.DESTROY: lambda a: "destroy",
    ReasonCode.IMPORT: lambda a: f"import of job {a.get('job_id')}",
    ReasonCode.STATE_RM: lambda a: "ftctl state rm",
    ReasonCode.JOB_CANCELLED_OUTSIDE: lambda a: "job was cancelled outside ftctl",
    ReasonCode.JOB_MISSING: lambda a: "job no longer exists on the provider",
    ReasonCode.MODEL_DELETED_OUTSIDE: lambda a: "model was deleted outside ftctl",
    ReasonCode.ALIAS_TARGET_NOT_IN_STATE: lambda a: (
        f"alias target (version {a.get('version')}) is not in the state"
    ),
    ReasonCode.ALIAS_TARGET_GONE: lambda a: (
        f"alias target (version {a.get('version')}) no longer exists"
    ),
    ReasonCode.ALIAS_MODEL_GONE: lambda a: (
        f"alias model {a.get('model_id')} no longer exists on the provider"
    ),
    ReasonCode.DEPLOYMENT_DELETED_OUTSIDE: lambda a: (
        f"deployment {a.get('name')} was deleted outside ftctl"
    ),
}


@dataclass(frozen=True)
class Reason:
    """A reason code and the values its display text needs (`{"version": 4}`)."""

    code: ReasonCode
    args: Mapping[str, ReasonArg] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return _TEXT[self.code](self.args)

    def __str__(self) -> str:
        return self.text

    @classmethod
    def of(cls, code: ReasonCode, **args: ReasonArg) -> Reason:
        return cls(code, dict(args))

    @classmethod
    def parse(cls, code: Any, args: Any) -> Reason:
        """The reason of a plan file's change; PlanError for a code this ftctl does not know."""
        try:
            known = ReasonCode(str(code))
        except ValueError as error:
            raise PlanError(f"unknown reason code {code!r} in plan") from error
        if args is not None and not isinstance(args, Mapping):
            raise PlanError(f"malformed reason_args {args!r} in plan")
        plain = {
            str(k): v if isinstance(v, str | int) or v is None else str(v)
            for k, v in (args or {}).items()
        }
        return cls(known, plain)
