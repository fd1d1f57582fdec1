"""The machine-readable view of a plan (documented in docs/plan-json.md)."""

from __future__ import annotations

import json

from ftctl.plan.changes import Plan
from ftctl.render.human import summary_line


def plan_json(plan: Plan) -> dict[str, object]:
    """The documented JSON document: the saved-plan format plus the summary text."""
    data: dict[str, object] = plan.to_dict()
    data["has_changes"] = plan.has_changes
    data["summary_text"] = summary_line(plan)
    return data


def render_plan_json(plan: Plan) -> str:
    return json.dumps(plan_json(plan), indent=2) + "\n"
