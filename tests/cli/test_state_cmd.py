"""`ftctl state ...`, `force-unlock`, `lineage` and `import` end to end: the CLI in a
subprocess, a real SQLite state, and (for import) the real local server."""

from __future__ import annotations

import json
import os
import pty
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from ftctl.cli.main import cli
from ftctl.config.loader import load_workspace
from ftctl.datasets.build import build_project
from ftctl.plan.desired import desired_project
from ftctl.plan.fingerprint import fingerprint
from ftctl.providers.base import JobRequest, RemoteJob
from ftctl.providers.local_launcher import LocalServerHandle, ensure_local_server, stop_local_server
from ftctl.providers.openai_api import OpenAIProvider
from ftctl.state.model import AliasRecord, AuditEntry, VersionRecord
from ftctl.state.sqlite import SqliteStateStore

from ..support.cli import run_ftctl

WORKSPACE = """\
apiVersion: ftctl/v1
kind: Workspace
metadata: {{name: cli-state}}
providers:
  local: {{type: local, baseUrl: "{base_url}"}}
"""

PROJECT = """\
apiVersion: ftctl/v1
kind: FineTuneProject
metadata: {name: bot, owner: ml@example.com}
spec:
  provider: local
  baseModel: local-tiny
  suffix: bot
  data:
    train: {sources: [{path: data/train.jsonl}]}
    validation: {split: {fraction: 0.2, seed: 1}}
  training:
    hyperparameters: {nEpochs: 1}
    seed: 3
  promote: {alias: prod, when: always}
"""


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


def ftctl_process(workspace: Path, *args: str) -> Ran:
    """The CLI as a user runs it: a separate process."""
    env = {**os.environ, "FTCTL_USER": "tester@ci", "NO_COLOR": "1"}
    done = run_ftctl(*args, workspace=workspace, env=env)
    return Ran(done.returncode, done.stdout, done.stderr)


def ftctl(workspace: Path, *args: str) -> Ran:
    """The same CLI in this process (each ftctl process start costs seconds on CI)."""
    result = CliRunner().invoke(
        cli,
        ["--workspace", str(workspace), *args],
        env={"FTCTL_USER": "tester@ci", "NO_COLOR": "1"},
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Ran(result.exit_code, result.stdout, result.stderr)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServerHandle]:
    data_dir = tmp_path_factory.mktemp("cli-state-server")
    handle = ensure_local_server(data_dir)
    yield handle
    stop_local_server(data_dir)


@pytest.fixture
def workspace(tmp_path: Path, server: LocalServerHandle) -> Path:
    (tmp_path / "ftctl.yaml").write_text(WORKSPACE.format(base_url=server.base_url))
    project = tmp_path / "projects" / "bot"
    (project / "data").mkdir(parents=True)
    (project / "project.yaml").write_text(PROJECT)
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Where is order {i * 7}?"},
                {"role": "assistant", "content": f"Order {i * 7} ships today."},
            ]
        }
        for i in range(15)
    ]
    (project / "data" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp_path


def version(number: int) -> VersionRecord:
    return VersionRecord(
        project="bot",
        number=number,
        fingerprint=f"fp{number}",
        fingerprint_inputs={},
        provider="local",
        base_model="local-tiny",
        method="supervised",
        hyperparameters={"n_epochs": 1},
        seed=3,
        train_sha256="a" * 64,
        validation_sha256=None,
        train_file_id="file-x",
        validation_file_id=None,
        job_id=f"ftjob-{number}",
        model_id=f"ft:local-tiny:local:bot:{number}",
        status="succeeded",
        metrics={"train_loss": 1.5},
        git_commit="abc123",
        created_at="2026-11-26T00:00:00Z",
    )


@pytest.fixture
def populated(workspace: Path) -> SqliteStateStore:
    store = SqliteStateStore(workspace / ".ftctl" / "state.db", workspace_name="cli-state")
    snapshot = store.read().with_version(version(1)).with_version(version(2))
    snapshot = snapshot.with_alias(AliasRecord("bot", "prod", 2, "ft:local-tiny:local:bot:2", "t"))
    store.write(snapshot)
    store.append_audit(
        AuditEntry.new(
            who="alice",
            operation="apply",
            address="alias.bot.prod",
            action="promote",
            plan_id="plan-9",
            detail={"version": 2},
        )
    )
    return store


def test_state_list_show_and_rm(workspace: Path, populated: SqliteStateStore) -> None:
    listed = ftctl_process(workspace, "state", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == ["version.bot.1", "version.bot.2", "alias.bot.prod"]

    shown = ftctl(workspace, "state", "show", "version.bot.1")
    assert shown.returncode == 0, shown.stderr
    assert "job_id" in shown.stdout and "ftjob-1" in shown.stdout
    as_json = json.loads(ftctl(workspace, "--json", "state", "show", "alias.bot.prod").stdout)
    assert (as_json["address"], as_json["version"]) == ("alias.bot.prod", 2)

    missing = ftctl(workspace, "state", "show", "version.bot.7")
    assert missing.returncode == 1
    assert "no resource at version.bot.7" in missing.stderr
    bad = ftctl(workspace, "state", "show", "model.bot")
    assert bad.returncode == 1 and "invalid address 'model.bot'" in bad.stderr

    removed = ftctl_process(workspace, "state", "rm", "version.bot.1")
    assert removed.returncode == 0, removed.stderr
    assert "Removed version.bot.1" in removed.stdout
    assert populated.read().addresses() == ["version.bot.2", "alias.bot.prod"]
    [forget] = [e for e in populated.audit("bot") if e.action == "forget"]
    assert (forget.who, forget.operation, forget.address) == (
        "tester@ci",
        "state rm",
        "version.bot.1",
    )
    assert forget.detail["record"]["job_id"] == "ftjob-1"

    dangling = ftctl(workspace, "state", "rm", "version.bot.2")
    assert dangling.returncode == 0
    assert "alias.bot.prod points at version 2, which is no longer in the state" in dangling.stderr

    audit = ftctl(workspace, "state", "audit", "bot")
    assert "alice  apply: promote alias.bot.prod plan=plan-9" in audit.stdout
    assert "tester@ci  state rm: forget version.bot.1" in audit.stdout
    assert "tester@ci  state rm: forget version.bot.2" in audit.stdout


def test_a_stale_lock_blocks_writes_until_force_unlock(
    workspace: Path, populated: SqliteStateStore
) -> None:
    crashed = populated.lock("apply", "ci-runner-7")
    held = crashed.__enter__()  # never exited: the holder "crashed"
    blocked = ftctl_process(workspace, "state", "rm", "version.bot.1")
    assert blocked.returncode == 1
    assert f"lock {held.id} held by ci-runner-7 for 'apply'" in blocked.stderr
    assert f"ftctl force-unlock {held.id}" in blocked.stderr
    assert len(populated.read().versions) == 2  # nothing was removed

    # Its holder (this process) still runs: refused without -force, nothing removed.
    refused = ftctl(workspace, "force-unlock", held.id)
    assert refused.returncode == 1
    assert "that process is still running" in refused.stderr
    assert f"ftctl force-unlock -force {held.id}" in refused.stderr
    assert ftctl_process(workspace, "state", "rm", "version.bot.1").returncode == 1

    unlocked = ftctl(workspace, "force-unlock", "-force", held.id)
    assert unlocked.returncode == 0, unlocked.stderr
    assert ftctl(workspace, "state", "rm", "version.bot.1").returncode == 0
    again = ftctl(workspace, "state", "force-unlock", held.id)
    assert again.returncode == 1 and "the state is not locked" in again.stderr
    # Left open, the "crashed" holder's context would be finalized by the garbage collector
    # during a later test, after this test's directory is gone: closed here instead.
    crashed.__exit__(None, None, None)


def test_waiting_for_the_lock_says_so_and_names_the_holder(
    workspace: Path, populated: SqliteStateStore
) -> None:
    with populated.lock("apply", "ci-runner-7") as held:
        waited = ftctl_process(workspace, "state", "rm", "-lock-timeout=1s", "version.bot.1")
    assert waited.returncode == 1
    lines = waited.stderr.splitlines()
    assert lines[0] == (
        "Acquiring state lock. This may take a few moments... (the state is locked: "
        f"{held.describe()})"
    )
    assert f"ftctl force-unlock {held.id}" in lines[-1]


def test_lineage_and_output_default_to_the_projects_promote_alias(
    workspace: Path, populated: SqliteStateStore
) -> None:
    project = workspace / "projects" / "bot" / "project.yaml"
    project.write_text(project.read_text().replace("alias: prod", "alias: live"))
    populated.write(
        populated.read().with_alias(AliasRecord("bot", "live", 1, "ft:local-tiny:local:bot:1", "t"))
    )
    assert ftctl(workspace, "output", "bot").stdout.strip() == "ft:local-tiny:local:bot:1"
    traced = ftctl(workspace, "lineage", "bot")
    assert traced.returncode == 0, traced.stderr
    assert traced.stdout.startswith("bot/live -> ft:local-tiny:local:bot:1")


def test_an_unknown_project_is_named_with_a_suggestion_not_nothing_promoted_yet(
    workspace: Path, populated: SqliteStateStore
) -> None:
    for command in ("output", "lineage"):
        result = ftctl(workspace, command, "bto")
        assert result.returncode == 1
        assert "no project 'bto' in the configuration or the state: did you mean 'bot'?" in (
            result.stderr
        )
        assert "nothing promoted yet" not in result.stderr


def _answer_on_a_terminal(workspace: Path, answer: bytes, *args: str) -> tuple[int, bytes]:
    """Run the CLI with a pseudo-terminal as stdin/stdout/stderr, typing `answer`."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "ftctl", "--workspace", str(workspace), *args],
        env={**os.environ, "NO_COLOR": "1"},
        stdin=follower,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    output = b""
    while b"Enter a value" not in output:
        chunk = os.read(leader, 4096)
        assert chunk, output
        output += chunk
    os.write(leader, answer)
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


def test_force_unlock_asks_for_confirmation_on_a_terminal(
    workspace: Path, populated: SqliteStateStore
) -> None:
    lock = populated.lock("apply", "ci-runner-7")
    held = lock.__enter__()
    with sqlite3.connect(workspace / ".ftctl" / "state.db") as conn:  # held on another machine
        conn.execute("UPDATE locks SET host = 'runner-elsewhere'")

    code, output = _answer_on_a_terminal(workspace, b"no\n", "force-unlock", held.id)
    assert code == 1
    assert b"Do you really want to force-unlock?" in output
    assert populated.current_lock() is not None

    code, output = _answer_on_a_terminal(workspace, b"yes\n", "force-unlock", held.id)
    assert code == 0, output
    assert f"Lock {held.id} removed".encode() in output
    assert populated.current_lock() is None


def test_lineage_command_prints_json_and_a_model_card(
    workspace: Path, populated: SqliteStateStore
) -> None:
    result = ftctl(workspace, "lineage", "bot", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["model_id"] == "ft:local-tiny:local:bot:2"
    assert data["version"]["git_commit"] == "abc123"
    assert data["version"]["promotions"][0]["who"] == "alice"
    human = ftctl(workspace, "lineage", "bot")
    assert human.stdout.startswith("bot/prod -> ft:local-tiny:local:bot:2")
    card = ftctl(workspace, "lineage", "bot", "--model-card")
    # Hugging Face metadata first (huggingface_hub is installed with the test extras).
    assert card.stdout.startswith("---\nbase_model: local-tiny\n")
    assert "\n# Model card: bot / prod\n" in card.stdout
    nothing = ftctl(workspace, "lineage", "bot", "staging")
    assert nothing.returncode == 1 and "no alias 'staging'" in nothing.stderr


def start(provider: OpenAIProvider, train: Path, validation: Path, epochs: int) -> RemoteJob:
    return provider.create_job(
        JobRequest(
            model="local-tiny",
            training_file=provider.upload_file(train, "train.jsonl").id,
            validation_file=provider.upload_file(validation, "validation.jsonl").id,
            method="supervised",
            hyperparameters={"n_epochs": epochs},
            suffix="bot",
            seed=3,
            metadata={},
        )
    )


def wait(provider: OpenAIProvider, job: RemoteJob) -> RemoteJob:
    deadline = time.monotonic() + 120
    while not job.terminal and time.monotonic() < deadline:
        time.sleep(0.1)
        job = provider.retrieve_job(job.id)
    assert job.status == "succeeded", job.error
    return job


def test_import_adopts_a_job_with_the_planners_fingerprint(
    workspace: Path, server: LocalServerHandle
) -> None:
    loaded = load_workspace(workspace)
    built = build_project(loaded.project("bot"), loaded)
    desired = desired_project(loaded, loaded.project("bot"), built)
    provider = OpenAIProvider("local", api_key="unused", base_url=server.base_url)
    splits = built.splits
    matching = wait(provider, start(provider, splits["train"].path, splits["validation"].path, 1))
    # Adopting a job does not need it to have finished: cancel this one right away.
    different = start(provider, splits["train"].path, splits["validation"].path, 2)
    provider.cancel_job(different.id)
    store = SqliteStateStore(workspace / ".ftctl" / "state.db")

    result = ftctl_process(workspace, "import", "version.bot.1", matching.id)
    assert result.returncode == 0, result.stderr
    assert f"Imported {matching.id} as version.bot.1" in result.stdout
    adopted = store.read().version("bot", 1)
    assert adopted is not None
    assert adopted.fingerprint == fingerprint(desired.fingerprint_inputs())
    assert (adopted.status, adopted.model_id) == ("succeeded", matching.fine_tuned_model)
    assert "train_loss" in adopted.metrics
    assert store.read().dataset("bot", "train").file_id == matching.training_file  # type: ignore[union-attr]
    [entry] = store.audit("bot")
    assert (entry.operation, entry.action, entry.who) == ("import", "adopt", "tester@ci")

    other = ftctl(workspace, "import", "version.bot.2", different.id)
    assert other.returncode == 0, other.stderr
    assert "hyperparameters.n_epochs: job 2, configuration 1" in other.stderr
    second = store.read().version("bot", 2)
    assert second is not None and second.fingerprint != adopted.fingerprint

    serial = store.read().serial
    twice = ftctl(workspace, "import", "version.bot.3", matching.id)
    assert twice.returncode == 1 and "already managed as version.bot.1" in twice.stderr
    gone = ftctl(workspace, "import", "version.bot.3", "ftjob-does-not-exist")
    assert gone.returncode == 1 and "HTTP 404" in gone.stderr
    assert store.read().serial == serial  # no placeholder was written
