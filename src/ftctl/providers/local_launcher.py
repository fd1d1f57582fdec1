"""Start, find and stop ftctl's local fine-tuning server as a detached process.

`ensure_local_server` is what providers of `type: local` without `baseUrl` call: it
reuses the server recorded in the data directory's `server.json` while that process is
alive and healthy, and otherwise starts `python -m ftctl server --port 0` in a new
session and waits (bounded) until it answers `GET /health`. `stop_local_server` is
`ftctl server --stop`. The server program itself is `ftctl.server`; the files both sides
use are described in `ftctl.config.local_server`.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ftctl.catalog import hf
from ftctl.config.local_server import (
    HEALTH_PATH,
    LAUNCH_LOCK,
    SERVER_INFO,
    SERVER_LOG,
    ServerInfo,
    exclusive_lock,
)
from ftctl.errors import ServerError

DEFAULT_START_TIMEOUT = 60.0
# Where a server resolves relative `hf:<directory>` base models (the workspace).
HF_ROOT_ENV = hf.ROOT_ENV

# Popen objects of servers started here, so that their exit is reaped (no zombies that
# look alive) and the interpreter does not warn about them.
_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class LocalServerHandle:
    """A running local server. `base_url` ends in `/v1`, as the openai SDK expects."""

    base_url: str
    pid: int

    @property
    def url(self) -> str:
        return self.base_url.removesuffix("/v1")


# --- starting and finding a detached server ------------------------------------------------


def ensure_local_server(
    data_dir: Path,
    api_key_env: str | None = None,
    *,
    timeout: float = DEFAULT_START_TIMEOUT,
    models_root: Path | None = None,
) -> LocalServerHandle:
    """The server for `data_dir`: the recorded one if alive and healthy, else a new one.

    A live server started with a different `api_key_env` is restarted with the one asked
    for (its jobs survive a restart: they resume from their last checkpoint). A new server
    resolves relative `hf:<directory>` base models against `models_root` (the workspace).
    """
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(data_dir / LAUNCH_LOCK, wait=True):
        info = ServerInfo.read(data_dir)
        if info is not None and _alive(info.pid) and _healthy(info.url, info.pid):
            if info.api_key_env == api_key_env:
                return LocalServerHandle(f"{info.url}/v1", info.pid)
            _terminate(info.pid, grace=10.0)
        return _start(data_dir, api_key_env, timeout, models_root)


def _start(
    data_dir: Path, api_key_env: str | None, timeout: float, models_root: Path | None = None
) -> LocalServerHandle:
    command = [sys.executable, "-m", "ftctl", "server", "--port", "0", "--data-dir", str(data_dir)]
    if api_key_env:
        command += ["--api-key-env", api_key_env]
    log_path = data_dir / SERVER_LOG
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the terminal (and Ctrl-C) of the caller
            close_fds=True,
            env={**os.environ, HF_ROOT_ENV: str(models_root.resolve())} if models_root else None,
        )
    _children[process.pid] = process
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(
                f"the local server exited with code {process.returncode} while starting; "
                f"log {log_path}:\n{_tail(log_path)}"
            )
        info = ServerInfo.read(data_dir)
        if info is not None and info.pid == process.pid and _healthy(info.url, info.pid):
            return LocalServerHandle(f"{info.url}/v1", info.pid)
        time.sleep(0.1)
    _terminate(process.pid, grace=2.0)
    raise ServerError(
        f"the local server did not become healthy within {timeout:.0f}s; log {log_path}"
    )


def stop_local_server(data_dir: Path, *, timeout: float = 10.0) -> bool:
    """Stop the server recorded for `data_dir` (SIGTERM, then SIGKILL); True if one was running."""
    data_dir = data_dir.resolve()
    info = ServerInfo.read(data_dir)
    if info is None:
        return False
    running = _alive(info.pid) and _healthy(info.url, info.pid)
    if running:
        _terminate(info.pid, grace=timeout)
    current = ServerInfo.read(data_dir)
    if current is not None and current.pid == info.pid:
        (data_dir / SERVER_INFO).unlink(missing_ok=True)
    return running


def _terminate(pid: int, *, grace: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.05)


def _alive(pid: int) -> bool:
    child = _children.get(pid)
    if child is not None:
        if child.poll() is not None:
            _children.pop(pid, None)
            return False
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped by its parent) is not alive
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def _healthy(url: str, pid: int) -> bool:
    """True when `url` answers the health check as the process `pid` (not a reused port)."""
    # http.client, not httpx: a plain loopback GET, without httpx's import and TLS set-up
    # (~0.1 s, paid by every command that talks to the local server).
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme != "http" or parts.hostname is None:
        return False
    connection = http.client.HTTPConnection(parts.hostname, port, timeout=2.0)
    try:
        connection.request("GET", parts.path.rstrip("/") + HEALTH_PATH)
        response = connection.getresponse()
        body = json.loads(response.read())
        return response.status == 200 and isinstance(body, dict) and body.get("pid") == pid
    except (OSError, http.client.HTTPException, ValueError):
        return False
    finally:
        connection.close()


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
