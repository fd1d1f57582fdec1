"""Commands that fail, or only inspect, leave the workspace as they found it: no
`.ftctl/state.db`, no local server process or data directory, no traceback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from ftctl.cli.main import cli

from ..support.cli import run_ftctl

pytestmark = pytest.mark.e2e

WORKSPACE = """\
apiVersion: ftctl/v1
kind: Workspace
metadata: {name: quiet}
providers:
  local: {type: local}
  openai:
    type: openai
    apiKeyEnv: FTCTL_TEST_UNSET_OPENAI_KEY
defaults: {provider: local}
"""

PROJECT = """\
apiVersion: ftctl/v1
kind: FineTuneProject
metadata: {name: bot}
spec:
  provider: PROVIDER
  baseModel: local-tiny
  data:
    train: {sources: [{path: data/train.jsonl}]}
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FTCTL_")}
    return {**env, "NO_COLOR": "1", "COLUMNS": "200"}


def ftctl_process(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_ftctl(*args, workspace=workspace, env=_env())


def ftctl(workspace: Path, *args: str) -> tuple[int, str, str]:
    """In this process: a process start per command would cost seconds each."""
    result = CliRunner().invoke(cli, ["--workspace", str(workspace), *args], env=_env())
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "ftctl.yaml").write_text(WORKSPACE)
    project = tmp_path / "projects" / "bot"
    (project / "data").mkdir(parents=True)
    (project / "project.yaml").write_text(PROJECT.replace("PROVIDER", "local"))
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Where is parcel {i}?"},
                {"role": "assistant", "content": f"Parcel {i} arrives on day {i % 7}."},
            ]
        }
        for i in range(12)
    ]
    (project / "data" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp_path


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (("state", "list"), 0, ""),
        (("--json", "state", "list"), 0, '"addresses": []'),
        (("state", "show", "version.bot.1"), 1, "no resource at version.bot.1"),
        (("state", "rm", "version.bot.1"), 1, "no resource at version.bot.1"),
        (("state", "audit"), 0, ""),
        (("lineage", "bot"), 1, "not in the state (nothing applied yet?)"),
        (("lineage", "bto"), 1, "no project 'bto' in the configuration or the state: did you mean"),
        (("force-unlock", "0123abcd"), 1, "the state is not locked"),
    ],
)
def test_inspecting_an_unapplied_workspace_creates_no_state(
    workspace: Path, args: tuple[str, ...], code: int, says: str
) -> None:
    exit_code, stdout, stderr = ftctl(workspace, *args)

    assert exit_code == code, stdout + stderr
    assert says in stdout + stderr
    assert not (workspace / ".ftctl").exists()


def test_import_from_a_local_server_that_never_ran_starts_nothing(workspace: Path) -> None:
    result = ftctl_process(workspace, "import", "version.bot.1", "ftjob-abc")

    assert result.returncode == 1
    assert "no fine-tuning job ftjob-abc" in result.stderr
    assert "Traceback" not in result.stderr
    # Neither a state nor the on-demand server (its data directory is its trace).
    assert not (workspace / ".ftctl").exists()


def test_missing_api_key_is_an_error_at_the_line_that_names_it(workspace: Path) -> None:
    (workspace / "projects/bot/project.yaml").write_text(PROJECT.replace("PROVIDER", "openai"))

    exit_code, _, stderr = ftctl(workspace, "import", "version.bot.1", "ftjob-abc")

    assert exit_code == 1
    assert (
        "ftctl.yaml:8:16: error: providers.openai.apiKeyEnv: environment variable "
        "FTCTL_TEST_UNSET_OPENAI_KEY is not set"
    ) in stderr
    assert not (workspace / ".ftctl").exists()


def _provider_diagnostics(stdout: str) -> list[dict[str, object]]:
    diagnostics: list[dict[str, object]] = json.loads(stdout)["diagnostics"]
    return [d for d in diagnostics if str(d["field"]).startswith("providers")]


def test_validate_warns_about_a_missing_key_of_a_provider_in_use(workspace: Path) -> None:
    exit_code, stdout, stderr = ftctl(workspace, "validate", "--json")
    assert exit_code == 0, stdout + stderr
    assert _provider_diagnostics(stdout) == []  # `openai` is declared, but unused

    (workspace / "projects/bot/project.yaml").write_text(PROJECT.replace("PROVIDER", "openai"))
    exit_code, stdout, stderr = ftctl(workspace, "validate", "--json")

    assert exit_code == 0, stdout + stderr  # a warning: validate runs in CI without secrets
    warnings = _provider_diagnostics(stdout)
    assert [(w["file"], w["line"], w["severity"], w["field"]) for w in warnings] == [
        ("ftctl.yaml", 8, "warning", "providers.openai.apiKeyEnv")
    ]
    assert "FTCTL_TEST_UNSET_OPENAI_KEY is not set" in warnings[0]["message"]


def test_broken_bytes_in_ftctl_yaml_are_reported_by_every_command(workspace: Path) -> None:
    path = workspace / "ftctl.yaml"
    path.write_bytes(path.read_bytes().replace(b"name: quiet", b"name: qu\xefet"))

    result = ftctl_process(workspace, "state", "list")

    assert result.returncode == 1
    assert "ftctl.yaml:3:20: error: invalid UTF-8: byte 0xef" in result.stderr
    assert "Internal error" not in result.stderr and "Traceback" not in result.stderr
    assert not (workspace / ".ftctl").exists()


def test_server_that_cannot_listen_leaves_no_data_directory(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        data_dir = tmp_path / "server-data"

        result = ftctl_process(tmp_path, "server", "--port", str(port), "--data-dir", str(data_dir))

    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not data_dir.exists()


def test_validate_of_a_path_that_does_not_exist_is_an_error(workspace: Path) -> None:
    exit_code, stdout, stderr = ftctl(workspace, "validate", str(workspace / "projects/nope"))

    assert exit_code == 1
    assert "no project '" in stdout + stderr and "projects/nope' in this workspace" in stdout
    assert not (workspace / ".ftctl").exists()


def test_init_where_projects_is_a_file_fails_before_writing(tmp_path: Path) -> None:
    (tmp_path / "projects").write_text("not a directory\n")

    exit_code, _, stderr = ftctl(tmp_path, "init", "bot")

    assert exit_code == 1
    assert "projects is a file, not a directory" in stderr
    assert "Internal error" not in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["projects"]


@pytest.mark.parametrize("job_id", ["", "../files", "ftjob-1?limit=5", "ftjob 1"])
def test_import_refuses_what_is_not_a_job_id(workspace: Path, job_id: str) -> None:
    exit_code, _, stderr = ftctl(workspace, "import", "version.bot.1", job_id)

    assert exit_code == 1  # a usage error, like every error
    assert "is not a fine-tuning job id" in stderr
    assert not (workspace / ".ftctl").exists()
