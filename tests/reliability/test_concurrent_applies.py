"""Two applies in one workspace at once: the state lock lets one through; the other
fails fast naming who holds the lock, or waits (`--lock-timeout`) and then finds the work
done, never training a second time."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from _kit import (
    ServerFactory,
    ftctl,
    make_workspace,
    occupy_trainer,
    spawn,
    wait_until,
    waiting_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_a_second_apply_fails_fast_or_waits_for_the_lock(
    tmp_path: Path, start_server: ServerFactory
) -> None:
    server = start_server()
    blocker = occupy_trainer(server.client())
    root = make_workspace(tmp_path / "ws", server.base_url)
    first = spawn(root, "apply", "--auto-approve", log=tmp_path / "first.log")
    second = None
    try:

        def job_ids() -> list[str]:
            return [j.id for j in server.client().fine_tuning.jobs.list() if j.metadata]

        wait_until(job_ids, "the job exists")
        [job] = job_ids()
        wait_until(waiting_for(server.log, job), "the first apply waits for the job")

        refused = ftctl(root, "apply", "--auto-approve", check=None)
        print(refused.returncode, refused.stdout, refused.stderr)

        second = spawn(
            root, "apply", "--auto-approve", "--lock-timeout", "2m", log=tmp_path / "second.log"
        )
        wait_until(
            lambda: "lock" in (tmp_path / "second.log").read_text(), "second waits", timeout=30
        )
        server.client().fine_tuning.jobs.cancel(blocker)
        assert first.wait(timeout=120) == 0
        code = second.wait(timeout=120)
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGKILL)
    print((tmp_path / "first.log").read_text())
    print(code, (tmp_path / "second.log").read_text())
    print(job_ids())
