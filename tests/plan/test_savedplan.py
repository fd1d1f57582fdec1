from __future__ import annotations

import json
from pathlib import Path

import plan_factories as f
import pytest

from ftctl.errors import PlanError, StalePlanError
from ftctl.plan.savedplan import NO_STATE_LINEAGE, check_fresh, read_plan, write_plan
from ftctl.state.model import StateSnapshot


def test_saved_plan_round_trips(tmp_path: Path) -> None:
    plan = f.plan([f.project()], f.state())
    write_plan(plan, tmp_path / "p.plan")
    assert read_plan(tmp_path / "p.plan") == plan


def test_other_format_version_is_refused(tmp_path: Path) -> None:
    plan = f.plan([f.project()], f.state())
    data = plan.to_dict() | {"format_version": 99}
    (tmp_path / "p.plan").write_text(json.dumps(data))
    with pytest.raises(PlanError, match="format_version 99"):
        read_plan(tmp_path / "p.plan")


def test_stale_when_serial_lineage_or_data_changed() -> None:
    plan = f.plan([f.project()], f.state(serial=4))
    check_fresh(plan, f.state(serial=4), plan.data_hashes)
    with pytest.raises(StalePlanError, match="Saved plan is stale: the state changed"):
        check_fresh(plan, f.state(serial=5), plan.data_hashes)
    changed = dict(plan.data_hashes) | {"support-bot.train": f.sha("edited")}
    with pytest.raises(StalePlanError, match=r"support-bot\.train"):
        check_fresh(plan, f.state(serial=4), changed)


def test_a_plan_made_before_any_state_applies_until_the_new_state_records_something() -> None:
    # `ftctl plan -out` on a fresh workspace creates no state; the apply creates it then.
    unsaved = StateSnapshot.empty("", lineage=NO_STATE_LINEAGE)
    plan = f.plan([f.project()], unsaved)
    check_fresh(plan, StateSnapshot.empty("ws-new"), plan.data_hashes)
    with pytest.raises(
        StalePlanError, match=r"the state changed since it was made \(serial 0 -> 1"
    ):
        check_fresh(plan, f.state(serial=1), plan.data_hashes)
