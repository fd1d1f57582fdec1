"""`ftctl eval PROJECT`: run a trained version's gates without promoting, and report."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ftctl.cli.context import AppContext, pass_app


@click.command("eval")
@click.argument("project")
@click.option("-version", "--version", "version", type=int, help="Evaluate version N.")
@click.option("-alias", "--alias", "alias", help="Evaluate the version behind alias A.")
@click.option(
    "-baseline",
    "--baseline",
    "baseline",
    metavar="base|alias:X|MODEL",
    help="Compare against this instead of the gate's baseline.",
)
@click.option("--markdown", is_flag=True, help="Print the report as Markdown (a PR comment).")
@click.option(
    "-out",
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the JSON report to FILE.",
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 2 when the gates fail (default: 0 once the report is made, 1 on errors).",
)
@pass_app
def eval_(
    app: AppContext,
    project: str,
    version: int | None,
    alias: str | None,
    baseline: str | None,
    markdown: bool,
    out: Path | None,
    detailed_exitcode: bool,
) -> None:
    """Run PROJECT's gates on a trained version (default: the newest) without promoting.

    Answers are cached by (model, prompt, settings): a re-run costs nothing."""
    from ftctl.ops.evaluate import EvalRequest, evaluate
    from ftctl.render.evalreport import render_eval_json, render_eval_markdown, render_eval_text

    if version is not None and alias is not None:
        raise click.UsageError("give --version or --alias, not both")
    card = evaluate(
        app.workspace_dir,
        EvalRequest(project, version=version, alias=alias, baseline=baseline),
        app.event_sink(),
    )
    if app.json_output:
        click.echo(render_eval_json(card), nl=False)
    elif markdown:
        click.echo(render_eval_markdown(card), nl=False)
    else:
        click.echo(render_eval_text(card), nl=False)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render_eval_json(card), encoding="utf-8")
    if detailed_exitcode and not card.passed:
        sys.exit(2)
