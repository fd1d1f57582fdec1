"""`ftctl server --stop` stops the on-demand server that plan/apply started."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from ftctl.providers.local_launcher import ensure_local_server


def run_stop(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ftctl", "server", "--stop", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_stop_ends_the_running_server_and_says_so(tmp_path: Path) -> None:
    handle = ensure_local_server(tmp_path / "server")
    health = handle.base_url.removesuffix("/v1") + "/health"
    assert httpx.get(health, timeout=5).status_code == 200

    stopped = run_stop(tmp_path / "server")

    assert stopped.returncode == 0, stopped.stderr
    assert "Stopped the ftctl server" in stopped.stdout
    try:
        httpx.get(health, timeout=2)
        reachable = True
    except httpx.HTTPError:
        reachable = False
    assert not reachable
    again = run_stop(tmp_path / "server")
    assert again.returncode == 0
    assert "No ftctl server is running" in again.stdout
