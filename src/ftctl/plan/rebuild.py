"""`ftctl import --all`: which of a provider's jobs are this workspace's versions.

A pure function of the jobs' metadata, the configuration and the state. Every job ftctl
creates carries its project, fingerprint, workspace id (`<workspace name>.<8 hex>`),
version number, data hashes, commit, project file and dirty flag (see
`ftctl.providers.base`), so a lost state can be rebuilt from the provider alone:

- a job belongs here when its project is one of the workspace's and its workspace id
  starts with the workspace's name (the state's id part changes with a new state);
- it becomes one `adopt` change (`ImportChange`) of the number it was created as; when several jobs claim one number (an older
  state's, or a retry after a crash), the newest is kept and the others are reported;
- its fingerprint is the one stamped on it (what the planner computed then); when that is
  the configuration's fingerprint the version matches the configuration exactly and the
  next plan trains nothing; otherwise its inputs are taken from the job and its metadata;
- aliases are not recoverable (providers keep no alias; the audit log went with the
  state), so each alias the configuration promotes is reported as lost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ftctl.plan.changes import ImportChange, RecordedFile, VersionSpec
from ftctl.plan.desired import DesiredProject
from ftctl.plan.fingerprint import fingerprint, fingerprint_inputs
from ftctl.plan.reasons import Reason, ReasonCode
from ftctl.providers.base import (
    META_COMMIT,
    META_CONFIG,
    META_DIRTY,
    META_FINGERPRINT,
    META_NUMBER,
    META_PROJECT,
    META_TRAIN_SHA256,
    META_VALIDATION_SHA256,
    META_WORKSPACE,
    RemoteJob,
)
from ftctl.state.model import StateSnapshot


@dataclass(frozen=True)
class Rebuild:
    changes: tuple[ImportChange, ...]  # one `adopt` per version, by project and number
    skipped: tuple[str, ...]  # jobs left out, and why
    lost_aliases: tuple[str, ...]  # alias addresses the configuration promotes
    already_recorded: int  # jobs the state already holds


def build_from_metadata(metadata: Mapping[str, str]) -> dict[str, Any] | None:
    """The part of a build record a job's metadata carries (None for jobs without it)."""
    if META_PROJECT not in metadata or META_NUMBER not in metadata:
        return None
    dirty = metadata.get(META_DIRTY)
    return {
        "config_file": metadata.get(META_CONFIG),
        "git_commit": metadata.get(META_COMMIT),
        "git_dirty": None if dirty is None else dirty == "true",
        "from_job_metadata": True,
    }


def plan_rebuild(
    *,
    workspace_name: str,
    desired: Mapping[str, DesiredProject],
    jobs: Sequence[RemoteJob],
    snapshot: StateSnapshot,
    promoted_aliases: Mapping[str, Sequence[str]],
) -> Rebuild:
    """Which jobs become which versions; see the module docstring."""
    skipped: list[str] = []
    recorded = 0
    claims: dict[tuple[str, int], list[RemoteJob]] = {}
    for job in sorted(jobs, key=lambda j: (j.created_at, j.id)):
        meta = job.metadata
        project = meta.get(META_PROJECT, "")
        if project not in desired:
            continue
        if not meta.get(META_WORKSPACE, "").startswith(f"{workspace_name}."):
            continue  # another workspace's job for a project of the same name
        if snapshot.version_by_job(job.id) is not None:
            recorded += 1
            continue
        stamped_number = meta.get(META_NUMBER, "")
        if not stamped_number.isdigit() or int(stamped_number) < 1:
            skipped.append(
                f"job {job.id} ({project}) carries no version number (made by an older "
                f"ftctl): adopt it with `ftctl import version.{project}.<n> {job.id}`"
            )
            continue
        claims.setdefault((project, int(stamped_number)), []).append(job)
    versions: list[ImportChange] = []
    for (project, number), claimants in sorted(claims.items()):
        job = claimants[-1]  # the newest
        for older in claimants[:-1]:
            skipped.append(
                f"job {older.id} also claims version.{project}.{number}; the newer job "
                f"{job.id} was kept"
            )
        taken = snapshot.version(project, number)
        if taken is not None:
            skipped.append(
                f"job {job.id} claims version.{project}.{number}, which the state already "
                f"holds for job {taken.job_id}"
            )
            continue
        versions.append(_version(desired[project], number, job))
    lost = tuple(
        f"alias.{project}.{name}"
        for project in sorted(promoted_aliases)
        for name in promoted_aliases[project]
        if project in desired and snapshot.alias(project, name) is None
    )
    return Rebuild(tuple(versions), tuple(skipped), lost, recorded)


def _version(desired: DesiredProject, number: int, job: RemoteJob) -> ImportChange:
    meta = job.metadata
    train = meta.get(META_TRAIN_SHA256) or f"file:{job.training_file}"
    validation = meta.get(META_VALIDATION_SHA256) or (
        f"file:{job.validation_file}" if job.validation_file else None
    )
    wanted = desired.fingerprint_inputs()
    stamped = meta.get(META_FINGERPRINT) or ""
    mismatches: tuple[str, ...] = ()
    if stamped == fingerprint(wanted):
        inputs: Mapping[str, Any] = wanted
        hyperparameters: Mapping[str, Any] = desired.hyperparameters
    else:
        # Trained from another configuration (an older commit): its inputs as the job and
        # its metadata show them. The stamped fingerprint stays the version's identity.
        hyperparameters = dict(job.hyperparameters)
        inputs = fingerprint_inputs(
            provider=desired.provider,
            base_model=job.model,
            method=job.method,
            hyperparameters=hyperparameters,
            seed=job.seed,
            train_sha256=train,
            validation_sha256=validation,
        )
        mismatches = ("trained from another configuration than the current one",)
    files = []
    for split, file_id, sha in (
        ("train", job.training_file, train),
        ("validation", job.validation_file, validation),
    ):
        built = desired.splits.get(split)
        if built is not None and file_id and built.sha256 == sha:
            files.append(RecordedFile(split, sha, file_id, built.examples, built.tokens))
    spec = VersionSpec(
        number=number,
        fingerprint=stamped or fingerprint(inputs),
        fingerprint_inputs=inputs,
        provider=desired.provider,
        base_model=job.model,
        method=job.method,
        hyperparameters=hyperparameters,
        seed=job.seed,
        suffix=None,
        train_sha256=train,
        validation_sha256=validation,
        examples=0,
        epochs=None,
        billed_tokens=None,
    )
    return ImportChange(
        address=f"version.{desired.name}.{number}",
        project=desired.name,
        reason=Reason.of(ReasonCode.IMPORT, job_id=job.id),
        spec=spec,
        job_id=job.id,
        files=tuple(files),
        mismatches=mismatches,
    )
