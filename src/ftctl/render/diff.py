"""Views of `ftctl diff`: terminal text, JSON (`WorkspaceDiff.to_dict`), and Markdown."""

from __future__ import annotations

import json
from typing import Any

from ftctl.plan.specdiff import ProjectDiff, SpecField, SplitDiff, WorkspaceDiff
from ftctl.render.human import money

FORCES_NEW = "# forces a new version"


def _value(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _field(f: SpecField) -> str:
    symbol = "+" if f.before is None else "-" if f.after is None else "~"
    tail = f"   {FORCES_NEW}" if f.forces_new else ""
    return f"{symbol} {f.path} = {_value(f.before)} -> {_value(f.after)}{tail}"


def _signed(value: int) -> str:
    return f"{value:+,}"


def _cost(project: ProjectDiff) -> str:
    delta = project.cost_delta_usd
    if delta is None:
        return "n/a"
    sign = "+" if delta >= 0 else "-"
    return f"{sign}{money(abs(delta))}"


def split_line(s: SplitDiff) -> str:
    return (
        f"data {s.split}: +{s.added} / -{s.removed} / ~{s.changed} examples "
        f"({s.before_examples:,} -> {s.after_examples:,}), tokens {_signed(s.tokens_delta)}"
    )


def _headline(p: ProjectDiff) -> str:
    if p.status == "changed":
        return f"{p.name}: changed, " + (
            "trains a new version" if p.new_version else "no new version"
        )
    return f"{p.name}: {p.status}"


def render_diff_text(diff: WorkspaceDiff) -> str:
    lines = [f"ftctl diff {diff.base} -> {diff.head}", ""]
    for f in diff.workspace_fields:
        lines.append(f"  {_field(f)}")
    if diff.workspace_fields:
        lines.append("")
    if not diff.changed and not diff.workspace_fields:
        lines.append("No differences in projects or data.")
        return "\n".join(lines) + "\n"
    for p in diff.changed:
        lines.append(_headline(p))
        lines += [f"  {_field(f)}" for f in p.fields]
        for s in p.splits:
            lines.append(f"  {split_line(s)}")
            lines += [f"    {_sample(x.kind, x.prompt, x.before, x.after)}" for x in s.samples]
        if p.status == "changed":
            lines.append(f"  est. training cost {_cost(p)}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _sample(kind: str, prompt: str, before: str | None, after: str | None) -> str:
    symbol = {"added": "+", "removed": "-", "changed": "~"}[kind]
    if kind == "changed":
        return f"{symbol} {prompt!r}: {before!r} -> {after!r}"
    answer = after if kind == "added" else before
    return f"{symbol} {prompt!r} => {answer!r}"


def render_diff_json(diff: WorkspaceDiff) -> str:
    return json.dumps(diff.to_dict(), indent=2, ensure_ascii=False) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_diff_markdown(diff: WorkspaceDiff) -> str:
    lines = [f"### ftctl diff `{diff.base}` → `{diff.head}`", ""]
    if not diff.changed and not diff.workspace_fields:
        return "\n".join([*lines, "**No differences in projects or data.**"]) + "\n"
    lines += [
        "| Project | Status | New version | Fields | Data (+/-/~) | Est. cost Δ |",
        "|---|---|---|---:|---|---:|",
    ]
    for p in diff.changed:
        data = ", ".join(f"{s.split} +{s.added}/-{s.removed}/~{s.changed}" for s in p.splits)
        lines.append(
            f"| `{p.name}` | {p.status} | {'yes' if p.new_version else 'no'} | {len(p.fields)} "
            f"| {data or '–'} | {_cost(p)} |"
        )
    lines.append("")
    if diff.workspace_fields:
        lines += ["**ftctl.yaml**", "", "```diff"]
        lines += [_field(f) for f in diff.workspace_fields]
        lines += ["```", ""]
    for p in diff.changed:
        what = _headline(p).split(": ", 1)[1]
        lines += ["<details>", f"<summary><code>{p.name}</code>: {what}</summary>", ""]
        if p.fields:
            lines += ["| Field | Before | After | Forces new version |", "|---|---|---|---|"]
            lines += [
                f"| `{f.path}` | {_cell(_value(f.before))} | {_cell(_value(f.after))} "
                f"| {'**yes**' if f.forces_new else 'no'} |"
                for f in p.fields
            ]
            lines.append("")
        for s in p.splits:
            lines += [f"- {split_line(s)}"]
            lines += [
                f"  - {_cell(_sample(x.kind, x.prompt, x.before, x.after))}" for x in s.samples
            ]
        lines += ["", "</details>", ""]
    return "\n".join(lines).rstrip() + "\n"
