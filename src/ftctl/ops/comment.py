"""`ftctl comment`: gather what the PR comment shows besides the plan itself.

The latest eval of each planned project: the report `ftctl eval` left in
`.ftctl/evals/<project>.json` when there is one, else the gate decision the state
records for the project's newest gated version. And what could not be checked: a
provider that was not refreshed (no key, as on a pull request from a fork), a state
that could not be read. Reading the state here is read-only and optional.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ftctl.config.loader import LoadedWorkspace
from ftctl.errors import FtctlError
from ftctl.ops.evaluate import REPORTS
from ftctl.plan.changes import Plan
from ftctl.render.comment import EvalLine
from ftctl.state.store import open_state


def not_checked(plan: Plan | None) -> list[str]:
    """The plan's warnings that mean part of the world was not looked at."""
    if plan is None:
        return []
    return [w for w in plan.warnings if "not refreshed" in w or "not read" in w]


def latest_evals(
    workspace: LoadedWorkspace, projects: Sequence[str], problems: list[str]
) -> list[EvalLine]:
    """One line per project that has an eval; `problems` gets what could not be read."""
    lines: dict[str, EvalLine] = {}
    for name in projects:
        line = _from_report(workspace.root / REPORTS / f"{name}.json", name)
        if line is not None:
            lines[name] = line
    missing = [p for p in projects if p not in lines]
    if missing:
        try:
            store = open_state(workspace)
            snapshot = store.read() if store.exists() else None
        except FtctlError as error:
            problems.append(f"Eval history not read: {error.message}")
            snapshot = None
        for name in missing:
            if snapshot is None:
                break
            gated = [v for v in snapshot.versions_of(name) if v.gates is not None]
            if not gated:
                continue
            newest = max(gated, key=lambda v: v.number)
            gates = newest.gates or {}
            summary = str((gates.get("eval") or {}).get("summary") or "")
            if not summary:
                summary = "; ".join(str(r.get("message", "")) for r in gates.get("results", []))
            lines[name] = EvalLine(name, newest.number, bool(gates.get("passed")), summary, "apply")
    return [lines[p] for p in projects if p in lines]


def _from_report(path: Path, project: str) -> EvalLine | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format_version") != 1:
        return None
    report = data.get("eval") or {}
    summary = ""
    if report:
        summary = f"{report.get('dataset')} pass rate {report.get('pass_rate'):.2f}"
        if report.get("win_rate") is not None:
            summary += f", win rate {report['win_rate']:.2f}"
    failed = [g["name"] for g in data.get("gates", []) if not g.get("passed")]
    if failed:
        summary += ("; " if summary else "") + "failed: " + ", ".join(failed)
    version = data.get("version")
    return EvalLine(
        project,
        int(version) if isinstance(version, int) else None,
        bool(data.get("passed")),
        summary,
        "ftctl eval",
    )
