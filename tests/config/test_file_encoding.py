"""Files that are not clean UTF-8 YAML text: located diagnostics, never a crash."""

from __future__ import annotations

import codecs
from pathlib import Path

from ftctl.config.loader import read_workspace

PROJECT = "projects/demo/project.yaml"


def _only_diagnostic(workspace: Path) -> str:
    report = read_workspace(workspace)
    assert not report.valid
    assert len(report.diagnostics) == 1, report.diagnostics
    return str(report.diagnostics[0])


def test_invalid_utf8_in_a_project_is_placed_at_its_byte(workspace: Path) -> None:
    path = workspace / PROJECT
    path.write_bytes(path.read_bytes().replace(b"name: demo", b"name: d\xe9mo", 1))

    shown = _only_diagnostic(workspace)

    # Line 5 is `  name: d\xe9mo`; the bad byte is its 10th character.
    assert shown.startswith(f"{PROJECT}:5:10: error: invalid UTF-8: byte 0xe9")
    assert "save the file as UTF-8" in shown


def test_invalid_utf8_in_ftctl_yaml_is_a_diagnostic_not_a_crash(workspace: Path) -> None:
    path = workspace / "ftctl.yaml"
    path.write_bytes(path.read_bytes().replace(b"name: ws", b"name: w\xff", 1))

    report = read_workspace(workspace)

    assert report.workspace is None
    assert [str(d).split(": error: ")[0] for d in report.diagnostics] == ["ftctl.yaml:5:10"]


def test_a_nul_byte_is_placed_at_its_line(workspace: Path) -> None:
    path = workspace / "ftctl.yaml"
    text = path.read_text()
    path.write_text(text + "\x00\n")

    shown = _only_diagnostic(workspace)

    line = len(text.splitlines()) + 1
    assert shown.startswith(f"ftctl.yaml:{line}:1: error: character U+0000 is not allowed")


def test_a_byte_order_mark_is_accepted_and_lines_stay_right(workspace: Path) -> None:
    path = workspace / PROJECT
    text = path.read_text().replace("nEpochs: 3", "nEpochs: 99")
    path.write_bytes(codecs.BOM_UTF8 + text.encode())

    shown = _only_diagnostic(workspace)

    line = text.splitlines().index("      nEpochs: 99") + 1
    assert shown.startswith(f"{PROJECT}:{line}:16: error: spec.training.hyperparameters.nEpochs")
