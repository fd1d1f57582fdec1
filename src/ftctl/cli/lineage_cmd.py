"""`ftctl lineage PROJECT [ALIAS|VERSION]` or `ftctl lineage MODEL_ID`: which commit, data
and settings made a model, down to the provider's base model."""

from __future__ import annotations

import json
from dataclasses import dataclass

import click

from ftctl.cli.context import AppContext, pass_app
from ftctl.cli.state_cmd import (
    JSON_HELP,
    promote_alias,
    snapshot_or_empty,
    wants_json,
    workspace_config,
)
from ftctl.errors import StateError
from ftctl.lineage.graph import (
    Lineage,
    VersionLineage,
    is_model_id,
    lineage_of,
    lineage_of_model,
)
from ftctl.plan.selection import unknown_project_message
from ftctl.state.model import AuditEntry
from ftctl.state.store import open_state


@dataclass(frozen=True)
class Found:
    lineage: Lineage
    audit: list[AuditEntry]  # the whole log: ancestors may belong to other projects


def find_lineage(app: AppContext, target: str, alias: str | None) -> Found:
    """Resolve `PROJECT [ALIAS|VERSION]` or a model id against the recorded state."""
    workspace = workspace_config(app)
    store = open_state(workspace)
    snapshot = snapshot_or_empty(store)
    audit = store.audit() if store.exists() else []
    if is_model_id(target):
        if alias is not None:
            raise StateError(f"a model id names one version: drop {alias!r}")
        return Found(lineage_of_model(snapshot, audit, target), audit)
    declared = [p.name for p in workspace.projects]
    recorded = snapshot.projects()
    if target not in recorded and target not in declared:
        raise StateError(unknown_project_message(target, declared, recorded))
    chosen = alias or promote_alias(workspace, target)
    return Found(lineage_of(snapshot, audit, target, chosen), audit)


@click.command("lineage")
@click.argument("target", metavar="PROJECT|MODEL_ID")
@click.argument("alias", required=False)
@click.option("--json", "json_flag", is_flag=True, help=JSON_HELP)
@click.option(
    "--model-card",
    "card",
    is_flag=True,
    help="Print a model card: a Hugging Face README.md with base_model, datasets and "
    "model-index metadata (needs `pip install 'ftctl[hub]'`; plain Markdown without it).",
)
@click.option("--mermaid", is_flag=True, help="Print the lineage as a Mermaid flowchart.")
@click.option("--dot", is_flag=True, help="Print the lineage as a Graphviz digraph.")
@pass_app
def lineage(
    app: AppContext,
    target: str,
    alias: str | None,
    json_flag: bool,
    card: bool,
    mermaid: bool,
    dot: bool,
) -> None:
    """Trace a model: PROJECT's ALIAS (default: its promote alias) or version number, or a model id
    (ft:...). Shows commit, data hashes and sources, settings, metrics, gate decision and
    promotions, and the same for each fine-tuned base model down to the provider's."""
    if sum((json_flag, card, mermaid, dot)) > 1:
        raise click.UsageError("choose one of --json, --model-card, --mermaid, --dot")
    found = find_lineage(app, target, alias).lineage
    if card:
        click.echo(_card(app, found), nl=False)
    elif mermaid:
        from ftctl.lineage.diagram import to_mermaid

        click.echo(to_mermaid(found), nl=False)
    elif dot:
        from ftctl.lineage.diagram import to_dot

        click.echo(to_dot(found), nl=False)
    elif wants_json(app, json_flag):
        click.echo(json.dumps(found.to_dict(), indent=2))
    else:
        v = found.version
        head = f"{found.project}/{found.alias}" if found.alias else v.address
        click.echo(f"{head} -> {v.model_id or '(no model yet)'}")
        _print_version(v, "  ")


def _card(app: AppContext, found: Lineage) -> str:
    from ftctl.lineage.card import hugging_face_card, model_card

    try:
        return hugging_face_card(found)
    except ImportError:
        app.err_console.print(
            "Warning: huggingface_hub is not installed, so the card has no Hugging Face "
            "metadata; pip install 'ftctl[hub]'",
            style="yellow",
        )
        return model_card(found)


def _print_version(v: VersionLineage, indent: str) -> None:
    rows: list[tuple[str, str]] = [
        ("version", f"{v.number} ({v.status})"),
        ("job", v.job_id or "-"),
        ("provider", v.provider),
        ("base model", v.base_model),
        ("git commit", v.git_commit or "unknown"),
        ("plan", v.plan_id or "-"),
        ("method", v.method),
        ("hyperparameters", json.dumps(dict(v.hyperparameters), sort_keys=True)),
        ("seed", "provider's choice" if v.seed is None else str(v.seed)),
        ("fingerprint", v.fingerprint),
    ]
    build = v.build or {}
    if build.get("config_file"):
        dirty = {True: "  (uncommitted changes)", False: "", None: ""}[build.get("git_dirty")]
        rows.append(("config", f"{build['config_file']}{dirty}"))
    for d in v.datasets:
        size = f"{d.examples:,} examples" if d.examples is not None else "size unknown"
        rows.append((f"data {d.split}", f"sha256:{d.sha256}  {size}"))
    for split, sources in sorted((build.get("sources") or {}).items()):
        for source in sources:
            rows.append((f"source {split}", _source(source)))
    if v.metrics:
        rows.append(("metrics", ", ".join(f"{k}={x:.4g}" for k, x in sorted(v.metrics.items()))))
    if v.gates is not None:
        rows.append(("gates", "passed" if v.gates.get("passed") else "failed"))
    for p in v.promotions:
        rows.append((f"promoted {p.alias}", f"{p.at} by {p.who}"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        click.echo(f"{indent}{key:<{width}}  {value}")
    if v.parent is not None:
        parent = v.parent
        click.echo(f"{indent}fine-tuned from {parent.address} -> {parent.model_id or '(no model)'}")
        _print_version(parent, indent + "  ")
    elif v.base_model.startswith("ft:"):
        click.echo(f"{indent}fine-tuned from {v.base_model} (not in this state)")


def _source(source: dict[str, object]) -> str:
    kind = source.get("kind")
    if kind == "path":
        return f"{source.get('path')}  blob {str(source.get('git_blob'))[:12]}"
    if kind == "git":
        commit = str(source.get("commit") or "unresolved")[:12]
        where = source.get("repo_path") or source.get("path")
        return f"{where}@{source.get('rev')}  commit {commit}"
    return f"inline ({source.get('rows')} rows)"
