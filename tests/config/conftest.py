"""A small valid workspace on disk that tests break one piece at a time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

WORKSPACE_YAML = """\
# yaml-language-server: $schema=schemas/workspace.schema.json
apiVersion: ftctl/v1
kind: Workspace
metadata:
  name: ws
providers:
  local:
    type: local
  openai:
    type: openai
defaults:
  provider: local
"""

PROJECT_YAML = """\
# yaml-language-server: $schema=../../schemas/project.schema.json
apiVersion: ftctl/v1
kind: FineTuneProject
metadata:
  name: demo
spec:
  provider: local
  baseModel: local-tiny
  data:
    train:
      sources:
        - path: data/train.jsonl
      transforms:
        - dedupe: {}
    validation:
      split: {fraction: 0.1, seed: 7}
    test:
      sources:
        - path: data/test.jsonl
  policy:
    maxRefusalRatio: 0.2
    requireSystemPrompt: consistent
  training:
    method: supervised
    hyperparameters:
      nEpochs: 3
  gates:
    metrics:
      - {metric: full_valid_loss, max: 2.0}
    evals:
      graders:
        - {type: json_schema, schema: evals/answer.schema.json}
"""

EXAMPLE = {
    "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
    ]
}


def write_project(root: Path, name: str, text: str | None = None) -> Path:
    """projects/NAME/ with project.yaml, train/test data and a grader schema."""
    project_dir = root / "projects" / name
    (project_dir / "data").mkdir(parents=True)
    (project_dir / "evals").mkdir()
    (project_dir / "data" / "train.jsonl").write_text(json.dumps(EXAMPLE) + "\n")
    (project_dir / "data" / "test.jsonl").write_text(json.dumps(EXAMPLE) + "\n")
    (project_dir / "evals" / "answer.schema.json").write_text('{"type": "object"}\n')
    project_text = text if text is not None else PROJECT_YAML.replace("name: demo", f"name: {name}")
    (project_dir / "project.yaml").write_text(project_text)
    return project_dir


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A valid workspace with one project, `demo`."""
    root = tmp_path / "ws"
    root.mkdir()
    (root / "ftctl.yaml").write_text(WORKSPACE_YAML)
    write_project(root, "demo")
    return root
