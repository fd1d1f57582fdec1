"""Waiting through a provider outage: a real provider pointed at a loopback port where
nothing listens (connection refused), with the clock and sleep under the test's control."""

from __future__ import annotations

import socket

import pytest

from ftctl.apply.waiting import PollPolicy, wait_for_job
from ftctl.errors import ProviderError, ProviderUnreachableError
from ftctl.events import Event
from ftctl.providers.openai_api import OpenAIProvider


def unreachable_provider() -> OpenAIProvider:
    with socket.socket() as probe:  # a free port, closed again: connections are refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return OpenAIProvider(
        "local", api_key="ftctl-local", base_url=f"http://127.0.0.1:{port}/v1", max_retries=0
    )


def test_a_wait_keeps_polling_an_unreachable_provider_then_says_the_job_keeps_training() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    events: list[Event] = []
    with pytest.raises(ProviderError) as raised:
        wait_for_job(
            unreachable_provider(),
            "ftjob-1",
            "version.mini.1",
            events.append,
            PollPolicy(initial=1, factor=2, maximum=8),
            sleep=sleep,
            outage_s=30,
            clock=lambda: now[0],
        )
    assert isinstance(raised.value.__cause__, ProviderUnreachableError)
    message = str(raised.value)
    assert "polls failed for 31s" in message
    assert "job ftjob-1 keeps training" in message and "`ftctl apply` picks it up" in message
    assert slept == [1, 2, 4, 8, 8, 8]  # backoff, bounded by the policy's maximum
    warnings = [e.message for e in events if e.kind == "warning"]
    assert len(warnings) == 1 and "retrying for up to 30s" in warnings[0]


def test_without_an_outage_budget_the_first_failed_poll_ends_the_wait() -> None:
    with pytest.raises(ProviderError, match=r"cannot reach .*job ftjob-1 keeps training"):
        wait_for_job(
            unreachable_provider(), "ftjob-1", "version.mini.1", lambda _e: None, outage_s=0
        )
