"""`ftctl events PROJECT [VERSION]`: a version's job events and its loss chart."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click

from ftctl.cli.context import AppContext, pass_app


@click.command()
@click.argument("project")
@click.argument("version", required=False, type=click.IntRange(min=1))
@click.option("--all", "show_all", is_flag=True, help="Print every metrics event too.")
@click.option("--width", default=60, show_default=True, type=click.IntRange(10, 400))
@pass_app
def events(app: AppContext, project: str, version: int | None, show_all: bool, width: int) -> None:
    """The job events of PROJECT's VERSION (default: the newest) and a loss chart."""
    from ftctl.ops.events import history
    from ftctl.render.chart import line_chart

    found = history(app.workspace_dir, project, version)
    v = found.version
    if app.json_output:
        payload = {
            "address": v.address,
            "job_id": v.job_id,
            "status": v.status,
            "model_id": v.model_id,
            "metrics": v.metrics,
            "events": [
                {
                    "id": e.id,
                    "created_at": e.created_at,
                    "level": e.level,
                    "type": e.type,
                    "message": e.message,
                    "data": dict(e.data),
                }
                for e in found.events
            ],
            "loss_curve": [p.to_dict() for p in found.loss_curve],
        }
        click.echo(json.dumps(payload, indent=2))
        return
    click.echo(f"{v.address}  job {v.job_id or '-'}  {v.status}  {v.model_id or ''}".rstrip())
    metrics = [e for e in found.events if e.type == "metrics"]
    for event in found.events:
        if (
            event.type == "metrics"
            and not show_all
            and event is not (metrics[-1] if metrics else None)
        ):
            continue
        when = datetime.fromtimestamp(event.created_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
        click.echo(f"  {when}  {event.level:<5} {event.message}")
    hidden = len(metrics) - 1 if metrics and not show_all else 0
    if hidden > 0:
        click.echo(f"  ({hidden} more metrics events: --all shows them)")
    train = [(p.step, p.train_loss) for p in found.loss_curve if p.train_loss is not None]
    valid = [(p.step, p.valid_loss) for p in found.loss_curve if p.valid_loss is not None]
    chart = line_chart(
        [("training loss", train), ("validation loss", valid)], width=width, title="\nLoss"
    )
    if chart:
        click.echo(chart, nl=False)
    if v.metrics:
        final = ", ".join(f"{k}={val:.4g}" for k, val in sorted(v.metrics.items()))
        click.echo(f"\nFinal: {final}")
