"""`ftctl ... | head` ends quietly when the reader goes away."""

from __future__ import annotations

import subprocess
import sys


def test_a_closed_pipe_is_not_an_internal_error() -> None:
    # The reader closes the pipe before ftctl writes anything (as `| head -0` would).
    process = subprocess.Popen(
        [sys.executable, "-m", "ftctl", "schema"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    stderr = process.stderr.read().decode()
    process.wait(timeout=60)

    assert "Internal error" not in stderr
    assert "Traceback" not in stderr
    assert process.returncode in (0, 141)
