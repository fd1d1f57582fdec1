"""`ftctl diff`: what differs between two revisions of a workspace, as values.

Pure functions of already-loaded projects: the spec field by field (YAML spelling,
`spec.training.hyperparameters.nEpochs`), each field marked when it forces a new version
(it feeds the training fingerprint), and the data split by split. Reading the revisions
and their built data is the I/O side's job (`ftctl.ops.diff`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ftctl.plan.desired import DesiredProject
from ftctl.plan.fingerprint import FieldChange, changed_fields

DIFF_FORMAT_VERSION = 1

Status = Literal["added", "removed", "changed", "unchanged"]
SampleKind = Literal["added", "removed", "changed"]

# Spec fields that are training-fingerprint inputs themselves: a change trains a new version.
_FINGERPRINT_FIELDS = (
    "spec.provider",
    "spec.baseModel",
    "spec.training.method",
    "spec.training.hyperparameters",
    "spec.training.seed",
    "spec.training.grader",
)
# Fields that change the training or validation bytes (a new version if the bytes change).
_TRAINING_DATA_FIELDS = {"spec.data.train": "data.train", "spec.data.validation": "data.validation"}


@dataclass(frozen=True)
class SpecField:
    """One leaf of the project file that differs (`None`: absent on that side)."""

    path: str
    before: Any
    after: Any
    forces_new: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "before": self.before,
            "after": self.after,
            "forces_new_version": self.forces_new,
        }


@dataclass(frozen=True)
class Sample:
    """One example that differs: its prompt (the last user text) and its answers."""

    kind: SampleKind
    prompt: str
    before: str | None
    after: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "prompt": self.prompt,
            "before": self.before,
            "after": self.after,
        }


@dataclass(frozen=True)
class SplitDiff:
    """One split's built data on both sides (zeros and None where it is absent)."""

    split: str
    before_sha256: str | None
    after_sha256: str | None
    before_examples: int
    after_examples: int
    added: int
    removed: int
    changed: int  # same prompt, another answer
    before_tokens: int
    after_tokens: int
    samples: tuple[Sample, ...] = ()

    @property
    def differs(self) -> bool:
        return self.before_sha256 != self.after_sha256

    @property
    def tokens_delta(self) -> int:
        return self.after_tokens - self.before_tokens

    def to_dict(self) -> dict[str, Any]:
        return {
            "split": self.split,
            "sha256": {"before": self.before_sha256, "after": self.after_sha256},
            "examples": {"before": self.before_examples, "after": self.after_examples},
            "added": self.added,
            "removed": self.removed,
            "changed": self.changed,
            "tokens": {
                "before": self.before_tokens,
                "after": self.after_tokens,
                "delta": self.tokens_delta,
            },
            "samples": [s.to_dict() for s in self.samples],
        }


@dataclass(frozen=True)
class ProjectDiff:
    name: str
    status: Status
    fields: tuple[SpecField, ...] = ()
    fingerprint: tuple[FieldChange, ...] = ()  # the fingerprint inputs that differ
    splits: tuple[SplitDiff, ...] = ()
    before_cost_usd: float | None = None
    after_cost_usd: float | None = None

    @property
    def new_version(self) -> bool:
        """Whether applying the head side trains a new version of this project."""
        return self.status == "added" or (self.status == "changed" and bool(self.fingerprint))

    @property
    def cost_delta_usd(self) -> float | None:
        if self.before_cost_usd is None or self.after_cost_usd is None:
            return None
        return round(self.after_cost_usd - self.before_cost_usd, 6)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "new_version": self.new_version,
            "fields": [f.to_dict() for f in self.fields],
            "fingerprint_changes": [f.to_dict() for f in self.fingerprint],
            "data": [s.to_dict() for s in self.splits],
            "cost_usd": {
                "before": self.before_cost_usd,
                "after": self.after_cost_usd,
                "delta": self.cost_delta_usd,
            },
        }


@dataclass(frozen=True)
class WorkspaceDiff:
    base: str  # the revisions as the user named them ("work tree" for the work tree)
    head: str
    base_commit: str | None
    head_commit: str | None
    projects: tuple[ProjectDiff, ...]
    workspace_fields: tuple[SpecField, ...] = field(default=())

    @property
    def changed(self) -> tuple[ProjectDiff, ...]:
        return tuple(p for p in self.projects if p.status != "unchanged")

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": DIFF_FORMAT_VERSION,
            "base": {"rev": self.base, "commit": self.base_commit},
            "head": {"rev": self.head, "commit": self.head_commit},
            "workspace_fields": [f.to_dict() for f in self.workspace_fields],
            "projects": [p.to_dict() for p in self.projects],
        }


# --------------------------------------------------------------------------- fields


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves of nested JSON by dotted path; list items as `[i]` (`sources[0].path`)."""
    if isinstance(value, Mapping) and value:
        out: dict[str, Any] = {}
        for key in sorted(value):
            out.update(flatten(value[key], f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value:
        out = {}
        for index, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{index}]"))
        return out
    return {prefix: value}


def field_changes(
    before: Mapping[str, Any], after: Mapping[str, Any], fingerprint: Sequence[FieldChange] = ()
) -> tuple[SpecField, ...]:
    """The leaves of two project documents that differ, each marked `forces_new` when it
    feeds the fingerprint (`fingerprint` says whether the training data bytes changed)."""
    old, new = flatten(before), flatten(after)
    data_changed = {f.path for f in fingerprint if f.path.startswith("data.")}
    out = []
    for path in sorted(set(old) | set(new)):
        if path in old and path in new and old[path] == new[path]:
            continue
        out.append(SpecField(path, old.get(path), new.get(path), _forces_new(path, data_changed)))
    return tuple(out)


def _forces_new(path: str, data_changed: set[str]) -> bool:
    if any(path == f or path.startswith((f + ".", f + "[")) for f in _FINGERPRINT_FIELDS):
        return True
    for prefix, fingerprint_path in _TRAINING_DATA_FIELDS.items():
        if path == prefix or path.startswith((prefix + ".", prefix + "[")):
            return fingerprint_path in data_changed
    return False


def project_diff(
    name: str,
    before: DesiredProject | None,
    after: DesiredProject | None,
    splits: Sequence[SplitDiff],
) -> ProjectDiff:
    """The diff of one project from its two sides (None: absent) and its data diffs."""
    if before is None and after is None:
        raise ValueError(f"project {name} is on neither side")
    fingerprint: tuple[FieldChange, ...] = ()
    if before is not None and after is not None:
        fingerprint = tuple(changed_fields(before.fingerprint_inputs(), after.fingerprint_inputs()))
    fields = field_changes(
        _document(before) if before else {}, _document(after) if after else {}, fingerprint
    )
    differing = tuple(s for s in splits if s.differs)
    if before is None:
        status: Status = "added"
    elif after is None:
        status = "removed"
    else:
        status = "changed" if fields or fingerprint or differing else "unchanged"
    return ProjectDiff(
        name=name,
        status=status,
        fields=fields,
        fingerprint=fingerprint,
        splits=differing,
        before_cost_usd=before.cost_usd if before else None,
        after_cost_usd=after.cost_usd if after else None,
    )


def _document(project: DesiredProject) -> dict[str, Any]:
    """The effective project as YAML spells it (`spec.baseModel`), defaults included."""
    spec = project.spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    spec["provider"] = project.provider  # the effective one (a workspace default counts)
    metadata: dict[str, Any] = {"owner": project.owner, "labels": dict(project.labels)}
    return {"metadata": {k: v for k, v in metadata.items() if v}, "spec": spec}
