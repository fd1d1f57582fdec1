"""Load `ftctl.yaml` and the project files it points to, collecting every problem.

Nothing here stops at the first error: YAML syntax, schema and semantic problems of
all files are gathered as `Diagnostic`s (`file:line:column: error: field: message`),
and `load_workspace` raises one `ConfigError` carrying all of them. `read_workspace`
returns them instead, for `ftctl validate`, together with the projects that are valid.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ftctl.config import checks
from ftctl.config.models import API_VERSION, FineTuneProject, Workspace
from ftctl.config.overlay import with_workspace_defaults
from ftctl.config.suggest import did_you_mean
from ftctl.config.validation_errors import diagnostics_from_validation_error
from ftctl.config.yaml_marks import SourceMap, parse_yaml
from ftctl.errors import ConfigError, Diagnostic

WORKSPACE_FILE = "ftctl.yaml"
PROJECT_FILE = "project.yaml"

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class LoadedProject:
    name: str
    path: Path  # the project.yaml
    dir: Path  # its directory: relative source paths start here
    # The effective project: `spec.policy` is the workspace's `defaults.policy` overlaid
    # by what the project file sets (see `ftctl.config.overlay`).
    model: FineTuneProject
    provider_name: str  # spec.provider, else the workspace default, else the only provider
    source_map: SourceMap  # field path -> line and column in `path`


@dataclass(frozen=True)
class LoadedWorkspace:
    root: Path
    path: Path  # the ftctl.yaml
    model: Workspace
    projects: tuple[LoadedProject, ...]
    source_map: SourceMap | None = None  # field path -> line and column in `path`

    def project(self, name: str) -> LoadedProject:
        for project in self.projects:
            if project.name == name:
                return project
        names = [p.name for p in self.projects]
        known = ", ".join(names) if names else "none"
        raise ConfigError(
            f"no project named '{name}' in {self.path} (projects: {known})",
            [
                Diagnostic(
                    file=self.path.name,
                    message=f"no project named '{name}'",
                    hint=_projects_hint(name, names),
                )
            ],
        )


@dataclass(frozen=True)
class WorkspaceReport:
    """Everything `ftctl validate` shows: the valid part of the workspace and all problems."""

    root: Path
    # None when ftctl.yaml is missing or fails its schema; its semantic errors (say an
    # unknown default provider) are in `diagnostics` but leave it here, with the projects
    # that are valid, so that further checks can run on them.
    workspace: LoadedWorkspace | None
    projects: tuple[LoadedProject, ...]  # the valid projects among those selected
    project_files: tuple[Path, ...]  # every project file selected, valid or not
    diagnostics: tuple[Diagnostic, ...] = field(default=())

    @property
    def valid(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)


def load_workspace(root: Path, only: Sequence[str] = ()) -> LoadedWorkspace:
    """The workspace at `root` and its projects (`only` those named, when given).

    Raises `ConfigError` with every diagnostic of every file when anything is wrong.
    """
    report = read_workspace(root, only)
    if not report.valid or report.workspace is None:
        raise _config_error(report.diagnostics)
    return report.workspace


def load_project_file(path: Path, workspace_root: Path) -> LoadedProject:
    """One project file, checked against the workspace at `workspace_root`."""
    root = workspace_root.resolve()
    workspace, _, diagnostics = _read_workspace_file(root)
    project, project_diagnostics = _read_project(path.resolve(), root, workspace)
    diagnostics.extend(project_diagnostics)
    if project is None or any(d.severity == "error" for d in diagnostics):
        raise _config_error(diagnostics)
    return project


def read_workspace(root: Path, only: Sequence[str] = ()) -> WorkspaceReport:
    """Load what can be loaded and collect every problem; never raises `ConfigError`.

    `only` selects projects by name (`metadata.name`), directory name, or the absolute
    path of the project directory or file.
    """
    root = root.resolve()
    workspace, workspace_map, diagnostics = _read_workspace_file(root)
    if workspace_map is None:
        return WorkspaceReport(root, None, (), (), tuple(diagnostics))

    patterns = workspace.projects if workspace else _raw_project_globs(workspace_map, root)
    files, outside = _project_files(root, patterns)
    selected, selection_problems = _select(files, only, workspace_map)
    diagnostics.extend(selection_problems)
    if not only:
        diagnostics.extend(outside)

    projects: list[LoadedProject] = []
    for file in selected:
        project, problems = _read_project(file, root, workspace)
        diagnostics.extend(problems)
        if project is not None and not problems:
            projects.append(project)
    duplicates = checks.check_unique_names(
        [checks.NamedProject(p.name, p.source_map) for p in projects]
    )
    diagnostics.extend(duplicates)
    duplicated = {d.file for d in duplicates}
    projects = [p for p in projects if p.source_map.display not in duplicated]

    loaded = None
    if workspace is not None:
        loaded = LoadedWorkspace(
            root=root,
            path=root / WORKSPACE_FILE,
            model=workspace,
            projects=tuple(projects),
            source_map=workspace_map,
        )
    return WorkspaceReport(
        root=root,
        workspace=loaded,
        projects=tuple(projects),
        project_files=tuple(selected),
        diagnostics=sorted_diagnostics(diagnostics),
    )


# --------------------------------------------------------------------------- files


def _read_workspace_file(root: Path) -> tuple[Workspace | None, SourceMap | None, list[Diagnostic]]:
    path = root / WORKSPACE_FILE
    if not path.is_file():
        problem = Diagnostic(
            file=str(path),
            message=f"{root} is not an ftctl workspace: it has no {WORKSPACE_FILE}",
            hint="run `ftctl init NAME` there to create one, or pass --workspace DIR",
        )
        return None, None, [problem]
    workspace, source_map, diagnostics = _read_document(path, root, Workspace, "Workspace")
    if workspace is not None:
        diagnostics.extend(checks.check_workspace(workspace, source_map))
    return workspace, source_map, diagnostics


def _read_project(
    path: Path, root: Path, workspace: Workspace | None
) -> tuple[LoadedProject | None, list[Diagnostic]]:
    if not path.is_file():
        return None, [Diagnostic(file=_display(path, root), message="project file not found")]
    project, source_map, diagnostics = _read_document(
        path, root, FineTuneProject, "FineTuneProject"
    )
    if project is None:
        return None, diagnostics
    diagnostics.extend(checks.check_project(project, source_map, path.parent, root, workspace))
    provider = checks.resolve_provider_name(project, workspace) if workspace else None
    if diagnostics or provider is None or workspace is None:
        return None, diagnostics
    loaded = LoadedProject(
        name=project.metadata.name,
        path=path,
        dir=path.parent,
        # The effective settings: the dataset engine and the planner read this model.
        model=with_workspace_defaults(project, workspace),
        provider_name=provider,
        source_map=source_map,
    )
    return loaded, diagnostics


def _read_document(
    path: Path, root: Path, model: type[M], kind: str
) -> tuple[M | None, SourceMap, list[Diagnostic]]:
    """Parse and validate one file: syntax, then apiVersion/kind, then the schema."""
    display = _display(path, root)
    text, problem = read_text_file(path, display)
    if text is None:
        return None, SourceMap(path, display), [problem] if problem else []
    parsed = parse_yaml(text, path, display)
    diagnostics = list(parsed.diagnostics)
    if parsed.data is None and diagnostics:
        return None, parsed.source_map, diagnostics
    header = _check_header(parsed.data, parsed.source_map, kind)
    if header:
        return None, parsed.source_map, [*diagnostics, header]
    try:
        # YAML spells keys as aliases only: `n_epochs` is an unknown key, not `nEpochs`.
        validated = model.model_validate(parsed.data, by_alias=True, by_name=False)
    except ValidationError as error:
        diagnostics.extend(
            diagnostics_from_validation_error(error, parsed.data, parsed.source_map, model)
        )
        return None, parsed.source_map, diagnostics
    return (None if diagnostics else validated), parsed.source_map, diagnostics


def read_text_file(path: Path, display: str) -> tuple[str | None, Diagnostic | None]:
    """The UTF-8 text of `path` (a leading BOM dropped), or a diagnostic placed at the
    first byte that is not UTF-8."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        return None, Diagnostic(display, message=f"cannot read: {error.strerror or error}")
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as error:
        start = error.start + (3 if raw.startswith(codecs.BOM_UTF8) else 0)
        line = raw.count(b"\n", 0, start) + 1
        line_start = raw.rfind(b"\n", 0, start) + 1
        # The column counts characters, so decode what precedes the bad byte on its line.
        column = len(raw[line_start:start].decode("utf-8", errors="replace")) + 1
        message = f"invalid UTF-8: byte 0x{raw[start]:02x} cannot be decoded"
        hint = "save the file as UTF-8"
        return None, Diagnostic(display, line, column, message=message, hint=hint)


def _check_header(data: Any, source_map: SourceMap, kind: str) -> Diagnostic | None:
    """One clear error when the file is not a `ftctl/v1` document of the expected kind.

    Checked before the schema so that, say, a Workspace file passed as a project gives
    one line saying so rather than a dozen unknown-key errors.
    """
    expected = f"apiVersion: {API_VERSION} and kind: {kind}"
    if not isinstance(data, dict):
        what = "an empty file" if data is None else f"a {type(data).__name__}"
        return Diagnostic(
            source_map.display, 1, 1, message=f"expected a mapping with {expected}, got {what}"
        )
    version = data.get("apiVersion")
    if version != API_VERSION:
        if "apiVersion" not in data:
            return source_map.diagnostic(
                ("apiVersion",), f"required key 'apiVersion' is missing (expected {expected})"
            )
        return source_map.diagnostic(
            ("apiVersion",),
            f"unsupported apiVersion {version!r}; this ftctl reads {API_VERSION}",
            at_value=True,
        )
    found = data.get("kind")
    if found != kind:
        if "kind" not in data:
            return source_map.diagnostic(
                ("kind",), f"required key 'kind' is missing (expected kind: {kind})"
            )
        other = {"Workspace": "ftctl.yaml", "FineTuneProject": "a project.yaml"}
        belongs = other.get(str(found))
        where = f" ({found} belongs in {belongs})" if belongs else ""
        return source_map.diagnostic(
            ("kind",),
            f"expected kind {kind}, got {found!r}{where}",
            hint=did_you_mean(str(found), [kind]),
            at_value=True,
        )
    return None


# --------------------------------------------------------------------------- selection


def _raw_project_globs(source_map: SourceMap, root: Path) -> list[str]:
    """Project globs of an invalid ftctl.yaml, so its projects are still checked."""
    default: list[str] = list(
        Workspace.model_fields["projects"].get_default(call_default_factory=True)
    )
    text, _ = read_text_file(source_map.file, "")
    if text is None:
        return default
    parsed = parse_yaml(text, source_map.file, "")
    raw = parsed.data.get("projects") if isinstance(parsed.data, dict) else None
    if isinstance(raw, list) and all(isinstance(p, str) for p in raw):
        return raw
    return default


def _project_files(root: Path, patterns: Sequence[str]) -> tuple[list[Path], list[Diagnostic]]:
    """Project files the globs match; those that lead out of the workspace are errors."""
    files: set[Path] = set()
    problems: list[Diagnostic] = []
    for pattern in checks.project_globs_are_safe(patterns):
        for match in root.glob(pattern):
            if not match.is_file():
                continue
            if root in match.resolve().parents:
                files.add(match)
            else:
                message = f"is a symlink to {match.resolve()}, outside the workspace"
                problems.append(Diagnostic(file=_display(match, root), message=message))
    return sorted(files), problems


def _select(
    files: list[Path], only: Sequence[str], workspace_map: SourceMap
) -> tuple[list[Path], list[Diagnostic]]:
    if not only:
        return files, []
    keys = {file: _selection_keys(file) for file in files}
    selected: list[Path] = []
    problems: list[Diagnostic] = []
    for wanted in only:
        matches = [f for f in files if wanted in keys[f]]
        if not matches:
            names = sorted({k for f in files for k in keys[f] if "/" not in k})
            problems.append(
                workspace_map.diagnostic(
                    ("projects",),
                    f"no project '{wanted}' in this workspace",
                    hint=_projects_hint(wanted, names),
                )
            )
        selected.extend(m for m in matches if m not in selected)
    return sorted(selected), problems


def _selection_keys(file: Path) -> set[str]:
    """The ways a user may name a project: its metadata.name, directory, dir or file path."""
    keys = {file.parent.name, str(file), str(file.parent)}
    text, _ = read_text_file(file, "")
    parsed = parse_yaml(text or "", file, "")
    metadata = parsed.data.get("metadata") if isinstance(parsed.data, dict) else None
    if isinstance(metadata, dict) and isinstance(metadata.get("name"), str):
        keys.add(metadata["name"])
    return keys


# --------------------------------------------------------------------------- helpers


def _projects_hint(wanted: str, names: Sequence[str]) -> str:
    return did_you_mean(wanted, names) or (
        f"projects: {', '.join(names)}" if names else "the workspace has no projects"
    )


def sorted_diagnostics(diagnostics: Iterable[Diagnostic]) -> tuple[Diagnostic, ...]:
    """Unique diagnostics by file, line and column (file-level ones, without a line, first)."""
    return tuple(sorted(set(diagnostics), key=Diagnostic.sort_key))


def _display(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _config_error(diagnostics: Sequence[Diagnostic]) -> ConfigError:
    return ConfigError.from_diagnostics(diagnostics)
