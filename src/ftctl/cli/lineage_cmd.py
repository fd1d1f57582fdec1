"""`ftctl lineage PROJECT [ALIAS]`: which commit, data and settings made the model."""

from __future__ import annotations

import json

import click

from ftctl.cli.context import AppContext, pass_app
from ftctl.cli.state_cmd import JSON_HELP, snapshot_or_empty, wants_json, workspace_config
from ftctl.config.suggest import did_you_mean
from ftctl.errors import StateError
from ftctl.lineage.card import model_card
from ftctl.lineage.graph import DEFAULT_ALIAS, Lineage, lineage_of
from ftctl.state.store import open_state


@click.command("lineage")
@click.argument("project")
@click.argument("alias", default=DEFAULT_ALIAS, required=False)
@click.option("--json", "json_flag", is_flag=True, help=JSON_HELP)
@click.option("--model-card", "card", is_flag=True, help="Print a Markdown model card.")
@pass_app
def lineage(app: AppContext, project: str, alias: str, json_flag: bool, card: bool) -> None:
    """Trace the model behind PROJECT's ALIAS (default: prod; or a version number):
    commit, data hashes, settings, metrics, gate decision and promotions."""
    workspace = workspace_config(app)
    store = open_state(workspace)
    snapshot = snapshot_or_empty(store)
    declared = [p.name for p in workspace.projects]
    recorded = snapshot.projects()
    if project not in recorded and project not in declared:
        known = sorted({*recorded, *declared})
        hint = did_you_mean(project, known) or f"projects: {', '.join(known) or 'none'}"
        raise StateError(f"no project {project!r} in the workspace or the state ({hint})")
    audit = store.audit(project) if store.exists() else []
    found = lineage_of(snapshot, audit, project, alias)
    if card:
        click.echo(model_card(found), nl=False)
    elif wants_json(app, json_flag):
        click.echo(json.dumps(found.to_dict(), indent=2))
    else:
        _print_human(found)


def _print_human(found: Lineage) -> None:
    v = found.version
    head = f"{found.project}/{found.alias}" if found.alias else v.address
    click.echo(f"{head} -> {v.model_id or '(no model yet)'}")
    rows: list[tuple[str, str]] = [
        ("version", f"{v.number} ({v.status})"),
        ("job", v.job_id or "-"),
        ("provider", v.provider),
        ("base chain", " <- ".join(v.base_chain())),
        ("git commit", v.git_commit or "unknown"),
        ("plan", v.plan_id or "-"),
        ("method", v.method),
        ("hyperparameters", json.dumps(dict(v.hyperparameters), sort_keys=True)),
        ("seed", "provider's choice" if v.seed is None else str(v.seed)),
        ("fingerprint", v.fingerprint),
    ]
    for d in v.datasets:
        size = f"{d.examples:,} examples" if d.examples is not None else "size unknown"
        rows.append((f"data {d.split}", f"sha256:{d.sha256}  {size}"))
    if v.metrics:
        rows.append(("metrics", ", ".join(f"{k}={x:.4g}" for k, x in sorted(v.metrics.items()))))
    if v.gates is not None:
        rows.append(("gates", "passed" if v.gates.get("passed") else "failed"))
    for p in v.promotions:
        rows.append((f"promoted {p.alias}", f"{p.at} by {p.who}"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        click.echo(f"  {key:<{width}}  {value}")
