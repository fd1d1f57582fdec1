"""Wait for a fine-tuning job: poll with backoff, report status, step and loss as events.

A wait can last hours, so a poll that fails for a reason that passes (the provider
unreachable, a timeout, HTTP 408/429/5xx) does not end it: the wait warns once and keeps
polling for up to `outage_s`, and only then fails, saying the job keeps training.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ftctl.errors import ProviderAPIError, ProviderError, ProviderUnreachableError
from ftctl.events import Event, EventSink
from ftctl.providers.base import JobEvent, Provider, RemoteJob


@dataclass(frozen=True)
class PollPolicy:
    """Seconds between polls: `initial`, growing by `factor` up to `maximum`."""

    initial: float = 0.5
    factor: float = 1.5
    maximum: float = 10.0


DEFAULT_OUTAGE_S = 600.0  # how long a wait keeps polling a provider that fails temporarily


def is_temporary(error: ProviderError) -> bool:
    """True for failures that pass on their own: unreachable, timeouts, 408, 429, 5xx."""
    if isinstance(error, ProviderUnreachableError):
        return True
    if isinstance(error, ProviderAPIError) and error.status is not None:
        return error.status in (408, 429) or error.status >= 500
    return False


def describe_seconds(seconds: float) -> str:
    """`600` -> `10m`, `90` -> `1m30s`, `5` -> `5s`."""
    whole = round(seconds)
    minutes, rest = divmod(whole, 60)
    if not minutes:
        return f"{rest}s"
    return f"{minutes}m" + (f"{rest}s" if rest else "")


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
    outage_s: float = DEFAULT_OUTAGE_S,
    clock: Callable[[], float] = time.monotonic,
) -> RemoteJob:
    """Poll until the job is succeeded, failed or cancelled; returns the final job.

    Temporary poll failures are retried (with the same backoff) for up to `outage_s`
    seconds in a row; past that the last one is raised, saying the job keeps training.
    """
    delay = policy.initial
    outage_since: float | None = None
    while True:
        try:
            job = provider.retrieve_job(job_id)
            step, loss, total = latest_metrics(provider.list_events(job_id, limit=5))
        except ProviderError as error:
            if not is_temporary(error):
                raise
            now = clock()
            first = outage_since is None
            if outage_since is None:
                outage_since = now
            if now - outage_since >= outage_s:
                lasted = describe_seconds(now - outage_since)
                after = f"polls failed for {lasted}; " if outage_s > 0 else ""
                raise ProviderError(
                    f"{error.message} ({after}job {job_id} keeps training on the provider, "
                    "and `ftctl apply` picks it up when the provider answers again)"
                ) from error
            if first:
                events(
                    Event(
                        "warning",
                        f"{address}: {error.message}; retrying for up to "
                        f"{describe_seconds(outage_s)} (job {job_id} keeps training meanwhile)",
                    )
                )
            sleep(delay)
            delay = min(policy.maximum, delay * policy.factor)
            continue
        if outage_since is not None:
            lasted = describe_seconds(clock() - outage_since)
            events(Event("info", f"{address}: the provider answers again (after {lasted})"))
            outage_since = None
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
