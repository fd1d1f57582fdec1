"""`ftctl import ADDR JOB_ID`: adopt an existing fine-tuning job as a version."""

from __future__ import annotations

import json
import re

import click

from ftctl.cli.context import AppContext, pass_app
from ftctl.cli.options import lock_timeout_option
from ftctl.cli.state_cmd import JSON_HELP, snapshot_or_empty, wants_json
from ftctl.config.loader import LoadedWorkspace, load_workspace
from ftctl.config.models import LocalProvider
from ftctl.errors import ProviderError, StateError
from ftctl.ops.adopt import adopt_job, data_matches
from ftctl.plan.desired import desired_project
from ftctl.providers.registry import open_provider
from ftctl.server.store import has_data
from ftctl.state.identity import current_user
from ftctl.state.model import Address, AuditEntry, StateSnapshot
from ftctl.state.store import open_state

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
    addr = Address.parse(address)
    if addr.kind != "version":
        raise StateError(
            f"only versions can be imported: expected version.<project>.<n>, got {address}"
        )
    workspace = load_workspace(app.workspace_dir, [addr.project])
    project = workspace.project(addr.project)
    store = open_state(workspace)
    _check_free(snapshot_or_empty(store), addr, job_id)
    _check_local_server_knows_jobs(workspace, project.provider_name, job_id)

    provider = open_provider(workspace, project.provider_name)
    job = provider.retrieve_job(job_id)
    checkpoints = provider.list_checkpoints(job_id) if job.status == "succeeded" else []

    from ftctl.datasets.build import build_project

    built = build_project(project, workspace, app.event_sink())
    desired = desired_project(workspace, project, built)

    who = current_user(app.workspace_dir)
    with store.lock("import", who, timeout_s=lock_timeout, events=app.event_sink()):
        snapshot = store.read()
        _check_free(snapshot, addr, job_id)
        matches = data_matches(provider, snapshot, desired, job)
        adoption = adopt_job(
            desired=desired,
            number=addr.number,
            job=job,
            data_match=matches,
            checkpoints=checkpoints,
        )
        snapshot = snapshot.with_version(adoption.version)
        for record in adoption.datasets:
            current = snapshot.dataset(record.project, record.split)
            if current is None or current.sha256 != record.sha256:
                snapshot = snapshot.with_dataset(record)
        store.write(snapshot)
        store.append_audit(
            AuditEntry.new(
                who=who,
                operation="import",
                address=str(addr),
                action="adopt",
                git_commit=adoption.version.git_commit,
                detail={
                    "job_id": job.id,
                    "model_id": job.fine_tuned_model,
                    "fingerprint": adoption.version.fingerprint,
                    "mismatches": list(adoption.mismatches),
                },
            )
        )
    if wants_json(app, json_flag):
        payload = {
            "address": str(addr),
            "version": adoption.version.to_dict(),
            "matches_configuration": not adoption.mismatches,
            "mismatches": list(adoption.mismatches),
        }
        click.echo(json.dumps(payload, indent=2))
        return
    click.echo(
        f"Imported {job.id} as {addr} (status {adoption.version.status}, "
        f"model {job.fine_tuned_model or '-'})."
    )
    if adoption.mismatches:
        app.err_console.print(
            "Warning: the job does not match the project's configuration, so the next plan "
            "will train a new version:\n  " + "\n  ".join(adoption.mismatches),
            style="yellow",
        )


def _check_local_server_knows_jobs(
    workspace: LoadedWorkspace, provider_name: str, job_id: str
) -> None:
    """An on-demand local server that has never run knows no job: say so without
    starting one (a failing command leaves no server process and no data directory)."""
    config = workspace.model.providers.get(provider_name)
    if not isinstance(config, LocalProvider) or config.base_url is not None:
        return
    data_dir = workspace.root / config.data_dir
    if not has_data(data_dir):
        raise ProviderError(
            f"provider {provider_name!r}: no fine-tuning job {job_id}: the local server of "
            f"this workspace has no jobs yet (no data in {data_dir})"
        )


def _check_free(snapshot: StateSnapshot, addr: Address, job_id: str) -> None:
    if snapshot.find(addr) is not None:
        raise StateError(
            f"{addr} is already in the state; pick another number "
            f"(next free: {snapshot.next_version_number(addr.project)})"
        )
    owner = snapshot.version_by_job(job_id)
    if owner is not None:
        raise StateError(f"job {job_id} is already managed as {owner.address}")
