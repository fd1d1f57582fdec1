"""`ftctl output PROJECT [ALIAS]`: the model id behind an alias, for scripts."""

from __future__ import annotations

import json

import click

from ftctl.cli.context import AppContext, pass_app
from ftctl.cli.state_cmd import snapshot_or_empty
from ftctl.config.loader import load_workspace
from ftctl.errors import FtctlError
from ftctl.state.store import open_state


@click.command()
@click.argument("project")
@click.argument("alias", required=False)
@pass_app
def output(app: AppContext, project: str, alias: str | None) -> None:
    """Print the model id PROJECT's ALIAS (default: its promote alias) points to."""
    workspace = load_workspace(app.workspace_dir)
    if alias is None:
        configured = next((p for p in workspace.projects if p.name == project), None)
        promote = configured.model.spec.promote if configured else None
        alias = promote.alias if promote else "prod"
    record = snapshot_or_empty(open_state(workspace)).alias(project, alias)  # never creates it
    if record is None:
        raise FtctlError(f"alias.{project}.{alias} is not in the state (nothing promoted yet?)")
    if app.json_output:
        click.echo(
            json.dumps(
                {
                    "project": project,
                    "alias": alias,
                    "version": record.version,
                    "model_id": record.model_id,
                }
            )
        )
    else:
        click.echo(record.model_id)
