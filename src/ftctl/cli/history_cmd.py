"""`ftctl history PROJECT`: versions and alias moves over time, with who and why."""

from __future__ import annotations

import json

import click

from ftctl.cli.context import AppContext, pass_app
from ftctl.cli.state_cmd import JSON_HELP, snapshot_or_empty, wants_json, workspace_config
from ftctl.errors import StateError
from ftctl.lineage.history import history_of
from ftctl.state.store import open_state


@click.command("history")
@click.argument("project")
@click.option("--json", "json_flag", is_flag=True, help=JSON_HELP)
@pass_app
def history(app: AppContext, project: str, json_flag: bool) -> None:
    """Show PROJECT's versions and every change to them and its aliases, oldest first:
    when, who, what, why, and the plan and commit it came from."""
    store = open_state(workspace_config(app))
    snapshot = snapshot_or_empty(store)
    audit = store.audit(project) if store.exists() else []
    if project not in snapshot.projects() and not audit:
        known = ", ".join(snapshot.projects()) or "none"
        raise StateError(f"project {project!r} has no history in the state (projects: {known})")
    found = history_of(snapshot, audit, project)
    if wants_json(app, json_flag):
        click.echo(json.dumps(found.to_dict(), indent=2))
        return
    aliases = ", ".join(f"{name} -> {n}" for name, n in sorted(found.aliases.items()))
    click.echo(f"{project}: {len(found.versions)} version(s); aliases: {aliases or 'none'}")
    for v in found.versions:
        model = v["model_id"] or "-"
        click.echo(
            f"  version {v['version']}  {v['status']:<9}  {model}  created {v['created_at']}"
        )
    if found.events:
        click.echo("")
    for e in found.events:
        origin = []
        if e.plan_id:
            origin.append(f"plan {e.plan_id}")
        if e.git_commit:
            origin.append(f"commit {e.git_commit[:12]}")
        suffix = f"  [{', '.join(origin)}]" if origin else ""
        click.echo(f"{e.at}  {e.who}  {e.what}{suffix}")
        if e.why:
            click.echo(f"    why: {e.why}")
