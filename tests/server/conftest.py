"""Fixtures for the local server tests: tiny training data, servers, job polling."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from openai import OpenAI
from openai.types.fine_tuning import FineTuningJob

from ftctl.server.app import ServerSettings, create_app
from ftctl.server.trainers.registry import TrainerRegistry

TERMINAL = ("succeeded", "failed", "cancelled")

JsonlMaker = Callable[..., bytes]
JobWaiter = Callable[..., FineTuningJob]
ThreadServer = Callable[..., str]


def chat_jsonl(n: int, answer: str = "blue", prompt: str = "Say the colour for item {i}") -> bytes:
    """`n` chat examples whose assistant always answers `answer` (quick to learn)."""
    rows = [
        {
            "messages": [
                {"role": "user", "content": prompt.format(i=i)},
                {"role": "assistant", "content": answer},
            ]
        }
        for i in range(n)
    ]
    return "\n".join(json.dumps(row) for row in rows).encode() + b"\n"


@pytest.fixture(scope="session")
def make_jsonl() -> JsonlMaker:
    return chat_jsonl


@pytest.fixture(scope="session")
def wait_for_job() -> JobWaiter:
    def wait(client: OpenAI, job_id: str, timeout: float = 180.0) -> FineTuningJob:
        deadline = time.monotonic() + timeout
        while True:
            job = client.fine_tuning.jobs.retrieve(job_id)
            if job.status in TERMINAL:
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} still {job.status} after {timeout}s")
            time.sleep(0.1)

    return wait


def start_server(
    settings: ServerSettings, trainers: TrainerRegistry | None = None
) -> tuple[uvicorn.Server, threading.Thread, str]:
    """An in-process uvicorn server on a free loopback port, started: (server, its thread,
    base URL). The caller stops it (`server.should_exit = True`, then join the thread).
    `trainers`: the built-in ones unless given."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(settings, trainers), log_level="warning", http="h11")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("in-process server did not start")
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}"


@pytest.fixture
def thread_server(tmp_path: Path) -> Iterator[ThreadServer]:
    """Starts in-process uvicorn servers on free loopback ports; stops them afterwards."""
    running: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(settings: ServerSettings, trainers: TrainerRegistry | None = None) -> str:
        server, thread, base_url = start_server(settings, trainers)
        running.append((server, thread))
        return base_url

    yield start
    for server, thread in running:
        server.should_exit = True
        thread.join(15)
