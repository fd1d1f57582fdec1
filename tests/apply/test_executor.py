"""The executor against the real local server and a real SQLite state."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path
from typing import Any

import plan_factories as f
import pytest

from ftctl.apply.executor import ApplyOptions, apply_plan
from ftctl.apply.waiting import PollPolicy
from ftctl.config.models import ProjectSpec
from ftctl.errors import StalePlanError, StateLockedError
from ftctl.events import Event
from ftctl.gates.examples import load_eval_examples
from ftctl.plan.changes import Plan
from ftctl.plan.desired import DesiredProject, DesiredSplit
from ftctl.providers.base import (
    META_FINGERPRINT,
    META_PROJECT,
    META_WORKSPACE,
    JobRequest,
)
from ftctl.providers.openai_api import OpenAIProvider
from ftctl.refresh.world import ObservedWorld
from ftctl.state.sqlite import SqliteStateStore
from ftctl.text.refusals import is_refusal

FAST = PollPolicy(initial=0.2, factor=1.5, maximum=1.0)


GENEROUS = {"metrics": [{"metric": "full_valid_loss", "max": 100}]}


def desired(data: dict[str, tuple[Path, str]], **kw: Any) -> DesiredProject:
    kw.setdefault("gates", GENEROUS)
    base = f.project("mini", n_epochs=1, **kw)
    sizes = {"train": 24, "validation": 6, "test": 4}
    splits = {
        split: DesiredSplit(sha, sizes[split], 1000, path) for split, (path, sha) in data.items()
    }
    return dataclasses.replace(base, splits=splits)


def make_plan(
    project: DesiredProject, store: SqliteStateStore, world: ObservedWorld | None = None
) -> Plan:
    return f.plan([project], store.read(), world)


def run(
    plan: Plan,
    store: SqliteStateStore,
    provider: OpenAIProvider,
    project: DesiredProject,
    events: list[Event] | None = None,
    **options: Any,
) -> Any:
    sink = events.append if events is not None else lambda _e: None
    return apply_plan(
        plan,
        store,
        lambda _name: provider,
        {project.name: project},
        ApplyOptions(who="tester", git_commit="abc123", poll=FAST, **options),
        sink,
    )


def test_apply_trains_gates_promotes_and_audits(
    store: SqliteStateStore,
    provider: OpenAIProvider,
    data_files: dict[str, tuple[Path, str]],
    tmp_path: Path,
) -> None:
    gates = {
        **GENEROUS,
        "evals": {
            "dataset": "test",
            "baseline": "alias:prod",
            "maxTokens": 16,
            "graders": [{"type": "refusal", "max": 1.0}],
            "pass": {"minPassRate": 0.0, "minWinRate": 0.5},
        },
    }
    project = desired(data_files, gates=gates)
    plan = make_plan(project, store)
    events: list[Event] = []
    result = run(plan, store, provider, project, events, project_dirs={"mini": tmp_path})
    assert result.ok, result.failed
    state = store.read()
    (version,) = state.versions
    assert version.status == "succeeded" and version.model_id
    assert version.gates and version.gates["passed"] is True
    assert "full_valid_loss" in version.metrics
    # The eval gate asked the trained model about the 4 test examples; with no prod alias
    # yet, the win rate against it is skipped, not failed.
    assert version.gates["eval"]["summary"]
    win = next(r for r in version.gates["results"] if r["name"].startswith("win rate"))
    assert win["passed"] and "alias prod is not set yet" in win["message"]
    assert state.alias("mini", "prod").model_id == version.model_id  # type: ignore[union-attr]
    # Progress events carry status and step while waiting.
    assert any(e.kind == "progress" and e.data.get("status") == "succeeded" for e in events)
    audit = store.audit("mini")
    assert [(a.address, a.action) for a in audit] == [
        ("dataset.mini.train", "upload"),
        ("dataset.mini.validation", "upload"),
        ("version.mini.1", "create"),
        ("version.mini.1", "wait"),
        ("version.mini.1", "gate"),
        ("alias.mini.prod", "promote"),
    ]
    assert {(a.who, a.plan_id, a.git_commit) for a in audit} == {("tester", plan.plan_id, "abc123")}
    job = provider.retrieve_job(version.job_id or "")
    assert job.metadata[META_FINGERPRINT] == version.fingerprint
    assert job.metadata[META_WORKSPACE] == state.workspace_id


def test_a_job_started_before_a_crash_is_found_by_metadata_not_created_again(
    store: SqliteStateStore, provider: OpenAIProvider, data_files: dict[str, tuple[Path, str]]
) -> None:
    project = desired(data_files, promote={"when": "always"})
    plan = make_plan(project, store)
    create = next(c for c in plan.changes if "create" in c.actions)
    workspace_id = store.read().workspace_id
    # Simulate an apply that uploaded and created the job, then died before writing state.
    files = {
        split: provider.upload_file(path, f"ftctl-{sha}.jsonl")
        for split, (path, sha) in data_files.items()
    }
    assert create.after is not None
    metadata = {
        META_PROJECT: "mini",
        META_FINGERPRINT: create.after["fingerprint"],
        META_WORKSPACE: workspace_id,
    }
    orphan = provider.create_job(
        JobRequest(
            "local-tiny",
            files["train"].id,
            files["validation"].id,
            "supervised",
            {"n_epochs": 1},
            "mini",
            7,
            metadata,
        )
    )

    def uploads() -> int:
        return sum(1 for x in provider.list_files() if x.purpose == "fine-tune")

    before_files = uploads()
    result = run(plan, store, provider, project)
    assert result.ok, result.failed
    assert [v.job_id for v in store.read().versions] == [orphan.id]
    assert len(provider.list_jobs(metadata=metadata)) == 1
    assert uploads() == before_files  # found by name, not uploaded again
    create_audit = next(a for a in store.audit() if a.action == "create")
    assert create_audit.detail["adopted_existing"] is True


def test_a_finished_job_whose_model_was_deleted_is_not_adopted_by_create(
    store: SqliteStateStore, provider: OpenAIProvider, data_files: dict[str, tuple[Path, str]]
) -> None:
    """After `ftctl destroy` (model deleted, version forgotten) the job for the same
    fingerprint is still listed: create must train again, not reuse that job."""
    project = desired(data_files, promote={"when": "always"})
    first = run(make_plan(project, store), store, provider, project)
    assert first.ok, first.failed
    (old,) = store.read().versions
    provider.delete_model(old.model_id or "")
    store.write(store.read().without(old.address).without("alias.mini.prod"))
    result = run(make_plan(project, store), store, provider, project)
    assert result.ok, result.failed
    (new,) = store.read().versions
    assert new.job_id != old.job_id and new.model_id != old.model_id
    create = [a for a in store.audit() if a.action == "create"][-1]
    assert create.detail["adopted_existing"] is False


def test_no_wait_returns_after_starting_and_the_next_plan_waits(
    store: SqliteStateStore, provider: OpenAIProvider, data_files: dict[str, tuple[Path, str]]
) -> None:
    project = desired(data_files)
    result = run(make_plan(project, store), store, provider, project, wait=False)
    assert result.ok and result.started == ["version.mini.1"]
    assert ("alias.mini.prod", "not waited for (--no-wait)") in result.skipped
    (version,) = store.read().versions
    assert version.status == "running" and version.job_id
    job = provider.retrieve_job(version.job_id)
    world = ObservedWorld.of([job], None, ["local"])
    nxt = make_plan(project, store, world)
    assert [c.actions for c in nxt.changes] == [("wait", "gate"), ("promote",)]
    assert run(nxt, store, provider, project).ok
    assert store.read().alias("mini", "prod") is not None


def test_failed_gates_leave_the_alias_where_it_was(
    store: SqliteStateStore, provider: OpenAIProvider, data_files: dict[str, tuple[Path, str]]
) -> None:
    impossible = {"metrics": [{"metric": "full_valid_loss", "max": 0.0001}]}
    project = desired(data_files, gates=impossible)
    result = run(make_plan(project, store), store, provider, project)
    assert result.ok and not result.reached
    [(address, message)] = result.gates_failed
    assert address == "version.mini.1"
    assert re.fullmatch(
        r"version 1 of mini failed its gates: full_valid_loss: [\d.]+ vs <= 0\.0001", message
    ), message
    assert ("alias.mini.prod", "version.mini.1 failed its gates") in result.skipped
    state = store.read()
    assert state.alias("mini", "prod") is None
    assert state.versions[0].gates is not None and state.versions[0].gates["passed"] is False
    assert "full_valid_loss" in state.versions[0].gates["results"][0]["message"]


def test_the_eval_gate_counts_the_projects_own_refusal_phrases(
    store: SqliteStateStore,
    provider: OpenAIProvider,
    data_files: dict[str, tuple[Path, str]],
    tmp_path: Path,
) -> None:
    # Version 1 trained without gates; what it answers to the first test example is
    # what this project's policy then calls a refusal.
    plain = desired(data_files, gates={})
    assert run(make_plan(plain, store), store, provider, plain).ok
    model = store.read().versions[0].model_id or ""
    [example] = load_eval_examples(data_files["test"][0], 1, source="test")
    answer = provider.chat(model, [dict(m) for m in example.prompt], 16, 0.0, 7)
    phrase = answer.strip()[:12]
    assert phrase, "the model answered nothing"
    assert not is_refusal(answer)  # the built-in phrases would let it pass

    gates = {
        "evals": {
            "dataset": "test",
            "limit": 1,
            "maxTokens": 16,
            "temperature": 0.0,
            "graders": [{"type": "refusal", "max": 0.0}],
            "pass": {"minPassRate": 0.0},
        }
    }
    gated = desired(data_files, gates=gates)
    spec = gated.spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    spec["policy"] = {"maxRefusalRatio": {"value": 0.2, "phrases": [phrase]}}
    project = dataclasses.replace(gated, spec=ProjectSpec.model_validate(spec))
    plan = make_plan(project, store)
    assert [(c.address, c.actions) for c in plan.actionable] == [("version.mini.1", ("gate",))]
    result = run(plan, store, provider, project, project_dirs={"mini": tmp_path})
    assert result.ok, result.failed
    decision = store.read().versions[0].gates
    assert decision is not None and decision["passed"] is False
    messages = [r["message"] for r in decision["results"]]
    assert any(m.startswith("refusal rate 1 <= 0") for m in messages), messages


def test_stale_plan_and_held_lock_are_refused_before_any_call(
    store: SqliteStateStore, provider: OpenAIProvider, data_files: dict[str, tuple[Path, str]]
) -> None:
    project = desired(data_files)
    plan = make_plan(project, store)
    store.write(store.read())  # someone else applied in between
    requests = provider.request_count
    with pytest.raises(StalePlanError, match="Saved plan is stale"):
        run(plan, store, provider, project)
    with store.lock("apply", "someone-else"), pytest.raises(StateLockedError, match="someone-else"):
        run(make_plan(project, store), store, provider, project)
    assert provider.request_count == requests


def test_built_data_changed_on_disk_is_not_uploaded(
    store: SqliteStateStore, provider: OpenAIProvider, data_files: dict[str, tuple[Path, str]]
) -> None:
    """The build trusts the cache's files by their stat (`cache_verified`); the upload
    hashes what it sends, and a file whose bytes are not those it was built with stops it."""
    path, _ = data_files["train"]
    rows = path.read_bytes().splitlines(keepends=True)
    built = b"".join(rows[1:] + rows[:1])  # bytes no earlier test uploaded to this server
    sha = hashlib.sha256(built).hexdigest()
    damaged = bytearray(built)
    damaged[len(damaged) // 2] ^= 0x01  # the same size: a bit flipped on disk
    path.write_bytes(bytes(damaged))
    project = desired({**data_files, "train": (path, sha)})
    result = run(make_plan(project, store), store, provider, project)
    assert not result.ok
    message = dict(result.failed)["dataset.mini.train"]
    assert f"no longer has the SHA-256 {sha[:12]}" in message and "nothing was uploaded" in message
    assert not any(f.filename == f"ftctl-{sha}.jsonl" for f in provider.list_files())
    assert not [d for d in store.read().datasets if d.split == "train"]  # nothing recorded
