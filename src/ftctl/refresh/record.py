"""Record what refresh saw (the "refresh-only" write): a pure function of values."""

from __future__ import annotations

import dataclasses

from ftctl.refresh.observe import ACTIVE_JOB_STATUSES, Observation
from ftctl.state.model import StateSnapshot, VersionRecord, VersionStatus, iso_from_unix


def apply_observation(snapshot: StateSnapshot, observation: Observation) -> StateSnapshot:
    """`snapshot` updated with the facts that changed outside ftctl.

    A job cancelled outside ftctl marks its version cancelled; a job that is gone marks it
    failed; a deleted model marks its version retired (model id cleared); an alias whose
    target is gone is removed; a pending version whose job is in flight becomes running.
    A job that succeeded or failed on its own is left to `apply`, whose wait step records
    it together with the metrics and runs the gates (recording it here would skip them).
    The serial stays: the store's write advances it.
    """
    result = snapshot
    for item in observation.drift:
        version = snapshot.find(item.address)
        if not isinstance(version, VersionRecord):
            continue
        status: VersionStatus
        if item.kind == "job_cancelled":
            status = "cancelled"
        elif item.kind == "job_missing":
            status = "failed"
        elif item.kind == "model_deleted":
            status = "retired"
        else:
            continue
        job = observation.version_jobs.get(version.address)
        finished_at = version.finished_at
        if job is not None and job.finished_at:
            finished_at = iso_from_unix(job.finished_at)
        model_id = None if item.kind == "model_deleted" else version.model_id
        result = result.with_version(
            dataclasses.replace(version, status=status, model_id=model_id, finished_at=finished_at)
        )
    for address, job in observation.version_jobs.items():
        version = result.find(address)
        in_flight = job.status in ACTIVE_JOB_STATUSES
        if isinstance(version, VersionRecord) and version.status == "pending" and in_flight:
            result = result.with_version(dataclasses.replace(version, status="running"))
    missing_targets = {d.address for d in observation.drift if d.kind == "alias_target_missing"}
    for alias in snapshot.aliases:
        if alias.address in missing_targets:
            result = result.without(alias.address)
    return result
