"""The values the state store keeps: datasets, versions, aliases, the audit log.

Everything here is a frozen dataclass that converts to and from plain JSON
(`to_dict` / `from_dict`), so a snapshot can be stored, diffed and rendered as data.
Timestamps are ISO-8601 UTC strings (`2026-11-26T00:50:00Z`); use `utc_now()` and
`iso_from_unix()` to make them.

Addresses name resources the way plans and the CLI do:
`dataset.<project>.<split>`, `version.<project>.<n>`, `alias.<project>.<name>`.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from ftctl.errors import StateError

VersionStatus = Literal["pending", "running", "succeeded", "failed", "cancelled", "retired"]
VERSION_STATUSES: tuple[str, ...] = (
    "pending",
    "running",
    "succeeded",
    "failed",
    "cancelled",
    "retired",
)
ResourceKind = Literal["dataset", "version", "alias", "deployment"]


def utc_now() -> str:
    """The current time as an ISO-8601 UTC string with second precision."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_from_unix(seconds: int | float) -> str:
    """A Unix timestamp (as providers report them) as an ISO-8601 UTC string."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- addresses


@dataclass(frozen=True, order=True)
class Address:
    """A parsed resource address: `kind.project.key` (key: split, number or alias name)."""

    kind: ResourceKind
    project: str
    key: str

    def __str__(self) -> str:
        return f"{self.kind}.{self.project}.{self.key}"

    @classmethod
    def parse(cls, text: str) -> Address:
        """Parse `version.support-bot.3`; raises StateError naming the expected forms."""
        parts = text.split(".")
        kinds = ("dataset", "version", "alias", "deployment")
        if len(parts) != 3 or parts[0] not in kinds or not all(parts):
            raise StateError(
                f"invalid address {text!r}: expected dataset.<project>.<split>, "
                "version.<project>.<n>, alias.<project>.<name> or deployment.<project>.<alias>"
            )
        kind, project, key = parts
        if kind == "version" and not (key.isdigit() and int(key) >= 1):
            raise StateError(f"invalid address {text!r}: a version number is a positive integer")
        return cls(kind, project, key)  # type: ignore[arg-type]

    @property
    def number(self) -> int:
        """The version number of a `version.` address."""
        if self.kind != "version":
            raise StateError(f"{self} is not a version address")
        return int(self.key)


# --------------------------------------------------------------------------- records

_R = TypeVar("_R", bound="_Record")


class _Record:
    """JSON conversion shared by the record types (fields are plain JSON values)."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls: type[_R], data: Mapping[str, Any]) -> _R:
        """Build from `to_dict` output; unknown keys are ignored, missing optional ones default."""
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        try:
            return cls(**{k: v for k, v in data.items() if k in names})
        except TypeError as error:
            raise StateError(f"malformed {cls.__name__} in state: {error}") from error


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class DatasetRecord(_Record):
    """A split's canonical JSONL as uploaded to a provider (content-addressed by sha256)."""

    project: str
    split: str
    sha256: str
    provider: str
    file_id: str
    examples: int
    tokens: int
    uploaded_at: str

    @property
    def address(self) -> str:
        return f"dataset.{self.project}.{self.split}"


@dataclass(frozen=True)
class VersionRecord(_Record):
    """One fine-tuning job and the model it makes, identified by its training fingerprint.

    `fingerprint_inputs` is the canonical dict the fingerprint hashes (so a plan can say
    which field changed). `gates` holds the gate decision as a dict once gates ran.
    """

    project: str
    number: int
    fingerprint: str
    fingerprint_inputs: dict[str, Any]
    provider: str
    base_model: str
    method: str
    hyperparameters: dict[str, Any]
    seed: int | None
    train_sha256: str
    validation_sha256: str | None
    train_file_id: str
    validation_file_id: str | None
    job_id: str | None = None
    model_id: str | None = None
    status: VersionStatus = "pending"
    metrics: dict[str, float] = field(default_factory=dict)
    gates: dict[str, Any] | None = None
    trained_tokens: int | None = None
    git_commit: str | None = None
    plan_id: str | None = None
    created_at: str = ""
    finished_at: str | None = None
    # Adopted with `ftctl import` (an existing job) rather than trained by a plan.
    imported: bool = False
    # What the version was built from, recorded when its job was created: project file,
    # commit and dirty flag, data sources (see ftctl.lineage.sources). None when unknown.
    build: dict[str, Any] | None = None

    @property
    def address(self) -> str:
        return f"version.{self.project}.{self.number}"

    @property
    def active(self) -> bool:
        """True while the job may still change (pending or running)."""
        return self.status in ("pending", "running")


@dataclass(frozen=True)
class AliasRecord(_Record):
    """A named pointer (`prod`, `staging`) to a version's model."""

    project: str
    name: str
    version: int
    model_id: str
    moved_at: str
    plan_id: str | None = None

    @property
    def address(self) -> str:
        return f"alias.{self.project}.{self.name}"


@dataclass(frozen=True)
class DeploymentRecord(_Record):
    """The deployment that serves an alias on a provider where models serve only through
    deployments (Azure): `deployment.<project>.<alias>`. Billed by the hour while it exists."""

    project: str
    alias: str
    name: str  # the provider's deployment name
    provider: str
    version: int
    model_id: str
    sku: str
    capacity: int
    deployed_at: str
    plan_id: str | None = None

    @property
    def address(self) -> str:
        return f"deployment.{self.project}.{self.alias}"


@dataclass(frozen=True)
class AuditEntry(_Record):
    """One applied change. Append-only: the store has no way to edit or delete one.

    `id` is assigned by the store on append (pass 0); `AuditEntry.new` fills `at`.
    """

    id: int
    at: str
    who: str
    operation: str  # the command: apply, destroy, import, state rm, refresh, ...
    address: str
    action: str  # upload, create, adopt, wait, cancel, gate, promote, retire, forget, record
    plan_id: str | None = None
    git_commit: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    # The hash chain (ftctl.state.audit_chain), filled by the store on append: the entry's
    # position in the chain, the previous entry's hash and this entry's own. None on
    # entries written before the chain existed.
    seq: int | None = None
    prev_hash: str | None = None
    entry_hash: str | None = None

    @classmethod
    def new(
        cls,
        *,
        who: str,
        operation: str,
        address: str,
        action: str,
        plan_id: str | None = None,
        git_commit: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        return cls(
            id=0,
            at=utc_now(),
            who=who,
            operation=operation,
            address=address,
            action=action,
            plan_id=plan_id,
            git_commit=git_commit,
            detail=dict(detail or {}),
        )

    @property
    def project(self) -> str:
        """The project of the entry's address ('' when the address has none)."""
        parts = self.address.split(".")
        return parts[1] if len(parts) >= 2 else ""


# A lock's holder renews it every ttl/3 while it lives, so a holder that died on another
# host (where its pid cannot be checked) frees the state within this many seconds.
DEFAULT_LOCK_TTL_S = 120.0


@dataclass(frozen=True)
class LockInfo(_Record):
    """Who holds the state lock, for what, and until when (ISO-8601 UTC).

    `host`, `pid` and `pid_started` (the process start time, in clock ticks after boot,
    from /proc; None where unknown) name the holding process, so that a lock left by a
    process that died on this host is recognised and taken over at once.
    """

    id: str
    who: str
    operation: str
    created_at: str
    expires_at: str
    host: str = ""
    pid: int | None = None
    pid_started: str | None = None

    def describe(self) -> str:
        process = f", pid {self.pid} on {self.host}" if self.pid is not None else ""
        return (
            f"lock {self.id} held by {self.who} for {self.operation!r}{process} "
            f"since {self.created_at} (expires {self.expires_at})"
        )


# --------------------------------------------------------------------------- snapshot


@dataclass(frozen=True)
class StateSnapshot:
    """The whole recorded world at one serial. Immutable: `with_*` return new snapshots.

    `serial` is the serial the snapshot was read at; `StateStore.write` succeeds only if
    the stored serial still equals it, and returns the snapshot with serial + 1.
    `lineage` is a uuid set once when the state is created; a saved plan is bound to it.
    `workspace_id` is stamped on every job (metadata `ftctl_workspace`).
    """

    lineage: str
    serial: int
    workspace_id: str
    datasets: tuple[DatasetRecord, ...] = ()
    versions: tuple[VersionRecord, ...] = ()
    aliases: tuple[AliasRecord, ...] = ()
    deployments: tuple[DeploymentRecord, ...] = ()

    @classmethod
    def empty(cls, workspace_id: str, lineage: str | None = None) -> StateSnapshot:
        return cls(lineage=lineage or str(uuid.uuid4()), serial=0, workspace_id=workspace_id)

    # ---- queries

    def versions_of(self, project: str) -> tuple[VersionRecord, ...]:
        """The project's versions, by number."""
        return tuple(sorted((v for v in self.versions if v.project == project), key=_number))

    def version(self, project: str, number: int) -> VersionRecord | None:
        for v in self.versions:
            if v.project == project and v.number == number:
                return v
        return None

    def version_by_fingerprint(self, project: str, fingerprint: str) -> VersionRecord | None:
        """The newest version of `project` with this fingerprint, if any."""
        found = [v for v in self.versions_of(project) if v.fingerprint == fingerprint]
        return found[-1] if found else None

    def version_by_job(self, job_id: str) -> VersionRecord | None:
        for v in self.versions:
            if v.job_id == job_id:
                return v
        return None

    def next_version_number(self, project: str) -> int:
        numbers = [v.number for v in self.versions if v.project == project]
        return max(numbers, default=0) + 1

    def alias(self, project: str, name: str) -> AliasRecord | None:
        for a in self.aliases:
            if a.project == project and a.name == name:
                return a
        return None

    def aliases_of(self, project: str) -> tuple[AliasRecord, ...]:
        return tuple(sorted((a for a in self.aliases if a.project == project), key=_name))

    def deployment(self, project: str, alias: str) -> DeploymentRecord | None:
        for d in self.deployments:
            if d.project == project and d.alias == alias:
                return d
        return None

    def deployments_of(self, project: str) -> tuple[DeploymentRecord, ...]:
        return tuple(sorted((d for d in self.deployments if d.project == project), key=_alias))

    def dataset(self, project: str, split: str) -> DatasetRecord | None:
        for d in self.datasets:
            if d.project == project and d.split == split:
                return d
        return None

    def datasets_of(self, project: str) -> tuple[DatasetRecord, ...]:
        return tuple(sorted((d for d in self.datasets if d.project == project), key=_split))

    def projects(self) -> tuple[str, ...]:
        """Every project the state knows, sorted."""
        names = {d.project for d in self.datasets}
        names |= {v.project for v in self.versions}
        names |= {a.project for a in self.aliases}
        names |= {d.project for d in self.deployments}
        return tuple(sorted(names))

    def addresses(self) -> list[str]:
        """Every address in the state, sorted by project, then datasets, versions, aliases."""
        out: list[str] = []
        for project in self.projects():
            out += [d.address for d in self.datasets_of(project)]
            out += [v.address for v in self.versions_of(project)]
            out += [a.address for a in self.aliases_of(project)]
            out += [d.address for d in self.deployments_of(project)]
        return out

    def find(
        self, address: str | Address
    ) -> DatasetRecord | VersionRecord | AliasRecord | DeploymentRecord | None:
        """The record at `address`, or None."""
        addr = address if isinstance(address, Address) else Address.parse(address)
        if addr.kind == "dataset":
            return self.dataset(addr.project, addr.key)
        if addr.kind == "version":
            return self.version(addr.project, addr.number)
        if addr.kind == "deployment":
            return self.deployment(addr.project, addr.key)
        return self.alias(addr.project, addr.key)

    # ---- edits (each returns a new snapshot at the same serial)

    def with_version(self, version: VersionRecord) -> StateSnapshot:
        """Add `version`, or replace the one with the same project and number."""
        rest = [
            v
            for v in self.versions
            if not (v.project == version.project and v.number == version.number)
        ]
        ordered = tuple(sorted([*rest, version], key=lambda v: (v.project, v.number)))
        return dataclasses.replace(self, versions=ordered)

    def with_alias(self, alias: AliasRecord) -> StateSnapshot:
        """Add `alias`, or replace the one with the same project and name."""
        rest = [
            a for a in self.aliases if not (a.project == alias.project and a.name == alias.name)
        ]
        ordered = tuple(sorted([*rest, alias], key=lambda a: (a.project, a.name)))
        return dataclasses.replace(self, aliases=ordered)

    def with_deployment(self, deployment: DeploymentRecord) -> StateSnapshot:
        """Add `deployment`, or replace the one with the same project and alias."""
        rest = [
            d
            for d in self.deployments
            if not (d.project == deployment.project and d.alias == deployment.alias)
        ]
        ordered = tuple(sorted([*rest, deployment], key=lambda d: (d.project, d.alias)))
        return dataclasses.replace(self, deployments=ordered)

    def with_dataset(self, dataset: DatasetRecord) -> StateSnapshot:
        """Add `dataset`, or replace the one with the same project and split."""
        rest = [
            d
            for d in self.datasets
            if not (d.project == dataset.project and d.split == dataset.split)
        ]
        ordered = tuple(sorted([*rest, dataset], key=lambda d: (d.project, d.split)))
        return dataclasses.replace(self, datasets=ordered)

    def without(self, address: str | Address) -> StateSnapshot:
        """The snapshot without the record at `address`; StateError if there is none."""
        addr = address if isinstance(address, Address) else Address.parse(address)
        record = self.find(addr)
        if record is None:
            raise StateError(f"no resource at {addr} in the state")
        return dataclasses.replace(
            self,
            datasets=tuple(d for d in self.datasets if d is not record),
            versions=tuple(v for v in self.versions if v is not record),
            aliases=tuple(a for a in self.aliases if a is not record),
            deployments=tuple(d for d in self.deployments if d is not record),
        )

    # ---- JSON

    def to_dict(self) -> dict[str, Any]:
        return {
            "lineage": self.lineage,
            "serial": self.serial,
            "workspace_id": self.workspace_id,
            "datasets": [d.to_dict() for d in self.datasets],
            "versions": [v.to_dict() for v in self.versions],
            "aliases": [a.to_dict() for a in self.aliases],
            "deployments": [d.to_dict() for d in self.deployments],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StateSnapshot:
        try:
            return cls(
                lineage=str(data["lineage"]),
                serial=int(data["serial"]),
                workspace_id=str(data["workspace_id"]),
                datasets=tuple(DatasetRecord.from_dict(d) for d in data.get("datasets", ())),
                versions=tuple(VersionRecord.from_dict(v) for v in data.get("versions", ())),
                aliases=tuple(AliasRecord.from_dict(a) for a in data.get("aliases", ())),
                deployments=tuple(
                    DeploymentRecord.from_dict(d) for d in data.get("deployments", ())
                ),
            )
        except (KeyError, ValueError) as error:
            raise StateError(f"malformed state snapshot: {error}") from error


def _number(v: VersionRecord) -> int:
    return v.number


def _name(a: AliasRecord) -> str:
    return a.name


def _split(d: DatasetRecord) -> str:
    return d.split


def _alias(d: DeploymentRecord) -> str:
    return d.alias
