"""Interruptions while an apply waits for training: the server dies, the user presses
Ctrl-C. Either way no paid job is lost or started twice, and the next apply continues.

The workspace's job is held `queued` behind a long job started outside ftctl on the
server's single trainer, so the apply is reliably still waiting when it is interrupted;
cancelling that job lets training go on.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from _kit import (
    ServerFactory,
    ServerProcess,
    ftctl,
    make_workspace,
    occupy_trainer,
    spawn,
    state,
    wait_until,
    waiting_for,
)
from openai.types.fine_tuning import FineTuningJob

from ftctl.server.launcher import ensure_local_server, stop_local_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def on_demand_workspace(tmp_path: Path) -> Iterator[Path]:
    """A workspace whose local server ftctl starts on demand (stopped at teardown)."""
    root = make_workspace(tmp_path / "ws", None)
    yield root
    stop_local_server(root / ".ftctl" / "server")


def test_server_killed_mid_wait_then_the_next_apply_continues(on_demand_workspace: Path) -> None:
    root = on_demand_workspace
    data_dir = root / ".ftctl" / "server"
    server = ensure_local_server(data_dir)  # as the first ftctl command of the day does
    blocker = occupy_trainer(openai_client(server.base_url))
    workspace_id = str(state(root)["workspace_id"])
    log = root.parent / "apply.log"
    apply = spawn(root, "apply", "--auto-approve", log=log)
    try:
        wait_until(lambda: workspace_jobs_at(server.base_url, workspace_id), "the job exists")
        [job] = workspace_jobs_at(server.base_url, workspace_id)
        server_log = data_dir / "server.log"
        wait_until(waiting_for(server_log.read_text, job.id), "the apply waits for the job")
        os_kill(server.pid)
        code = apply.wait(timeout=120)
    finally:
        if apply.poll() is None:
            apply.kill()
    output = log.read_text()
    print(output)
    assert code == 1, output
    # The running job is recorded, so nothing is lost.
    versions = state(root)["versions"]
    assert [(v["number"], v["status"], v["job_id"]) for v in versions] == [(1, "running", job.id)]  # type: ignore[attr-defined,index]

    restarted = ensure_local_server(data_dir)  # same data directory: the job survives
    assert restarted.pid != server.pid
    openai_client(restarted.base_url).fine_tuning.jobs.cancel(blocker)
    plan = json.loads(ftctl(root, "--json", "plan", check=None).stdout)
    actions = {c["address"]: c["actions"] for c in plan["resource_changes"]}
    print(actions)
    again = ftctl(root, "apply", "--auto-approve")
    print(again.stdout, again.stderr)
    assert "Resources: 0 uploaded, 0 trained, 1 promoted" in again.stdout
    jobs = workspace_jobs_at(restarted.base_url, workspace_id)
    assert [j.id for j in jobs] == [job.id]
    assert ftctl(root, "output", "mini").stdout.strip() == jobs[0].fine_tuned_model


def openai_client(base_url: str):  # type: ignore[no-untyped-def]
    import openai

    return openai.OpenAI(base_url=base_url, api_key="ftctl-local", max_retries=2)


def workspace_jobs_at(base_url: str, workspace_id: str) -> list:  # type: ignore[type-arg]
    client = openai_client(base_url)
    return [
        j
        for j in client.fine_tuning.jobs.list(limit=100)
        if j.metadata and j.metadata.get("ftctl_workspace") == workspace_id
    ]


def os_kill(pid: int) -> None:
    import os

    os.kill(pid, signal.SIGKILL)


def test_ctrl_c_mid_wait_releases_the_lock_and_the_next_apply_waits_for_the_same_job(
    tmp_path: Path, start_server: ServerFactory
) -> None:
    server = start_server()
    blocker = occupy_trainer(server.client())
    root = make_workspace(tmp_path / "ws", server.base_url)
    log = tmp_path / "apply.log"
    apply = spawn(root, "apply", "--auto-approve", log=log)
    try:
        wait_until(lambda: ftctl_jobs(server), "the job exists")
        [job] = ftctl_jobs(server)
        wait_until(waiting_for(server.log, job.id), "the apply waits for the job")
        apply.send_signal(signal.SIGINT)
        code = apply.wait(timeout=60)
    finally:
        if apply.poll() is None:
            apply.kill()
    output = log.read_text()
    print(output)
    assert code == 130, output
    assert "Interrupted." in output

    plan = json.loads(ftctl(root, "--json", "plan", check=None).stdout)
    print(plan)
    server.client().fine_tuning.jobs.cancel(blocker)
    again = ftctl(root, "apply", "--auto-approve")  # no lock left behind: no --lock-timeout
    print(again.stdout, again.stderr)
    assert "stale state lock" not in again.stderr
    assert "Resources: 0 uploaded, 0 trained, 1 promoted" in again.stdout
    assert [j.id for j in ftctl_jobs(server)] == [job.id]


def ftctl_jobs(server: ServerProcess) -> list[FineTuningJob]:
    """The jobs ftctl started on `server` (each test has its own server)."""
    return [
        j
        for j in server.client().fine_tuning.jobs.list(limit=100)
        if j.metadata and j.metadata.get("ftctl_project") == "mini"
    ]
