"""A Markdown model card from a lineage: what a reviewer needs to trust a model."""

from __future__ import annotations

import json
from typing import Any

from ftctl.lineage.graph import Lineage, VersionLineage


def model_card(lineage: Lineage) -> str:
    """The model card of the version behind `lineage`, as Markdown."""
    v = lineage.version
    title = f"{lineage.project} / {lineage.alias}" if lineage.alias else v.address
    lines = [
        f"# Model card: {title}",
        "",
        "| | |",
        "|---|---|",
        f"| Model | `{v.model_id or 'not trained yet'}` |",
        f"| Version | {v.number} ({v.status}) |",
        f"| Provider | {v.provider} |",
        f"| Fine-tuning job | `{v.job_id or '-'}` |",
        f"| Git commit | `{v.git_commit or 'unknown'}` |",
        f"| Plan | `{v.plan_id or '-'}` |",
        f"| Trained | {v.created_at or '?'} to {v.finished_at or '?'} |",
        f"| Training fingerprint | `{v.fingerprint}` |",
        "",
        "## Base model",
        "",
        " → ".join(f"`{m}`" for m in v.base_chain()),
        "",
        "## Training",
        "",
        f"- Method: {v.method}",
        f"- Seed: {v.seed if v.seed is not None else 'chosen by the provider'}",
        f"- Hyperparameters: {_inline(v.hyperparameters) if v.hyperparameters else 'provider defaults'}",
        f"- Trained tokens: {_number(v.trained_tokens)}",
        "",
        "## Data",
        "",
        "| Split | SHA-256 | Examples | Tokens |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {d.split} | `{d.sha256}` | {_number(d.examples)} | {_number(d.tokens)} |"
        for d in v.datasets
    ]
    lines += ["", "## Metrics", ""]
    if v.metrics:
        lines += ["| Metric | Value |", "|---|---|"]
        lines += [f"| {k} | {value:.4g} |" for k, value in sorted(v.metrics.items())]
    else:
        lines.append("No metrics recorded.")
    lines += ["", "## Gates", "", *_gates(v), "", "## Promotions", ""]
    if v.promotions:
        lines += [
            f"- `{p.alias}` on {p.at} by {p.who}"
            + (f" (plan `{p.plan_id}`)" if p.plan_id else "")
            + (f" at commit `{p.git_commit}`" if p.git_commit else "")
            for p in v.promotions
        ]
    else:
        lines.append("Never promoted.")
    if v.parent is not None:
        lines += ["", f"Trained on top of {v.parent.address}; see its own model card."]
    return "\n".join(lines) + "\n"


def _gates(v: VersionLineage) -> list[str]:
    if v.gates is None:
        return ["Gates did not run."]
    passed = v.gates.get("passed")
    verdict = "passed" if passed else "failed" if passed is False else "unknown"
    out = [f"Decision: **{verdict}**"]
    results = v.gates.get("results")
    if isinstance(results, list):
        for result in results:
            if isinstance(result, dict):
                mark = "pass" if result.get("passed") else "fail"
                text = result.get("message") or f"{result.get('name', 'gate')}  {mark}"
                out.append(f"- {text}")
    return out


def _inline(data: Any) -> str:
    return json.dumps(data, sort_keys=True)


def _number(value: int | None) -> str:
    return f"{value:,}" if value is not None else "unknown"
