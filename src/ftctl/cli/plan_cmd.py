"""`ftctl plan`: show what apply would do (and optionally save it)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ftctl.cli.context import AppContext, pass_app
from ftctl.plan.changes import Plan, PlanOptions
from ftctl.plan.savedplan import write_plan
from ftctl.render.human import render_plan
from ftctl.render.json import render_plan_json
from ftctl.render.markdown import render_plan_markdown

EXIT_CHANGES = 2


def print_plan(app: AppContext, plan: Plan, *, markdown: bool = False) -> None:
    """Print `plan` on stdout in the format the options ask for."""
    if app.json_output:
        click.echo(render_plan_json(plan), nl=False)
    elif markdown:
        click.echo(render_plan_markdown(plan), nl=False)
    elif app.color and app.console.is_terminal:
        app.console.print(render_plan(plan, color=True), end="")
    else:
        click.echo(render_plan(plan, color=False), nl=False)


@click.command()
@click.argument("projects", nargs=-1)
@click.option(
    "-out",
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Save the plan to FILE for `ftctl apply FILE`.",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there are no changes, 2 when there are, 1 on errors.",
)
@click.option(
    "--target",
    "targets",
    multiple=True,
    metavar="ADDR",
    help="Plan only this resource (and what it needs). Repeatable.",
)
@click.option(
    "--replace",
    "replace",
    multiple=True,
    metavar="ADDR",
    help="Train a new version even if the fingerprint is unchanged. Repeatable.",
)
@click.option("--destroy", is_flag=True, help="Plan to delete everything of the projects.")
@click.option("--refresh-only", is_flag=True, help="Only record changes made outside ftctl.")
@click.option("--markdown", is_flag=True, help="Print the plan as a Markdown PR comment.")
@pass_app
def plan(
    app: AppContext,
    projects: tuple[str, ...],
    out: Path | None,
    detailed_exitcode: bool,
    targets: tuple[str, ...],
    replace: tuple[str, ...],
    destroy: bool,
    refresh_only: bool,
    markdown: bool,
) -> None:
    """Show what `ftctl apply` would do to make the providers match the YAML."""
    from ftctl.ops.prepare import make_plan, prepare  # heavy: keeps `ftctl --help` quick

    events = app.event_sink()
    prepared = prepare(app.workspace_dir, projects, events)
    options = PlanOptions(
        projects=projects,
        targets=targets,
        replace=replace,
        destroy=destroy,
        refresh_only=refresh_only,
    )
    result = make_plan(prepared, options, events)
    print_plan(app, result, markdown=markdown)
    if out is not None:
        write_plan(result, out)
        if not app.json_output:
            click.echo(
                f"\nSaved the plan to {out}. To apply exactly this plan: ftctl apply {out}",
                err=True,
            )
    if detailed_exitcode and result.has_changes:
        sys.exit(EXIT_CHANGES)
