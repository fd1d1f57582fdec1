"""`ftctl history PROJECT`: versions and alias moves over time, with who and why.

A pure function of the state snapshot and the project's audit entries (oldest first).
"Why" is the plan's reason for the change when the entry recorded one, else what the
entry itself says (the fingerprint a version was trained for, the version an alias left).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ftctl.state.model import AuditEntry, StateSnapshot


@dataclass(frozen=True)
class HistoryEvent:
    at: str
    who: str
    address: str
    action: str
    what: str
    why: str | None
    plan_id: str | None
    git_commit: str | None
    seq: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "who": self.who,
            "address": self.address,
            "action": self.action,
            "what": self.what,
            "why": self.why,
            "plan_id": self.plan_id,
            "git_commit": self.git_commit,
            "audit_seq": self.seq,
        }


@dataclass(frozen=True)
class History:
    project: str
    versions: tuple[dict[str, Any], ...]
    aliases: dict[str, int]
    events: tuple[HistoryEvent, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "versions": list(self.versions),
            "aliases": dict(self.aliases),
            "events": [e.to_dict() for e in self.events],
        }


# Audit actions that belong in a project's history (uploads and waits are detail).
_SHOWN = ("create", "adopt", "wait", "gate", "promote", "cancel", "retire", "forget", "record")


def history_of(snapshot: StateSnapshot, audit: Sequence[AuditEntry], project: str) -> History:
    versions = tuple(
        {
            "version": v.number,
            "status": v.status,
            "model_id": v.model_id,
            "job_id": v.job_id,
            "created_at": v.created_at,
            "finished_at": v.finished_at,
            "git_commit": v.git_commit,
            "imported": v.imported,
        }
        for v in snapshot.versions_of(project)
    )
    aliases = {a.name: a.version for a in snapshot.aliases_of(project)}
    events = tuple(
        HistoryEvent(
            at=e.at,
            who=e.who,
            address=e.address,
            action=e.action,
            what=_what(e),
            why=_why(e),
            plan_id=e.plan_id,
            git_commit=e.git_commit,
            seq=e.seq,
        )
        for e in audit
        if e.project == project and e.action in _SHOWN
    )
    return History(project, versions, aliases, events)


def _what(e: AuditEntry) -> str:
    d = e.detail
    name = e.address.split(".", 2)[2] if e.address.count(".") >= 2 else e.address
    if e.action == "create":
        verb = "found the job already started" if d.get("adopted_existing") else "started training"
        return f"version {name}: {verb} (job {d.get('job_id', '?')})"
    if e.action == "adopt":
        return f"version {name}: adopted job {d.get('job_id', '?')} ({e.operation})"
    if e.action == "wait":
        return f"version {name}: trained model {d.get('model_id') or '-'}"
    if e.action == "gate":
        return f"version {name}: gates {'passed' if d.get('passed') else 'failed'}"
    if e.action == "promote":
        before = d.get("previous_version")
        after = d.get("version", d.get("to_version"))
        moved = f"{before} -> {after}" if before is not None else f"set to {after}"
        return f"alias {name}: {moved}"
    if e.action == "cancel":
        return f"version {name}: cancelled (job {d.get('job_id', '?')})"
    if e.action == "retire":
        return f"version {name}: retired (model {d.get('model_id') or '-'} deleted)"
    if e.action == "forget":
        return f"{e.address}: removed from the state ({e.operation})"
    return f"{e.address}: drift recorded"


def _why(e: AuditEntry) -> str | None:
    d: Mapping[str, Any] = e.detail
    if e.action == "wait":
        return None  # the same change as its create: its reason was shown there
    reason = d.get("reason")
    if e.action != "gate" and isinstance(reason, str) and reason:
        return reason
    if e.action in ("create", "adopt") and d.get("fingerprint"):
        return f"training fingerprint {str(d['fingerprint'])[:12]}"
    if e.action == "gate":
        failed = [
            str(r.get("message", r.get("name", "")))
            for r in d.get("results") or []
            if isinstance(r, Mapping) and not r.get("passed")
        ]
        return "; ".join(failed) or None
    return None
