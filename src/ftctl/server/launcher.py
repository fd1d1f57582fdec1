"""Run the local fine-tuning server in this process (what `ftctl server` does).

`serve` binds the port, takes the data directory's lock (one server per data directory)
and records `server.json` {pid, port, url, started_at}. Clients find and start servers
with `ftctl.providers.local_launcher`; the files both use are in
`ftctl.config.local_server`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ftctl.config.local_server import SERVER_INFO, SERVER_LOCK, ServerInfo, exclusive_lock
from ftctl.errors import ServerError

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
    with contextlib.closing(sock), exclusive_lock(data_dir / SERVER_LOCK, wait=False) as locked:
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
