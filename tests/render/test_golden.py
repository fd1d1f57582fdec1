"""Golden files of rendered plans (human, JSON, Markdown), one per kind of change.

Plans are built by the pure planner from plain values (no I/O). To regenerate after an
intended change of the output: `FTCTL_UPDATE_GOLDEN=1 pytest tests/render`, then review
the diff of tests/render/golden/.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path

import plan_factories as f
import pytest

from ftctl.plan.changes import Plan, PlanOptions
from ftctl.plan.desired import ContentDiff
from ftctl.render.human import render_plan
from ftctl.render.json import render_plan_json
from ftctl.render.markdown import render_plan_markdown

GOLDEN = Path(__file__).parent / "golden"
UPDATE = bool(os.environ.get("FTCTL_UPDATE_GOLDEN"))


def initial() -> Plan:
    return f.plan([f.project()], f.state(serial=0))


def new_version_openai() -> Plan:
    kw = dict(base_model="gpt-4o-mini-2024-07-18", provider="openai", openai=True, cost=2.47)
    old = f.project(**kw)  # type: ignore[arg-type]
    new = f.project(n_epochs=2, train="train-v2", **kw)  # type: ignore[arg-type]
    snapshot = f.state((f.version_of(old, 3),), (f.alias(old.name, 3),), f.datasets_of(old))
    gates = {
        "metrics": [{"metric": "full_valid_loss", "max": 1.2}],
        "evals": {
            "baseline": "alias:prod",
            "graders": [{"type": "refusal", "max": 0.05}],
            "pass": {"minPassRate": 0.9, "minWinRate": 0.5},
        },
    }
    new = f.project(n_epochs=2, train="train-v2", gates=gates, **kw)  # type: ignore[arg-type]
    # The I/O layer compared the canonical files: 41 examples added, 3 removed.
    train = dataclasses.replace(
        new.splits["train"], content_diff=ContentDiff(f.sha("train-v1"), added=41, removed=3)
    )
    new = dataclasses.replace(new, splits={**new.splits, "train": train})
    return f.plan([new], snapshot)


def wait_and_cancel() -> Plan:
    old = f.project()
    v1 = f.version_of(old, 1)
    v2 = f.version_of(f.project(n_epochs=5), 2, status="running")
    v3 = f.version_of(f.project(n_epochs=2), 3, status="running")
    snapshot = f.state((v1, v2, v3), (f.alias(old.name, 1),), f.datasets_of(old))
    observed = f.world(f.remote_job(v2, "running"), f.remote_job(v3, "succeeded"))
    return f.plan([f.project(n_epochs=2, promote={"when": "always"})], snapshot, observed)


def retire() -> Plan:
    versions = tuple(f.version_of(f.project(n_epochs=n), n) for n in (1, 2, 3))
    p = f.project(n_epochs=3, lifecycle={"keepVersions": 1})
    return f.plan([p], f.state(versions, (f.alias(p.name, 2),), f.datasets_of(p)))


def drift() -> Plan:
    p = f.project()
    v1 = f.version_of(p, 1)
    snapshot = f.state((v1,), (f.alias(p.name, 1),), f.datasets_of(p))
    return f.plan([p], snapshot, f.world(models={"local": ["local-tiny"]}))


def refresh_only() -> Plan:
    p = f.project()
    v1 = f.version_of(p, 1, status="running")
    observed = f.world(f.remote_job(v1, "cancelled"))
    return f.plan(
        [p], f.state((v1,), datasets=f.datasets_of(p)), observed, PlanOptions(refresh_only=True)
    )


def adopt() -> Plan:
    p = f.project(promote={"when": "always"})
    orphan = f.version_of(p, 1, status="running")
    return f.plan([p], f.state(), f.world(f.remote_job(orphan, "running", job_id="ftjob-orphan")))


def destroy() -> Plan:
    p = f.project()
    v1 = f.version_of(p, 1)
    v2 = f.version_of(f.project(n_epochs=9), 2, status="running")
    snapshot = f.state((v1, v2), (f.alias(p.name, 1),), f.datasets_of(p))
    return f.plan([p], snapshot, f.world(f.remote_job(v2, "running")), PlanOptions(destroy=True))


def no_changes() -> Plan:
    p = f.project()
    return f.plan([p], f.state((f.version_of(p, 1),), (f.alias(p.name, 1),), f.datasets_of(p)))


SCENARIOS: dict[str, Callable[[], Plan]] = {
    "initial": initial,
    "new_version_openai": new_version_openai,
    "wait_and_cancel": wait_and_cancel,
    "retire": retire,
    "drift": drift,
    "refresh_only": refresh_only,
    "adopt": adopt,
    "destroy": destroy,
    "no_changes": no_changes,
}

RENDERERS: dict[str, Callable[[Plan], str]] = {
    "txt": lambda plan: render_plan(plan, color=False),
    "json": render_plan_json,
    "md": render_plan_markdown,
}


@pytest.mark.parametrize("ext", sorted(RENDERERS))
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_rendered_plan_matches_golden_file(name: str, ext: str) -> None:
    text = RENDERERS[ext](SCENARIOS[name]())
    path = GOLDEN / f"{name}.{ext}"
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing {path}: run with FTCTL_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


def test_colors_only_when_enabled() -> None:
    plan = initial()
    assert "[green]" in render_plan(plan, color=True)
    assert "[green]" not in render_plan(plan, color=False)


def test_json_has_the_documented_keys() -> None:
    data = json.loads(render_plan_json(new_version_openai()))
    assert data["format_version"] == 2
    change = next(c for c in data["resource_changes"] if c["address"] == "version.support-bot.4")
    assert {"address", "actions", "before", "after", "reason", "reason_code"} <= set(change)
    assert change["actions"] == ["create", "wait", "gate"]
    assert (change["reason_code"], change["reason"]) == (
        "fingerprint-changed",
        "fingerprint changed",
    )
    assert data["cost"]["total"] == 2.47
    assert data["warnings"]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_kind_of_change_survives_a_saved_plan_round_trip(name: str) -> None:
    plan = SCENARIOS[name]()
    again = Plan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert again == plan
    assert render_plan(again) == render_plan(plan)
