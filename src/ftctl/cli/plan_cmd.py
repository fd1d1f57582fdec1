"""`ftctl plan`: show what apply would do (and optionally save it)."""

from __future__ import annotations

import dataclasses
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
    else:
        # Warnings go to stderr (once: some were said while planning); stdout is the plan.
        quiet = dataclasses.replace(plan, warnings=())
        if app.color and app.console.is_terminal:
            app.console.print(render_plan(quiet, color=True), end="")
        else:
            click.echo(render_plan(quiet, color=False), nl=False)
        for warning in plan.warnings:
            app.warn(warning)


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
@click.option(
    "-changed-since",
    "--changed-since",
    "changed_since",
    metavar="REV",
    help="Plan only the projects whose YAML, data or referenced files changed since git REV.",
)
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
    changed_since: str | None,
) -> None:
    """Show what `ftctl apply` would do to make the providers match the YAML."""
    # Before the build engine is imported: the workers of the data builds start meanwhile
    # (`worker_prestart`; standard library only), and stop with the command if unused.
    from ftctl.datasets.worker_prestart import started_early

    with started_early(app.workspace_dir):
        from ftctl.ops.prepare import plan_workspace  # heavy: keeps `ftctl --help` quick

        # A heartbeat line at least once a minute while a long data build runs (CI logs).
        events = app.event_sink() if app.json_output else app.progress_lines()
        unchanged = None
        if changed_since is not None:
            projects, unchanged = _changed_projects(app, changed_since, projects)
        if unchanged is not None:
            result = unchanged
        else:
            options = PlanOptions(
                projects=projects,
                targets=targets,
                replace=replace,
                destroy=destroy,
                refresh_only=refresh_only,
            )
            result = plan_workspace(app.workspace_dir, options, events)
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


def _changed_projects(
    app: AppContext, rev: str, named: tuple[str, ...]
) -> tuple[tuple[str, ...], Plan | None]:
    """The projects `--changed-since REV` selects (within those named, if any), or the
    empty plan when it selects none."""
    from ftctl.config.loader import load_workspace
    from ftctl.ops.changed import select_changed, unchanged_plan

    workspace = load_workspace(app.workspace_dir)
    selection = select_changed(workspace, rev)
    chosen = tuple(p for p in selection.projects if not named or p in named)
    if not app.json_output:
        listed = ", ".join(chosen) if chosen else "none"
        click.echo(f"Changed since {rev} ({selection.commit[:12]}): {listed}", err=True)
    if not chosen:
        return (), unchanged_plan(workspace, selection)
    return chosen, None
