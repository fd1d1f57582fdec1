"""`ftctl state list|show|rm|force-unlock|audit` and `ftctl force-unlock`: inspect and
edit the recorded state without touching any provider."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ftctl.cli.context import AppContext, pass_app
from ftctl.cli.options import lock_timeout_option
from ftctl.config.loader import LoadedWorkspace
from ftctl.errors import StateError, UserAbort
from ftctl.ops import state as ops_state
from ftctl.ops.prepare import recorded_or_empty
from ftctl.state.model import Address, StateSnapshot
from ftctl.state.store import StateStore

JSON_HELP = "Print the result as JSON."
DEFAULT_PROMOTE_ALIAS = "prod"


def workspace_config(app: AppContext) -> LoadedWorkspace:
    """The workspace from ftctl.yaml alone: broken project files do not block state commands."""
    return ops_state.workspace_config(app.workspace_dir)


def promote_alias(workspace: LoadedWorkspace, project: str) -> str:
    """The alias commands default to for `project`: its `promote.alias` (else `prod`)."""
    configured = next((p for p in workspace.projects if p.name == project), None)
    promote = configured.model.spec.promote if configured else None
    return promote.alias if promote else DEFAULT_PROMOTE_ALIAS


def state_store(app: AppContext) -> StateStore:
    return ops_state.state_store(app.workspace_dir)


def recorded_snapshot(store: StateStore) -> StateSnapshot | None:
    """The stored snapshot, or None when no state has been recorded yet: inspecting a
    workspace must not create `.ftctl/state.db` (reading a store for the first time does)."""
    return store.read() if store.exists() else None


def snapshot_or_empty(store: StateStore) -> StateSnapshot:
    """The stored snapshot, or an empty one (not persisted) when there is no state yet."""
    return recorded_or_empty(store)


def wants_json(app: AppContext, flag: bool) -> bool:
    return flag or app.json_output


@click.group("state")
def state() -> None:
    """Inspect and edit the recorded state (no provider is touched)."""


@state.command("list")
@click.argument("projects", nargs=-1)
@click.option("--json", "json_flag", is_flag=True, help=JSON_HELP)
@pass_app
def list_(app: AppContext, projects: tuple[str, ...], json_flag: bool) -> None:
    """List the addresses in the state (of PROJECTS only, when given)."""
    snapshot = recorded_snapshot(state_store(app))
    recorded = snapshot.addresses() if snapshot else []
    addresses = [a for a in recorded if not projects or a.split(".")[1] in projects]
    if wants_json(app, json_flag):
        payload = {
            "lineage": snapshot.lineage if snapshot else None,
            "serial": snapshot.serial if snapshot else 0,
            "addresses": addresses,
        }
        click.echo(json.dumps(payload, indent=2))
        return
    for address in addresses:
        click.echo(address)


@state.command("show")
@click.argument("address")
@click.option("--json", "json_flag", is_flag=True, help=JSON_HELP)
@pass_app
def show(app: AppContext, address: str, json_flag: bool) -> None:
    """Show the record at ADDRESS (e.g. version.support-bot.3)."""
    addr = Address.parse(address)
    snapshot = snapshot_or_empty(state_store(app))
    record = snapshot.find(addr)
    if record is None:
        raise StateError(_missing(address, snapshot.addresses()))
    data = record.to_dict()
    if wants_json(app, json_flag):
        click.echo(json.dumps({"address": address, **data}, indent=2, sort_keys=False))
        return
    click.echo(f"# {address}")
    width = max(len(k) for k in data)
    for key, value in data.items():
        click.echo(f"{key:<{width}} = {_show_value(value)}")


@state.command("rm")
@click.argument("addresses", nargs=-1, required=True)
@lock_timeout_option
@pass_app
def rm(app: AppContext, addresses: tuple[str, ...], lock_timeout: float) -> None:
    """Forget ADDRESSES: remove them from the state without touching the provider.

    The job, model or file stays on the provider; ftctl no longer manages it.
    """
    forgotten = ops_state.forget(
        app.workspace_dir, addresses, lock_timeout=lock_timeout, events=app.event_sink()
    )
    for address in forgotten.removed:
        click.echo(f"Removed {address}")
    for alias in forgotten.dangling:
        app.err_console.print(
            f"Warning: {alias.address} points at version {alias.version}, which is no longer "
            "in the state",
            style="yellow",
        )


def _unlock(app: AppContext, lock_id: str, force: bool) -> None:
    def ask() -> None:
        if sys.stdin.isatty() and not app.json_output:
            _confirm_unlock()

    ops_state.force_unlock(app.workspace_dir, lock_id, force=force, confirm=ask)
    click.echo(f"Lock {lock_id} removed. ftctl operations can take the state lock again.")


def _confirm_unlock() -> None:
    """Terraform's question before removing a lock, asked only of a person at a terminal."""
    click.echo(
        "\nDo you really want to force-unlock?\n"
        "  ftctl will remove the lock on the state. This will allow ftctl commands to\n"
        "  modify the state, even though it may still be in use.\n"
        "  Only 'yes' will be accepted to confirm.\n",
        err=True,
    )
    answer = click.prompt("  Enter a value", default="", show_default=False, err=True)
    if answer.strip() != "yes":
        raise UserAbort("force-unlock cancelled; the lock is still held.")


_UNLOCK_DOC = """Remove the state lock LOCK_ID, left by an ftctl that crashed.

Only do this when no ftctl process is running: the lock error names its id and holder.
A lock whose holder still runs on this machine is refused unless -force; on a terminal
ftctl asks for confirmation first (-force skips it). A lock whose holder died on this
machine is taken over by the next command on its own, and one from another machine
expires within two minutes of its holder's death.
"""
_FORCE_HELP = "Remove the lock even if its holder still runs, without asking."


@state.command("force-unlock", help=_UNLOCK_DOC)
@click.argument("lock_id")
@click.option("--force", is_flag=True, help=_FORCE_HELP)
@pass_app
def state_force_unlock(app: AppContext, lock_id: str, force: bool) -> None:
    _unlock(app, lock_id, force)


@click.command("force-unlock", help=_UNLOCK_DOC)
@click.argument("lock_id")
@click.option("--force", is_flag=True, help=_FORCE_HELP)
@pass_app
def force_unlock(app: AppContext, lock_id: str, force: bool) -> None:
    _unlock(app, lock_id, force)


@state.command("audit")
@click.argument("project", required=False)
@click.option("--json", "json_flag", is_flag=True, help=JSON_HELP)
@click.option(
    "--jsonl",
    is_flag=True,
    help="Export the entries as JSON Lines (one object per line, hashes included).",
)
@click.option(
    "--verify",
    is_flag=True,
    help="Check the whole log's hash chain; exit 1 naming the first entry that was "
    "edited, removed or reordered.",
)
@click.option(
    "--from",
    "export",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --verify: check this --jsonl export instead of the state (no database needed).",
)
@click.option(
    "--head",
    metavar="SEQ:HASH",
    help="With --verify --from: the head recorded when the export was made (e.g. from "
    "`--verify --json`), so that entries missing from the end are seen too.",
)
@pass_app
def audit(
    app: AppContext,
    project: str | None,
    json_flag: bool,
    jsonl: bool,
    verify: bool,
    export: Path | None,
    head: str | None,
) -> None:
    """Show the audit log (of PROJECT only, when given), oldest first."""
    if (export or head) and not verify:
        raise click.UsageError("--from and --head go with --verify")
    if verify:
        _verify_audit(app, json_flag, export, head)
        return
    store = state_store(app)
    entries = store.audit(project) if store.exists() else []
    if jsonl:
        for e in entries:
            click.echo(json.dumps(e.to_dict(), sort_keys=True, separators=(",", ":")))
        return
    if wants_json(app, json_flag):
        click.echo(json.dumps([e.to_dict() for e in entries], indent=2))
        return
    for e in entries:
        extra = f" plan={e.plan_id}" if e.plan_id else ""
        extra += f" commit={e.git_commit[:12]}" if e.git_commit else ""
        click.echo(f"{e.at}  {e.who}  {e.operation}: {e.action} {e.address or '-'}{extra}")


def _verify_audit(app: AppContext, json_flag: bool, export: Path | None, head: str | None) -> None:
    """The whole log is checked whatever PROJECT says: the chain runs through every entry."""
    from ftctl.state.audit_chain import parse_head, read_export, verify_chain

    if head is not None and parse_head(head) is None:
        raise click.BadParameter(f"{head!r} is not SEQ:HASH", param_hint="--head")
    if export is not None:
        report = verify_chain(read_export(export), head)
    else:
        store = state_store(app)
        entries = store.audit() if store.exists() else []
        report = verify_chain(entries, store.audit_head() if store.exists() else None)
    if wants_json(app, json_flag):
        click.echo(json.dumps(report.to_dict(), indent=2))
        if not report.ok:
            click.get_current_context().exit(1)
        return
    if report.problem is not None:
        raise StateError(f"the audit log does not verify: {report.problem.message}")
    head = f"; head {report.head}" if report.head else ""
    click.echo(f"Audit log verified: {report.chained} chained entries{head}.")
    for note in report.notes:
        click.echo(f"Note: {note}")


def _missing(address: str, known: list[str]) -> str:
    return ops_state.missing(address, known)


def _show_value(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    if value is None:
        return "null"
    return str(value)
