"""`ftctl state audit --verify | --json | --jsonl` on a real SQLite state."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from ftctl.cli.main import cli
from ftctl.state.model import AuditEntry
from ftctl.state.sqlite import SqliteStateStore

from ..support.cli import run_ftctl

WORKSPACE = """\
apiVersion: ftctl/v1
kind: Workspace
metadata: {name: audited}
providers:
  local: {type: local}
"""


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "ftctl.yaml").write_text(WORKSPACE)
    store = SqliteStateStore(tmp_path / ".ftctl" / "state.db")
    for n in (1, 2, 3):
        store.append_audit(
            AuditEntry.new(
                who="alice",
                operation="apply",
                address=f"version.bot.{n}",
                action="create",
                detail={"job_id": f"ftjob-{n}"},
            )
        )
    return tmp_path


def invoke(workspace: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--workspace", str(workspace), *args])
    return result.exit_code, result.stdout


def test_verify_passes_and_exports(workspace: Path) -> None:
    code, out = invoke(workspace, "state", "audit", "--verify")
    assert code == 0 and out.startswith("Audit log verified: 3 chained entries; head 3:")
    code, out = invoke(workspace, "state", "audit", "--verify", "--json")
    report = json.loads(out)
    assert code == 0 and report["valid"] is True and report["problem"] is None
    code, out = invoke(workspace, "state", "audit", "--jsonl")
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(e["seq"], e["address"]) for e in lines] == [
        (1, "version.bot.1"),
        (2, "version.bot.2"),
        (3, "version.bot.3"),
    ]
    assert lines[1]["prev_hash"] == lines[0]["entry_hash"]


def test_verify_fails_naming_the_edited_entry(workspace: Path) -> None:
    conn = sqlite3.connect(workspace / ".ftctl" / "state.db", isolation_level=None)
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("""UPDATE audit SET detail = '{"job_id": "ftjob-evil"}' WHERE seq = 2""")
    conn.close()
    done = run_ftctl(
        "state",
        "audit",
        "--verify",
        workspace=workspace,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert done.returncode == 1
    assert "the audit log does not verify: entry #2" in done.stderr
    assert "version.bot.2" in done.stderr and "was edited" in done.stderr
    code, out = invoke(workspace, "state", "audit", "--verify", "--json")
    report = json.loads(out)
    assert code == 1 and report["valid"] is False
    assert (report["problem"]["kind"], report["problem"]["seq"]) == ("edited", 2)


def test_an_export_verifies_offline_and_a_removed_line_is_named(
    workspace: Path, tmp_path: Path
) -> None:
    _, exported = invoke(workspace, "state", "audit", "--jsonl")
    _, verified = invoke(workspace, "state", "audit", "--verify", "--json")
    head = json.loads(verified)["head"]
    export = tmp_path / "audit.jsonl"
    export.write_text(exported)
    code, out = invoke(workspace, "state", "audit", "--verify", "--from", str(export))
    assert code == 0 and "3 chained entries" in out

    lines = exported.splitlines(True)
    export.write_text(lines[0] + lines[2])  # entry #2 left out of the export
    code, _ = invoke(workspace, "state", "audit", "--verify", "--from", str(export))
    assert code == 1
    report = json.loads(
        invoke(workspace, "state", "audit", "--verify", "--json", "--from", str(export))[1]
    )
    assert (report["problem"]["kind"], report["problem"]["seq"]) == ("removed", 3)

    export.write_text(lines[0] + lines[1])  # the newest entry cut: only the head shows it
    assert invoke(workspace, "state", "audit", "--verify", "--from", str(export))[0] == 0
    code, _ = invoke(workspace, "state", "audit", "--verify", "--from", str(export), "--head", head)
    assert code == 1

    export.write_text(lines[0] + '{"id": 2, "at": "x"}\n')
    result = CliRunner().invoke(
        cli, ["--workspace", str(workspace), "state", "audit", "--verify", "--from", str(export)]
    )
    assert result.exit_code == 1
    assert f"{export}:2: field 'who' is missing or has the wrong type" in result.stderr
