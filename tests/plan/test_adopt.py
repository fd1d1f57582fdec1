"""`ftctl import`'s change: a job that trained what the configuration asks gets the
planner's fingerprint; the version record is made from the job as apply makes it."""

from __future__ import annotations

from collections.abc import Sequence

from ftctl.apply.records import version_record
from ftctl.config.models import ProjectSpec
from ftctl.plan.adopt import import_change
from ftctl.plan.changes import ImportChange
from ftctl.plan.desired import DesiredProject, DesiredSplit
from ftctl.plan.fingerprint import changed_fields, fingerprint
from ftctl.providers.base import META_COMMIT, RemoteCheckpoint, RemoteJob
from ftctl.state.model import VersionRecord

SPEC = {
    "provider": "local",
    "baseModel": "local-tiny",
    "data": {"train": {"sources": [{"path": "train.jsonl"}]}},
    "training": {"hyperparameters": {"nEpochs": 2, "batchSize": "auto"}, "seed": 5},
}


def desired() -> DesiredProject:
    return DesiredProject(
        name="bot",
        provider="local",
        spec=ProjectSpec.model_validate(SPEC),
        splits={"train": DesiredSplit("c" * 64, 40, 900)},
    )


def job(**changes: object) -> RemoteJob:
    fields: dict[str, object] = {
        "id": "ftjob-1",
        "status": "succeeded",
        "model": "local-tiny",
        "fine_tuned_model": "ft:local-tiny:local::1",
        "training_file": "file-train",
        "validation_file": None,
        "metadata": {META_COMMIT: "deadbeef"},
        "created_at": 1_790_000_000,
        "finished_at": 1_790_000_100,
        "trained_tokens": 1800,
        "error": None,
        "hyperparameters": {"n_epochs": 2, "batch_size": 4, "learning_rate_multiplier": 2.0},
        "method": "supervised",
        "seed": 5,
    }
    fields.update(changes)
    return RemoteJob(**fields)  # type: ignore[arg-type]


def recorded(
    change: ImportChange, job: RemoteJob, checkpoints: Sequence[RemoteCheckpoint] = ()
) -> VersionRecord:
    """The record the executor writes for `change` (the commit is the job's)."""
    return version_record(
        change.project,
        change.spec,
        job,
        plan_id=None,
        git_commit=job.metadata.get(META_COMMIT),
        imported=True,
        checkpoints=checkpoints,
    )


CHECKPOINTS = [
    RemoteCheckpoint("c1", 10, {"train_loss": 2.0}, "ft:x:ckpt-10"),
    RemoteCheckpoint("c2", 20, {"train_loss": 1.0}, "ft:x:ckpt-20"),
]


def test_a_matching_job_gets_the_configs_fingerprint_and_its_datasets() -> None:
    change = import_change(
        desired=desired(), number=1, job=job(), data_match={"train": True, "validation": True}
    )
    v = recorded(change, job(), CHECKPOINTS)
    assert change.mismatches == ()
    assert change.address == "version.bot.1"
    assert v.fingerprint == fingerprint(desired().fingerprint_inputs())
    assert (v.status, v.model_id, v.git_commit, v.metrics) == (
        "succeeded",
        "ft:local-tiny:local::1",
        "deadbeef",
        {"train_loss": 1.0},
    )
    [train] = change.files
    assert (train.split, train.sha256, train.file_id, train.examples) == (
        "train",
        "c" * 64,
        "file-train",
        40,
    )


def test_a_job_that_differs_keeps_its_own_inputs_and_says_why() -> None:
    other = job(seed=9, hyperparameters={"n_epochs": 3})
    change = import_change(
        desired=desired(), number=2, job=other, data_match={"train": False, "validation": True}
    )
    version = recorded(change, other)
    assert change.mismatches == (
        "seed: job 9, configuration 5",
        "hyperparameters.n_epochs: job 3, configuration 2",
        "data.train: the job's file does not hold the configured data",
    )
    assert version.fingerprint != fingerprint(desired().fingerprint_inputs())
    assert version.train_sha256 == "file:file-train"
    assert change.files == ()
    # Exactly the differing fields differ from the configuration's inputs, so the next
    # plan names them (and only them) as forcing a new version.
    changed = changed_fields(version.fingerprint_inputs, desired().fingerprint_inputs())
    assert [(c.path, c.before, c.after) for c in changed] == [
        ("data.train", "file:file-train", "c" * 64),
        ("hyperparameters.n_epochs", 3, 2),
        ("seed", 9, 5),
    ]
    assert version.imported


def test_a_running_job_is_adopted_as_running() -> None:
    running = job(status="queued", fine_tuned_model=None, finished_at=None)
    change = import_change(
        desired=desired(), number=1, job=running, data_match={"train": True, "validation": True}
    )
    version = recorded(change, running)
    assert (version.status, version.model_id) == ("running", None)
    assert version.active
