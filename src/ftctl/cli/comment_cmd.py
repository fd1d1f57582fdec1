"""`ftctl comment [PLANFILE]`: the PR comment, as numbered parts ready to post."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ftctl.cli.context import AppContext, pass_app


@click.command()
@click.argument(
    "planfile", required=False, type=click.Path(dir_okay=False, exists=True, path_type=Path)
)
@click.option(
    "-out-dir",
    "--out-dir",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Write comment-1.md, comment-2.md, … here (older parts are removed).",
)
@click.option(
    "-name", "--name", "name", help="Workspace name in the marker (default: ftctl.yaml's)."
)
@click.option(
    "-append",
    "--append",
    "appendices",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Markdown file to add after the plan (e.g. `ftctl diff --markdown`). Repeatable.",
)
@click.option(
    "-note", "--note", "notes", multiple=True, help="A line for 'Not checked'. Repeatable."
)
@click.option(
    "-limit",
    "--limit",
    "limit",
    type=click.IntRange(2_000, 65_536),
    default=65_536,
    show_default=True,
    help="Characters per part (GitHub's limit by default).",
)
@pass_app
def comment(
    app: AppContext,
    planfile: Path | None,
    out_dir: Path,
    name: str | None,
    appendices: tuple[Path, ...],
    notes: tuple[str, ...],
    limit: int,
) -> None:
    """Compose the sticky PR comment from a saved plan: its summary first, what could not
    be checked, the latest eval of each planned project, the details, then --append files;
    split into numbered parts under GitHub's 65,536 characters, each with a hidden marker."""
    from ftctl.config.loader import load_workspace
    from ftctl.ops.comment import latest_evals, not_checked
    from ftctl.plan.savedplan import read_plan
    from ftctl.render.comment import comment_parts, compose_comment
    from ftctl.render.markdown import HEADER, render_plan_markdown

    workspace = load_workspace(app.workspace_dir)
    plan = read_plan(planfile) if planfile is not None else None
    problems = [*notes, *not_checked(plan)]
    evals = []
    if plan is not None:
        planned = sorted({c.project for c in plan.actionable})
        evals = latest_evals(workspace, planned, problems)
        body = render_plan_markdown(plan)
    else:
        body = HEADER + "\n\n**No plan was made.**\n"
    text = compose_comment(
        body,
        evals=evals,
        not_checked=problems,
        appendices=[p.read_text(encoding="utf-8") for p in appendices],
    )
    parts = comment_parts(text, name or workspace.model.metadata.name, limit=limit)
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("comment-*.md"):
        old.unlink()
    paths = []
    for number, part in enumerate(parts, start=1):
        path = out_dir / f"comment-{number}.md"
        path.write_text(part, encoding="utf-8")
        paths.append(str(path))
    if app.json_output:
        click.echo(json.dumps({"parts": paths}))
    else:
        click.echo("\n".join(paths))
