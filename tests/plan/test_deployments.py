"""Deployments in the plan (providers whose models serve only through them, Azure):
pure planner tests from plain values."""

from __future__ import annotations

import dataclasses

import plan_factories as f

from ftctl.plan.changes import (
    Action,
    DeployChange,
    NewVersionChange,
    Plan,
    PlanOptions,
    UndeployChange,
)
from ftctl.plan.desired import DesiredDeployment, DesiredProject
from ftctl.plan.reasons import ReasonCode
from ftctl.providers.base import RemoteDeployment
from ftctl.refresh.world import ObservedWorld
from ftctl.state.model import DeploymentRecord

EVALS = {
    "metrics": [{"metric": "full_valid_loss", "max": 1.2}],
    "evals": {"graders": [{"type": "regex", "pattern": "x"}], "pass": {"minPassRate": 0.5}},
}
SERVING = DesiredDeployment("support-bot-prod", "Standard", 1, "Developer", 1.7, 0.0)


def _azure(**kwargs: object) -> DesiredProject:
    project = f.project(gates=EVALS, **kwargs)  # type: ignore[arg-type]
    return dataclasses.replace(project, deployment=SERVING)


def _record(version: int = 1, **changes: object) -> DeploymentRecord:
    record = DeploymentRecord(
        project="support-bot",
        alias="prod",
        name="support-bot-prod",
        provider="local",
        version=version,
        model_id=f"ft:local-tiny:support-bot:{version}",
        sku="Standard",
        capacity=1,
        deployed_at=f.NOW,
    )
    return dataclasses.replace(record, **changes)  # type: ignore[arg-type]


def _deployed(*names: str) -> ObservedWorld:
    listed = [RemoteDeployment(n, "m", "Standard", 1, "Succeeded") for n in names]
    return ObservedWorld.of([], None, ["local"], deployments={"local": listed})


def _deploys(plan: Plan) -> list[DeployChange]:
    return [c for c in plan.changes if isinstance(c, DeployChange)]


def test_a_new_version_is_deployed_before_the_alias_moves_and_gated_through_a_temporary_one() -> (
    None
):
    plan = f.plan([_azure()], f.state(serial=0))
    addresses = [c.address for c in plan.changes]
    assert addresses.index("deployment.support-bot.prod") < addresses.index(
        "alias.support-bot.prod"
    )
    (deploy,) = _deploys(plan)
    assert (deploy.deployment_name, deploy.version, deploy.hourly_usd) == (
        "support-bot-prod",
        1,
        1.7,
    )
    assert deploy.reason.code == ReasonCode.DEPLOY_IF_GATES_PASS
    version = next(c for c in plan.changes if isinstance(c, NewVersionChange))
    assert version.gate_deployment is not None
    assert (version.gate_deployment.name, version.gate_deployment.sku) == (
        "support-bot-v1-gate",
        "Developer",
    )
    assert plan.hourly_usd == 1.7 and plan.summary()["deploy"] == 1
    # The plan file carries it: a saved plan applies the same deployment.
    again = Plan.from_dict(plan.to_dict())
    assert _deploys(again) == [deploy]


def test_nothing_to_deploy_when_the_deployment_serves_the_alias() -> None:
    desired = _azure()
    v1 = f.version_of(desired, 1)
    snapshot = dataclasses.replace(
        f.state((v1,), (f.alias("support-bot", 1),), f.datasets_of(desired)),
        deployments=(_record(),),
    )
    assert not f.plan([desired], snapshot, _deployed("support-bot-prod")).has_changes


def test_a_deployment_deleted_outside_ftctl_is_drift_and_deployed_again() -> None:
    desired = _azure()
    v1 = f.version_of(desired, 1)
    snapshot = dataclasses.replace(
        f.state((v1,), (f.alias("support-bot", 1),), f.datasets_of(desired)),
        deployments=(_record(),),
    )
    plan = f.plan([desired], snapshot, _deployed())
    (item,) = plan.drift
    assert item.address == "deployment.support-bot.prod"
    assert item.reason.code == ReasonCode.DEPLOYMENT_DELETED_OUTSIDE
    (deploy,) = _deploys(plan)
    assert deploy.reason.code == ReasonCode.DEPLOYMENT_MISSING and deploy.before is None
    assert any("15 consecutive days" in w for w in plan.warnings)
    # Unobserved deployments (no credentials for Resource Manager) are not drift.
    assert not f.plan([desired], snapshot, ObservedWorld.of([], None, ["local"])).drift


def test_a_changed_capacity_updates_the_deployment() -> None:
    desired = _azure()
    desired = dataclasses.replace(desired, deployment=dataclasses.replace(SERVING, capacity=3))
    v1 = f.version_of(desired, 1)
    snapshot = dataclasses.replace(
        f.state((v1,), (f.alias("support-bot", 1),), f.datasets_of(desired)),
        deployments=(_record(),),
    )
    (deploy,) = _deploys(f.plan([desired], snapshot, _deployed("support-bot-prod")))
    assert deploy.reason.code == ReasonCode.DEPLOYMENT_SETTINGS_CHANGED
    assert deploy.capacity == 3 and deploy.before is not None


def test_destroy_deletes_the_deployment_first() -> None:
    desired = _azure()
    v1 = f.version_of(desired, 1)
    snapshot = dataclasses.replace(
        f.state((v1,), (f.alias("support-bot", 1),), f.datasets_of(desired)),
        deployments=(_record(),),
    )
    plan = f.plan([desired], snapshot, _deployed("support-bot-prod"), PlanOptions(destroy=True))
    first = plan.changes[0]
    assert isinstance(first, UndeployChange)
    assert first.actions == (Action.UNDEPLOY, Action.FORGET)
    assert first.deployment_name == "support-bot-prod"
