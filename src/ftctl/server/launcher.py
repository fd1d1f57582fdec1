"""Start, find and stop the local fine-tuning server as a detached process.

`serve` runs a server in this process (what `ftctl server` does): it binds the port,
takes the data directory's lock (one server per data directory) and records
`server.json` {pid, port, url, started_at}. `ensure_local_server` is what providers of
`type: local` call: it reuses the server recorded in `server.json` while that process is
alive and healthy, and otherwise starts `python -m ftctl server --port 0` in a new session
and waits (bounded) until it answers `GET /health`.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from ftctl.catalog import hf
from ftctl.errors import ServerError

SERVER_INFO = "server.json"
SERVER_LOG = "server.log"
HF_ROOT_ENV = hf.ROOT_ENV
SERVER_LOCK = "server.lock"
LAUNCH_LOCK = "launcher.lock"
HEALTH_PATH = "/health"
DEFAULT_START_TIMEOUT = 60.0

# Popen objects of servers started here, so that their exit is reaped (no zombies that
# look alive) and the interpreter does not warn about them.
_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class ServerInfo:
    pid: int
    port: int
    url: str
    started_at: str
    # The *name* of the variable holding the API key (never the key), so that a caller
    # asking for a different key setting gets a server started with it.
    api_key_env: str | None = None

    @classmethod
    def read(cls, data_dir: Path) -> ServerInfo | None:
        try:
            raw = json.loads((data_dir / SERVER_INFO).read_text())
            key_env = raw.get("api_key_env")
            return cls(
                int(raw["pid"]),
                int(raw["port"]),
                str(raw["url"]),
                str(raw["started_at"]),
                str(key_env) if key_env else None,
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def write(self, data_dir: Path) -> None:
        path = data_dir / SERVER_INFO
        temporary = path.with_name(f".{SERVER_INFO}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(self.__dict__, indent=2) + "\n")
        os.replace(temporary, path)


@dataclass(frozen=True)
class LocalServerHandle:
    """A running local server. `base_url` ends in `/v1`, as the openai SDK expects."""

    base_url: str
    pid: int

    @property
    def url(self) -> str:
        return self.base_url.removesuffix("/v1")


# --- running a server in this process ------------------------------------------------------


def serve(
    make_app: Callable[[], Any],
    data_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    log_level: str = "info",
    api_key_env: str | None = None,
    on_listening: Callable[[str], None] | None = None,
) -> None:
    """Serve the app `make_app` builds until SIGINT/SIGTERM; `port=0` picks a free port.

    The port is bound and the data directory locked before the app (which opens its
    store) is built, so a server that cannot start leaves no data directory behind.
    """
    import uvicorn

    sock = _bind(host, port)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        sock.close()
        raise ServerError(f"cannot create the data directory {data_dir}: {error}") from error
    with contextlib.closing(sock), _exclusive_lock(data_dir / SERVER_LOCK, wait=False) as locked:
        if not locked:
            other = ServerInfo.read(data_dir)
            where = f" (pid {other.pid}, {other.url})" if other else ""
            raise ServerError(
                f"another ftctl server already uses the data directory {data_dir}{where}"
            )
        app = make_app()
        actual_port = sock.getsockname()[1]
        shown_host = f"[{host}]" if ":" in host else host
        url = f"http://{shown_host}:{actual_port}"
        started = datetime.now(UTC).isoformat(timespec="seconds")
        info = ServerInfo(os.getpid(), actual_port, url, started, api_key_env)
        info.write(data_dir)
        if on_listening is not None:
            on_listening(url)
        config = uvicorn.Config(
            app, log_level=log_level, http="h11", lifespan="on", timeout_graceful_shutdown=5
        )
        # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal; with this
        # handler in place that ends `run` normally (exit 0, server.json removed below).
        previous = signal.signal(signal.SIGTERM, _ignore_signal)
        try:
            uvicorn.Server(config).run(sockets=[sock])
        finally:
            signal.signal(signal.SIGTERM, previous)
            sock.close()
            current = ServerInfo.read(data_dir)
            if current is not None and current.pid == os.getpid():
                (data_dir / SERVER_INFO).unlink(missing_ok=True)


def _ignore_signal(_signum: int, _frame: object) -> None:
    pass


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only for
    # sockets that say so, and without it every response waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise ServerError(f"cannot listen on {host}:{port}: {error.strerror}") from error
    # Listen at once: a client that reads the URL early waits in the backlog until
    # uvicorn accepts, instead of being refused.
    sock.listen(2048)
    sock.set_inheritable(False)
    return sock


@contextlib.contextmanager
def _exclusive_lock(path: Path, *, wait: bool) -> Iterator[bool]:
    """flock on `path`: yields whether it was taken (always True when `wait`)."""
    handle: IO[str] = open(path, "a")  # noqa: SIM115 - held for the whole block
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        handle.close()


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
    with _exclusive_lock(data_dir / LAUNCH_LOCK, wait=True):
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
