"""`promote.version`: the alias pinned to a trained version in the YAML (a rollback)."""

from __future__ import annotations

import plan_factories as f

from ftctl.plan.changes import PromoteChange
from ftctl.plan.reasons import ReasonCode


def test_promote_version_pins_the_alias_to_an_older_version_and_keeps_it() -> None:
    old = f.project()
    p = f.project(
        n_epochs=2,
        promote={"alias": "prod", "version": 1},
        lifecycle={"keepVersions": 1},
    )
    v1, v2 = f.version_of(old, 1), f.version_of(p, 2)
    plan = f.plan([p], f.state((v1, v2), (f.alias(p.name, 2),), f.datasets_of(p)))
    moves = [c for c in plan.changes if c.address == "alias.support-bot.prod"]
    assert len(moves) == 1 and isinstance(moves[0], PromoteChange)
    assert moves[0].version == 1
    assert moves[0].reason.code == ReasonCode.PROMOTE_PINNED
    assert "pinned by promote.version" in moves[0].reason.text
    # Version 1 is beyond keepVersions but pinned: not retired.
    assert not any(c.address == "version.support-bot.1" for c in plan.changes)


def test_promote_version_refuses_a_version_that_failed_its_gates_or_does_not_exist() -> None:
    old = f.project()
    v1 = f.version_of(old, 1, gates={"passed": False})
    p = f.project(promote={"alias": "prod", "version": 1})
    plan = f.plan([p], f.state((v1,), (), f.datasets_of(old)))
    assert not any(c.address.startswith("alias.") for c in plan.changes)
    assert any("promote.version 1" in w and "failed its gates" in w for w in plan.warnings)

    p = f.project(promote={"alias": "prod", "version": 9})
    plan = f.plan([p], f.state((f.version_of(old, 1),), (f.alias(p.name, 1),), f.datasets_of(old)))
    assert any("promote.version 9" in w and "stays at version 1" in w for w in plan.warnings)
