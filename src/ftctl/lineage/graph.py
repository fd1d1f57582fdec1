"""Lineage: which commit, data and settings made the model behind an alias.

A pure function of the state snapshot and the audit log. A version trained on top of
another version's model (`baseModel: ft:...`) links to that version, so the chain back
to a provider's base model is explicit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ftctl.errors import StateError
from ftctl.state.model import AuditEntry, StateSnapshot, VersionRecord

DEFAULT_ALIAS = "prod"


@dataclass(frozen=True)
class DatasetProvenance:
    """One split a version trained on: content hash and, when known, its size."""

    split: str
    sha256: str
    file_id: str | None
    examples: int | None
    tokens: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "split": self.split,
            "sha256": self.sha256,
            "file_id": self.file_id,
            "examples": self.examples,
            "tokens": self.tokens,
        }


@dataclass(frozen=True)
class Promotion:
    """An alias moving to this version, from the audit log."""

    alias: str
    at: str
    who: str
    plan_id: str | None
    git_commit: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "alias": self.alias,
            "at": self.at,
            "who": self.who,
            "plan_id": self.plan_id,
            "git_commit": self.git_commit,
        }


@dataclass(frozen=True)
class VersionLineage:
    """Everything that made one version's model."""

    project: str
    number: int
    model_id: str | None
    job_id: str | None
    status: str
    provider: str
    base_model: str
    parent: VersionLineage | None  # the version whose model `base_model` is, if any
    fingerprint: str
    method: str
    hyperparameters: Mapping[str, Any]
    seed: int | None
    git_commit: str | None
    plan_id: str | None
    datasets: tuple[DatasetProvenance, ...]
    trained_tokens: int | None
    metrics: Mapping[str, float]
    gates: Mapping[str, Any] | None
    created_at: str
    finished_at: str | None
    promotions: tuple[Promotion, ...] = field(default=())
    # What it was built from (VersionRecord.build): project file, dirty flag, data sources.
    build: Mapping[str, Any] | None = None

    @property
    def address(self) -> str:
        return f"version.{self.project}.{self.number}"

    def base_chain(self) -> list[str]:
        """Model ids from this model back to the provider's base model."""
        chain = [self.model_id or f"({self.address}, no model yet)"]
        node: VersionLineage | None = self
        while node is not None:
            chain.append(node.base_model)
            node = node.parent
        return chain

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "project": self.project,
            "version": self.number,
            "model_id": self.model_id,
            "job_id": self.job_id,
            "status": self.status,
            "provider": self.provider,
            "base_model": self.base_model,
            "parent": self.parent.to_dict() if self.parent else None,
            "fingerprint": self.fingerprint,
            "method": self.method,
            "hyperparameters": dict(self.hyperparameters),
            "seed": self.seed,
            "git_commit": self.git_commit,
            "plan_id": self.plan_id,
            "datasets": [d.to_dict() for d in self.datasets],
            "trained_tokens": self.trained_tokens,
            "metrics": dict(self.metrics),
            "gates": dict(self.gates) if self.gates is not None else None,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "promotions": [p.to_dict() for p in self.promotions],
            "build": dict(self.build) if self.build is not None else None,
        }


@dataclass(frozen=True)
class Lineage:
    """The answer to `ftctl lineage PROJECT [ALIAS]`."""

    project: str
    alias: str | None  # None when asked for a version number
    version: VersionLineage

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "alias": self.alias,
            "model_id": self.version.model_id,
            "base_chain": self.version.base_chain(),
            "version": self.version.to_dict(),
        }


def lineage_of(
    snapshot: StateSnapshot,
    audit: Sequence[AuditEntry],
    project: str,
    target: str = DEFAULT_ALIAS,
) -> Lineage:
    """The lineage of `project`'s alias `target` (or version number, when digits)."""
    if target.isdigit():
        version = snapshot.version(project, int(target))
        if version is None:
            numbers = [str(v.number) for v in snapshot.versions_of(project)] or ["none"]
            raise StateError(
                f"project {project!r} has no version {target} in the state "
                f"(versions: {', '.join(numbers)})"
            )
        return Lineage(project, None, _version_lineage(snapshot, audit, version, set()))
    alias = snapshot.alias(project, target)
    if alias is None:
        if project not in snapshot.projects():
            raise StateError(f"project {project!r} is not in the state (nothing applied yet?)")
        names = [a.name for a in snapshot.aliases_of(project)] or ["none"]
        raise StateError(
            f"project {project!r} has no alias {target!r} (aliases: {', '.join(names)})"
        )
    version = snapshot.version(project, alias.version)
    if version is None:
        raise StateError(
            f"alias {alias.address} points at version {alias.version}, which is not in the state"
        )
    return Lineage(project, alias.name, _version_lineage(snapshot, audit, version, set()))


def lineage_of_model(
    snapshot: StateSnapshot, audit: Sequence[AuditEntry], model_id: str
) -> Lineage:
    """The lineage of the version whose model is `model_id` (any project of the state)."""
    for version in snapshot.versions:
        if version.model_id == model_id:
            return Lineage(version.project, None, _version_lineage(snapshot, audit, version, set()))
    raise StateError(
        f"no version in the state made model {model_id!r} "
        "(ftctl import --all rebuilds versions from the provider's jobs)"
    )


def is_model_id(text: str) -> bool:
    """A fine-tuned model id as providers spell them (`ft:...`), not a project name."""
    return text.startswith("ft:")


def _version_lineage(
    snapshot: StateSnapshot,
    audit: Sequence[AuditEntry],
    version: VersionRecord,
    seen: set[str],
) -> VersionLineage:
    seen = seen | {version.address}
    parent_record = _parent(snapshot, version)
    parent = None
    if parent_record is not None and parent_record.address not in seen:
        parent = _version_lineage(snapshot, audit, parent_record, seen)
    return VersionLineage(
        project=version.project,
        number=version.number,
        model_id=version.model_id,
        job_id=version.job_id,
        status=version.status,
        provider=version.provider,
        base_model=version.base_model,
        parent=parent,
        fingerprint=version.fingerprint,
        method=version.method,
        hyperparameters=dict(version.hyperparameters),
        seed=version.seed,
        git_commit=version.git_commit,
        plan_id=version.plan_id,
        datasets=_datasets(snapshot, audit, version),
        trained_tokens=version.trained_tokens,
        metrics=dict(version.metrics),
        gates=version.gates,
        created_at=version.created_at,
        finished_at=version.finished_at,
        promotions=_promotions(snapshot, audit, version),
        build=version.build,
    )


def _parent(snapshot: StateSnapshot, version: VersionRecord) -> VersionRecord | None:
    if not version.base_model.startswith("ft:"):
        return None
    for candidate in snapshot.versions:
        if candidate.model_id == version.base_model:
            return candidate
    return None


def _datasets(
    snapshot: StateSnapshot, audit: Sequence[AuditEntry], version: VersionRecord
) -> tuple[DatasetProvenance, ...]:
    out = [_dataset(snapshot, audit, version, "train", version.train_sha256, version.train_file_id)]
    if version.validation_sha256:
        out.append(
            _dataset(
                snapshot,
                audit,
                version,
                "validation",
                version.validation_sha256,
                version.validation_file_id,
            )
        )
    return tuple(out)


def _dataset(
    snapshot: StateSnapshot,
    audit: Sequence[AuditEntry],
    version: VersionRecord,
    split: str,
    sha256: str,
    file_id: str | None,
) -> DatasetProvenance:
    """Sizes come from the dataset record when it still holds these bytes, else from the
    audit entry of the upload (the record is replaced when the data changes)."""
    record = snapshot.dataset(version.project, split)
    if record is not None and record.sha256 == sha256:
        return DatasetProvenance(split, sha256, file_id, record.examples, record.tokens)
    address = f"dataset.{version.project}.{split}"
    for entry in reversed(audit):
        if entry.address == address and entry.detail.get("sha256") == sha256:
            return DatasetProvenance(
                split, sha256, file_id, _int(entry.detail, "examples"), _int(entry.detail, "tokens")
            )
    return DatasetProvenance(split, sha256, file_id, None, None)


def _int(detail: Mapping[str, Any], key: str) -> int | None:
    value = detail.get(key)
    return value if isinstance(value, int) else None


def _promotions(
    snapshot: StateSnapshot, audit: Sequence[AuditEntry], version: VersionRecord
) -> tuple[Promotion, ...]:
    """Audit entries that moved an alias to this version, oldest first; the current
    aliases of the version are shown even when the audit log predates them."""
    prefix = f"alias.{version.project}."
    found: list[Promotion] = []
    for entry in audit:
        if not entry.address.startswith(prefix) or entry.action != "promote":
            continue
        target = entry.detail.get("version", entry.detail.get("to_version"))
        model = entry.detail.get("model_id")
        if target == version.number or (model is not None and model == version.model_id):
            found.append(
                Promotion(
                    entry.address.removeprefix(prefix),
                    entry.at,
                    entry.who,
                    entry.plan_id,
                    entry.git_commit,
                )
            )
    promoted = {p.alias for p in found}
    for alias in snapshot.aliases_of(version.project):
        if alias.version == version.number and alias.name not in promoted:
            found.append(Promotion(alias.name, alias.moved_at, "unknown", alias.plan_id, None))
    return tuple(found)
