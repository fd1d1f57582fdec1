"""The planner as a pure function: config + state + observed world -> changes."""

from __future__ import annotations

import dataclasses
from datetime import date

import plan_factories as f
import pytest

from ftctl.errors import PlanError
from ftctl.plan.changes import PlanOptions
from ftctl.plan.desired import ContentDiff


def _actions(plan: object) -> dict[str, tuple[str, ...]]:
    return {c.address: c.actions for c in plan.changes}  # type: ignore[attr-defined]


def test_first_plan_uploads_trains_and_promotes() -> None:
    plan = f.plan([f.project()], f.state(serial=0))
    assert _actions(plan) == {
        "dataset.support-bot.train": ("upload",),
        "dataset.support-bot.validation": ("upload",),
        "version.support-bot.1": ("create", "wait", "gate"),
        "alias.support-bot.prod": ("promote",),
    }
    assert plan.summary()["train"] == 1
    version = plan.changes[2]
    assert version.reason.text == "no version trained yet"
    assert version.after is not None and version.after["hyperparameters"]["n_epochs"] == 3


def test_matching_state_gives_no_changes() -> None:
    p = f.project()
    v1 = f.version_of(p, 1)
    plan = f.plan([p], f.state((v1,), (f.alias(p.name, 1),), f.datasets_of(p)))
    assert not plan.has_changes


def test_hyperparameter_change_forces_a_new_version_without_reupload() -> None:
    old = f.project()
    new = f.project(n_epochs=2)
    snapshot = f.state((f.version_of(old, 1),), (f.alias(old.name, 1),), f.datasets_of(old))
    plan = f.plan([new], snapshot)
    assert _actions(plan) == {
        "version.support-bot.2": ("create", "wait", "gate"),
        "alias.support-bot.prod": ("promote",),
    }
    create = plan.changes[0]
    assert [(c.path, c.before, c.after) for c in create.forces_new] == [
        ("hyperparameters.n_epochs", 3, 2)
    ]
    assert create.reason.text == "fingerprint changed"


def test_changed_data_says_what_changed_with_or_without_the_old_file() -> None:
    old = f.project()
    snapshot = f.state((f.version_of(old, 1),), (f.alias(old.name, 1),), f.datasets_of(old))
    new = f.project(train="train-v2")
    # The recorded upload's file is no longer cached: only the counts are known.
    upload = f.plan([new], snapshot).changes[0]
    assert upload.address == "dataset.support-bot.train"
    assert upload.reason.text == "content changed: 120 -> 120 examples"
    # It is: the I/O layer counted the examples added and removed.
    diff = ContentDiff(f.sha("train-v1"), added=41, removed=3)
    split = dataclasses.replace(new.splits["train"], content_diff=diff)
    upload = f.plan([dataclasses.replace(new, splits={**new.splits, "train": split})], snapshot)
    change = upload.changes[0]
    assert change.reason.text == "content changed: +41 / -3 examples"
    assert change.after is not None and change.after["examples_added"] == 41
    # A diff against another build than the recorded upload is not shown.
    stale = dataclasses.replace(split, content_diff=ContentDiff(f.sha("x"), 1, 1))
    other = f.plan([dataclasses.replace(new, splits={**new.splits, "train": stale})], snapshot)
    assert other.changes[0].reason.text == "content changed: 120 -> 120 examples"


def test_a_mismatching_imported_version_is_named_as_the_reason() -> None:
    old = dataclasses.replace(f.version_of(f.project(n_epochs=5), 1), imported=True)
    snapshot = f.state((old,), (f.alias("support-bot", 1),), f.datasets_of(f.project()))
    create = next(c for c in f.plan([f.project()], snapshot).changes if "create" in c.actions)
    assert create.reason.text == "imported version 1 does not match the configuration"
    assert [c.path for c in create.forces_new] == ["hyperparameters.n_epochs"]


def test_owner_change_plans_nothing() -> None:
    old = f.project()
    snapshot = f.state((f.version_of(old, 1),), (f.alias(old.name, 1),), f.datasets_of(old))
    assert not f.plan([f.project(owner="new-owner@example.com")], snapshot).has_changes


def test_dataset_already_uploaded_anywhere_is_not_uploaded_again() -> None:
    other = f.project("other-bot")
    snapshot = f.state(datasets=f.datasets_of(other))
    plan = f.plan([f.project()], snapshot)
    assert not any(c.address.startswith("dataset.") for c in plan.changes)


def test_running_version_is_waited_for() -> None:
    p = f.project()
    v1 = f.version_of(p, 1, status="running")
    plan = f.plan([p], f.state((v1,)), f.world(f.remote_job(v1, "running")))
    assert _actions(plan)["version.support-bot.1"] == ("wait", "gate")
    assert "version.support-bot.2" not in _actions(plan)


def test_job_found_by_metadata_is_adopted_not_created_twice() -> None:
    p = f.project()
    orphan = f.version_of(p, 1, status="running")  # as if apply crashed before writing state
    plan = f.plan([p], f.state(), f.world(f.remote_job(orphan, "running", job_id="ftjob-orphan")))
    change = _actions(plan)
    assert change["version.support-bot.1"] == ("adopt", "wait", "gate")
    assert not any("create" in a for a in change.values())
    assert not any(a == ("upload",) for a in change.values())


def test_superseded_running_job_is_cancelled() -> None:
    old = f.project()
    v1 = f.version_of(old, 1, status="running")
    plan = f.plan(
        [f.project(n_epochs=5)],
        f.state((v1,), datasets=f.datasets_of(old)),
        f.world(f.remote_job(v1, "running")),
    )
    assert _actions(plan)["version.support-bot.1"] == ("cancel",)
    assert _actions(plan)["version.support-bot.2"][0] == "create"


def test_promote_always_skips_gates_and_manual_never_moves() -> None:
    always = f.plan([f.project(promote={"when": "always"})], f.state())
    assert _actions(always)["version.support-bot.1"] == ("create", "wait")
    manual = f.plan([f.project(promote={"when": "manual"})], f.state())
    assert "alias.support-bot.prod" not in _actions(manual)


def test_failed_gates_keep_the_alias() -> None:
    p = f.project(n_epochs=2)
    old = f.project()
    v1 = f.version_of(old, 1)
    v2 = f.version_of(p, 2, gates={"passed": False})
    plan = f.plan([p], f.state((v1, v2), (f.alias(p.name, 1),), f.datasets_of(p)))
    assert not plan.has_changes
    assert any("failed its gates" in w for w in plan.warnings)


def test_a_changed_gate_rechecks_the_trained_version_instead_of_retraining() -> None:
    strict = {"metrics": [{"metric": "full_valid_loss", "max": 0.1}]}
    relaxed = {"metrics": [{"metric": "full_valid_loss", "max": 1.0}]}
    p = f.project(n_epochs=2, gates=relaxed)
    old = f.project()
    v1 = f.version_of(old, 1)
    failed_under_strict = {
        "passed": False,
        "config": f.project(gates=strict).spec.gates.model_dump(mode="json", by_alias=True),
    }
    v2 = f.version_of(p, 2, gates=failed_under_strict)
    plan = f.plan([p], f.state((v1, v2), (f.alias(p.name, 1),), f.datasets_of(p)))

    assert _actions(plan)["version.support-bot.2"] == ("gate",)
    assert _actions(plan)["alias.support-bot.prod"] == ("promote",)
    gate = next(c for c in plan.changes if c.address == "version.support-bot.2")
    assert gate.reason.text == "gates changed since they last ran"
    assert plan.summary()["train"] == 0

    same = dataclasses.replace(
        v2, gates={**failed_under_strict, "config": gate.after["gates_config"]}
    )  # type: ignore[index]
    unchanged = f.plan([p], f.state((v1, same), (f.alias(p.name, 1),), f.datasets_of(p)))
    assert not unchanged.has_changes


def test_old_versions_beyond_keep_versions_are_retired_but_never_the_alias_target() -> None:
    olds = [f.project(n_epochs=n) for n in (1, 2, 3)]
    versions = tuple(f.version_of(p, i + 1) for i, p in enumerate(olds))
    p = f.project(n_epochs=4, lifecycle={"keepVersions": 2})
    snapshot = f.state(versions, (f.alias(p.name, 1),), f.datasets_of(p))
    plan = f.plan([p], snapshot)
    assert _actions(plan)["version.support-bot.2"] == ("retire",)
    assert "version.support-bot.1" not in _actions(plan)  # prod points there
    assert "version.support-bot.3" not in _actions(plan)


def test_prevent_destroy_blocks_retirement_with_a_warning_and_destroy_with_an_error() -> None:
    olds = [f.project(n_epochs=n) for n in (1, 2)]
    versions = tuple(f.version_of(p, i + 1) for i, p in enumerate(olds))
    p = f.project(n_epochs=3, lifecycle={"keepVersions": 1, "preventDestroy": True})
    snapshot = f.state(versions, (), f.datasets_of(p))
    plan = f.plan([p], snapshot)
    assert not any("retire" in a for a in _actions(plan).values())
    assert any("Instance cannot be destroyed" in w for w in plan.warnings)
    with pytest.raises(PlanError, match="Instance cannot be destroyed"):
        f.plan([p], snapshot, options=PlanOptions(destroy=True))


def test_destroy_cancels_deletes_and_forgets() -> None:
    p = f.project()
    v1 = f.version_of(p, 1)
    v2 = f.version_of(f.project(n_epochs=9), 2, status="running")
    snapshot = f.state((v1, v2), (f.alias(p.name, 1),), f.datasets_of(p))
    plan = f.plan([p], snapshot, f.world(f.remote_job(v2, "running")), PlanOptions(destroy=True))
    acts = _actions(plan)
    assert acts["version.support-bot.1"] == ("retire", "forget")
    assert acts["version.support-bot.2"] == ("cancel", "forget")
    assert acts["alias.support-bot.prod"] == ("forget",)
    assert acts["dataset.support-bot.train"] == ("forget",)


def test_out_of_band_cancel_is_drift_and_a_new_version_is_planned() -> None:
    p = f.project()
    v1 = f.version_of(p, 1, status="running")
    plan = f.plan(
        [p], f.state((v1,), datasets=f.datasets_of(p)), f.world(f.remote_job(v1, "cancelled"))
    )
    assert [d.address for d in plan.drift] == ["version.support-bot.1"]
    assert _actions(plan)["version.support-bot.1"] == ("record-drift",)
    assert _actions(plan)["version.support-bot.2"][0] == "create"
    assert plan.changes[1].reason.text == "version 1 was cancelled"


def test_deleted_model_is_drift_and_refresh_only_records_only_drift() -> None:
    p = f.project()
    v1 = f.version_of(p, 1)
    snapshot = f.state((v1,), (f.alias(p.name, 1),), f.datasets_of(p))
    observed = f.world(models={"local": ["local-tiny"]})
    plan = f.plan([p], snapshot, observed, PlanOptions(refresh_only=True))
    assert _actions(plan) == {
        "version.support-bot.1": ("record-drift",),
        "alias.support-bot.prod": ("record-drift",),
    }
    assert plan.drift[0].message == "model was deleted outside ftctl"


def test_replace_forces_a_new_version_of_an_unchanged_config() -> None:
    p = f.project()
    snapshot = f.state((f.version_of(p, 1),), (f.alias(p.name, 1),), f.datasets_of(p))
    plan = f.plan([p], snapshot, options=PlanOptions(replace=("version.support-bot.1",)))
    assert _actions(plan)["version.support-bot.2"] == ("create", "wait", "gate")
    # After the replacement, the plain config matches version 2: no endless replacing.
    v2 = f.version_of(p, 2)
    after = f.state((f.version_of(p, 1), v2), (f.alias(p.name, 2),), f.datasets_of(p))
    assert not f.plan([p], after).has_changes


def test_target_keeps_dependencies_only() -> None:
    plan = f.plan(
        [f.project(), f.project("other-bot")],
        f.state(),
        options=PlanOptions(targets=("alias.support-bot.prod",)),
    )
    assert {c.project for c in plan.changes} == {"support-bot"}
    assert "version.support-bot.1" in _actions(plan)
    assert "dataset.support-bot.train" in _actions(plan)
    nothing = f.plan([f.project()], f.state(), options=PlanOptions(targets=("alias.nope.prod",)))
    assert not nothing.has_changes
    assert "Target alias.nope.prod matches no planned change." in nothing.warnings


def test_unknown_project_selection_is_an_error() -> None:
    with pytest.raises(PlanError, match="unknown project"):
        f.plan([f.project()], f.state(), options=PlanOptions(projects=("nope",)))


def test_openai_warnings_from_the_catalog() -> None:
    p = f.project(base_model="gpt-4o-mini-2024-07-18", provider="openai", openai=True)
    plan = f.plan([p], f.state())
    assert (
        "OpenAI accepts no new fine-tuning jobs after 2027-01-06 (41 days from today)."
        in plan.warnings
    )
    late = f.plan([p], f.state(), today=date(2027, 2, 1))
    assert any("stopped accepting" in w for w in late.warnings)
    assert not any("OpenAI" in w for w in f.plan([f.project()], f.state()).warnings)


def test_a_finished_job_whose_model_was_deleted_is_not_adopted_but_retrained() -> None:
    """`ftctl destroy` deleted the model and forgot the version: the job for the same
    fingerprint still exists on the provider, but adopting it would promote nothing."""
    desired = f.project()
    old = f.version_of(desired, 1)
    job = f.remote_job(old, "succeeded")
    gone = f.plan([desired], f.state(), f.world(job, models={"local": []}))
    version = next(c for c in gone.changes if c.kind == "version")
    assert version.actions[0] == "create"
    kept = f.plan(
        [desired], f.state(), f.world(job, models={"local": [job.fine_tuned_model or ""]})
    )
    version = next(c for c in kept.changes if c.kind == "version")
    assert version.actions[0] == "adopt"
