"""The data side of `ftctl validate`: build a project's data and return every finding."""

from __future__ import annotations

import dataclasses

from ftctl.config.loader import LoadedProject, LoadedWorkspace
from ftctl.datasets.build import build_project
from ftctl.datasets.hf_models import HF_ENVIRONMENT_FIELD
from ftctl.errors import DataError, Diagnostic, TokenizerError

HF_FIELD = ".".join(HF_ENVIRONMENT_FIELD)


def validate_project_data(
    project: LoadedProject, workspace: LoadedWorkspace, *, strict: bool = True
) -> list[Diagnostic]:
    """Every data finding of `project` (errors and warnings); never raises for data problems.

    Runs the full build (sources, transforms, format and policy checks), so `validate`
    fails exactly when `plan` and `apply` would refuse the data. Uses the dataset cache.
    `strict`: an open-weights base model that cannot be used on this machine (not
    downloaded, or the `train` extra missing) is an error, not the build's warning.
    """
    try:
        found = list(build_project(project, workspace).diagnostics)
    except DataError as error:
        if not error.diagnostics:
            return [project.source_map.diagnostic(("spec", "data"), error.message)]
        found = list(error.diagnostics)
    except TokenizerError as error:
        return [project.source_map.diagnostic(("spec", "baseModel"), error.message)]
    return [_strict(d) for d in found] if strict else found


def _strict(diagnostic: Diagnostic) -> Diagnostic:
    if diagnostic.severity == "warning" and diagnostic.field == HF_FIELD:
        return dataclasses.replace(diagnostic, severity="error")
    return diagnostic
