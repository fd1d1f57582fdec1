"""`ftctl validate [PATH...]`: check the workspace and its projects without side effects."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from ftctl.cli.context import AppContext, pass_app
from ftctl.config.checks import check_credentials
from ftctl.config.loader import WorkspaceReport, read_workspace, sorted_diagnostics
from ftctl.errors import Diagnostic


@click.command("validate")
@click.argument("selected", nargs=-1, metavar="[PROJECT | PATH]...")
@click.option("--json", "json_flag", is_flag=True, help="Print the result as JSON.")
@pass_app
def validate(app: AppContext, selected: tuple[str, ...], json_flag: bool) -> None:
    """Check ftctl.yaml and the projects (those named or at PATH, or all of them).

    Prints every problem as `file:line:column: error: field: message`; exits 1 if any.
    """
    only = [
        str(Path(item).resolve()) if Path(item).exists() else item
        for item in selected
        if not _is_workspace(Path(item), app.workspace_dir)
    ]
    report = read_workspace(app.workspace_dir, only)
    # Named projects must be usable here; the whole workspace may hold an open-weights
    # project whose model is not downloaded on this machine (a warning, like a missing key).
    diagnostics, data_failures = _collect(report, strict=bool(only))
    valid = not any(d.severity == "error" for d in diagnostics)
    if json_flag or app.json_output:
        click.echo(json.dumps(_as_json(report, diagnostics, data_failures, valid), indent=2))
    else:
        _print_human(app, report, diagnostics, data_failures, valid)
    if not valid:
        raise click.exceptions.Exit(1)


def collect_diagnostics(report: WorkspaceReport) -> list[Diagnostic]:
    """All problems of the workspace and the selected projects, in file and line order.

    Checks that need a loaded, schema-valid project (those in `report.workspace.projects`)
    add their diagnostics to `diagnostics` before it is sorted.
    """
    return _collect(report)[0]


def _collect(report: WorkspaceReport, *, strict: bool = True) -> tuple[list[Diagnostic], set[Path]]:
    """The sorted diagnostics, and the project files whose data fails its policy (those
    diagnostics name the data files, so the project cannot be told from their file)."""
    diagnostics = list(report.diagnostics)
    data_failures: set[Path] = set()
    if report.workspace is not None and report.workspace.source_map is not None:
        used = [p.provider_name for p in report.workspace.projects]
        diagnostics.extend(
            check_credentials(report.workspace.model, report.workspace.source_map, used, os.environ)
        )
    if report.workspace is not None:
        # The data policy: builds each project's data (cached) and reports every finding.
        from ftctl.datasets.validation import validate_project_data

        for project in report.workspace.projects:
            found = validate_project_data(project, report.workspace, strict=strict)
            if any(d.severity == "error" for d in found):
                data_failures.add(project.path)
            diagnostics.extend(found)
    return list(sorted_diagnostics(diagnostics)), data_failures


def _is_workspace(path: Path, workspace_dir: Path) -> bool:
    """`ftctl validate .` at the root, or naming ftctl.yaml, means everything."""
    resolved = path.resolve()
    return resolved in (workspace_dir, workspace_dir / "ftctl.yaml")


def _project_entries(
    report: WorkspaceReport, diagnostics: list[Diagnostic], data_failures: set[Path]
) -> list[dict[str, object]]:
    loaded = {p.path: p for p in report.projects}
    failing = {d.file for d in diagnostics if d.severity == "error"}
    entries: list[dict[str, object]] = []
    for file in report.project_files:
        shown = _relative(file, report.root)
        project = loaded.get(file)
        entries.append(
            {
                "name": project.name if project else None,
                "path": shown,
                "provider": project.provider_name if project else None,
                "valid": project is not None and shown not in failing and file not in data_failures,
            }
        )
    return entries


def _as_json(
    report: WorkspaceReport,
    diagnostics: list[Diagnostic],
    data_failures: set[Path],
    valid: bool,
) -> dict[str, object]:
    return {
        "valid": valid,
        "diagnostics": [d.to_dict() for d in diagnostics],
        "projects": _project_entries(report, diagnostics, data_failures),
    }


def _print_human(
    app: AppContext,
    report: WorkspaceReport,
    diagnostics: list[Diagnostic],
    data_failures: set[Path],
    valid: bool,
) -> None:
    for diagnostic in diagnostics:
        style = "red" if diagnostic.severity == "error" else "yellow"
        app.console.print(str(diagnostic), style=style, markup=False)
    entries = _project_entries(report, diagnostics, data_failures)
    good = [str(e["name"]) for e in entries if e["valid"]]
    errors = sum(1 for d in diagnostics if d.severity == "error")
    warnings = len(diagnostics) - errors
    files = len({d.file for d in diagnostics if d.severity == "error"})
    counted = f"{len(entries)} project(s)"
    if valid:
        names = f": {', '.join(good)}" if good else ""
        extra = f", {warnings} warning(s)" if warnings else ""
        app.console.print(f"Valid: ftctl.yaml and {counted}{names}{extra}.", style="green")
    else:
        app.console.print(
            f"Invalid: {errors} error(s) in {files} file(s); {len(good)} of {counted} valid.",
            style="red bold",
        )


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
