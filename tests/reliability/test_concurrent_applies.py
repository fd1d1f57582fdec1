"""Two applies in one workspace at once: the state lock lets one through; the other
waits (`--lock-timeout`) and then finds the work done, never training a second time.
(That a second apply without `--lock-timeout` fails fast naming the lock holder is
checked in test_interruptions.py, on the way to a Ctrl-C.)

The first apply is held in its wait by a long job (started outside ftctl) occupying the
server's single trainer; cancelling that job lets the first apply finish.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from _kit import (
    ServerFactory,
    make_workspace,
    occupy_trainer,
    spawn,
    wait_until,
    wait_while_running,
    waiting_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_a_second_apply_waits_for_the_lock_then_finds_nothing_to_do(
    tmp_path: Path, start_server: ServerFactory
) -> None:
    server = start_server()
    blocker = occupy_trainer(server.client())
    root = make_workspace(tmp_path / "ws", server.base_url)

    def job_ids() -> list[str]:
        return [j.id for j in server.client().fine_tuning.jobs.list() if j.metadata]

    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = spawn(root, "apply", "--auto-approve", log=first_log)
    second = None
    try:
        wait_while_running(first, first_log, job_ids, "the first apply created its job")
        wait_while_running(
            first, first_log, waiting_for(server.log, job_ids()[0]), "the first apply waits"
        )
        second = spawn(root, "apply", "--auto-approve", "--lock-timeout", "2m", log=second_log)
        # The second apply takes the lock before it refreshes and plans, so it plans only
        # once the first is done (a plan made meanwhile would be stale by then).
        wait_until(lambda: "Plan:" in second_log.read_text(), "the second planned", 3, False)
        server.client().fine_tuning.jobs.cancel(blocker)  # the first apply's job trains
        assert first.wait(timeout=120) == 0, first_log.read_text()
        code = second.wait(timeout=120)
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=30)
    assert "Resources: 2 uploaded, 1 trained, 1 promoted" in first_log.read_text()
    output = second_log.read_text()
    assert code == 0, output
    assert "No changes." in output or "Resources: 0 uploaded, 0 trained, 0 promoted" in output
    assert len(job_ids()) == 1
