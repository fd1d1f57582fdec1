"""A base model the catalog knows must support the configured training method."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ..support.cli import run_ftctl


def ftctl(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_ftctl("--no-color", *args, cwd=cwd)


def test_dpo_on_local_tiny_is_a_validation_error_at_the_method_line(tmp_path: Path) -> None:
    assert ftctl(tmp_path, "init", "demo").returncode == 0
    project = tmp_path / "projects" / "demo" / "project.yaml"
    lines = project.read_text(encoding="utf-8").splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip() == "method: supervised")
    lines[at] = "    method: dpo"
    project.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = ftctl(tmp_path, "validate")

    assert result.returncode == 1
    expected = (
        f"projects/demo/project.yaml:{at + 1}:13: error: spec.training.method: "
        "local-tiny cannot be fine-tuned with method 'dpo' (it supports: supervised)"
    )
    assert expected in result.stdout + result.stderr
