"""Checking the projects and addresses a plan is asked for, before planning."""

from __future__ import annotations

import pytest

from ftctl.errors import PlanError
from ftctl.plan.changes import PlanOptions
from ftctl.plan.selection import check_selection

CONFIGURED = ["support-triage", "sql-helper"]
RECORDED = ["support-triage", "old-bot"]


def test_known_projects_and_well_formed_addresses_pass() -> None:
    check_selection(
        PlanOptions(
            projects=("sql-helper", "old-bot"),
            targets=("version.sql-helper", "alias.support-triage.prod", "dataset.old-bot.train"),
            replace=("version.support-triage.3",),
        ),
        CONFIGURED,
        RECORDED,
    )


def test_an_unknown_project_lists_the_configured_ones_and_the_state_only_ones() -> None:
    with pytest.raises(PlanError) as raised:
        check_selection(PlanOptions(projects=("sql-helpr",)), CONFIGURED, RECORDED)
    assert raised.value.message == (
        "no project 'sql-helpr' in the configuration or the state: did you mean 'sql-helper'? "
        "(projects: sql-helper, support-triage; only in the state: old-bot)"
    )


@pytest.mark.parametrize(
    "target", ["prod", "alias", "model.sql-helper.1", "version.sql-helper.1.2", "version..1"]
)
def test_a_malformed_target_names_the_expected_forms(target: str) -> None:
    with pytest.raises(PlanError, match="not a resource address"):
        check_selection(PlanOptions(targets=(target,)), CONFIGURED, RECORDED)
