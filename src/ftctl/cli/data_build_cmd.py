"""`ftctl data build PROJECT [--out DIR]`: build a project's data and show what would be uploaded."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ftctl.cli.context import AppContext, pass_app
from ftctl.events import Event, EventSink

if TYPE_CHECKING:
    from ftctl.config.loader import LoadedProject, LoadedWorkspace
    from ftctl.datasets.build import BuiltProject


@click.command("build")
@click.argument("project")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also copy the canonical files (<split>.jsonl) and report.json to DIR.",
)
@click.option("--json", "json_flag", is_flag=True, help="Print the result as JSON.")
@pass_app
def build(app: AppContext, project: str, out_dir: Path | None, json_flag: bool) -> None:
    """Build PROJECT's data: per split the sha256, examples and tokens; findings; cost.

    Exits 1, printing every finding as `file:line: error: field: message`, when the data
    cannot be read or fails a policy check at level `error`.
    """
    # Before the build engine is imported (~0.3 s): the workers the last build used start
    # meanwhile, on another core (`worker_prestart`; standard library only).
    # Those not taken by the build are stopped unused.
    from ftctl.datasets.worker_prestart import started_early

    with started_early(app.workspace_dir):
        # Imported here: the build engine pulls in tokenizers and datasketch, which
        # `ftctl --help` and every other command should not pay for.
        from ftctl.config.loader import load_workspace
        from ftctl.datasets.build import build_project

        json_output = json_flag or app.json_output
        if json_flag:
            app.json_output = True  # quiet progress, JSON errors
        workspace = load_workspace(app.workspace_dir, [project])
        with _status(app) as sink:
            built = build_project(_select(workspace, project), workspace, sink)
    if out_dir is not None:
        _copy_out(built, out_dir)
    if json_output:
        click.echo(
            json.dumps(as_json(built, out_dir), sort_keys=True, ensure_ascii=False, indent=2)
        )
    else:
        _print_human(app, built, out_dir)


@contextmanager
def _status(app: AppContext) -> Iterator[EventSink]:
    """A spinner on stderr showing the current step and how much was read, at a terminal;
    in a log (CI), the steps and a line at least once a minute while the data is read
    (`LineProgress`), so that a long build never leaves the log silent."""
    if app.json_output:
        yield app.event_sink()
        return
    if not app.interactive:
        yield app.progress_lines()
        return
    with app.err_console.status("Building data") as status:

        def sink(event: Event) -> None:
            if event.kind in ("step", "progress"):
                status.update(event.message)
            else:
                app.event_sink()(event)

        yield sink


def _select(workspace: LoadedWorkspace, project: str) -> LoadedProject:
    """The project the user named, by name or directory (`load_workspace` selected it)."""
    if len(workspace.projects) == 1:
        return workspace.projects[0]
    return workspace.project(project)


def _copy_out(built: BuiltProject, out_dir: Path) -> None:
    from ftctl.datasets.build import report_json
    from ftctl.datasets.cache import atomic_write

    out_dir.mkdir(parents=True, exist_ok=True)
    for name, split in built.splits.items():
        target = out_dir / f"{name}.jsonl"
        temporary = out_dir / f".{name}.jsonl.tmp"
        shutil.copyfile(split.path, temporary)
        temporary.replace(target)
    atomic_write(out_dir / "report.json", (report_json(built.report) + "\n").encode("utf-8"))


def as_json(built: BuiltProject, out_dir: Path | None) -> dict[str, Any]:
    return {
        "project": built.project,
        "splits": {name: split.to_dict() for name, split in built.splits.items()},
        "diagnostics": [d.to_dict() for d in built.diagnostics],
        "cost": {
            "epochs": built.cost.epochs,
            "billed_tokens": built.cost.billed_tokens,
            "cost_usd": built.cost.cost_usd,
        },
        "out": str(out_dir) if out_dir is not None else None,
        "report": built.report,
    }


def _print_human(app: AppContext, built: BuiltProject, out_dir: Path | None) -> None:
    report = built.report
    model = report["model"]["id"]
    app.console.print(f"Data of {built.project} ({model}, {report['format']}):", markup=False)
    width = max(len(name) for name in built.splits)
    for name, split in built.splits.items():
        app.console.print(
            f"  {name:<{width}}  sha256={split.sha256}  examples={split.examples:,}  "
            f"tokens={split.tokens:,}  trained={split.trained_tokens:,}",
            markup=False,
        )
    for diagnostic in built.diagnostics:
        style = "red" if diagnostic.severity == "error" else "yellow"
        app.console.print(str(diagnostic), style=style, markup=False)
    if report["leakage"].get("checked") is False:  # nothing searched: no count to show
        app.console.print("Leakage between splits: not checked (policy.leakage: off)")
    cost = built.cost
    price = "price unknown" if cost.cost_usd is None else f"${cost.cost_usd:,.2f}"
    app.console.print(
        f"Estimated training cost: {price} ({cost.billed_tokens:,} billed tokens, "
        f"{cost.epochs} epochs)",
        markup=False,
    )
    if out_dir is not None:
        app.console.print(f"Wrote {len(built.splits)} file(s) and report.json to {out_dir}")
