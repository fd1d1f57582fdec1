"""`ftctl server` as a user runs it: a real subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from ftctl.providers.local_launcher import ensure_local_server, stop_local_server

pytestmark = pytest.mark.e2e


def _ftctl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ftctl", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_prints_its_url_serves_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ftctl",
            "server",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        assert first_line.startswith("ftctl server listening on http://127.0.0.1:")
        url = first_line.split()[4]
        info = json.loads((data_dir / "server.json").read_text())
        assert info["pid"] == process.pid and info["url"] == url
        assert {"port", "started_at"} <= set(info)
        models = httpx.get(f"{url}/v1/models", trust_env=False, timeout=10).json()
        assert [m["id"] for m in models["data"]] == ["local-tiny"]
        assert (
            "/v1/fine_tuning/jobs"
            in httpx.get(f"{url}/openapi.json", trust_env=False).json()["paths"]
        )
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0
    assert not (data_dir / "server.json").exists()


def test_bad_fault_spec_is_refused(tmp_path: Path) -> None:
    result = _ftctl("server", "--port", "0", "--data-dir", str(tmp_path), "--faults", "rate=7")
    assert result.returncode == 1
    assert "--faults" in result.stderr and "between 0 and 1" in result.stderr
    assert not (tmp_path / "server.json").exists()


def test_fault_spec_from_the_environment_is_validated_too(tmp_path: Path) -> None:
    result = _ftctl(
        "server", "--port", "0", "--data-dir", str(tmp_path), env={"FTCTL_SERVER_FAULTS": "oops=1"}
    )
    assert result.returncode == 1
    assert "unknown fault spec key 'oops'" in result.stderr


def test_api_key_env_must_be_set(tmp_path: Path) -> None:
    env_name = "FTCTL_TEST_SURELY_UNSET_KEY"
    os.environ.pop(env_name, None)
    result = _ftctl("server", "--port", "0", "--data-dir", str(tmp_path), "--api-key-env", env_name)
    assert result.returncode == 1
    assert f"--api-key-env names {env_name}, which is not set" in result.stderr


def test_second_server_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    handle = ensure_local_server(data_dir)
    try:
        result = _ftctl("server", "--port", "0", "--data-dir", str(data_dir))
        assert result.returncode == 1
        assert "another ftctl server already uses the data directory" in result.stderr
        assert f"pid {handle.pid}" in result.stderr
    finally:
        stop_local_server(data_dir)
