"""A data build says how much of its sources it has read, a chunk at a time: what a terminal
shows, and what a CI log gets as a line at least once a minute."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftctl.cli.progress import LineProgress
from ftctl.datasets import stream
from ftctl.datasets.build import build_project
from ftctl.events import Event

from . import build_helpers as h

DATA = """
train:
  sources:
    - path: data/train.jsonl
    - path: data/more.jsonl
"""


def test_a_build_reports_the_bytes_read_until_all_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream, "CHUNK_BYTES", 2_000)  # many chunks of a small file
    files = {"data/train.jsonl": h.examples(0, 60), "data/more.jsonl": h.examples(500, 30)}
    project_dir = h.write_workspace(tmp_path, h.project_yaml(DATA), files)
    total = sum((project_dir / name).stat().st_size for name in files)
    events: list[Event] = []
    build_project(*h.load(tmp_path), events.append)
    progress = [e for e in events if e.kind == "progress"]
    done = [int(e.completed) for e in progress]
    assert len(done) > 10
    assert done == sorted(done)
    assert done[-1] == total
    assert {e.task for e in progress} == {"data-build:demo"}
    assert (
        progress[-1].message
        == f"Reading the data of demo: {total / 1e6:.2f} of {total / 1e6:.2f} MB"
    )


def test_in_a_log_a_long_build_prints_a_line_at_least_once_a_minute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream, "CHUNK_BYTES", 2_000)
    files = {"data/train.jsonl": h.examples(0, 200), "data/more.jsonl": h.examples(500, 20)}
    h.write_workspace(tmp_path, h.project_yaml(DATA), files)
    # The build's own events, shown as a log shows them, as if each chunk took 10 s.
    now = [0.0]
    out: list[str] = []
    other: list[Event] = []
    log = LineProgress(out.append, other.append, clock=lambda: now[0])

    def slow(event: Event) -> None:
        now[0] += 10.0 if event.kind == "progress" else 0.0
        log(event)

    build_project(*h.load(tmp_path), slow)
    assert now[0] > 200  # more than 20 chunks
    # The first chunk (at 10 s) starts the task; then a line every 50 s, none in between.
    assert len(out) == (now[0] - 10) // 50
    assert out[0].startswith("Reading the data of demo: ")
    assert out[0].endswith(" MB (50s elapsed)")
    assert out[1].endswith(" MB (1m40s elapsed)")
    assert "Reading the data of demo" in [e.message for e in other]  # the step, once
