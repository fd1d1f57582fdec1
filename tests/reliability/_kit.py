"""Helpers of the reliability tests: real `ftctl server` subprocesses (with fault injection),
tiny workspaces, the CLI in a subprocess, and a loopback proxy that loses responses.

Everything here talks HTTP over loopback only. Servers are started with `--port 0` and
found through the `server.json` they write, exactly as `ensure_local_server` does.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai

REPO = Path(__file__).resolve().parents[2]
SOURCE_DATA = REPO / "projects" / "support-triage" / "data"

PROJECT_YAML = """\
apiVersion: ftctl/v1
kind: FineTuneProject
metadata: {name: mini, owner: reliability@example.com}
spec:
  provider: local
  baseModel: local-tiny
  suffix: mini
  data:
    train: {sources: [{path: data/train.jsonl}]}
    validation: {split: {fraction: 0.2, seed: 7}}
    test: {sources: [{path: data/test.jsonl}]}
  policy:
    minExamples: {value: 10, level: warn}
  training:
    hyperparameters: {nEpochs: 1, batchSize: 8}
    seed: 7
  gates:
    metrics: [{metric: full_valid_loss, max: 100}]
  promote: {alias: prod, when: gates_pass}
"""

# An access-log line of uvicorn: `... "POST /v1/fine_tuning/jobs HTTP/1.1" 403 Forbidden`.
_ACCESS = re.compile(r'"(GET|POST|DELETE) (/v1/[^ ?"]*)[^"]*" (\d{3})')


@dataclass
class ServerProcess:
    """`python -m ftctl server` on a free port, its log in `log_path`."""

    data_dir: Path
    log_path: Path
    args: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = None
    base_url: str = ""

    def start(self) -> ServerProcess:
        command = [
            sys.executable, "-m", "ftctl", "server", "--port", "0",
            "--data-dir", str(self.data_dir), "--log-level", "info", *self.args,
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k != "FTCTL_SERVER_FAULTS"}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        deadline = time.monotonic() + 60
        while True:
            assert self.process.poll() is None, f"server exited:\n{self.log()}"
            assert time.monotonic() < deadline, f"server did not start:\n{self.log()}"
            info = _read_json(self.data_dir / "server.json")
            if info and info.get("pid") == self.process.pid and _healthy(str(info["url"])):
                self.base_url = f"{info['url']}/v1"
                return self
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, as when the machine or the process dies."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def requests(self, method: str, path_prefix: str) -> list[int]:
        """Status codes of the requests the server logged for `method path_prefix...`."""
        return [
            int(m.group(3))
            for m in _ACCESS.finditer(self.log())
            if m.group(1) == method and m.group(2).startswith(path_prefix)
        ]

    def client(self) -> openai.OpenAI:
        # Retries on: a test's own look-ups must not fail on an injected fault.
        return openai.OpenAI(base_url=self.base_url, api_key="ftctl-local", max_retries=8)


ServerFactory = Callable[..., ServerProcess]


def _read_json(path: Path) -> dict[str, object] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/health", timeout=2.0, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def make_workspace(root: Path, base_url: str | None) -> Path:
    """A one-project workspace (`mini`: 25 train + 5 test examples) on provider `local`:
    the server at `base_url`, or (None) the one ftctl starts on demand in `.ftctl/server`."""
    (root / "projects" / "mini" / "data").mkdir(parents=True)
    where = f", baseUrl: '{base_url}'" if base_url else ""
    (root / "ftctl.yaml").write_text(
        "apiVersion: ftctl/v1\nkind: Workspace\nmetadata: {name: reliability}\n"
        f"providers:\n  local: {{type: local{where}}}\n"
        "defaults: {provider: local}\n"
    )
    train = (SOURCE_DATA / "train.jsonl").read_text().splitlines(True)[:25]
    (root / "projects/mini/data/train.jsonl").write_text("".join(train))
    test = (SOURCE_DATA / "test.jsonl").read_text().splitlines(True)[:5]
    (root / "projects/mini/data/test.jsonl").write_text("".join(test))
    (root / "projects/mini/project.yaml").write_text(PROJECT_YAML)
    return root


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "FTCTL_SERVER_FAULTS"}
    return {**env, "NO_COLOR": "1", "USER": "reliability-tester"}


def cli_command(root: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "ftctl", "--workspace", str(root), *args]


def ftctl(root: Path, *args: str, check: int | None = 0) -> subprocess.CompletedProcess[str]:
    """Run the CLI to completion; `check` is the exit code expected (None: any)."""
    done = subprocess.run(
        cli_command(root, *args),
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    if check is not None:
        assert done.returncode == check, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def spawn(root: Path, *args: str, log: Path) -> subprocess.Popen[bytes]:
    """Start the CLI in the background, its stdout and stderr in `log`."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            cli_command(root, *args),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**cli_env(), "PYTHONUNBUFFERED": "1"},  # its log shows where it is
            # A shell that runs the suite in the background (`bash .ci/run &`) ignores
            # SIGINT, children inherit that, and Python then installs no Ctrl-C handler:
            # give the CLI the terminal's default, as a user at a prompt has it.
            preexec_fn=_default_sigint,
        )


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def state(root: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(ftctl(root, "show", "--json").stdout)
    return data


def workspace_jobs(
    server: ServerProcess, workspace_id: str
) -> list[openai.types.fine_tuning.FineTuningJob]:
    return [
        j
        for j in server.client().fine_tuning.jobs.list(limit=100)
        if j.metadata and j.metadata.get("ftctl_workspace") == workspace_id
    ]


def wait_until(
    condition: Callable[[], object], what: str, timeout: float = 90.0, required: bool = True
) -> bool:
    """Poll `condition` until true; past `timeout`, fail (or, if not `required`, go on)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            assert not required, f"timed out waiting until {what}"
            return False
        time.sleep(0.05)
    return True


def wait_while_running(
    process: subprocess.Popen[bytes], log: Path, condition: Callable[[], object], what: str
) -> None:
    """`wait_until`, failing at once (with its output) if the background CLI has ended."""

    def ready() -> object:
        if process.poll() is not None:
            raise AssertionError(
                f"ftctl ended (exit {process.returncode}) before {what}:\n{log.read_text()}"
            )
        return condition()

    wait_until(ready, what)


# --- a proxy that loses the response of chosen requests -------------------------------------


class LosingProxy:
    """Forwards loopback HTTP to `upstream`, one upstream connection per request. For the
    first `lose["METHOD /path"]` requests to each path (query left out), it lets the
    upstream carry the request out and then closes the client's connection without the
    answer: the request took effect, the client saw a dropped connection (a flaky network
    or load balancer). Once those are all lost, the same happens to the requests counted
    in `then`. The first `refuse[...]` requests are answered 503 without reaching the
    upstream (before any are lost)."""

    def __init__(
        self,
        upstream: str,
        lose: dict[str, int],
        then: dict[str, int] | None = None,
        refuse: dict[str, int] | None = None,
    ) -> None:
        match = re.match(r"http://([^:/]+):(\d+)", upstream)
        assert match, upstream
        self.upstream = (match.group(1), int(match.group(2)))
        self.remaining = dict(lose)
        self.then = dict(then or {})
        self.refuse = dict(refuse or {})
        self.refused: list[str] = []
        self.lost: list[str] = []
        self.forwarded: list[str] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/v1"
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            while True:
                request = _read_http_message(conn)
                if request is None:
                    return
                head = request.split(b"\r\n", 1)[0]
                method, path = head.decode(errors="replace").split(" ")[:2]
                target = f"{method} {path.split('?')[0]}"
                with self._lock:
                    refuse = self.refuse.get(target, 0) > 0
                    if refuse:
                        self.refuse[target] -= 1
                        self.refused.append(target)
                if refuse:
                    conn.sendall(_UNAVAILABLE)
                    continue
                self.forwarded.append(head.decode(errors="replace"))
                with socket.create_connection(self.upstream) as up:
                    up.sendall(request)
                    response = _read_http_message(up)
                with self._lock:
                    if not any(self.remaining.values()) and self.then:
                        self.remaining, self.then = self.then, {}
                    lose = self.remaining.get(target, 0) > 0
                    if lose:
                        self.remaining[target] -= 1
                        self.lost.append(target)
                if lose or response is None:
                    return  # closing without a response: the client sees a dropped connection
                conn.sendall(response)


_UNAVAILABLE_BODY = b'{"error": {"message": "Service unavailable (proxy)", "type": "server_error"}}'
_UNAVAILABLE = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
    b"content-length: %d\r\n\r\n%s" % (len(_UNAVAILABLE_BODY), _UNAVAILABLE_BODY)
)


def _read_http_message(sock: socket.socket) -> bytes | None:
    """One HTTP/1.1 message with a Content-Length body (what h11 and uvicorn send here)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        if name.strip().lower() == b"transfer-encoding":
            raise AssertionError("chunked messages are not supported by this proxy")
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        body += chunk
    return head + b"\r\n\r\n" + body


# --- holding a job in the queue -----------------------------------------------------------


def occupy_trainer(client: openai.OpenAI) -> str:
    """Start a long job outside ftctl on the server's only trainer, so that the next job
    stays `queued` (and an apply keeps waiting) until this one is cancelled."""
    # Long answers make every epoch slow (tokens are bytes here): minutes of training even
    # on an idle machine, so the blocker cannot finish while a test still needs it.
    answer = " ".join(f"step {i} of a long and patient answer." for i in range(60))
    row = {
        "messages": [{"role": "user", "content": "Block"}, {"role": "assistant", "content": answer}]
    }
    rows = [json.dumps(row) + "\n"] * 200
    upload = client.files.create(
        file=("blocker.jsonl", "".join(rows).encode()), purpose="fine-tune"
    )
    job = client.fine_tuning.jobs.create(
        model="local-tiny",
        training_file=upload.id,
        method={
            "type": "supervised",
            "supervised": {"hyperparameters": {"n_epochs": 50, "batch_size": 1}},
        },
    )
    wait_until(lambda: client.fine_tuning.jobs.retrieve(job.id).status == "running", "blocker runs")
    return job.id


def waiting_for(server_log: Callable[[], str], job_id: str) -> Callable[[], bool]:
    """True once the server has answered a poll of `job_id` (the apply is in its wait)."""
    return lambda: f"GET /v1/fine_tuning/jobs/{job_id} " in server_log()
