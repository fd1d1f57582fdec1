"""The CLI as a user runs it: `python -m ftctl` in a separate process, no terminal."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def run_ftctl(
    *args: str,
    workspace: Path | None = None,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    check: int | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run `ftctl [--workspace W] ARGS` to completion with its output captured.

    `env` replaces the environment (None: this process's); `check` is the exit code
    expected (None: any), asserted with the output in the message.
    """
    command = [sys.executable, "-m", "ftctl"]
    if workspace is not None:
        command += ["--workspace", str(workspace)]
    done = subprocess.run(
        [*command, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )
    if check is not None:
        assert done.returncode == check, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done
