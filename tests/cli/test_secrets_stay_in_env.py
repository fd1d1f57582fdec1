"""The API key reaches the provider over HTTP and nothing else: not the state (snapshots
and audit), not a saved plan, not the local server's data directory or log, not output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from ftctl.config.loader import load_workspace
from ftctl.providers.base import JobRequest
from ftctl.providers.local_launcher import stop_local_server
from ftctl.providers.registry import open_provider

pytestmark = pytest.mark.e2e

KEY_ENV = "FTCTL_TEST_SECRET_API_KEY"

WORKSPACE = f"""\
apiVersion: ftctl/v1
kind: Workspace
metadata: {{name: secrets}}
providers:
  local: {{type: local, apiKeyEnv: {KEY_ENV}}}
"""

PROJECT = """\
apiVersion: ftctl/v1
kind: FineTuneProject
metadata: {name: bot}
spec:
  provider: local
  baseModel: local-tiny
  data:
    train: {sources: [{path: data/train.jsonl}]}
  policy:
    minExamples: {value: 10, level: warn}
  training:
    hyperparameters: {nEpochs: 1}
"""


def test_the_api_key_is_written_nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = f"sk-ftctl-test-{uuid.uuid4().hex}"
    monkeypatch.setenv(KEY_ENV, key)
    (tmp_path / "ftctl.yaml").write_text(WORKSPACE)
    project = tmp_path / "projects" / "bot"
    (project / "data").mkdir(parents=True)
    (project / "project.yaml").write_text(PROJECT)
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Track parcel {i}"},
                {"role": "assistant", "content": f"Parcel {i} is in depot {i % 3}."},
            ]
        }
        for i in range(12)
    ]
    train = project / "data" / "train.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in rows))

    # The on-demand server of this workspace, started with the key's variable.
    provider = open_provider(load_workspace(tmp_path), "local")
    outputs: list[str] = []
    try:
        job = provider.create_job(
            JobRequest(
                model="local-tiny",
                training_file=provider.upload_file(train, "train.jsonl").id,
                validation_file=None,
                method="supervised",
                hyperparameters={"n_epochs": 1},
                suffix=None,
                seed=1,
                metadata={},
            )
        )
        provider.cancel_job(job.id)  # adopting does not need a finished job
        for args in (
            ("import", "version.bot.1", job.id),
            ("state", "show", "version.bot.1", "--json"),
            ("state", "audit", "--json"),
            ("lineage", "bot", "1", "--json"),
            ("plan", "-out", str(tmp_path / "saved.plan")),
        ):
            done = subprocess.run(
                [sys.executable, "-m", "ftctl", "--workspace", str(tmp_path), *args],
                capture_output=True,
                text=True,
                env={**os.environ, "NO_COLOR": "1"},
                timeout=120,
            )
            assert done.returncode == 0, (args, done.stdout, done.stderr)
            outputs += [done.stdout, done.stderr]
    finally:
        stop_local_server(tmp_path / ".ftctl" / "server")

    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert tmp_path / ".ftctl" / "state.db" in written
    assert tmp_path / "saved.plan" in written
    assert tmp_path / ".ftctl" / "server" / "server.log" in written
    for path in written:  # state.db and its WAL, the plan, server data, log, cache
        assert key.encode() not in path.read_bytes(), path
    for text in outputs:
        assert key not in text
