"""`ftctl destroy PROJECT...`: cancel running jobs, delete unprotected models, forget."""

from __future__ import annotations

import click

from ftctl.cli.apply_cmd import (
    confirm,
    failure_summary,
    progress_sink,
    refuse_without_terminal,
    report,
)
from ftctl.cli.context import AppContext, pass_app
from ftctl.cli.options import lock_timeout_option
from ftctl.cli.plan_cmd import print_plan
from ftctl.errors import FtctlError
from ftctl.plan.changes import PlanOptions


@click.command()
@click.argument("projects", nargs=-1, required=True)
@click.option("--auto-approve", is_flag=True, help="Destroy without asking for confirmation.")
@lock_timeout_option
@pass_app
def destroy(
    app: AppContext, projects: tuple[str, ...], auto_approve: bool, lock_timeout: float
) -> None:
    """Cancel PROJECT's running jobs, delete its models and forget it.

    Refused when the project sets lifecycle.preventDestroy.
    """
    from ftctl.ops.apply import plan_for_apply

    events = app.event_sink()
    refuse_without_terminal(app, auto_approve)  # before anything is built or refreshed
    options = PlanOptions(projects=projects, destroy=True)
    with plan_for_apply(
        app.workspace_dir, options, operation="destroy", lock_timeout=lock_timeout, events=events
    ) as planned:
        plan = planned.plan
        if not plan.has_changes or not app.json_output:
            print_plan(app, plan)
        if not plan.has_changes:
            return
        confirm(app, "Do you really want to destroy these resources?", auto_approve)
        with progress_sink(app) as progress:
            result = planned.apply(wait=True, events=progress)
        report(app, plan, result, "destroy")
    if not result.reached:
        raise FtctlError(failure_summary(result))
