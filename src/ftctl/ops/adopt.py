"""`ftctl import ADDR JOB_ID`: adopt an existing fine-tuning job as a version.

The job is looked up (an API error fails the command and nothing is written), the data
is built, and under the state lock a one-change plan (`adopt`, see
`ftctl.plan.adopt.import_change`) is applied by the executor, which writes the state and
the audit entry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ftctl.apply.executor import ApplyOptions, apply_locked
from ftctl.apply.identity import who
from ftctl.config.loader import load_workspace
from ftctl.datasets.build import build_project
from ftctl.errors import FtctlError, ProviderError, StateError
from ftctl.events import EventSink, ignore
from ftctl.ops.prepare import direct_plan, quiet_steps, recorded_or_empty
from ftctl.plan.adopt import import_change
from ftctl.plan.desired import DesiredProject, desired_project
from ftctl.providers.base import META_COMMIT, Provider, RemoteJob, SupportsDownload
from ftctl.providers.registry import check_job_lookup, open_provider
from ftctl.state.model import Address, StateSnapshot, VersionRecord
from ftctl.state.store import open_state


@dataclass(frozen=True)
class Imported:
    """What `ftctl import` recorded, and how the job differs from the configuration."""

    address: str
    version: VersionRecord
    mismatches: tuple[str, ...]


def import_job(
    root: Path, address: str, job_id: str, *, lock_timeout: float, events: EventSink = ignore
) -> Imported:
    addr = Address.parse(address)
    if addr.kind != "version":
        raise StateError(
            f"only versions can be imported: expected version.<project>.<n>, got {address}"
        )
    workspace = load_workspace(root, [addr.project])
    project = workspace.project(addr.project)
    store = open_state(workspace)
    _check_free(recorded_or_empty(store), addr, job_id)
    check_job_lookup(workspace, project.provider_name, job_id)

    provider = open_provider(workspace, project.provider_name)
    job = provider.retrieve_job(job_id)
    built = build_project(project, workspace, events)
    desired = desired_project(workspace, project, built)

    identity = who(root)
    with store.lock("import", identity, timeout_s=lock_timeout, events=events):
        snapshot = store.read()
        _check_free(snapshot, addr, job_id)
        matches = data_matches(provider, snapshot, desired, job)
        change = import_change(desired=desired, number=addr.number, job=job, data_match=matches)
        result = apply_locked(
            direct_plan(snapshot, (change,)),
            store,
            lambda _name: provider,
            {desired.name: desired},
            ApplyOptions(
                who=identity, git_commit=job.metadata.get(META_COMMIT), operation="import"
            ),
            quiet_steps(events),
        )
    if result.failed:
        raise FtctlError("; ".join(message for _, message in result.failed))
    assert result.snapshot is not None
    version = result.snapshot.version(addr.project, addr.number)
    assert version is not None
    return Imported(str(addr), version, change.mismatches)


def data_matches(
    provider: Provider, snapshot: StateSnapshot, desired: DesiredProject, job: RemoteJob
) -> dict[str, bool]:
    """For `train` and `validation`: do the job's files hold the configuration's bytes?

    Known from a dataset record of this state (same file id and hash), else by
    downloading the file when the provider allows it; False when it cannot be shown.
    """
    files = {"train": job.training_file, "validation": job.validation_file}
    out: dict[str, bool] = {}
    for split, file_id in files.items():
        wanted = desired.splits.get(split)
        if wanted is None or file_id is None:
            out[split] = wanted is None and file_id is None
            continue
        record = snapshot.dataset(desired.name, split)
        if record is not None and record.file_id == file_id:
            out[split] = record.sha256 == wanted.sha256
            continue
        out[split] = _downloaded_sha256(provider, file_id) == wanted.sha256
    return out


def _downloaded_sha256(provider: Provider, file_id: str) -> str | None:
    if not isinstance(provider, SupportsDownload):
        return None
    try:
        return hashlib.sha256(provider.download_file(file_id)).hexdigest()
    except ProviderError:
        return None  # e.g. OpenAI refuses to return fine-tune files: not verifiable


def _check_free(snapshot: StateSnapshot, addr: Address, job_id: str) -> None:
    if snapshot.find(addr) is not None:
        raise StateError(
            f"{addr} is already in the state; pick another number "
            f"(next free: {snapshot.next_version_number(addr.project)})"
        )
    owner = snapshot.version_by_job(job_id)
    if owner is not None:
        raise StateError(f"job {job_id} is already managed as {owner.address}")
