"""`ftctl schema [KIND] [--write]`: the JSON Schemas of ftctl.yaml and project.yaml."""

from __future__ import annotations

import json

import click

from ftctl.cli.context import AppContext, pass_app
from ftctl.config.schema import SCHEMA_MODELS, build_schema, render, write_schemas

_KINDS = {"project": "project.schema.json", "workspace": "workspace.schema.json"}


@click.command("schema")
@click.argument("kind", required=False, type=click.Choice(sorted(_KINDS)))
@click.option("--write", is_flag=True, help="Write them into the workspace's schemas/.")
@pass_app
def schema(app: AppContext, kind: str | None, write: bool) -> None:
    """Print the JSON Schema of KIND (both, keyed by file name, when omitted)."""
    if write:
        for path in write_schemas(app.workspace_dir / "schemas"):
            click.echo(f"wrote {path.relative_to(app.workspace_dir).as_posix()}")
        return
    if kind is not None:
        click.echo(render(build_schema(SCHEMA_MODELS[_KINDS[kind]])), nl=False)
        return
    both = {name: build_schema(model) for name, model in SCHEMA_MODELS.items()}
    click.echo(json.dumps(both, indent=2, sort_keys=True))
