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


# --------------------------------------------------------------------------- Hugging Face


def hub_base_model(v: VersionLineage) -> str:
    """The base model as the Hub names it: `hf:org/name` is the Hub repo `org/name`; a
    fine-tuned base is the parent's model id; anything else as the provider names it."""
    if v.parent is not None and v.parent.model_id:
        return v.parent.model_id
    return v.base_model.removeprefix("hf:")


def hub_metadata(lineage: Lineage) -> dict[str, Any]:
    """The model card metadata fields (plain data): base_model, datasets (by content hash,
    as ftctl names them: they are not Hub datasets), tags, and one evaluation result per
    recorded metric and measured gate, for `model-index`."""
    v = lineage.version
    results: list[dict[str, Any]] = []
    for name, value in sorted(v.metrics.items()):
        results.append(
            {
                "task_type": "text-generation",
                "dataset_type": "ftctl-training-job",
                "dataset_name": f"{v.project} validation (provider-reported)",
                "metric_type": name,
                "metric_value": value,
            }
        )
    for gate in (v.gates or {}).get("results") or []:
        if isinstance(gate, dict) and isinstance(gate.get("observed"), int | float):
            results.append(
                {
                    "task_type": "text-generation",
                    "dataset_type": "ftctl-gate",
                    "dataset_name": f"{v.project} gates",
                    "metric_type": str(gate.get("name", "gate")),
                    "metric_value": gate["observed"],
                    "metric_name": str(gate.get("message", "")) or None,
                }
            )
    return {
        "model_name": v.model_id or v.address,
        "base_model": hub_base_model(v),
        "datasets": [f"ftctl/{v.project}/{d.split}@sha256:{d.sha256}" for d in v.datasets],
        "tags": ["ftctl", "fine-tuned", v.method],
        "eval_results": results,
    }


def hugging_face_card(lineage: Lineage) -> str:
    """The model card as a Hugging Face README.md: YAML metadata (base_model, datasets,
    model-index) built and checked by `huggingface_hub`'s card classes, then the Markdown
    card. Raises ImportError without huggingface_hub (`pip install 'ftctl[hub]'`)."""
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    meta = hub_metadata(lineage)
    data = ModelCardData(
        model_name=meta["model_name"],
        base_model=meta["base_model"],
        datasets=meta["datasets"],
        tags=meta["tags"],
        eval_results=[EvalResult(**r) for r in meta["eval_results"]] or None,
    )
    card = ModelCard(f"---\n{data.to_yaml()}\n---\n\n{model_card(lineage)}")
    return str(card)
