"""A minimal OpenAI-shaped HTTP endpoint on loopback that records every request body.

For tests that must see exactly what ftctl sends over the wire (the real `openai` SDK,
a real HTTP request) where the local server would refuse or reshape the request, e.g. a
reinforcement job (the local server does not train reinforcement) or a chat completion
for a reasoning model. It answers files, fine-tuning jobs, models and chat completions
with plausible objects; nothing trains.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    body: Any  # parsed JSON, or the raw bytes of a multipart upload


@dataclass
class FakeOpenAI:
    base_url: str
    requests: list[Recorded] = field(default_factory=list)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    models: list[str] = field(default_factory=list)
    answer: str = "ok"

    def bodies(self, method: str, path: str) -> list[Any]:
        return [r.body for r in self.requests if r.method == method and r.path == path]


_ids = itertools.count(1)


def _page(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"object": "list", "data": items, "has_more": False}


def _jobs_page(fake: FakeOpenAI, url: str) -> dict[str, Any]:
    query = parse_qs(urlsplit(url).query)
    jobs = list(reversed(fake.jobs.values()))
    limit = int(query.get("limit", ["20"])[0])
    after = query.get("after", [None])[0]
    if after is not None:
        ids = [job["id"] for job in jobs]
        jobs = jobs[ids.index(after) + 1 :] if after in ids else []
    return {**_page(jobs[:limit]), "has_more": len(jobs) > limit}


def _handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            pass

        def _reply(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> Any:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Content-Type", "").startswith("application/json"):
                return json.loads(raw or b"null")
            return raw

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            fake.requests.append(Recorded("GET", path, None))
            if path == "/v1/files":
                self._reply(200, _page(list(fake.files.values())))
            elif path == "/v1/fine_tuning/jobs":
                # Pages with `limit` and `after`, newest first; `metadata` filters are
                # ignored, as by compatible endpoints that have none.
                self._reply(200, _jobs_page(fake, self.path))
            elif path.startswith("/v1/fine_tuning/jobs/") and path.count("/") == 4:
                job = fake.jobs.get(path.rsplit("/", 1)[1])
                self._reply(200 if job else 404, job or {"error": {"message": "no such job"}})
            elif path.endswith(("/events", "/checkpoints")):
                self._reply(200, _page([]))
            elif path == "/v1/models":
                models = [
                    {"id": m, "object": "model", "created": 0, "owned_by": "openai"}
                    for m in fake.models
                ]
                self._reply(200, _page(models))
            else:
                self._reply(404, {"error": {"message": f"no route {path}"}})

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            body = self._body()
            fake.requests.append(Recorded("POST", path, body))
            now = int(time.time())
            if path == "/v1/files":
                found = re.search(rb'filename="([^"]+)"', body)
                file = {
                    "id": f"file-{next(_ids)}",
                    "object": "file",
                    "bytes": len(body),
                    "created_at": now,
                    "filename": found.group(1).decode() if found else "upload.jsonl",
                    "purpose": "fine-tune",
                    "status": "processed",
                }
                fake.files[file["id"]] = file
                self._reply(200, file)
            elif path == "/v1/fine_tuning/jobs":
                method = body.get("method") or {"type": "supervised"}
                settings = method.get(method["type"]) or {}
                job = {
                    "id": f"ftjob-{next(_ids)}",
                    "object": "fine_tuning.job",
                    "created_at": now,
                    "error": None,
                    "fine_tuned_model": None,
                    "finished_at": None,
                    "hyperparameters": settings.get("hyperparameters") or {},
                    "model": body["model"],
                    "organization_id": "org-fake",
                    "result_files": [],
                    "seed": body.get("seed") or 1,
                    "status": "queued",
                    "trained_tokens": None,
                    "training_file": body["training_file"],
                    "validation_file": body.get("validation_file"),
                    "metadata": body.get("metadata"),
                    "method": method,
                }
                fake.jobs[job["id"]] = job
                self._reply(200, job)
            elif path == "/v1/chat/completions":
                self._reply(
                    200,
                    {
                        "id": f"chatcmpl-{next(_ids)}",
                        "object": "chat.completion",
                        "created": now,
                        "model": body["model"],
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": fake.answer},
                                "finish_reason": "stop",
                            }
                        ],
                    },
                )
            else:
                self._reply(404, {"error": {"message": f"no route {path}"}})

    return Handler


@contextmanager
def fake_openai(models: list[str] | None = None) -> Iterator[FakeOpenAI]:
    """Serve a `FakeOpenAI` on a free loopback port for the `with` block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: None)  # type: ignore[arg-type]
    fake = FakeOpenAI(f"http://127.0.0.1:{server.server_address[1]}/v1", models=models or [])
    server.RequestHandlerClass = _handler(fake)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
