"""`ftctl promote PROJECT VERSION --alias A --reason "…"`: manual promotion or rollback."""

from __future__ import annotations

import json

import click

from ftctl.cli.context import AppContext, pass_app
from ftctl.cli.options import lock_timeout_option
from ftctl.errors import FtctlError


@click.command()
@click.argument("project")
@click.argument("version", type=click.IntRange(min=1))
@click.option(
    "-alias", "--alias", "alias", default="prod", show_default=True, help="Alias to move."
)
@click.option(
    "-reason", "--reason", "reason", required=True, help="Why (recorded in the audit log)."
)
@click.option("--force", is_flag=True, help="Promote even a version that failed its gates.")
@lock_timeout_option
@pass_app
def promote(
    app: AppContext,
    project: str,
    version: int,
    alias: str,
    reason: str,
    force: bool,
    lock_timeout: float,
) -> None:
    """Point PROJECT's alias at VERSION now (promotion or rollback), through the executor,
    audited with who and why. The YAML still decides the next apply: pin the version with
    `promote.version` to keep it there."""
    from ftctl.ops.promote import PromoteRequest
    from ftctl.ops.promote import promote as run_promote

    result = run_promote(
        app.workspace_dir,
        PromoteRequest(project, version, alias, reason, force=force, lock_timeout_s=lock_timeout),
        app.event_sink(),
    )
    if result.failed:
        raise FtctlError("; ".join(f"{a}: {m}" for a, m in result.failed))
    snapshot = result.snapshot
    record = snapshot.alias(project, alias) if snapshot else None
    moved = bool(result.applied)
    if app.json_output:
        payload = {
            "address": f"alias.{project}.{alias}",
            "version": record.version if record else None,
            "model_id": record.model_id if record else None,
            "moved": moved,
            "skipped": [{"address": a, "reason": m} for a, m in result.skipped],
        }
        click.echo(json.dumps(payload, indent=2))
        return
    for address, why in result.skipped:
        click.echo(f"Skipped {address}: {why}", err=True)
    if record is not None:
        click.echo(f"{project}/{alias} = {record.model_id} (version {record.version})")
    if moved:
        click.echo(
            f"Recorded in the audit log. The YAML decides the next apply: set "
            f"promote.version: {version} in {project}'s project.yaml to keep it.",
            err=True,
        )
