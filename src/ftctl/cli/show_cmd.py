"""`ftctl show [PLANFILE]`: a saved plan, or what the state records."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ftctl.cli.context import AppContext, pass_app
from ftctl.cli.plan_cmd import print_plan
from ftctl.cli.state_cmd import snapshot_or_empty
from ftctl.config.loader import load_workspace
from ftctl.plan.savedplan import read_plan
from ftctl.state.model import StateSnapshot
from ftctl.state.store import open_state


def state_summary(snapshot: StateSnapshot) -> str:
    if not snapshot.projects():
        return "The state is empty. Run `ftctl plan` to see what apply would create.\n"
    lines = [f"State serial {snapshot.serial} (lineage {snapshot.lineage})", ""]
    for project in snapshot.projects():
        lines.append(f"{project}:")
        for alias in snapshot.aliases_of(project):
            lines.append(f"  alias {alias.name} -> version {alias.version}  {alias.model_id}")
        for v in snapshot.versions_of(project):
            gates = ""
            if v.gates is not None:
                gates = "  gates passed" if v.gates.get("passed") else "  gates failed"
            model = v.model_id or "-"
            lines.append(
                f"  version {v.number}  {v.status:<9}  {model}  fingerprint {v.fingerprint[:12]}"
                f"{gates}"
            )
        for d in snapshot.datasets_of(project):
            lines.append(
                f"  dataset {d.split}  {d.file_id}  sha256 {d.sha256[:12]}  {d.examples} examples"
            )
        lines.append("")
    return "\n".join(lines)


@click.command()
@click.argument("planfile", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def show(app: AppContext, planfile: Path | None, as_json: bool) -> None:
    """Show a saved plan, or the resources the state records."""
    if as_json:
        app.json_output = True
    if planfile is not None:
        print_plan(app, read_plan(planfile))
        return
    # Inspecting never creates the state: a fresh workspace shows an empty one.
    snapshot = snapshot_or_empty(open_state(load_workspace(app.workspace_dir)))
    if app.json_output:
        click.echo(json.dumps(snapshot.to_dict(), indent=2))
    else:
        click.echo(state_summary(snapshot), nl=False)
