"""A missing API key stops `ftctl apply` before it changes anything, for every project."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ftctl.providers.local_launcher import ensure_local_server, stop_local_server

pytestmark = [pytest.mark.e2e]

REPO = Path(__file__).resolve().parents[2]
TRAIN = REPO / "projects" / "support-triage" / "data" / "train.jsonl"

PROJECT = """\
apiVersion: ftctl/v1
kind: FineTuneProject
metadata: {{name: {name}}}
spec:
  provider: {provider}
  baseModel: {model}
  data:
    train: {{sources: [{{path: data/train.jsonl}}]}}
  policy:
    minExamples: {{value: 10, level: warn}}
  promote: {{alias: prod, when: always}}
"""


def write_project(root: Path, name: str, provider: str, model: str) -> None:
    project = root / "projects" / name
    (project / "data").mkdir(parents=True)
    lines = TRAIN.read_text(encoding="utf-8").splitlines(True)[:20]
    (project / "data" / "train.jsonl").write_text("".join(lines), encoding="utf-8")
    (project / "project.yaml").write_text(
        PROJECT.format(name=name, provider=provider, model=model), encoding="utf-8"
    )


def test_apply_without_the_openai_key_fails_up_front_and_uploads_nothing(tmp_path: Path) -> None:
    server = ensure_local_server(tmp_path / "server")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "ftctl.yaml").write_text(
        "apiVersion: ftctl/v1\nkind: Workspace\nmetadata: {name: creds}\n"
        "providers:\n"
        f"  local: {{type: local, baseUrl: '{server.base_url}'}}\n"
        "  openai: {type: openai, apiKeyEnv: FTCTL_TEST_MISSING_KEY}\n"
        "defaults: {provider: local}\n",
        encoding="utf-8",
    )
    # The local project alone could be applied; the remote one lacks its key.
    write_project(workspace, "here", "local", "local-tiny")
    write_project(workspace, "remote", "openai", "gpt-4o-mini-2024-07-18")
    env = {k: v for k, v in os.environ.items() if k != "FTCTL_TEST_MISSING_KEY"}

    try:
        result = subprocess.run(
            [sys.executable, "-m", "ftctl", "--no-color", "apply", "--auto-approve", "--no-wait"],
            cwd=workspace,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        stop_local_server(tmp_path / "server")

    assert result.returncode == 1, result.stdout + result.stderr
    assert "FTCTL_TEST_MISSING_KEY" in result.stderr
    assert "Traceback" not in result.stderr
    assert "Apply complete" not in result.stdout
    state = workspace / ".ftctl" / "state.db"
    if state.exists():  # reading state may create it; it must record nothing done
        with sqlite3.connect(state) as db:
            (audit,) = db.execute("select count(*) from audit").fetchone()
        assert audit == 0
