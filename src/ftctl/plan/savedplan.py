"""Saved plan files (`ftctl plan -out FILE`): write, read, and refuse when stale.

A saved plan is bound to the state lineage and serial and to the hashes of the built data
it was made from; `apply` refuses it when any of them changed, as Terraform does.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from ftctl.errors import PlanError, StalePlanError
from ftctl.plan.changes import Plan
from ftctl.state.model import StateSnapshot

# The lineage of a plan made before any state was recorded (planning creates none): it
# still applies to a state that has been created since but has recorded nothing (serial 0).
NO_STATE_LINEAGE = "none"


def write_plan(plan: Plan, path: Path) -> None:
    """Write `plan` as JSON, atomically (a crash never leaves half a plan file)."""
    text = json.dumps(plan.to_dict(), indent=2, sort_keys=False) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_plan(path: Path) -> Plan:
    """Read a saved plan; PlanError when it is not one or of another format version."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise PlanError(f"{path}: no such plan file") from error
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PlanError(f"{path}: not a saved ftctl plan ({error})") from error
    if not isinstance(data, dict) or "format_version" not in data:
        raise PlanError(f"{path}: not a saved ftctl plan (no format_version)")
    return Plan.from_dict(data)


def looks_like_plan_file(path: Path) -> bool:
    """True when `path` is a file whose JSON carries a plan format_version."""
    if not path.is_file():
        return False
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and "format_version" in data and "resource_changes" in data


def check_fresh(plan: Plan, snapshot: StateSnapshot, data_hashes: Mapping[str, str]) -> None:
    """Raise StalePlanError when the state or the built data changed since `plan` was made."""
    unborn = plan.state_lineage == NO_STATE_LINEAGE and plan.state_serial == 0
    if snapshot.lineage != plan.state_lineage and not unborn:
        raise StalePlanError(
            "Saved plan is stale: it was made for another state "
            f"(lineage {plan.state_lineage}, the state is {snapshot.lineage}). "
            "Run `ftctl plan` again."
        )
    if snapshot.serial != plan.state_serial:
        raise StalePlanError(
            f"Saved plan is stale: the state changed since it was made (serial "
            f"{plan.state_serial} -> {snapshot.serial}). Run `ftctl plan` again."
        )
    changed = sorted(
        key
        for key in set(plan.data_hashes) | set(data_hashes)
        if key in plan.data_hashes and plan.data_hashes.get(key) != data_hashes.get(key)
    )
    if changed:
        raise StalePlanError(
            "Saved plan is stale: the training data changed since it was made "
            f"({', '.join(changed)}). Run `ftctl plan` again."
        )
