"""Wait for a fine-tuning job: poll with backoff, report status, step and loss as events."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ftctl.events import Event, EventSink
from ftctl.providers.base import JobEvent, Provider, RemoteJob


@dataclass(frozen=True)
class PollPolicy:
    """Seconds between polls: `initial`, growing by `factor` up to `maximum`."""

    initial: float = 0.5
    factor: float = 1.5
    maximum: float = 10.0


def latest_metrics(events: list[JobEvent]) -> tuple[int | None, float | None, int | None]:
    """(step, train loss, total steps) of the newest metrics event (events are newest first)."""
    for event in events:
        data = event.data
        if event.type == "metrics" or "step" in data:
            step = data.get("step")
            loss = data.get("train_loss")
            total = data.get("total_steps")
            return (
                int(step) if isinstance(step, int | float) else None,
                float(loss) if isinstance(loss, int | float) else None,
                int(total) if isinstance(total, int | float) else None,
            )
    return None, None, None


def wait_for_job(
    provider: Provider,
    job_id: str,
    address: str,
    events: EventSink,
    policy: PollPolicy = PollPolicy(),
    sleep: Callable[[float], None] = time.sleep,
) -> RemoteJob:
    """Poll until the job is succeeded, failed or cancelled; returns the final job."""
    delay = policy.initial
    while True:
        job = provider.retrieve_job(job_id)
        step, loss, total = latest_metrics(provider.list_events(job_id, limit=5))
        parts = [job.status]
        if step is not None:
            parts.append(f"step {step}" + (f"/{total}" if total else ""))
        if loss is not None:
            parts.append(f"loss {loss:.4f}")
        events(
            Event(
                "progress",
                f"{address}: {', '.join(parts)}",
                task=address,
                completed=float(step or 0),
                total=float(total) if total else None,
                data={"status": job.status, "step": step, "loss": loss, "job_id": job_id},
            )
        )
        if job.terminal:
            return job
        sleep(delay)
        delay = min(policy.maximum, delay * policy.factor)
