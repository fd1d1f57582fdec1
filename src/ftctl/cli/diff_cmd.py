"""`ftctl diff BASE [HEAD]`: how the specs and data differ between two git revisions."""

from __future__ import annotations

import click

from ftctl.cli.context import AppContext, pass_app


@click.command()
@click.argument("base")
@click.argument("head", required=False)
@click.option("--markdown", is_flag=True, help="Print the diff as Markdown (a PR comment).")
@pass_app
def diff(app: AppContext, base: str, head: str | None, markdown: bool) -> None:
    """Compare the projects at git revision BASE with HEAD (default: the work tree).

    Field by field (marking what forces a new version) and the built data: examples
    added, removed and changed, token and cost deltas, a few samples."""
    from ftctl.ops.diff import diff_revisions
    from ftctl.render.diff import render_diff_json, render_diff_markdown, render_diff_text

    result = diff_revisions(app.workspace_dir, base, head, app.event_sink())
    if app.json_output:
        click.echo(render_diff_json(result), nl=False)
    elif markdown:
        click.echo(render_diff_markdown(result), nl=False)
    else:
        click.echo(render_diff_text(result), nl=False)
