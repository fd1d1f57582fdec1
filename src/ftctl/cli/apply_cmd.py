"""`ftctl apply [PLANFILE | PROJECT...]`: make the providers match the plan."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ftctl.cli.context import AppContext, pass_app
from ftctl.cli.options import lock_timeout_option
from ftctl.cli.plan_cmd import print_plan
from ftctl.errors import FtctlError, UserAbort
from ftctl.events import Event, EventSink
from ftctl.plan.changes import Plan, PlanOptions
from ftctl.plan.savedplan import looks_like_plan_file, read_plan

if TYPE_CHECKING:
    from ftctl.apply.executor import ApplyResult


@contextmanager
def progress_sink(app: AppContext) -> Iterator[EventSink]:
    """Events as a live progress display on a terminal, lines otherwise, nothing in --json."""
    if app.json_output:
        yield lambda _event: None
        return
    if not app.interactive or not app.color:  # a live display draws with escape codes
        yield app.progress_lines()
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=app.err_console,
        transient=False,
    ) as progress:
        tasks: dict[str, Any] = {}

        def live(event: Event) -> None:
            if event.kind != "progress":
                style = "yellow" if event.kind == "warning" else "dim"
                progress.console.print(event.message, style=style, markup=False)
                return
            if event.task not in tasks:
                tasks[event.task] = progress.add_task(event.message, total=event.total)
            progress.update(
                tasks[event.task],
                description=event.message,
                completed=event.completed,
                total=event.total,
            )

        yield live


def refuse_without_terminal(app: AppContext, auto_approve: bool) -> None:
    """Refuse at once (before any planning) when confirmation is needed but nobody can answer."""
    if auto_approve:
        return
    if app.json_output or not sys.stdin.isatty():
        raise UserAbort(
            "Refusing to ask for confirmation without a terminal. Pass --auto-approve, or "
            "save a plan with `ftctl plan -out FILE`, review it, and run `ftctl apply FILE`."
        )


def confirm(app: AppContext, question: str, auto_approve: bool) -> None:
    """Ask for `yes`, or refuse to ask when nobody can answer."""
    if auto_approve:
        return
    refuse_without_terminal(app, auto_approve)
    click.echo(f"\n{question}\n  Only 'yes' will be accepted to approve.\n", err=True)
    answer = click.prompt("  Enter a value", default="", show_default=False, err=True)
    if answer.strip() != "yes":
        raise UserAbort("Apply cancelled.")


def report(app: AppContext, plan: Plan, result: ApplyResult, operation: str = "apply") -> None:
    if app.json_output:
        payload = {
            "plan_id": plan.plan_id,
            "applied": [{"address": a, "action": x} for a, x in result.applied],
            "failed": [{"address": a, "error": m} for a, m in result.failed],
            "skipped": [{"address": a, "reason": m} for a, m in result.skipped],
            "started": result.started,
            "gates_failed": [{"address": a, "error": m} for a, m in result.gates_failed],
            "ok": result.reached,
        }
        click.echo(json.dumps(payload, indent=2))
        return
    done = [x for _, x in result.applied]
    counts = ", ".join(
        f"{done.count(action)} {label}"
        for action, label in (
            ("upload", "uploaded"),
            ("create", "trained"),
            ("promote", "promoted"),
            ("retire", "retired"),
        )
    )
    for address, why in result.skipped:
        click.echo(f"Skipped {address}: {why}", err=True)
    for address in result.started:
        click.echo(
            f"{address} is training; run `ftctl apply` again to wait for it and promote it.",
            err=True,
        )
    if operation == "destroy":  # Terraform's words: how many resources are gone
        counts = f"{len({address for address, _ in result.applied})} destroyed"
    verb = "Destroy" if operation == "destroy" else "Apply"
    if result.failed:
        for address, message in result.failed:
            click.echo(f"Error: {address}: {message}", err=True)
        click.echo(f"\n{verb} failed. Resources: {counts}.")
    elif result.gates_failed:  # trained and recorded, but the alias could not move
        click.echo(f"\nApply failed: gates not passed. Resources: {counts}.")
    else:
        click.echo(f"\n{verb} complete! Resources: {counts}.")
    snapshot = result.snapshot
    if snapshot is not None:
        for project in sorted({c.project for c in plan.changes}):
            for alias in snapshot.aliases_of(project):
                click.echo(f"  {project}/{alias.name} = {alias.model_id}")


@click.command()
@click.argument("args", nargs=-1, metavar="[PLANFILE | PROJECT...]")
@click.option("--auto-approve", is_flag=True, help="Apply without asking for confirmation.")
@click.option("--no-wait", is_flag=True, help="Return after starting jobs; a later apply waits.")
@lock_timeout_option
@pass_app
def apply(
    app: AppContext, args: tuple[str, ...], auto_approve: bool, no_wait: bool, lock_timeout: float
) -> None:
    """Upload data, train, wait, check gates and move aliases, as planned."""
    from ftctl.ops.apply import apply_prepared, open_saved_plan, plan_for_apply

    events = app.event_sink()
    plan_file = Path(args[0]) if len(args) == 1 else None
    if plan_file is not None and (plan_file.suffix in (".plan", ".json") or plan_file.is_file()):
        if not looks_like_plan_file(plan_file):
            read_plan(plan_file)  # raises the precise reason
        saved, prepared = open_saved_plan(app.workspace_dir, plan_file, events)
        with progress_sink(app) as progress:
            result = apply_prepared(
                saved, prepared, wait=not no_wait, lock_timeout=lock_timeout, events=progress
            )
        report(app, saved, result)
    else:
        refuse_without_terminal(app, auto_approve)  # before anything is built or refreshed
        options = PlanOptions(projects=args)
        with plan_for_apply(
            app.workspace_dir, options, operation="apply", lock_timeout=lock_timeout, events=events
        ) as planned:
            plan = planned.plan
            if not plan.has_changes or not app.json_output:
                print_plan(app, plan)  # in --json mode only the apply report goes to stdout
            if not plan.has_changes:
                return
            confirm(app, "Do you want to perform these actions?", auto_approve)
            with progress_sink(app) as progress:
                result = planned.apply(wait=not no_wait, events=progress)
            report(app, plan, result)
    if not result.reached:
        raise FtctlError(failure_summary(result))


def failure_summary(result: ApplyResult) -> str:
    """The closing error: how many changes failed, which jobs go on, and what to do next;
    or which versions failed their gates (everything else was done and recorded)."""
    if result.ok:
        lines = [message for _, message in result.gates_failed]
        lines.append(
            "The result is recorded (`ftctl lineage PROJECT N`); aliases stay where they were. "
            "Change the data or settings (or the gates) and apply again."
        )
        return "\n".join(lines)
    snapshot = result.snapshot
    failed = {address for address, _ in result.failed}
    training = sorted(
        f"{v.address} (job {v.job_id})"
        for v in (snapshot.versions if snapshot else ())
        if v.status == "running" and v.job_id and v.address in failed
    )
    lines = [f"{len(result.failed)} change(s) failed; the state records what was done."]
    if training:
        lines.append(
            "Still training on the provider (nothing is lost): " + ", ".join(training) + "."
        )
    lines.append(
        "Fix the cause above, then run `ftctl apply` again: it continues from the state "
        "(running jobs are waited for, never started twice)."
    )
    return "\n".join(lines)
