"""The pull-request loop end to end on the local server: eval (cached), events, manual
promotion (audited), and an impossible gate that keeps the alias and fails apply."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ftctl.providers.local_launcher import LocalServerHandle, ensure_local_server, stop_local_server

from ..support.cli import run_ftctl

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SOURCE = Path(__file__).resolve().parents[2] / "projects" / "support-triage" / "data"

PROJECT = """\
apiVersion: ftctl/v1
kind: FineTuneProject
metadata: {{name: mini}}
spec:
  provider: local
  baseModel: local-tiny
  suffix: mini
  data:
    train: {{sources: [{{path: data/train.jsonl}}]}}
    validation: {{split: {{fraction: 0.2, seed: 7}}}}
    test: {{sources: [{{path: data/test.jsonl}}]}}
  policy:
    minExamples: {{value: 10, level: warn}}
  training:
    hyperparameters: {{nEpochs: {epochs}, batchSize: 8}}
    seed: 7
  gates:
    metrics: [{{metric: full_valid_loss, max: {max_loss}}}]
    evals:
      dataset: test
      baseline: base
      maxTokens: 16
      graders: [{{type: refusal, max: 1.0}}]
  promote: {{alias: prod, when: gates_pass}}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServerHandle]:
    data_dir = tmp_path_factory.mktemp("server")
    handle = ensure_local_server(data_dir)
    yield handle
    stop_local_server(data_dir)


def write_project(root: Path, *, epochs: int, max_loss: float) -> None:
    text = PROJECT.format(epochs=epochs, max_loss=max_loss)
    (root / "projects" / "mini" / "project.yaml").write_text(text)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, server: LocalServerHandle) -> Path:
    """A workspace whose version 1 is trained, gated and promoted to prod."""
    root = tmp_path_factory.mktemp("pr-loop")
    (root / "projects" / "mini" / "data").mkdir(parents=True)
    (root / "ftctl.yaml").write_text(
        "apiVersion: ftctl/v1\nkind: Workspace\nmetadata: {name: loop}\n"
        f"providers:\n  local: {{type: local, baseUrl: '{server.base_url}'}}\n"
    )
    train = (SOURCE / "train.jsonl").read_text().splitlines(True)[:30]
    (root / "projects/mini/data/train.jsonl").write_text("".join(train))
    test = (SOURCE / "test.jsonl").read_text().splitlines(True)[:5]
    (root / "projects/mini/data/test.jsonl").write_text("".join(test))
    write_project(root, epochs=1, max_loss=100)
    ftctl(root, "apply", "--auto-approve", "mini").check_returncode()
    return root


def ftctl(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "USER": "reviewer"}
    return run_ftctl(*args, workspace=root, env=env, timeout=240)


def test_eval_reruns_from_the_cache_and_moves_nothing(trained: Path) -> None:
    first = ftctl(trained, "--json", "eval", "mini")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["version"] == 1 and report["passed"] is True
    assert report["cache"] == {"calls": 10, "cached": 0}  # 5 examples, candidate and base
    assert report["baseline"]["name"] == "base"

    again = ftctl(trained, "eval", "mini", "--markdown")
    assert again.returncode == 0, again.stderr
    assert "10 answers: 0 model calls, 10 from the eval cache" in again.stdout
    assert "```mermaid" in again.stdout and "xychart-beta" in again.stdout
    state = json.loads(ftctl(trained, "--json", "state", "list").stdout)
    assert "alias.mini.prod" in json.dumps(state)


def test_events_show_the_job_and_a_loss_chart(trained: Path) -> None:
    done = ftctl(trained, "events", "mini", "1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("version.mini.1  job ")
    assert "The job has successfully completed" in done.stdout
    assert "• training loss" in done.stdout


def test_manual_promotion_goes_through_the_executor_and_is_audited(trained: Path) -> None:
    done = ftctl(trained, "promote", "mini", "1", "--alias", "canary", "--reason", "smoke test")
    assert done.returncode == 0, done.stderr
    assert "mini/canary = ft:local-tiny" in done.stdout
    audit = ftctl(trained, "--json", "state", "audit").stdout
    entries = [e for e in json.loads(audit) if e["address"] == "alias.mini.canary"]
    assert entries and entries[-1]["operation"] == "promote"
    assert entries[-1]["who"].startswith("reviewer")
    assert "smoke test" in json.dumps(entries[-1]["detail"])

    missing = ftctl(trained, "promote", "mini", "7", "--alias", "canary", "--reason", "x")
    assert missing.returncode == 1
    assert "no version.mini.7 in the state" in missing.stderr


@pytest.fixture(scope="module")
def impossible_gate_apply(trained: Path) -> subprocess.CompletedProcess[str]:
    """Apply a new version (2 epochs) whose gate no model can pass (loss <= 0)."""
    write_project(trained, epochs=2, max_loss=0.0)
    return ftctl(trained, "apply", "--auto-approve", "mini")


def test_an_impossible_gate_keeps_the_alias_where_it_was_and_names_the_gate(
    trained: Path, impossible_gate_apply: subprocess.CompletedProcess[str]
) -> None:
    out = impossible_gate_apply.stdout + impossible_gate_apply.stderr
    assert "failed its gates" in out and "full_valid_loss" in out  # the gate is named
    assert "mini" in out
    show = json.loads(ftctl(trained, "--json", "state", "show", "alias.mini.prod").stdout)
    assert show["version"] == 1


def test_an_impossible_gate_makes_apply_exit_1(
    impossible_gate_apply: subprocess.CompletedProcess[str],
) -> None:
    assert impossible_gate_apply.returncode == 1
