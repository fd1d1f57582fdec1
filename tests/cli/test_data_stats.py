"""`ftctl data stats` end to end, as a user runs it (a real subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

GOOD = [
    {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
        ]
    },
    {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Help?"},
            {"role": "assistant", "content": "I'm sorry, but I can't help with that."},
        ]
    },
]


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FTCTL_CACHE_DIR": str(tmp_path / "cache"), "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "ftctl", "data", "stats", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )


def test_format_errors_are_listed_with_file_line_and_path_and_exit_1(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    lines = [
        json.dumps(GOOD[0]),
        "{not json",
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": "x"},
                    {"role": "assistant", "content": "y", "weight": 2},
                ]
            }
        ),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = run(tmp_path, str(path))
    assert done.returncode == 1, done.stderr
    assert f"{path}:2: $: invalid JSON" in done.stdout
    assert f"{path}:3: $.messages[1].weight: weight must be 0 or 1, not 2" in done.stdout
    assert "Examples: 2" in done.stdout  # the report is printed despite the broken line
    assert "p10 / p90" in done.stdout


def test_json_report_is_stable_and_a_second_run_is_cached(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(json.dumps(g) for g in GOOD * 2) + "\n", encoding="utf-8")
    first = run(tmp_path, str(path), "--json", "--model", "gpt-4.1-mini-2025-04-14")
    assert first.returncode == 0, first.stderr  # duplicates and refusals are warnings only
    report = json.loads(first.stdout)
    assert report["format_version"] == 1
    assert report["examples"] == 4 and report["error_count"] == 0
    assert report["model"] == "gpt-4.1-mini-2025-04-14"
    assert report["cost"]["epochs"] == 25
    assert report["quality"]["duplicates"]["count"] == 2
    assert report["quality"]["refusals"]["count"] == 2
    assert set(report["distributions"]["total_tokens_per_example"]) == {
        "min",
        "max",
        "mean",
        "median",
        "p10",
        "p90",
    }
    assert first.stderr == ""  # no progress, no noise in --json mode
    second = run(tmp_path, str(path), "--json", "--model", "gpt-4.1-mini-2025-04-14")
    again = json.loads(second.stdout)
    assert again["cached"] is True and {**again, "cached": False} == report


def test_unknown_model_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps(GOOD[0]) + "\n", encoding="utf-8")
    done = run(tmp_path, str(path), "--model", "gpt-9")
    assert done.returncode == 1 and "unknown model 'gpt-9'" in done.stderr
    missing = run(tmp_path, str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 1 and "nope.jsonl" in missing.stderr
