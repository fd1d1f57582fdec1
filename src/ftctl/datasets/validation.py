"""The data side of `ftctl validate`: build a project's data and return every finding."""

from __future__ import annotations

from ftctl.config.loader import LoadedProject, LoadedWorkspace
from ftctl.datasets.build import build_project
from ftctl.errors import DataError, Diagnostic, TokenizerError


def validate_project_data(project: LoadedProject, workspace: LoadedWorkspace) -> list[Diagnostic]:
    """Every data finding of `project` (errors and warnings); never raises for data problems.

    Runs the full build (sources, transforms, format and policy checks), so `validate`
    fails exactly when `plan` and `apply` would refuse the data. Uses the dataset cache.
    """
    try:
        built = build_project(project, workspace)
    except DataError as error:
        if error.diagnostics:
            return list(error.diagnostics)
        return [project.source_map.diagnostic(("spec", "data"), error.message)]
    except TokenizerError as error:
        return [project.source_map.diagnostic(("spec", "baseModel"), error.message)]
    return list(built.diagnostics)
