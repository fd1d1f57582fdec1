"""Which provider jobs `ftctl import --all` makes versions of (pure: metadata in, plan out)."""

from __future__ import annotations

from typing import Any

from plan_factories import project, sha

from ftctl.plan.rebuild import build_from_metadata, plan_rebuild
from ftctl.providers.base import RemoteJob
from ftctl.state.model import StateSnapshot


def job(job_id: str, created: int, **metadata: str) -> RemoteJob:
    return RemoteJob(
        id=job_id,
        status="succeeded",
        model="local-tiny",
        fine_tuned_model=f"ft:local-tiny:x::{job_id}",
        training_file=f"file-{job_id}",
        validation_file=None,
        metadata={f"ftctl_{k}": v for k, v in metadata.items()},
        created_at=created,
        finished_at=created + 10,
        trained_tokens=100,
        error=None,
        hyperparameters={"n_epochs": 3},
        method="supervised",
        seed=7,
    )


def rebuild(*jobs: RemoteJob, snapshot: StateSnapshot | None = None) -> Any:
    desired = project("bot", validation=None)
    return plan_rebuild(
        workspace_name="team",
        desired={"bot": desired},
        jobs=jobs,
        snapshot=snapshot or StateSnapshot.empty("team.11111111"),
        promoted_aliases={"bot": ["prod"]},
    )


def test_jobs_become_their_numbered_versions_and_aliases_are_reported_lost() -> None:
    from ftctl.plan.fingerprint import fingerprint

    desired = project("bot", validation=None)
    current = fingerprint(desired.fingerprint_inputs())
    found = rebuild(
        job(
            "a",
            1,
            project="bot",
            workspace="team.0000aaaa",
            number="1",
            fingerprint="f" * 64,
            train_sha256=sha("old data"),
            commit="c" * 40,
            dirty="true",
        ),
        job(
            "b",
            2,
            project="bot",
            workspace="team.0000aaaa",
            number="2",
            fingerprint=current,
            train_sha256=sha("train-v1"),
        ),
        job("other", 3, project="bot", workspace="elsewhere.0000aaaa", number="3"),
        job("nonum", 4, project="bot", workspace="team.0000aaaa"),
        job("stranger", 5, project="not-ours", workspace="team.0000aaaa", number="1"),
    )
    assert [(c.address, c.job_id) for c in found.changes] == [
        ("version.bot.1", "a"),
        ("version.bot.2", "b"),
    ]
    old, new = found.changes
    # An older configuration: its stamped fingerprint and data hash are kept as they were.
    assert (old.spec.fingerprint, old.spec.train_sha256, bool(old.mismatches)) == (
        "f" * 64,
        sha("old data"),
        True,
    )
    assert old.files == ()
    # The current configuration: exactly the planner's inputs, and the file is known.
    assert not new.mismatches and new.spec.fingerprint_inputs == desired.fingerprint_inputs()
    assert [(f.split, f.file_id) for f in new.files] == [("train", "file-b")]
    assert found.lost_aliases == ("alias.bot.prod",)
    assert (
        len(found.skipped) == 1 and "job nonum (bot) carries no version number" in found.skipped[0]
    )
    stamped = job("a", 1, project="bot", number="1", commit="c" * 40, dirty="true")
    assert build_from_metadata(stamped.metadata) == {
        "config_file": None,
        "git_commit": "c" * 40,
        "git_dirty": True,
        "from_job_metadata": True,
    }


def test_the_newest_of_two_jobs_claiming_one_number_is_kept() -> None:
    found = rebuild(
        job("first", 1, project="bot", workspace="team.0000aaaa", number="1"),
        job("retry", 2, project="bot", workspace="team.1111bbbb", number="1"),
    )
    assert [c.job_id for c in found.changes] == ["retry"]
    assert found.skipped == ("job first also claims version.bot.1; the newer job retry was kept",)
