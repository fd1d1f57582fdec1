"""The `ftctl` program's first step (`python -m ftctl`, the `ftctl` script): what must start
before the command line's own imports, then the command line (`ftctl.cli.main`).

Importing the command line (click, rich, the command's module) takes ~0.06 s before a
command runs. A data build's workers take ~0.3 s to start (`worker_prestart`), and a
rebuild's first batch waited ~0.1 s for them: so when the arguments name `data build` or
`plan`, the workers start first (`worker_prestart.start_early`, standard library only), for
the workspace the arguments name as the group's options would (`--workspace`/`-w`,
`FTCTL_WORKSPACE`, else the nearest `ftctl.yaml` upwards). The command keeps them if it runs
for that workspace; anything else (a usage error, `--help`, another workspace) stops them.

This reads the arguments as click will, for these two commands only, and gives up (starts
nothing) on anything it does not know: a wrong guess costs an unused start, never a
different command.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from ftctl.cli.argv import GROUP_VALUE_OPTIONS, HOISTED, normalise

ENV_WORKSPACE = "FTCTL_WORKSPACE"  # what `--workspace` defaults to (`ftctl.cli.main.cli`)
_BUILDS = (("data", "build"), ("plan",))  # commands that build data with workers
_HELP = frozenset({"--help", "-h"})


def main() -> None:
    """Start a data build's workers if the arguments ask for one, then run the command."""
    try:
        root = building_workspace(sys.argv[1:], os.environ, Path.cwd())
        if root is not None:
            from ftctl.datasets.worker_prestart import start_early

            start_early(root, share=True)
    except Exception:
        # No current directory, a symlink loop...: a head start is never worth a different
        # outcome; the command meets the same problem and says what is wrong.
        pass
    from ftctl.cli.main import main as run

    run()


def building_workspace(args: Sequence[str], env: Mapping[str, str], cwd: Path) -> Path | None:
    """The workspace directory (resolved) of a command line that builds data (`data build`,
    `plan`), as `ftctl.cli.main.cli` will find it; None for any other command, or for one
    this cannot read for certain."""
    words = normalise(args)
    workspace: str | None = None
    at = 0
    while at < len(words) and words[at].startswith("-"):
        word = words[at]
        if word in GROUP_VALUE_OPTIONS:
            if at + 1 == len(words):
                return None
            workspace = words[at + 1]
            at += 2
            continue
        if word.startswith("--workspace="):
            workspace = word.removeprefix("--workspace=")
        elif word.startswith("-w") and not word.startswith("-w="):
            workspace = word[2:]  # click's `-wDIR`
        elif word not in HOISTED:  # the group's options without a value
            return None  # `--help`, `--version`, or what click will refuse
        at += 1
    command = words[at:]
    if not any(tuple(command[: len(name)]) == name for name in _BUILDS):
        return None
    if _HELP & set(command) or "--" in command:
        return None
    if workspace is None:
        workspace = env.get(ENV_WORKSPACE) or None
    directory = Path(workspace) if workspace is not None else find_workspace(cwd)
    return (cwd / directory).resolve()


def find_workspace(start: Path) -> Path:
    """The nearest directory upwards holding ftctl.yaml, or `start` itself."""
    for candidate in (start, *start.parents):
        if (candidate / "ftctl.yaml").is_file():
            return candidate
    return start
