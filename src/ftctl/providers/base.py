"""The Provider protocol and the plain values it speaks in.

A provider is anything that speaks the OpenAI fine-tuning HTTP API: OpenAI itself, a
compatible endpoint, or ftctl's local server. Core code (refresh, plan, apply, gates)
depends only on this module; `ftctl.providers.openai_api` is the one implementation and
the only module that imports the `openai` SDK.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

# Metadata keys stamped on every job ftctl creates (all values are strings). The SDK sends
# no idempotency key, so these are how a retry or a crashed apply finds the job it already
# started instead of paying for a second one.
META_PROJECT = "ftctl_project"
META_FINGERPRINT = "ftctl_fingerprint"
META_WORKSPACE = "ftctl_workspace"
META_VERSION = "ftctl_version"
META_COMMIT = "ftctl_commit"
# What `ftctl import --all` needs to rebuild a version from the provider alone after the
# state is lost: its number, the data it trained on, where its configuration lives.
META_NUMBER = "ftctl_number"
META_TRAIN_SHA256 = "ftctl_train_sha256"
META_VALIDATION_SHA256 = "ftctl_validation_sha256"
META_CONFIG = "ftctl_config"
META_DIRTY = "ftctl_dirty"

# OpenAI's limits on a job's metadata (other providers accept at least as much).
METADATA_MAX_KEYS = 16
METADATA_MAX_KEY_CHARS = 64
METADATA_MAX_VALUE_CHARS = 512


def fit_metadata(required: Mapping[str, str], optional: Mapping[str, str | None]) -> dict[str, str]:
    """`required` plus those `optional` entries that are set and fit OpenAI's metadata limits
    (16 keys, 64-character keys, 512-character values); a required entry that does not fit
    is a bug, so it raises ValueError rather than letting the provider refuse the job."""
    out: dict[str, str] = {}
    for key, value in required.items():
        if len(key) > METADATA_MAX_KEY_CHARS or len(value) > METADATA_MAX_VALUE_CHARS:
            raise ValueError(f"job metadata {key!r} exceeds the provider's limits")
        out[key] = value
    for key, maybe in optional.items():
        if maybe is None or len(out) >= METADATA_MAX_KEYS:
            continue
        if len(key) <= METADATA_MAX_KEY_CHARS and len(maybe) <= METADATA_MAX_VALUE_CHARS:
            out[key] = maybe
    if len(out) > METADATA_MAX_KEYS:
        raise ValueError(f"job metadata has {len(out)} keys; providers accept at most 16")
    return out


JOB_STATUSES = (
    "validating_files",
    "queued",
    "running",
    "succeeded",
    "failed",
    "cancelled",
    "paused",
)
# A job in one of these states will not change any more.
TERMINAL_JOB_STATUSES = frozenset({"succeeded", "failed", "cancelled"})


@dataclass(frozen=True)
class RemoteFile:
    """An uploaded file as the provider reports it."""

    id: str
    filename: str
    bytes: int
    purpose: str
    created_at: int


@dataclass(frozen=True)
class RemoteJob:
    """A fine-tuning job as the provider reports it."""

    id: str
    status: str  # one of JOB_STATUSES
    model: str
    fine_tuned_model: str | None
    training_file: str
    validation_file: str | None
    metadata: Mapping[str, str]
    created_at: int
    finished_at: int | None
    trained_tokens: int | None
    error: str | None
    hyperparameters: Mapping[str, object]
    method: str
    seed: int | None

    @property
    def terminal(self) -> bool:
        """True when the job will not change any more (succeeded, failed or cancelled)."""
        return self.status in TERMINAL_JOB_STATUSES


@dataclass(frozen=True)
class JobEvent:
    """One entry of a job's event log (`data` holds step/loss for metrics events)."""

    id: str
    created_at: int
    level: str
    message: str
    type: str
    data: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class RemoteCheckpoint:
    """A checkpoint of a job, with the metrics the provider measured at that step."""

    id: str
    step: int
    metrics: Mapping[str, float]
    fine_tuned_model_checkpoint: str


@dataclass(frozen=True)
class RemoteModel:
    """A model the provider lists (base models and fine-tuned ones)."""

    id: str
    created: int
    owned_by: str


@dataclass(frozen=True)
class JobRequest:
    """What ftctl asks a provider to train.

    `hyperparameters` holds only explicit values: "auto" is left out so that the
    provider applies its own rule.
    """

    model: str
    training_file: str
    validation_file: str | None
    method: str  # supervised | dpo | reinforcement
    hyperparameters: Mapping[str, object]
    suffix: str | None
    seed: int | None
    metadata: Mapping[str, str]
    # Reinforcement only: the OpenAI grader object, passed through unchanged.
    grader: Mapping[str, object] | None = None


@runtime_checkable
class Provider(Protocol):
    """The calls ftctl makes to a fine-tuning provider.

    Listing calls paginate internally and make exactly one HTTP request per page.
    Errors are raised as `ftctl.errors.ProviderError` (or a child of it).
    """

    name: str

    def upload_file(self, path: Path, filename: str) -> RemoteFile:
        """Upload a JSONL file for fine-tuning (purpose `fine-tune`)."""
        ...

    def list_files(self) -> list[RemoteFile]:
        """All files, paginated internally; one request per page."""
        ...

    def create_job(self, request: JobRequest) -> RemoteJob:
        """Start a job. Raises TrainingNotAvailableError on 403 `training_not_available`."""
        ...

    def list_jobs(self, metadata: Mapping[str, str] | None = None) -> list[RemoteJob]:
        """Jobs, optionally filtered by metadata (server side); one request per page."""
        ...

    def retrieve_job(self, job_id: str) -> RemoteJob: ...

    def cancel_job(self, job_id: str) -> RemoteJob: ...

    def list_events(self, job_id: str, limit: int = 20) -> list[JobEvent]:
        """The latest `limit` events of a job, newest first."""
        ...

    def list_checkpoints(self, job_id: str) -> list[RemoteCheckpoint]: ...

    def list_models(self) -> list[RemoteModel]: ...

    def delete_model(self, model_id: str) -> None: ...

    def chat(
        self,
        model: str,
        messages: Sequence[Mapping[str, object]],
        max_tokens: int,
        temperature: float | None,
        seed: int | None,
    ) -> str:
        """One chat completion; returns the assistant's text. `temperature` and `seed`
        are left out of the request when None (the model's default applies)."""
        ...

    @property
    def request_count(self) -> int:
        """HTTP requests made so far (retries included), for benchmarks and tests."""
        ...


@dataclass(frozen=True)
class RemoteDeployment:
    """A deployment that serves a model (Azure: `Microsoft.CognitiveServices/accounts/
    deployments`). `state` is its provisioningState (`Succeeded` once it serves)."""

    name: str
    model: str
    sku: str
    capacity: int
    state: str
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def serving(self) -> bool:
        return self.state == "Succeeded"


@runtime_checkable
class SupportsDeployments(Protocol):
    """A provider whose models serve only through deployments (Azure)."""

    def list_deployments(self) -> list[RemoteDeployment]:
        """Every deployment of the account, paginated internally."""
        ...

    def deploy(
        self, name: str, model: str, sku: str, capacity: int, tags: Mapping[str, str]
    ) -> RemoteDeployment:
        """Create or update deployment `name` to serve `model`; returns once it serves
        (provisioningState Succeeded), raises ProviderError if provisioning fails."""
        ...

    def delete_deployment(self, name: str) -> bool:
        """Delete deployment `name`; False when it did not exist."""
        ...


def deployments_api(provider: Provider) -> SupportsDeployments | None:
    """The provider's deployment calls when its models serve only through deployments."""
    return provider if isinstance(provider, SupportsDeployments) else None


@runtime_checkable
class SupportsDownload(Protocol):
    """A provider that can return a file's bytes (OpenAI refuses it for fine-tune files)."""

    def download_file(self, file_id: str) -> bytes: ...
