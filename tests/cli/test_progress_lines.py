"""Progress outside a terminal: a line per status change, a heartbeat at least once a
minute while a task goes on, and no duplicate lines (the clock is a value: no timing)."""

from __future__ import annotations

from ftctl.cli.progress import LineProgress
from ftctl.events import Event


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _poll(status: str, step: int, loss: float) -> Event:
    return Event(
        "progress",
        f"version.bot.1: {status}, step {step}/400, loss {loss:.4f}",
        task="version.bot.1",
        completed=step,
        total=400,
        data={"status": status, "step": step, "loss": loss},
    )


def test_a_long_wait_prints_a_heartbeat_at_least_once_a_minute() -> None:
    clock, out, other = Clock(), list[str](), list[Event]()
    sink = LineProgress(out.append, other.append, clock=clock)
    sink(Event("step", "version.bot.1: wait", task="version.bot.1"))
    sink(_poll("queued", 0, 0.0))
    for second in range(10, 3 * 3600, 10):  # a job polled every 10 s for 3 hours
        clock.now = 1000.0 + second
        sink(_poll("running", second // 30, 1 / (1 + second)))
    assert out[:2] == [
        "version.bot.1: queued, step 0/400, loss 0.0000",
        "version.bot.1: running, step 0/400, loss 0.0909",
    ]
    heartbeats = out[2:]
    assert heartbeats[0] == "version.bot.1: running, step 2/400, loss 0.0164 (1m00s elapsed)"
    assert heartbeats[-1].endswith("(2h59m elapsed)")
    # At least one line a minute, and far from one per poll (1,080 polls).
    assert 3 * 60 <= len(heartbeats) <= 3 * 3600 // 50
    assert [e.message for e in other] == ["version.bot.1: wait"]


def test_an_eval_prints_its_start_once_and_then_only_heartbeats_with_its_count() -> None:
    clock, out, other = Clock(), list[str](), list[Event]()
    sink = LineProgress(out.append, other.append, clock=clock)
    task = "eval:test:ft:m"
    sink(Event("step", "Evaluating ft:m on 100 test examples", task=task))
    for done in range(1, 101):
        clock.now += 1.0
        sink(Event("progress", "Evaluating ft:m", task=task, completed=done, total=100))
    assert [e.message for e in other] == ["Evaluating ft:m on 100 test examples"]
    assert out == [
        "Evaluating ft:m: 50/100 (50s elapsed)",
        "Evaluating ft:m: 100/100 (1m40s elapsed)",
    ]
