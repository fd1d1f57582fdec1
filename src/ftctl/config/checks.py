"""Semantic checks: rules the schema cannot express (files exist, names resolve).

Each check takes a parsed, schema-valid model and its `SourceMap` and returns
diagnostics; none of them raises or prints. Source files are resolved relative to
the project directory and must stay inside the workspace (no absolute paths, no `..`
escapes, no symlinks leading out), so that a workspace is a self-contained repo.
"""

from __future__ import annotations

import json
import os
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from ftctl.config.models import (
    DerivedSplit,
    FineTuneProject,
    GitSource,
    JsonSchemaGrader,
    PathSource,
    SplitData,
    Workspace,
)
from ftctl.config.suggest import did_you_mean
from ftctl.config.yaml_marks import FieldPath, SourceMap, format_field_path
from ftctl.errors import Diagnostic, Severity

_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class NamedProject:
    """What the duplicate-name check needs to know about a project."""

    name: str
    source_map: SourceMap


# --------------------------------------------------------------------------- workspace


def check_workspace(workspace: Workspace, source_map: SourceMap) -> list[Diagnostic]:
    diagnostics: list[Diagnostic] = []
    default = workspace.defaults.provider
    if default is not None and default not in workspace.providers:
        diagnostics.append(
            _unknown_provider(source_map, ("defaults", "provider"), default, workspace)
        )
    for index, pattern in enumerate(workspace.projects):
        problem = _relative_path_problem(pattern)
        if problem:
            diagnostics.append(source_map.diagnostic(("projects", index), problem, at_value=True))
    return diagnostics


def api_key_variable(workspace: Workspace, provider: str) -> str | None:
    """The environment variable holding `provider`'s API key (None: it needs none)."""
    config = workspace.providers.get(provider)
    if config is None or getattr(config, "auth", "key") == "entra":
        return None  # an Entra ID token (azure-identity) instead of a key
    return config.api_key_env


def missing_api_key(
    source_map: SourceMap, provider: str, variable: str, *, severity: Severity = "error"
) -> Diagnostic:
    """`providers.<name>.apiKeyEnv` (or the provider, for the default) names an unset variable."""
    return source_map.diagnostic(
        ("providers", provider, "apiKeyEnv"),
        f"environment variable {variable} is not set",
        hint=f"export {variable} with the API key of provider '{provider}', or change apiKeyEnv",
        at_value=True,
        severity=severity,
    )


def check_credentials(
    workspace: Workspace,
    source_map: SourceMap,
    used: Iterable[str],
    environ: Mapping[str, str],
) -> list[Diagnostic]:
    """Warnings for the providers in `used` whose API key variable is unset or blank.

    Warnings, not errors: `validate` runs offline (say in CI without secrets); the
    commands that call the provider fail on them.
    """
    diagnostics: list[Diagnostic] = []
    for provider in sorted(set(used)):
        variable = api_key_variable(workspace, provider)
        if variable and not environ.get(variable, "").strip():
            diagnostics.append(missing_api_key(source_map, provider, variable, severity="warning"))
    return diagnostics


def project_globs_are_safe(patterns: Iterable[str]) -> list[str]:
    """The project globs that may be expanded (relative, not leaving the workspace)."""
    return [p for p in patterns if not _relative_path_problem(p)]


# --------------------------------------------------------------------------- project


def resolve_provider_name(project: FineTuneProject, workspace: Workspace) -> str | None:
    """`spec.provider`, else the workspace default, else the only provider; None if unclear."""
    if project.spec.provider is not None:
        return project.spec.provider
    if workspace.defaults.provider is not None:
        return workspace.defaults.provider
    if len(workspace.providers) == 1:
        return next(iter(workspace.providers))
    return None


def check_project(
    project: FineTuneProject,
    source_map: SourceMap,
    project_dir: Path,
    workspace_root: Path,
    workspace: Workspace | None,
) -> list[Diagnostic]:
    """Every semantic problem of one schema-valid project."""
    diagnostics: list[Diagnostic] = []
    if workspace is not None:
        diagnostics.extend(_check_provider(project, source_map, workspace))
    diagnostics.extend(_check_method(project, source_map))
    diagnostics.extend(_check_adapter(project, source_map))
    diagnostics.extend(_check_sources(project, source_map, project_dir, workspace_root))
    diagnostics.extend(_check_gates(project, source_map, project_dir, workspace_root))
    return diagnostics


def _check_method(project: FineTuneProject, source_map: SourceMap) -> list[Diagnostic]:
    """A base model the catalog knows must support the training method (local-tiny: no DPO).

    Models the catalog does not know (a compatible endpoint's own) are left to the provider.
    """
    from ftctl.catalog.models import lookup_model
    from ftctl.errors import DataError

    try:
        info = lookup_model(project.spec.base_model)
    except DataError:
        return []
    method = project.spec.training.method
    if method in info.methods:
        return []
    return [
        source_map.diagnostic(
            ("spec", "training", "method"),
            f"{info.id} cannot be fine-tuned with method '{method}' "
            f"(it supports: {', '.join(info.methods)})",
            at_value=True,
        )
    ]


def _check_adapter(project: FineTuneProject, source_map: SourceMap) -> list[Diagnostic]:
    """`training.adapter` (LoRA or full) is a setting of the open-weights trainer only."""
    from ftctl.catalog import hf

    if project.spec.training.adapter is None or hf.is_hf(project.spec.base_model):
        return []
    return [
        source_map.diagnostic(
            ("spec", "training", "adapter"),
            f"adapter settings apply only to open-weights base models (hf:<org>/<name> or "
            f"hf:<directory>), not to {project.spec.base_model}",
        )
    ]


def check_unique_names(projects: Sequence[NamedProject]) -> list[Diagnostic]:
    """Two project files may not declare the same `metadata.name`."""
    diagnostics: list[Diagnostic] = []
    first_by_name: dict[str, NamedProject] = {}
    for project in projects:
        first = first_by_name.setdefault(project.name, project)
        if first is project:
            continue
        line, _ = first.source_map.locate(("metadata", "name"))
        diagnostics.append(
            project.source_map.diagnostic(
                ("metadata", "name"),
                f"duplicate project name '{project.name}' "
                f"(also declared in {first.source_map.display}:{line})",
                at_value=True,
            )
        )
    return diagnostics


def _check_provider(
    project: FineTuneProject, source_map: SourceMap, workspace: Workspace
) -> list[Diagnostic]:
    named = project.spec.provider
    if named is not None:
        if named not in workspace.providers:
            return [_unknown_provider(source_map, ("spec", "provider"), named, workspace)]
        return []
    if resolve_provider_name(project, workspace) is None:
        known = ", ".join(sorted(workspace.providers)) or "none"
        return [
            source_map.diagnostic(
                ("spec", "provider"),
                "no provider: set spec.provider, or defaults.provider in ftctl.yaml "
                f"(providers: {known})",
            )
        ]
    return []


def _unknown_provider(
    source_map: SourceMap, path: FieldPath, name: str, workspace: Workspace
) -> Diagnostic:
    known = sorted(workspace.providers)
    listed = ", ".join(f"'{k}'" for k in known) if known else "none are declared"
    return source_map.diagnostic(
        path,
        f"unknown provider '{name}' (providers in ftctl.yaml: {listed})",
        hint=did_you_mean(name, known),
        at_value=True,
    )


def _check_sources(
    project: FineTuneProject, source_map: SourceMap, project_dir: Path, workspace_root: Path
) -> list[Diagnostic]:
    data = project.spec.data
    splits: list[tuple[str, SplitData | DerivedSplit | None]] = [
        ("train", data.train),
        ("validation", data.validation),
        ("test", data.test),
    ]
    diagnostics: list[Diagnostic] = []
    for split_name, split in splits:
        if not isinstance(split, SplitData):
            continue
        for index, source in enumerate(split.sources):
            base: FieldPath = ("spec", "data", split_name, "sources", index)
            if isinstance(source, PathSource):
                path = (*base, "path")
                diagnostics.extend(
                    _check_local_file(
                        source.path, source_map, path, project_dir, workspace_root, glob=True
                    )
                )
            elif isinstance(source, GitSource):
                problem = _relative_path_problem(source.git.path)
                if problem:
                    diagnostics.append(
                        source_map.diagnostic((*base, "git", "path"), problem, at_value=True)
                    )
    return diagnostics


def _check_gates(
    project: FineTuneProject, source_map: SourceMap, project_dir: Path, workspace_root: Path
) -> list[Diagnostic]:
    evals = project.spec.gates.evals
    if evals is None:
        return []
    diagnostics: list[Diagnostic] = []
    base: FieldPath = ("spec", "gates", "evals")
    split = getattr(project.spec.data, evals.dataset)
    if split is None:
        diagnostics.append(
            source_map.diagnostic(
                (*base, "dataset"),
                f"the eval gate uses the {evals.dataset} split, "
                f"but spec.data.{evals.dataset} is not declared",
                at_value=True,
            )
        )
    for index, grader in enumerate(evals.graders):
        if isinstance(grader, JsonSchemaGrader):
            path = (*base, "graders", index, "schema")
            problems = _check_local_file(
                grader.schema_, source_map, path, project_dir, workspace_root, glob=False
            )
            if not problems:
                problems = _check_json_schema_file(project_dir / grader.schema_, source_map, path)
            diagnostics.extend(problems)
    return diagnostics


# --------------------------------------------------------------------------- files


def _relative_path_problem(text: str) -> str:
    """Why `text` is not a relative path that stays below its base ("" when fine)."""
    if PurePosixPath(text).is_absolute() or PureWindowsPath(text).is_absolute():
        return f"absolute path '{text}' is not allowed; use a path relative to the project"
    normalized = posixpath.normpath(text.replace("\\", "/"))
    if normalized == ".." or normalized.startswith("../"):
        return f"path '{text}' escapes the workspace"
    return ""


def _check_local_file(
    text: str,
    source_map: SourceMap,
    field_path: FieldPath,
    project_dir: Path,
    workspace_root: Path,
    *,
    glob: bool,
) -> list[Diagnostic]:
    def error(message: str) -> Diagnostic:
        return source_map.diagnostic(field_path, message, at_value=True)

    if PurePosixPath(text).is_absolute() or PureWindowsPath(text).is_absolute():
        return [error(f"absolute path '{text}' is not allowed; use a path relative to the project")]
    root = workspace_root.resolve()
    lexical = Path(os.path.normpath(project_dir / text))
    if not _is_within(lexical, root):
        return [error(f"path '{text}' escapes the workspace")]
    if glob and _GLOB_CHARS & set(text):
        matches = sorted(p for p in project_dir.glob(text) if p.is_file())
        if not matches:
            return [error(f"glob '{text}' matches no file")]
    else:
        if not lexical.exists():
            shown = _display(lexical, root)
            hint = " (a broken symlink)" if lexical.is_symlink() else ""
            return [error(f"file not found: {shown}{hint}")]
        if lexical.is_dir():
            return [error(f"'{text}' is a directory; expected a file")]
        matches = [lexical]
    outside = [m for m in matches if not _is_within(m.resolve(), root)]
    return [
        error(f"'{_display(m, root)}' is a symlink to {m.resolve()}, outside the workspace")
        for m in outside
    ]


def _check_json_schema_file(
    path: Path, source_map: SourceMap, field_path: FieldPath
) -> list[Diagnostic]:
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as problem:
        return [
            source_map.diagnostic(
                field_path, f"cannot read JSON schema {path.name}: {problem}", at_value=True
            )
        ]
    import jsonschema  # ~50 ms to import; only projects with json_schema graders need it

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as problem:
        where = format_field_path(tuple(problem.path)) or "the top level"
        return [
            source_map.diagnostic(
                field_path,
                f"{path.name} is not a valid JSON Schema (at {where}: {problem.message})",
                at_value=True,
            )
        ]
    return []


def _is_within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _display(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
