"""`ftctl` starts a data build's workers before it imports its command line, for the
workspace the arguments name, and only for commands that build data (`ftctl.cli.launch`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ftctl.cli.launch import ENV_WORKSPACE, building_workspace


@pytest.fixture
def places(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(a workspace, a directory inside it, another workspace)."""
    here, other = tmp_path / "here", tmp_path / "other"
    for root in (here, other):
        root.mkdir()
        (root / "ftctl.yaml").write_text("apiVersion: ftctl/v1\nkind: Workspace\n")
    inside = here / "projects" / "demo"
    inside.mkdir(parents=True)
    return here, inside, other


@pytest.mark.parametrize(
    "args",
    [
        ["data", "build", "demo"],
        ["--json", "data", "build", "demo"],
        ["data", "build", "demo", "--json"],  # hoisted before the command, as click gets it
        ["-json", "plan"],  # Terraform's spelling
        ["--debug", "--no-color", "plan", "demo", "--detailed-exitcode"],
    ],
)
def test_a_command_that_builds_data_names_the_nearest_workspace_upwards(
    places: tuple[Path, Path, Path], args: list[str]
) -> None:
    here, inside, _other = places
    assert building_workspace(args, {}, here) == here.resolve()
    assert building_workspace(args, {}, inside) == here.resolve()


@pytest.mark.parametrize(
    "before",
    [
        ["--workspace", "{other}"],
        ["--workspace={other}"],
        ["-w", "{other}"],
        ["-w{other}"],
        ["--workspace", "../../../other"],  # relative to where the command runs
    ],
)
def test_the_workspace_option_names_the_workspace(
    places: tuple[Path, Path, Path], before: list[str]
) -> None:
    here, inside, other = places
    args = [word.format(other=other) for word in before] + ["data", "build", "demo"]
    assert building_workspace(args, {}, inside) == other.resolve()
    # The option wins over the environment, as click reads them.
    assert building_workspace(args, {ENV_WORKSPACE: str(here)}, inside) == other.resolve()


def test_the_environment_names_the_workspace_when_no_option_does(
    places: tuple[Path, Path, Path],
) -> None:
    here, inside, other = places
    assert building_workspace(["plan"], {ENV_WORKSPACE: str(other)}, inside) == other.resolve()
    assert building_workspace(["plan"], {ENV_WORKSPACE: ""}, inside) == here.resolve()


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--help"],
        ["--version"],
        ["version"],
        ["validate"],
        ["apply"],
        ["data", "stats", "train.jsonl"],
        ["data", "--help"],
        ["data", "build", "--help"],
        ["data", "build", "demo", "-h"],
        ["plan", "--", "demo"],
        ["-w"],  # no value: click refuses it
        ["-w=other", "plan"],  # click would take "=other" as the directory
        ["--no-such-option", "plan"],
        ["build", "data"],
    ],
)
def test_nothing_starts_for_other_commands_or_lines_it_cannot_read_for_certain(
    places: tuple[Path, Path, Path], args: list[str]
) -> None:
    here, _inside, _other = places
    assert building_workspace(args, {}, here) is None


def test_a_command_run_where_no_directory_is_any_more_says_so_without_a_traceback(
    tmp_path: Path,
) -> None:
    """The arguments are read before the command line's own error handling: a current
    directory that no longer exists is left to the command to report."""
    gone = tmp_path / "gone"
    gone.mkdir()
    script = (
        "import os, sys\n"
        f"os.chdir({str(gone)!r}); os.rmdir({str(gone)!r})\n"
        "os.execv(sys.executable, [sys.executable, '-m', 'ftctl', 'data', 'build', 'demo'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1
    assert "No such file or directory" in done.stderr
    assert "Traceback" not in done.stderr
