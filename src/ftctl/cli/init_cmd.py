"""`ftctl init NAME`: scaffold a workspace (if needed) and a starter project."""

from __future__ import annotations

import json

import click

from ftctl.cli.context import AppContext, pass_app
from ftctl.scaffold.starter import init_project, validate_project_name


def _check_name(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    problem = validate_project_name(value)
    if problem:
        raise click.BadParameter(problem)
    return value


@click.command("init")
@click.argument("name", callback=_check_name)
@pass_app
def init(app: AppContext, name: str) -> None:
    """Create projects/NAME/ with example data (and ftctl.yaml when missing)."""
    result = init_project(app.workspace_dir, name)
    shown = [p.relative_to(result.workspace_dir).as_posix() for p in result.created]
    if app.json_output:
        payload = {
            "workspace": str(result.workspace_dir),
            "project": name,
            "workspace_created": result.workspace_created,
            "created": shown,
            "diagnostics": [d.to_dict() for d in result.problems],
        }
        click.echo(json.dumps(payload, indent=2))
        return
    where = "new workspace" if result.workspace_created else "workspace"
    app.console.print(f"Created project [bold]{name}[/bold] in {where} {result.workspace_dir}")
    for path in shown:
        app.console.print(f"  + {path}")
    if result.problems:
        app.err_console.print(
            "Warning: the new project does not validate in this workspace yet:", style="yellow"
        )
        for problem in result.problems:
            app.err_console.print(f"  {problem}", style="yellow", markup=False)
    app.console.print("Next: edit the data, then run `ftctl validate` and `ftctl plan`.")
