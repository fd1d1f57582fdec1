"""`ftctl import ADDR JOB_ID`: adopt an existing fine-tuning job as a version."""

from __future__ import annotations

import json
import re

import click

from ftctl.cli.context import AppContext, pass_app
from ftctl.cli.options import lock_timeout_option
from ftctl.cli.state_cmd import JSON_HELP, wants_json

# Job ids are opaque but never hold '/', spaces or '?': they go into the request's path.
JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")


def _check_job_id(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not JOB_ID.fullmatch(value):
        raise click.BadParameter(f"{value!r} is not a fine-tuning job id (like ftjob-abc123)")
    return value


@click.command("import")
@click.argument("address", required=False)
@click.argument("job_id", required=False, callback=_check_job_id)
@click.option(
    "--all",
    "all_jobs",
    is_flag=True,
    help="Rebuild every version of the workspace's projects from the providers' jobs "
    "(after the state was lost); aliases cannot be recovered and are listed.",
)
@lock_timeout_option
@click.option("--json", "json_flag", is_flag=True, help=JSON_HELP)
@pass_app
def import_(
    app: AppContext,
    address: str | None,
    job_id: str | None,
    all_jobs: bool,
    lock_timeout: float,
    json_flag: bool,
) -> None:
    """Adopt the fine-tuning job JOB_ID as ADDRESS (version.<project>.<n>), or with --all
    every job ftctl made for this workspace's projects.

    The job is retrieved from the project's provider; an API error fails the command and
    nothing is written. When the job trained exactly what the project configures (base
    model, method, seed, explicit hyperparameters, data bytes) the version gets the same
    training fingerprint the planner computes, so the next plan does not retrain.
    """
    if all_jobs:
        if address or job_id:
            raise click.UsageError("--all takes no ADDRESS or JOB_ID")
        _import_all(app, lock_timeout, json_flag)
        return
    if not address or not job_id:
        raise click.UsageError("give ADDRESS and JOB_ID, or --all")
    from ftctl.ops.adopt import import_job  # heavy: keeps `ftctl --help` quick

    imported = import_job(
        app.workspace_dir, address, job_id, lock_timeout=lock_timeout, events=app.event_sink()
    )
    version = imported.version
    if wants_json(app, json_flag):
        payload = {
            "address": imported.address,
            "version": version.to_dict(),
            "matches_configuration": not imported.mismatches,
            "mismatches": list(imported.mismatches),
        }
        click.echo(json.dumps(payload, indent=2))
        return
    click.echo(
        f"Imported {version.job_id} as {imported.address} (status {version.status}, "
        f"model {version.model_id or '-'})."
    )
    if imported.mismatches:
        app.err_console.print(
            "Warning: the job does not match the project's configuration, so the next plan "
            "will train a new version:\n  " + "\n  ".join(imported.mismatches),
            style="yellow",
        )


def _import_all(app: AppContext, lock_timeout: float, json_flag: bool) -> None:
    from ftctl.ops.rebuild import import_all  # heavy: keeps `ftctl --help` quick

    done = import_all(app.workspace_dir, lock_timeout=lock_timeout, events=app.event_sink())
    if wants_json(app, json_flag):
        payload = {
            "versions": [{"address": v.address, **v.to_dict()} for v in done.versions],
            "already_recorded": done.already_recorded,
            "skipped": list(done.skipped),
            "lost_aliases": list(done.lost_aliases),
        }
        click.echo(json.dumps(payload, indent=2))
        return
    for v in done.versions:
        click.echo(
            f"Imported {v.job_id} as {v.address} (status {v.status}, model {v.model_id or '-'})."
        )
    if done.already_recorded:
        click.echo(f"Already in the state: {done.already_recorded} job(s).")
    if not done.versions and not done.already_recorded:
        click.echo("No fine-tuning jobs of this workspace's projects were found.")
    for why in done.skipped:
        app.err_console.print(f"Warning: skipped {why}", style="yellow")
    if done.lost_aliases:
        app.err_console.print(
            "Warning: these aliases could not be recovered (providers keep no aliases, and "
            "the audit log was in the lost state); `ftctl plan` shows the promotions the "
            "configuration asks for:\n  " + "\n  ".join(done.lost_aliases),
            style="yellow",
        )
