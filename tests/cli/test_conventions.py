"""Terraform's command-line conventions: exit codes, single-dash flags, output options in
either place, and plain output on a terminal under NO_COLOR / --no-color."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from ..support.cli import run_ftctl


@pytest.fixture(scope="module")
def starter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh workspace holding the `ftctl init` starter project `demo` (no state)."""
    root = tmp_path_factory.mktemp("starter")
    run_ftctl("init", "demo", workspace=root, check=0)
    return root


def test_a_usage_error_exits_1_not_the_detailed_exitcode_for_changes(starter: Path) -> None:
    done = run_ftctl("plan", "--detailed-exitcode", "--targte", "x", workspace=starter)
    assert done.returncode == 1, done.stderr
    assert "Did you mean '--target'?" in done.stderr
    assert done.stdout == ""


def test_an_unknown_command_exits_1_and_suggests_the_closest(starter: Path) -> None:
    done = run_ftctl("paln", workspace=starter)
    assert done.returncode == 1
    assert "No such command 'paln'. Did you mean 'plan'?" in done.stderr


def test_a_bad_option_value_exits_1(starter: Path) -> None:
    done = run_ftctl("apply", "-auto-approve", "-lock-timeout=soon", workspace=starter)
    assert done.returncode == 1
    assert "'soon' is not a duration" in done.stderr


def test_terraform_single_dash_flags_are_accepted(starter: Path, tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    done = run_ftctl(
        "plan",
        "-detailed-exitcode",
        "-no-color",
        f"-out={saved}",
        "-target=version.demo.1",
        "-replace=version.demo.1",
        workspace=starter,
    )
    assert done.returncode == 2, done.stderr  # changes: a fresh workspace trains demo
    assert 'version "demo/1"' in done.stdout
    assert json.loads(saved.read_text())["format_version"]


@pytest.mark.parametrize("command", [["plan"], ["version"], ["show"], ["validate"]])
def test_json_is_accepted_before_and_after_the_command(starter: Path, command: list[str]) -> None:
    before = run_ftctl("--json", *command, workspace=starter)
    after = run_ftctl(*command, "--json", workspace=starter)
    single = run_ftctl(*command, "-json", workspace=starter)
    assert before.returncode == after.returncode == single.returncode, after.stderr
    # (ids and times differ between runs: the documents' shapes do not)
    shapes = [sorted(json.loads(done.stdout)) for done in (before, after, single)]
    assert shapes[0] == shapes[1] == shapes[2]


def _on_a_terminal(*args: str, cwd: Path, env: dict[str, str]) -> tuple[int, bytes]:
    """Run ftctl with stdout and stderr on a pseudo-terminal; (exit code, all output)."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "ftctl", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    return process.wait(timeout=60), output


@pytest.mark.parametrize("how", ["NO_COLOR=1", "--no-color", "--no-color after"])
def test_no_color_writes_no_escape_codes_on_a_terminal(tmp_path: Path, how: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env["TERM"] = "xterm-256color"
    flags: list[str] = []
    if how == "NO_COLOR=1":
        env["NO_COLOR"] = "1"
    if how == "--no-color":
        flags = ["--no-color"]
    extra = ["--no-color"] if how == "--no-color after" else []
    code, output = _on_a_terminal(*flags, "init", "demo", *extra, cwd=tmp_path, env=env)
    assert code == 0, output
    assert b"Created project demo" in output
    assert b"\x1b[" not in output
    (tmp_path / "projects/demo/project.yaml").write_text("kind: nonsense\n")
    code, output = _on_a_terminal(*flags, "validate", *extra, cwd=tmp_path, env=env)
    assert code == 1
    assert b"Invalid:" in output
    assert b"\x1b[" not in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "verison.demo.1"], "not a resource address: did you mean 'version.demo.1'?"),
        (["--target", "demo"], "did you mean 'version.demo'?"),
        (
            ["--target", "version.dmeo.1"],
            "no project 'dmeo' in the configuration or the state: "
            "did you mean 'demo'? (projects: demo)",
        ),
        (["--target", "dataset.demo.tset"], "no split 'tset': did you mean 'test'?"),
        (["--replace", "version.demo.one"], "a version number is a positive integer"),
        (["dmeo"], "no project 'dmeo' in the configuration or the state: did you mean 'demo'?"),
    ],
)
def test_an_unknown_project_or_malformed_address_is_an_error_not_no_changes(
    starter: Path, args: list[str], message: str
) -> None:
    done = run_ftctl("plan", "--detailed-exitcode", *args, workspace=starter)
    assert done.returncode == 1, done.stdout
    assert message in done.stderr
    assert "No changes" not in done.stdout


def test_validate_takes_project_names_like_every_other_command(
    starter: Path, tmp_path: Path
) -> None:
    named = run_ftctl("validate", "demo", workspace=starter, cwd=tmp_path)
    assert named.returncode == 0, named.stdout + named.stderr
    assert "Valid: ftctl.yaml and 1 project(s): demo." in named.stdout
    typo = run_ftctl("validate", "dmeo", workspace=starter, cwd=tmp_path)
    assert typo.returncode == 1
    assert "no project 'dmeo' in this workspace" in typo.stdout + typo.stderr
    assert "did you mean 'demo'?" in typo.stdout + typo.stderr
