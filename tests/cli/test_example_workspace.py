"""The README's main job, as a new user runs it on a copy of the example workspace with no
API key set: `ftctl apply -auto-approve` trains and promotes, then
`ftctl plan -detailed-exitcode` exits 0. The on-demand server says once where it runs."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ftctl.providers.local_launcher import stop_local_server

from ..support.cli import run_ftctl

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def example(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "acme"
    root.mkdir()
    shutil.copy(REPO / "ftctl.yaml", root / "ftctl.yaml")
    shutil.copytree(REPO / "projects", root / "projects", ignore=shutil.ignore_patterns(".*"))
    yield root
    stop_local_server(root / ".ftctl" / "server")


def test_the_main_job_works_with_the_plain_commands_and_no_keys(example: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["NO_COLOR"] = "1"
    applied = run_ftctl("apply", "-auto-approve", cwd=example, env=env, timeout=600)
    assert applied.returncode == 0, applied.stderr[-3000:]
    assert re.search(
        r"Apply complete! Resources: \d+ uploaded, 2 trained, 2 promoted", applied.stdout
    )
    started = re.findall(
        r"Started the local fine-tuning server for provider 'local' at http://127\.0\.0\.1:\d+ "
        r"\(pid \d+, data in \.ftctl/server\); it keeps running in the background\. "
        r"Stop it with `ftctl server --stop`\.",
        applied.stderr,
    )
    assert len(started) == 1, applied.stderr
    assert "OPENAI_API_KEY" not in applied.stdout + applied.stderr

    again = run_ftctl("plan", "-detailed-exitcode", cwd=example, env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "No changes. Fine-tunes match the configuration." in again.stdout
    assert "Started the local" not in again.stderr  # running already: said once
