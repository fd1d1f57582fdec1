"""The Terraform-style text view of a plan.

Returns text; with `color=True` the text carries rich markup (the CLI prints it with a
rich console), otherwise it is plain. Built from the plan's values only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.markup import escape

from ftctl.plan.changes import (
    Action,
    CancelChange,
    CheckChange,
    DeployChange,
    DriftItem,
    ForgetChange,
    NewVersionChange,
    Plan,
    PromoteChange,
    ResourceChange,
    RetireChange,
    UndeployChange,
    UploadChange,
)
from ftctl.plan.reasons import ReasonCode

NO_CHANGES = "No changes. Fine-tunes match the configuration."

_SYMBOL_STYLE = {"+": "green", "~": "yellow", "-": "red", "-/+": "magenta"}
_LABELS = {
    "provider": "provider",
    "base_model": "base_model",
    "method": "method",
    "seed": "seed",
    "data.train": "train",
    "data.validation": "validation",
    "replace": "replace",
}


class _Out:
    def __init__(self, color: bool) -> None:
        self.color = color
        self.lines: list[str] = []

    def text(self, value: str) -> str:
        return escape(value) if self.color else value

    def styled(self, value: str, style: str) -> str:
        return f"[{style}]{escape(value)}[/{style}]" if self.color else value

    def add(self, line: str = "") -> None:
        self.lines.append(line)


def render_plan(plan: Plan, *, color: bool = False) -> str:
    out = _Out(color)
    if plan.drift:
        _render_drift(out, plan.drift, refresh_only=plan.options.refresh_only)
    work = [c for c in plan.actionable if c.actions != (Action.RECORD_DRIFT,)]
    if work:
        out.add(out.styled("ftctl will perform the following actions:", "bold"))
        out.add()
        for change in work:
            _render_change(out, change)
            out.add()
    for warning in plan.warnings:
        out.add(out.styled("Warning: ", "bold yellow") + out.text(warning))
    if plan.warnings:
        out.add()
    if work:
        _render_cost(out, plan)
    out.add(out.styled(summary_line(plan), "bold"))
    return "\n".join(out.lines) + "\n"


def summary_line(plan: Plan) -> str:
    if not plan.has_changes:
        return NO_CHANGES
    counts = plan.summary()
    if plan.options.refresh_only:
        return f"Plan: {counts['record_drift']} to record in the state (refresh only)."
    line = (
        f"Plan: {counts['upload']} to upload, {counts['train']} to train, "
        f"{counts['promote']} to promote, {counts['retire']} to retire."
    )
    extra = [
        f"{counts[key]} {label}"
        for key, label in (
            ("wait", "to wait for"),
            ("cancel", "to cancel"),
            ("deploy", "to deploy"),
            ("undeploy", "to undeploy"),
            ("forget", "to forget"),
            ("record_drift", "to record"),
        )
        if counts[key]
    ]
    if extra:
        line += " Also " + ", ".join(extra) + "."
    if plan.total_cost_usd:
        line += f"  Estimated cost: {money(plan.total_cost_usd)}"
    if plan.hourly_usd:
        line += f" + hosting {money(plan.hourly_usd)}/hour"
    return line


# --------------------------------------------------------------------------- pieces


def _render_drift(out: _Out, drift: Sequence[DriftItem], *, refresh_only: bool) -> None:
    out.add(out.styled("Note: Objects have changed outside of ftctl", "bold"))
    out.add()
    out.add("ftctl detected the following changes made outside of ftctl since the last apply:")
    out.add()
    for item in drift:
        out.add(f"  # {out.text(item.address)} has changed: {out.text(item.message)}")
        symbol = "-" if item.after is None else "~"
        kind, name = _kind_name(item.address)
        out.add(f"  {_symbol(out, symbol)} {kind} {out.text(name)}")
        for key, before, after in _diff(item.before, item.after):
            out.add(f"      {out.text(key)} = {out.text(before)} -> {out.text(after)}")
        out.add()
    if refresh_only:
        out.add(
            "This is a refresh-only plan: ftctl will not undo these changes. Apply it to "
            "record them in the state."
        )
        out.add()


def _render_change(out: _Out, change: ResourceChange) -> None:
    kind, name = _kind_name(change.address)
    heading, symbol = _heading(change)
    out.add(f"  # {out.text(change.address)} {out.text(heading)}")
    before = change.before or {}
    if isinstance(change, UploadChange):
        out.add(
            f"  {_symbol(out, symbol)} dataset {out.text(name)}  "
            f"sha256={short_sha(change.sha256)}  "
            f"examples={change.examples:,}  tokens={change.tokens:,}"
        )
        return
    if isinstance(change, NewVersionChange):
        out.add(f"  {_symbol(out, symbol)} version {out.text(name)}")
        _render_fields(out, change)
        _render_gate_deployment(out, change)
        return
    if isinstance(change, DeployChange):
        old = before.get("version")
        move = f"version = {old} -> {change.version}" if old else f"version = {change.version}"
        out.add(f"  {_symbol(out, symbol)} deployment {out.text(name)}  {move}")
        out.add(f'      name     = "{out.text(change.deployment_name)}"')
        out.add(f"      sku      = {out.text(change.sku)} x {change.capacity}")
        out.add(
            f"      hosting  = {out.text(hourly(change.hourly_usd))}   # billed while it exists"
        )
        return
    if isinstance(change, PromoteChange):
        old = before.get("version")
        move = f"version = {old} -> {change.version}" if old else f"version = {change.version}"
        out.add(f"  {_symbol(out, symbol)} alias {out.text(name)}  {move}")
        if change.gates:
            out.add(f"      gates: {out.text('; '.join(change.gates))}")
        elif change.when == "always":
            out.add("      gates: skipped (promote.when: always)")
        return
    out.add(f"  {_symbol(out, symbol)} {kind} {out.text(name)}")
    for key, old_value, new_value in _diff(before, change.after):
        out.add(f"      {out.text(key)} = {out.text(old_value)} -> {out.text(new_value)}")
    if isinstance(change, CheckChange) and change.run_gates:
        out.add("      gates: run on the finished model")
        _render_gate_deployment(out, change)


def _render_gate_deployment(out: _Out, change: NewVersionChange | CheckChange) -> None:
    gate = change.gate_deployment
    if gate is None or not change.run_gates:
        return
    out.add(
        f'      gates: evaluated through a temporary {out.text(gate.sku)} deployment "'
        f'{out.text(gate.name)}", deleted afterwards'
    )


def _render_fields(out: _Out, change: NewVersionChange) -> None:
    spec = change.spec
    inputs = _flat(spec.fingerprint_inputs)
    forced = {f.path: f for f in change.forces_new}
    rows: list[tuple[str, str, bool]] = []
    for path, value in inputs.items():
        label = _LABELS.get(path, path.split(".")[-1])
        if path in forced:
            f = forced[path]
            rows.append((label, f"{_value(path, f.before)} -> {_value(path, f.after)}", True))
        else:
            rows.append((label, _value(path, value), False))
    for path, f in forced.items():
        if path not in inputs:
            rows.append((path, f"{_value(path, f.before)} -> (removed)", True))
    if spec.suffix:
        rows.append(("suffix", _value("suffix", spec.suffix), False))
    if change.job_id is not None:
        rows.append(("job_id", _value("job_id", change.job_id), False))
    if change.adopt:
        rows.append(("est. cost", "no new charge (the job already exists)", False))
    else:
        rows.append(
            ("est. cost", _cost_text(change.cost_usd, spec.billed_tokens, spec.epochs), False)
        )
    width = max(len(label) for label, _, _ in rows)
    for label, text, forces in rows:
        line = f"      {out.text(label.ljust(width))} = {out.text(text)}"
        if forces:
            line += "   " + out.styled("# forces a new version", "magenta")
        out.add(line)


def _render_cost(out: _Out, plan: Plan) -> None:
    costs = {k: v for k, v in sorted(plan.cost_by_project.items())}
    if not costs:
        return
    out.add(out.styled("Estimated training cost:", "bold"))
    width = max(len(name) for name in [*costs, "total", *(["hosting"] if plan.hourly_usd else [])])
    for name, value in costs.items():
        shown = "price unknown" if value is None else money(value)
        out.add(f"  {out.text(name.ljust(width))}  {shown}")
    total = money(plan.total_cost_usd)
    if None in costs.values():  # some project's price is unknown: no made-up $0.00
        known = any(v is not None for v in costs.values())
        total = f"{total} + price unknown" if known else "price unknown"
    out.add(f"  {'total'.ljust(width)}  {total}")
    if plan.hourly_usd:
        out.add(
            f"  {'hosting'.ljust(width)}  {hourly(plan.hourly_usd)} while the deployments exist"
        )
    out.add()


def _heading(change: ResourceChange) -> tuple[str, str]:
    reason = f" ({change.reason.text})"
    if isinstance(change, UploadChange):
        return f"will be uploaded{reason}", "+"
    if isinstance(change, NewVersionChange) and change.adopt:
        return f"will be adopted{reason}", "+"
    if isinstance(change, NewVersionChange):
        replacing = change.reason.code == ReasonCode.REPLACE_REQUESTED
        return f"will be trained{reason}", "-/+" if replacing else "+"
    if isinstance(change, PromoteChange):
        if change.before is None:
            text = f"will be created at version {change.version}"
        else:
            text = f"will move to version {change.version}"
        if change.gates:
            text += " if its gates pass"
        return text, "+" if change.before is None else "~"
    if isinstance(change, DeployChange):
        verb = "will be created" if change.before is None else "will be updated"
        return f"{verb}{reason}", "+" if change.before is None else "~"
    if isinstance(change, UndeployChange):
        return f"will be deleted and forgotten{reason}", "-"
    if isinstance(change, CancelChange):
        if change.forget:
            return f"will be cancelled and forgotten{reason}", "-"
        return f"will be cancelled{reason}", "~"
    if isinstance(change, RetireChange):
        if change.forget:
            return f"will be retired (model deleted) and forgotten{reason}", "-"
        return f"will be retired (model deleted){reason}", "-"
    if isinstance(change, ForgetChange):
        return f"will be forgotten{reason}", "-"
    if isinstance(change, CheckChange) and change.wait:
        gated = " and checked against its gates" if change.run_gates else ""
        return f"will be waited for{gated}{reason}", "~"
    if isinstance(change, CheckChange):
        return f"will be checked against its gates{reason}", "~"
    return f"will be updated{reason}", "~"


# --------------------------------------------------------------------------- formatting


def money(value: float | None) -> str:
    return "n/a" if value is None else f"${value:,.2f}"


def hourly(value: float | None) -> str:
    return "unknown per hour" if value is None else f"{money(value)}/hour"


def short_sha(sha: str) -> str:
    return f"{sha[:8]}…" if sha else "none"


def _value(path: str, value: Any) -> str:
    if value is None:
        return "null"
    if (path.startswith("data.") or path.endswith("sha256")) and isinstance(value, str):
        return f"sha256:{short_sha(value)}"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def _cost_text(cost: float | None, tokens: int | None, epochs: int | None) -> str:
    details = []
    if tokens:
        details.append(f"{tokens:,} billed tokens")
    if epochs:
        details.append(f"{epochs} epoch{'s' if epochs != 1 else ''}")
    suffix = f" ({', '.join(details)})" if details else ""
    if cost is None:
        return f"price unknown{suffix}"
    return f"{money(cost)}{suffix}"


def _flat(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, Mapping) and item:
            out.update(_flat(item, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = item
    return out


def _diff(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> list[tuple[str, str, str]]:
    before = before or {}
    after = after or {}
    rows = []
    for key in [k for k in before if k in after] + [k for k in after if k not in before]:
        if key in ("gates_config", "run_gates", "fingerprint_inputs"):
            continue
        old, new = before.get(key), after.get(key)
        if old != new:
            rows.append((key, _value(key, old), _value(key, new)))
    if not after:
        rows += [(k, _value(k, v), "null") for k, v in before.items() if v is not None]
    return rows


def _kind_name(address: str) -> tuple[str, str]:
    kind, _, rest = address.partition(".")
    project, _, key = rest.partition(".")
    return kind, f'"{project}/{key}"'


def _symbol(out: _Out, symbol: str) -> str:
    return out.styled(symbol, _SYMBOL_STYLE[symbol])
