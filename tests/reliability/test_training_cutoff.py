"""A provider past its fine-tuning cut-off (403 `training_not_available`): one clear,
terminal error, no retries, and a state that records only what really happened."""

from __future__ import annotations

from pathlib import Path

import pytest
from _kit import ServerFactory, ftctl, make_workspace, state

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_training_not_available_fails_clearly_once_and_keeps_the_uploads(
    tmp_path: Path, start_server: ServerFactory
) -> None:
    server = start_server("--training-cutoff")
    root = make_workspace(tmp_path / "ws", server.base_url)

    failed = ftctl(root, "apply", "--auto-approve", check=1)
    error = failed.stderr
    assert "Error: version.mini.1: provider 'local': cannot create a fine-tuning job" in error
    assert "HTTP 403 training_not_available" in error
    # Worded for the endpoint in question (not OpenAI: no OpenAI dates).
    assert f"the endpoint {server.base_url}/ accepts no new fine-tuning jobs" in error
    assert "2027-01-06" not in error and "OpenAI" not in error
    assert "Skipped alias.mini.prod" in error
    assert "Apply failed. Resources: 2 uploaded, 0 trained, 0 promoted" in failed.stdout
    # Terminal: asked once, not retried by the SDK nor by ftctl.
    assert server.requests("POST", "/v1/fine_tuning/jobs") == [403]

    # The uploads happened and are recorded; no version claims a job that does not exist.
    snapshot = state(root)
    files = {f.id for f in server.client().files.list()}
    datasets = snapshot["datasets"]
    assert sorted(d["split"] for d in datasets) == ["train", "validation"]  # type: ignore[attr-defined,index]
    assert {d["file_id"] for d in datasets} <= files  # type: ignore[attr-defined,index]
    assert snapshot["versions"] == [] and snapshot["aliases"] == []
    assert server.client().fine_tuning.jobs.list().data == []

    # So the next plan only trains (nothing to upload again).
    plan = ftctl(root, "plan", "--detailed-exitcode", check=2).stdout
    assert "Plan: 0 to upload, 1 to train, 1 to promote, 0 to retire." in plan
