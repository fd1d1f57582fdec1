"""`ftctl output PROJECT [ALIAS]`: the model id behind an alias, for scripts."""

from __future__ import annotations

import json

import click

from ftctl.cli.context import AppContext, pass_app
from ftctl.cli.state_cmd import promote_alias, snapshot_or_empty
from ftctl.config.loader import load_workspace
from ftctl.errors import FtctlError, StateError
from ftctl.plan.selection import unknown_project_message
from ftctl.state.store import open_state


@click.command()
@click.argument("project")
@click.argument("alias", required=False)
@click.option(
    "--deployment",
    is_flag=True,
    help="Print the name of the deployment that serves the alias (Azure) instead.",
)
@pass_app
def output(app: AppContext, project: str, alias: str | None, deployment: bool) -> None:
    """Print the model id PROJECT's ALIAS (default: its promote alias) points to."""
    workspace = load_workspace(app.workspace_dir)
    snapshot = snapshot_or_empty(open_state(workspace))  # never creates the state
    configured = [p.name for p in workspace.projects]
    if project not in configured and project not in snapshot.projects():
        raise StateError(unknown_project_message(project, configured, snapshot.projects()))
    alias = alias or promote_alias(workspace, project)
    record = snapshot.alias(project, alias)
    if record is None:
        raise FtctlError(f"alias.{project}.{alias} is not in the state (nothing promoted yet?)")
    # On providers whose models serve only through a deployment, callers use its name.
    served = snapshot.deployment(project, alias)
    if deployment and served is None:
        raise FtctlError(f"deployment.{project}.{alias} is not in the state (no deployment)")
    if app.json_output:
        out: dict[str, object] = {
            "project": project,
            "alias": alias,
            "version": record.version,
            "model_id": record.model_id,
        }
        if served is not None:
            out["deployment"] = served.name
        click.echo(json.dumps(out))
    else:
        click.echo(served.name if deployment and served is not None else record.model_id)
