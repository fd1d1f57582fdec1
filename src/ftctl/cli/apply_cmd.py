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
from ftctl.providers.base import Provider

if TYPE_CHECKING:
    from ftctl.apply.executor import ApplyResult
    from ftctl.ops.prepare import Prepared


@contextmanager
def progress_sink(app: AppContext) -> Iterator[EventSink]:
    """Events as a live progress display on a terminal, lines otherwise, nothing in --json."""
    if app.json_output:
        yield lambda _event: None
        return
    if not app.interactive or not app.color:  # a live display draws with escape codes
        last: dict[str, str] = {}
        plain = app.event_sink()

        def lines(event: Event) -> None:
            if event.kind != "progress":
                plain(event)
                return
            status = str(event.data.get("status", ""))
            if last.get(event.task) != status:  # one line per status change, not per poll
                last[event.task] = status
                click.echo(event.message, err=True)

        yield lines
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


@contextmanager
def planning_under_lock(
    app: AppContext, projects: tuple[str, ...], operation: str, lock_timeout: float
) -> Iterator[Prepared]:
    """Build the data, then take the state lock and read the state under it, as Terraform
    does: the plan is made from (and applied to) a state nobody else changes meanwhile."""
    from ftctl.apply.identity import who
    from ftctl.ops.prepare import load_desired, with_state
    from ftctl.state.store import open_state

    events = app.event_sink()
    workspace, desired = load_desired(app.workspace_dir, projects, events)
    store = open_state(workspace)
    with store.lock(operation, who(workspace.root), timeout_s=lock_timeout, events=events):
        yield with_state(workspace, desired, store)


def on_demand_servers(prepared: Prepared) -> list[str]:
    """Local providers whose server ftctl starts itself: restarted, such a server comes back
    on another port, so a wait cannot outlast its outage and gives up at once."""
    from ftctl.config.models import LocalProvider

    return [
        name
        for name, config in prepared.workspace.model.providers.items()
        if isinstance(config, LocalProvider) and config.base_url is None
    ]


def run_apply(
    app: AppContext,
    plan: Plan,
    prepared: Prepared,
    *,
    wait: bool,
    lock_timeout: float,
    operation: str = "apply",
    locked: bool = False,
) -> ApplyResult:
    """Apply `plan`; `locked` when the caller planned under the state lock it still holds."""
    from ftctl.apply.executor import ApplyOptions, apply_locked, apply_plan
    from ftctl.apply.identity import git_commit, who

    root = prepared.workspace.root
    commit, user = git_commit(root), who(root)
    options = ApplyOptions(
        who=user,
        git_commit=commit,
        operation=operation,
        wait=wait,
        lock_timeout_s=lock_timeout,
        project_dirs={p.name: p.dir for p in prepared.workspace.projects},
        build_records=build_records(plan, prepared, user, commit),
        outage_timeouts=dict.fromkeys(on_demand_servers(prepared), 0.0),
    )

    def provider(name: str) -> Provider:
        return prepared.providers(name)

    for name in providers_needed(plan, prepared):
        provider(name)  # a missing API key fails here, before anything is uploaded or trained
    execute = apply_locked if locked else apply_plan
    with progress_sink(app) as events:
        result = execute(plan, prepared.store, provider, prepared.desired, options, events)
    report(app, plan, result)
    return result


def build_records(
    plan: Plan, prepared: Prepared, who: str, commit: str | None
) -> dict[str, dict[str, Any]]:
    """What each project that trains a version is built from, read before anything runs."""
    from ftctl.lineage.sources import build_record

    training = {c.project for c in plan.changes if c.address.startswith("version.")}
    return {
        p.name: build_record(prepared.workspace, p, who=who, git_commit=commit)
        for p in prepared.workspace.projects
        if p.name in training
    }


def providers_needed(plan: Plan, prepared: Prepared) -> list[str]:
    """The providers of every project the plan changes (state-only projects: their versions')."""
    names: set[str] = set()
    for project in {change.project for change in plan.changes}:
        desired = prepared.desired.get(project)
        if desired is not None:
            names.add(desired.provider)
        else:
            names.update(v.provider for v in prepared.snapshot.versions_of(project))
    return sorted(names)


def report(app: AppContext, plan: Plan, result: ApplyResult) -> None:
    if app.json_output:
        payload = {
            "plan_id": plan.plan_id,
            "applied": [{"address": a, "action": x} for a, x in result.applied],
            "failed": [{"address": a, "error": m} for a, m in result.failed],
            "skipped": [{"address": a, "reason": m} for a, m in result.skipped],
            "started": result.started,
            "ok": result.ok,
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
    if result.failed:
        for address, message in result.failed:
            click.echo(f"Error: {address}: {message}", err=True)
        click.echo(f"\nApply failed. Resources: {counts}.")
    else:
        click.echo(f"\nApply complete! Resources: {counts}.")
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
    from ftctl.ops.prepare import Prepared, ProviderPool, load_desired, make_plan
    from ftctl.state.store import open_state

    events = app.event_sink()
    plan_file = Path(args[0]) if len(args) == 1 else None
    if plan_file is not None and (plan_file.suffix in (".plan", ".json") or plan_file.is_file()):
        if not looks_like_plan_file(plan_file):
            read_plan(plan_file)  # raises the precise reason
        saved = read_plan(plan_file)
        projects = sorted({key.split(".", 1)[0] for key in saved.data_hashes})
        workspace, desired = load_desired(app.workspace_dir, projects, events)
        store = open_state(workspace)
        prepared = Prepared(workspace, desired, store, store.read(), ProviderPool(workspace))
        result = run_apply(app, saved, prepared, wait=not no_wait, lock_timeout=lock_timeout)
    else:
        refuse_without_terminal(app, auto_approve)  # before anything is built or refreshed
        with planning_under_lock(app, args, "apply", lock_timeout) as prepared:
            plan = make_plan(prepared, PlanOptions(projects=args), events)
            if not plan.has_changes or not app.json_output:
                print_plan(app, plan)  # in --json mode only the apply report goes to stdout
            if not plan.has_changes:
                return
            confirm(app, "Do you want to perform these actions?", auto_approve)
            result = run_apply(
                app, plan, prepared, wait=not no_wait, lock_timeout=lock_timeout, locked=True
            )
    if not result.ok:
        raise FtctlError(failure_summary(result))


def failure_summary(result: ApplyResult) -> str:
    """The closing error: how many changes failed, which jobs go on, and what to do next."""
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
