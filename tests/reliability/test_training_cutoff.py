"""A provider past its fine-tuning cut-off (403 `training_not_available`): one clear,
terminal error, no retries, and a state that records only what really happened."""

from __future__ import annotations

import pytest
from _kit import ServerFactory, ftctl, make_workspace, state

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_training_not_available_fails_clearly_once_and_keeps_the_uploads(
    tmp_path, start_server: ServerFactory
) -> None:
    server = start_server("--training-cutoff")
    root = make_workspace(tmp_path / "ws", server.base_url)
    failed = ftctl(root, "apply", "--auto-approve", check=1)
    print(failed.stdout, failed.stderr)
    assert server.requests("POST", "/v1/fine_tuning/jobs") == [403]
    snapshot = state(root)
    print(snapshot)
    again = ftctl(root, "apply", "--auto-approve", check=None)
    print(again.stdout, again.stderr)
    print(server.requests("POST", "/v1/"))
