"""`ftctl data build` end to end, in a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ..datasets import build_helpers as h

pytestmark = pytest.mark.e2e


DATA = """
train:
  sources:
    - path: data/train.jsonl
validation:
  split: {fraction: 0.2, seed: 7}
"""


def _ftctl(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ftctl", "--workspace", str(root), "--no-color", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_data_build_prints_splits_findings_and_cost_and_copies_files(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    h.write_workspace(root, h.project_yaml(DATA), {"data/train.jsonl": h.examples(0, 40)})
    out = tmp_path / "out"
    done = _ftctl(root, "data", "build", "demo", "--out", str(out))
    assert done.returncode == 0, done.stderr

    as_json = _ftctl(root, "--json", "data", "build", "demo")
    assert as_json.returncode == 0, as_json.stderr
    result = json.loads(as_json.stdout)
    train = result["splits"]["train"]
    assert train["examples"] + result["splits"]["validation"]["examples"] == 40
    assert f"train       sha256={train['sha256']}  examples={train['examples']}" in done.stdout
    # The minExamples warning (40 < 50) points at project.yaml, and the cost is shown.
    assert "projects/demo/project.yaml:5:1: warning: policy.minExamples:" in done.stdout
    assert "Estimated training cost: $0.00" in done.stdout
    assert [d["field"] for d in result["diagnostics"]] == ["policy.minExamples"]

    assert (out / "train.jsonl").read_bytes() == Path(train["path"]).read_bytes()
    assert (out / "validation.jsonl").is_file()
    report = json.loads((out / "report.json").read_text())
    assert report["splits"]["train"]["sha256"] == train["sha256"]

    again = _ftctl(root, "data", "build", "demo", "--json")
    assert json.loads(again.stdout) == result  # stable output


def test_data_build_fails_with_source_file_and_line(tmp_path: Path) -> None:
    rows = h.examples(0, 20)
    rows[6] = h.chat("What is the key?", "It is " + "AKIA" + "IOSFODNN7EXAMPLE for now.")
    h.write_workspace(tmp_path, h.project_yaml(DATA), {"data/train.jsonl": rows})
    out = tmp_path / "out"
    done = _ftctl(tmp_path, "data", "build", "demo", "--out", str(out))
    assert done.returncode == 1
    assert f"{h.TRAIN_FILE}:7: error: policy.secrets:" in done.stderr
    assert "AKIAIOSFODNN7EXAMPLE" not in done.stderr + done.stdout
    assert not out.exists()  # nothing written when the data fails

    as_json = _ftctl(tmp_path, "--json", "data", "build", "demo")
    assert as_json.returncode == 1
    error = json.loads(as_json.stdout)["error"]
    assert error["type"] == "DataError"
    assert {(d["file"], d["line"]) for d in error["diagnostics"]} >= {(h.TRAIN_FILE, 7)}


def test_data_build_of_an_unknown_project(tmp_path: Path) -> None:
    h.write_workspace(tmp_path, h.project_yaml(DATA), {"data/train.jsonl": h.examples(0, 20)})
    done = _ftctl(tmp_path, "data", "build", "nope")
    assert done.returncode == 1
    assert "no project 'nope'" in done.stderr


def test_validate_runs_the_data_policy_of_every_project(tmp_path: Path) -> None:
    rows = h.examples(0, 20)
    rows[3] = h.chat("Hello?", "")
    text = h.project_yaml(DATA, policy="minExamples: 10\nmaxRefusalRatio: 0.2")
    h.write_workspace(tmp_path, text, {"data/train.jsonl": rows})
    done = _ftctl(tmp_path, "validate")
    assert done.returncode == 1
    assert f"{h.TRAIN_FILE}:4: error: policy.emptyAnswers: " in done.stdout + done.stderr

    rows[3] = h.example(3)
    h.write_jsonl(tmp_path / "projects/demo/data/train.jsonl", rows)
    done = _ftctl(tmp_path, "--json", "validate")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["valid"] is True


def test_leakage_off_is_reported_as_not_checked_rather_than_zero(tmp_path: Path) -> None:
    text = h.project_yaml(DATA, policy="minExamples: 10\nleakage: off")
    h.write_workspace(tmp_path, text, {"data/train.jsonl": h.examples(0, 20)})
    done = _ftctl(tmp_path, "data", "build", "demo")
    assert done.returncode == 0, done.stderr
    assert "Leakage between splits: not checked (policy.leakage: off)" in done.stdout

    as_json = _ftctl(tmp_path, "--json", "data", "build", "demo")
    report = json.loads(as_json.stdout)["report"]
    [leakage] = [r for r in report["policy"] if r["check"] == "leakage"]
    assert (leakage["level"], leakage["observed"], leakage["passed"]) == ("off", None, True)
    assert report["leakage"]["checked"] is False


def test_data_build_removes_cache_files_unused_for_five_days(tmp_path: Path) -> None:
    project_dir = h.write_workspace(
        tmp_path, h.project_yaml(DATA), {"data/train.jsonl": h.examples(0, 40)}
    )
    first = _ftctl(tmp_path, "--json", "data", "build", "demo")
    assert first.returncode == 0, first.stderr
    splits = json.loads(first.stdout)["splits"]
    old, kept = Path(splits["train"]["path"]), Path(splits["validation"]["path"])
    cache = tmp_path / ".ftctl/cache/datasets"
    six_days_ago = time.time() - 6 * 24 * 3600
    for path in cache.rglob("*"):
        os.utime(path, (six_days_ago, six_days_ago))
    # The last row goes (it is in train): a new train object; validation's is the same.
    h.write_jsonl(project_dir / "data/train.jsonl", h.examples(0, 39))

    done = _ftctl(tmp_path, "data", "build", "demo")
    assert done.returncode == 0, done.stderr
    # The old train object's three files and the old build's two manifests.
    assert "dataset cache: removed 5 file(s) unused for 5 days (0.0 MB)\n" in done.stderr
    assert not old.exists()
    assert kept.exists()


def test_a_json_build_does_not_load_the_terminal_renderer(tmp_path: Path) -> None:
    """`--json` prints only JSON: rich (~15 ms of the command's start) is never imported.
    A build with a warning, so that the path that would print it is taken."""
    root = tmp_path / "ws"
    h.write_workspace(root, h.project_yaml(DATA), {"data/train.jsonl": h.examples(0, 40)})
    command = ["-m", "ftctl", "--workspace", str(root), "--json", "data", "build", "demo"]
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *command],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert [d["field"] for d in json.loads(done.stdout)["diagnostics"]] == ["policy.minExamples"]
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()]
    assert "ftctl.datasets.build" in imported  # what -X importtime reports, as expected
    assert not [name for name in imported if name.split(".")[0] == "rich"]
    # Without --json the same build prints through rich.
    human = _ftctl(root, "data", "build", "demo")
    assert human.returncode == 0 and "warning: policy.minExamples" in human.stdout
