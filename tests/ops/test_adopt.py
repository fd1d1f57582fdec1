"""adopt_job: a job that trained what the configuration asks gets the planner's fingerprint."""

from __future__ import annotations

from ftctl.config.models import ProjectSpec
from ftctl.ops.adopt import adopt_job
from ftctl.plan.desired import DesiredProject, DesiredSplit
from ftctl.plan.fingerprint import changed_fields, fingerprint
from ftctl.providers.base import META_COMMIT, RemoteCheckpoint, RemoteJob

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


CHECKPOINTS = [
    RemoteCheckpoint("c1", 10, {"train_loss": 2.0}, "ft:x:ckpt-10"),
    RemoteCheckpoint("c2", 20, {"train_loss": 1.0}, "ft:x:ckpt-20"),
]


def test_a_matching_job_gets_the_configs_fingerprint_and_its_datasets() -> None:
    adoption = adopt_job(
        desired=desired(),
        number=1,
        job=job(),
        data_match={"train": True, "validation": True},
        checkpoints=CHECKPOINTS,
    )
    v = adoption.version
    assert adoption.mismatches == ()
    assert v.fingerprint == fingerprint(desired().fingerprint_inputs())
    assert (v.status, v.model_id, v.git_commit, v.metrics) == (
        "succeeded",
        "ft:local-tiny:local::1",
        "deadbeef",
        {"train_loss": 1.0},
    )
    [train] = adoption.datasets
    assert (train.split, train.sha256, train.file_id, train.examples) == (
        "train",
        "c" * 64,
        "file-train",
        40,
    )


def test_a_job_that_differs_keeps_its_own_inputs_and_says_why() -> None:
    adoption = adopt_job(
        desired=desired(),
        number=2,
        job=job(seed=9, hyperparameters={"n_epochs": 3}),
        data_match={"train": False, "validation": True},
    )
    assert adoption.mismatches == (
        "seed: job 9, configuration 5",
        "hyperparameters.n_epochs: job 3, configuration 2",
        "data.train: the job's file does not hold the configured data",
    )
    assert adoption.version.fingerprint != fingerprint(desired().fingerprint_inputs())
    assert adoption.version.train_sha256 == "file:file-train"
    assert adoption.datasets == ()
    # Exactly the differing fields differ from the configuration's inputs, so the next
    # plan names them (and only them) as forcing a new version.
    changed = changed_fields(adoption.version.fingerprint_inputs, desired().fingerprint_inputs())
    assert [(c.path, c.before, c.after) for c in changed] == [
        ("data.train", "file:file-train", "c" * 64),
        ("hyperparameters.n_epochs", 3, 2),
        ("seed", 9, 5),
    ]
    assert adoption.version.imported


def test_a_running_job_is_adopted_as_running() -> None:
    adoption = adopt_job(
        desired=desired(),
        number=1,
        job=job(status="queued", fine_tuned_model=None, finished_at=None),
        data_match={"train": True, "validation": True},
    )
    assert (adoption.version.status, adoption.version.model_id) == ("running", None)
    assert adoption.version.active
