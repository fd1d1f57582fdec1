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


def _check_job_id(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    if not JOB_ID.fullmatch(value):
        raise click.BadParameter(f"{value!r} is not a fine-tuning job id (like ftjob-abc123)")
    return value


@click.command("import")
@click.argument("address")
@click.argument("job_id", callback=_check_job_id)
@lock_timeout_option
@click.option("--json", "json_flag", is_flag=True, help=JSON_HELP)
@pass_app
def import_(
    app: AppContext, address: str, job_id: str, lock_timeout: float, json_flag: bool
) -> None:
    """Adopt the fine-tuning job JOB_ID as ADDRESS (version.<project>.<n>).

    The job is retrieved from the project's provider; an API error fails the command and
    nothing is written. When the job trained exactly what the project configures (base
    model, method, seed, explicit hyperparameters, data bytes) the version gets the same
    training fingerprint the planner computes, so the next plan does not retrain.
    """
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
