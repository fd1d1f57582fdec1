"""Interruptions while an apply waits for training: the server dies, the user presses
Ctrl-C. Either way the paid job is neither lost nor started twice, and the next apply
continues where the interrupted one stopped.

The workspace's job is held `queued` behind a long job started outside ftctl on the
server's single trainer, so the apply is reliably still waiting when it is interrupted;
cancelling that job lets the training go on.
"""

from __future__ import annotations

import json
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from _kit import (
    ServerFactory,
    ftctl,
    make_workspace,
    occupy_trainer,
    spawn,
    state,
    wait_until,
    wait_while_running,
    waiting_for,
)
from openai.types.fine_tuning import FineTuningJob

from ftctl.providers.local_launcher import ensure_local_server, stop_local_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="ftctl-local", max_retries=2)


def ftctl_jobs(base_url: str) -> list[FineTuningJob]:
    """The jobs ftctl started on the server (each test has a server of its own)."""
    return [
        j
        for j in client(base_url).fine_tuning.jobs.list(limit=100)
        if j.metadata and j.metadata.get("ftctl_project") == "mini"
    ]


def planned_actions(root: Path) -> dict[str, list[str]]:
    plan = json.loads(ftctl(root, "--json", "plan", check=None).stdout)
    return {c["address"]: c["actions"] for c in plan["resource_changes"]}


@pytest.fixture
def on_demand_workspace(tmp_path: Path) -> Iterator[Path]:
    """A workspace whose local server ftctl starts on demand (stopped at teardown)."""
    root = make_workspace(tmp_path / "ws", None)
    yield root
    stop_local_server(root / ".ftctl" / "server")


def test_server_killed_mid_wait_fails_clearly_and_the_next_apply_continues(
    on_demand_workspace: Path,
) -> None:
    root = on_demand_workspace
    data_dir = root / ".ftctl" / "server"
    server = ensure_local_server(data_dir)  # what the first ftctl command of the day does
    blocker = occupy_trainer(client(server.base_url))
    log = root.parent / "apply.log"
    apply = spawn(root, "apply", "--auto-approve", log=log)
    try:
        wait_while_running(
            apply, log, lambda: ftctl_jobs(server.base_url), "the apply created its job"
        )
        [job] = ftctl_jobs(server.base_url)
        server_log = data_dir / "server.log"
        wait_while_running(
            apply, log, waiting_for(server_log.read_text, job.id), "the apply waits for the job"
        )
        os.kill(server.pid, signal.SIGKILL)
        code = apply.wait(timeout=120)
    finally:
        if apply.poll() is None:
            apply.kill()
            apply.wait(timeout=30)
    output = log.read_text()
    # An on-demand server comes back on another port, so the waiting apply cannot follow
    # it: it stops with an error naming the job and the unreachable server...
    assert code == 1, output
    # (The poll the kill lands on reads the job or its events.)
    assert re.search(
        rf"Error: version\.mini\.1: provider 'local': cannot (retrieve job|list events of job) "
        rf"{job.id}: cannot reach http://127\.0\.0\.1:\d+/v1/: Connection error\.",
        output,
    ), output
    assert "Skipped alias.mini.prod" in output
    assert output.count("Connection error.") == 1, output  # said once, not also as a warning
    # The closing error says what goes on and what to do next.
    assert (
        f"Still training on the provider (nothing is lost): version.mini.1 (job {job.id})" in output
    )
    assert "run `ftctl apply` again: it continues from the state" in output
    # ...and the state still records the paid job as running: nothing is lost.
    versions = state(root)["versions"]
    assert [(v["number"], v["status"], v["job_id"]) for v in versions] == [  # type: ignore[attr-defined,index]
        (1, "running", job.id)
    ]

    restarted = ensure_local_server(data_dir)  # same data directory: the job survives
    assert restarted.base_url != server.base_url
    client(restarted.base_url).fine_tuning.jobs.cancel(blocker)
    again = ftctl(root, "apply", "--auto-approve")
    assert "# version.mini.1 will be waited for and checked against its gates" in again.stdout
    assert "Apply complete! Resources: 0 uploaded, 0 trained, 1 promoted" in again.stdout
    jobs = ftctl_jobs(restarted.base_url)
    assert [j.id for j in jobs] == [job.id]
    assert f"mini/prod = {jobs[0].fine_tuned_model}" in again.stdout


def test_ctrl_c_mid_wait_exits_130_releases_the_lock_and_the_next_apply_takes_the_job_up(
    tmp_path: Path, start_server: ServerFactory
) -> None:
    server = start_server()
    blocker = occupy_trainer(server.client())
    root = make_workspace(tmp_path / "ws", server.base_url)
    log = tmp_path / "apply.log"
    apply = spawn(root, "apply", "--auto-approve", log=log)
    try:
        wait_while_running(
            apply, log, lambda: ftctl_jobs(server.base_url), "the apply created its job"
        )
        [job] = ftctl_jobs(server.base_url)
        wait_while_running(
            apply, log, waiting_for(server.log, job.id), "the apply waits for the job"
        )
        # Meanwhile a second apply is refused at once, naming who holds the lock.
        refused = ftctl(root, "apply", "--auto-approve", check=1).stderr
        assert "Error: the state is locked: lock " in refused, refused
        # (Outside a git repo the holder is `$USER@host`: see ftctl.state.identity.)
        assert "held by reliability-tester@" in refused, refused
        assert f" for 'apply', pid {apply.pid} on " in refused, refused
        assert "ftctl force-unlock " in refused

        apply.send_signal(signal.SIGINT)
        code = apply.wait(timeout=60)
    finally:
        if apply.poll() is None:
            apply.kill()
            apply.wait(timeout=30)
    output = log.read_text()
    assert code == 130, output
    assert output.rstrip().endswith("Interrupted."), output
    # Ctrl-C stops ftctl, not the paid job.
    assert server.client().fine_tuning.jobs.retrieve(job.id).status == "queued"

    # The next plan waits for that job instead of training again...
    assert planned_actions(root) == {
        "version.mini.1": ["wait", "gate"],
        "alias.mini.prod": ["promote"],
    }
    server.client().fine_tuning.jobs.cancel(blocker)
    # ...and the next apply gets the lock at once (the interrupted one released it).
    again = ftctl(root, "apply", "--auto-approve")
    assert "lock" not in again.stderr, again.stderr
    assert "Apply complete! Resources: 0 uploaded, 0 trained, 1 promoted" in again.stdout
    assert [j.id for j in ftctl_jobs(server.base_url)] == [job.id]


def test_a_wait_outlives_a_short_outage_of_a_server_that_comes_back_at_the_same_address(
    tmp_path: Path, start_server: ServerFactory
) -> None:
    server = start_server()
    blocker = occupy_trainer(server.client())
    root = make_workspace(tmp_path / "ws", server.base_url)
    log = tmp_path / "apply.log"
    apply = spawn(root, "apply", "--auto-approve", log=log)
    try:
        wait_while_running(
            apply, log, lambda: ftctl_jobs(server.base_url), "the apply created its job"
        )
        [job] = ftctl_jobs(server.base_url)
        wait_while_running(
            apply, log, waiting_for(server.log, job.id), "the apply waits for the job"
        )
        server.kill()
        # A few seconds of outage (an apply that gives up does so well before).
        wait_until(lambda: apply.poll() is not None, "the apply gives up", 5, required=False)
        port = server.base_url.rsplit(":", 1)[1].split("/")[0]
        back = start_server("--port", port, data_dir=server.data_dir)
        assert back.base_url == server.base_url
        back.client().fine_tuning.jobs.cancel(blocker)
        code = apply.wait(timeout=120)
    finally:
        if apply.poll() is None:
            apply.kill()
            apply.wait(timeout=30)
    output = log.read_text()
    assert code == 0, output
    assert "version.mini.1: provider 'local': cannot " in output  # the outage was noticed
    assert "; retrying for up to 10m (job " in output
    assert "the provider answers again" in output
    assert "Apply complete! Resources: 2 uploaded, 1 trained, 1 promoted" in output
    assert [j.id for j in ftctl_jobs(server.base_url)] == [job.id]
