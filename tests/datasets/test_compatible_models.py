"""Models of other OpenAI-compatible endpoints are theirs to name; OpenAI's own are checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftctl.datasets.build import build_project
from ftctl.errors import DataError

from . import build_helpers as h

DATA = "train:\n  sources:\n    - path: data/train.jsonl\n"


def _workspace(root: Path, base_url: str | None, model: str) -> Path:
    project = h.project_yaml(DATA, policy="minExamples: {value: 10, level: warn}", model=model)
    project = project.replace("provider: local", "provider: endpoint")
    h.write_workspace(root, project, {"data/train.jsonl": h.examples(0, 12)})
    url = f", baseUrl: '{base_url}'" if base_url else ""
    (root / "ftctl.yaml").write_text(
        "apiVersion: ftctl/v1\nkind: Workspace\nmetadata: {name: ws}\n"
        f"providers:\n  endpoint: {{type: openai, apiKeyEnv: ENDPOINT_KEY{url}}}\n",
        encoding="utf-8",
    )
    return root


def test_a_compatible_endpoint_may_name_its_own_base_models(tmp_path: Path) -> None:
    project, workspace = h.load(
        _workspace(tmp_path, "http://127.0.0.1:9/v1", "acme-llama-3-8b-instruct")
    )

    built = build_project(project, workspace)

    assert built.splits["train"].examples == 12
    assert built.splits["train"].tokens > 0
    assert built.cost.cost_usd is None  # the endpoint's price is not ftctl's to guess


def test_openai_itself_rejects_a_model_it_does_not_fine_tune(tmp_path: Path) -> None:
    project, workspace = h.load(_workspace(tmp_path, None, "gpt-4o-minni"))

    with pytest.raises(DataError) as caught:
        build_project(project, workspace)

    [diagnostic] = caught.value.diagnostics
    assert diagnostic.file == "projects/demo/project.yaml"
    assert diagnostic.line == 7
    assert diagnostic.field == "spec.baseModel"
    assert "unknown model 'gpt-4o-minni'" in diagnostic.message
