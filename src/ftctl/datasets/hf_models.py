"""The catalog entry of a project's open-weights (`hf:`) base model, with what to tell the user.

The model's own files decide its entry (`catalog.models.hf_model`). When it cannot be read
here (the `train` extra is not installed, or the model is not downloaded), the data is
still built, with token counts estimated by o200k_base, and a warning at `baseModel` says
what to install or download: `plan` works offline and says so. `validate PROJECT` turns
these warnings into errors (`HF_ENVIRONMENT_FIELD`), since applying it would fail; a plain
`validate` of the whole workspace keeps them warnings, as for a missing API key, so that an
example project on a model not downloaded here does not fail every other project's check.
"""

from __future__ import annotations

from pathlib import Path

from ftctl.catalog import hf
from ftctl.catalog.models import ModelInfo, hf_model
from ftctl.config.loader import LoadedProject
from ftctl.errors import Diagnostic, Severity

HF_ENVIRONMENT_FIELD = ("spec", "baseModel")


def hf_model_info(project: LoadedProject, root: Path) -> tuple[ModelInfo, list[Diagnostic]]:
    """The entry of the project's hf model and the warnings (or errors) about it."""
    model = project.model.spec.base_model
    estimate = hf_model(model)
    missing = hf.missing_train_packages()
    if missing:
        message = (
            f"{model} is trained by the Hugging Face trainer, which needs the 'train' extra "
            f"({', '.join(missing)} not installed): {hf.INSTALL_COMMAND}; token counts are "
            "o200k_base estimates"
        )
        return estimate, [_note(project, message, "warning")]
    try:
        info = hf_model(model, root, read=True)
    except hf.ModelNotFound as error:
        message = f"{error.message}; token counts are o200k_base estimates"
        return estimate, [_note(project, message, "warning")]
    if not info.chat_template and project.model.spec.training.method != "reinforcement":
        message = (
            f"{model} has no chat template, so it cannot be fine-tuned on chat data "
            "(use an instruct/chat variant of the model)"
        )
        return info, [_note(project, message, "error")]
    return info, []


def _note(project: LoadedProject, message: str, severity: Severity) -> Diagnostic:
    return project.source_map.diagnostic(
        HF_ENVIRONMENT_FIELD, message, at_value=True, severity=severity
    )
