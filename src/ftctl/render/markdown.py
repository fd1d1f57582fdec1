"""The plan as a pull-request comment: a summary table and one details block per project."""

from __future__ import annotations

from dataclasses import replace

from ftctl.plan.changes import Action, Plan
from ftctl.render.human import money, render_plan, summary_line

HEADER = "### ftctl plan"


def render_plan_markdown(plan: Plan) -> str:
    lines = [HEADER, ""]
    if not plan.has_changes and not plan.drift:
        lines += [f"**{summary_line(plan)}**", ""]
        lines += [f"> **Warning:** {w}" for w in plan.warnings]
        return "\n".join(lines).rstrip() + "\n"
    projects = sorted({c.project for c in plan.actionable} | {d.project for d in plan.drift})
    lines += [
        "| Project | Upload | Train | Promote | Retire | Other | Est. cost |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in projects:
        mine = [c for c in plan.actionable if c.project == name]
        counted = (Action.UPLOAD, Action.CREATE, Action.PROMOTE, Action.RETIRE)
        counts = {action: sum(1 for c in mine if action in c.actions) for action in counted}
        other = sum(1 for c in mine if not set(counted) & set(c.actions))
        value = plan.cost_by_project.get(name, 0.0)
        cost = "price unknown" if value is None else money(value)
        lines.append(
            f"| `{name}` | {counts[Action.UPLOAD]} | {counts[Action.CREATE]} "
            f"| {counts[Action.PROMOTE]} | {counts[Action.RETIRE]} | {other} | {cost} |"
        )
    lines += ["", f"**{summary_line(plan)}**", ""]
    lines += [f"> **Warning:** {w}" for w in plan.warnings]
    if plan.warnings:
        lines.append("")
    for name in projects:
        only = replace(
            plan,
            changes=tuple(c for c in plan.changes if c.project == name),
            drift=tuple(d for d in plan.drift if d.project == name),
            warnings=(),
            cost_by_project={k: v for k, v in plan.cost_by_project.items() if k == name},
        )
        count = len(only.actionable)
        lines += [
            "<details>",
            f"<summary><code>{name}</code>: {count} change{'s' if count != 1 else ''}</summary>",
            "",
            "```text",
            render_plan(only, color=False).rstrip(),
            "```",
            "",
            "</details>",
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"
