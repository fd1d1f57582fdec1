"""`ftctl events PROJECT [VERSION]`: a version's job events and training metrics.

Read-only: the state says which job made the version (default: the newest version), the
provider lists the job's events (every page), and the metrics events give the loss curve.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ftctl.config.loader import load_workspace
from ftctl.errors import StateError
from ftctl.gates.scorecard import LossPoint
from ftctl.ops.prepare import ProviderPool
from ftctl.providers.base import JobEvent, Provider
from ftctl.state.model import VersionRecord
from ftctl.state.store import open_state

MAX_EVENTS = 10_000


@dataclass(frozen=True)
class JobHistory:
    version: VersionRecord
    events: tuple[JobEvent, ...]  # oldest first
    loss_curve: tuple[LossPoint, ...]


def loss_curve(events: tuple[JobEvent, ...] | list[JobEvent]) -> tuple[LossPoint, ...]:
    """Training and validation loss by step, from a job's metrics events."""
    points: dict[int, LossPoint] = {}
    for event in events:
        data = event.data
        step, train = data.get("step"), data.get("train_loss")
        if event.type != "metrics" or not isinstance(step, int) or train is None:
            continue
        valid = data.get("valid_loss")
        points[step] = LossPoint(
            step,
            float(train) if isinstance(train, int | float) else None,
            float(valid) if isinstance(valid, int | float) else None,
        )
    return tuple(points[s] for s in sorted(points))


def job_events(provider: Provider, job_id: str | None) -> tuple[JobEvent, ...]:
    """Every event of a job, oldest first (providers list the newest first)."""
    if job_id is None:
        return ()
    listed = provider.list_events(job_id, limit=MAX_EVENTS)
    return tuple(sorted(listed, key=lambda e: (e.created_at, e.id)))


def history(root: Path, project: str, number: int | None = None) -> JobHistory:
    workspace = load_workspace(root)
    store = open_state(workspace)
    if not store.exists():
        raise StateError("no state yet: nothing has been trained (run `ftctl apply`)")
    snapshot = store.read()
    versions = snapshot.versions_of(project)
    if number is not None:
        version = snapshot.version(project, number)
        if version is None:
            known = ", ".join(str(v.number) for v in versions) or "none"
            raise StateError(f"no version.{project}.{number} in the state (versions: {known})")
    elif versions:
        version = max(versions, key=lambda v: v.number)
    else:
        raise StateError(f"{project} has no version in the state (run `ftctl apply`)")
    if version.job_id is None:
        return JobHistory(version, (), ())
    events = job_events(ProviderPool(workspace)(version.provider), version.job_id)
    return JobHistory(version, events, loss_curve(events))
