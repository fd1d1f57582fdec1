"""Lineage, provenance and history of versions trained for real: a git repository (made
with gitpython in a tmp dir), the CLI in a subprocess, the local server over loopback.

Project `base` trains from its data file as tagged `v1` (the file has changed since);
project `chat` fine-tunes `base`'s model, so its lineage is a two-step chain.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import git
import jsonschema
import pytest

from ftctl.providers.local_launcher import LocalServerHandle

from ..support.cli import run_ftctl
from ..support.local_server import running_local_server
from .intoto import validator

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "projects" / "support-triage" / "data"

BASE = """\
apiVersion: ftctl/v1
kind: FineTuneProject
metadata: {name: base, owner: ml@example.com}
spec:
  provider: local
  baseModel: local-tiny
  suffix: base
  data:
    train: {sources: [{git: {rev: v1, path: data/train.jsonl}}]}
    validation: {split: {fraction: 0.2, seed: 7}}
  policy: {minExamples: {value: 10, level: warn}}
  training: {hyperparameters: {nEpochs: 1, batchSize: 8}, seed: 7}
  gates: {metrics: [{metric: full_valid_loss, max: 100}]}
  promote: {alias: prod, when: gates_pass}
"""

CHAT = """\
apiVersion: ftctl/v1
kind: FineTuneProject
metadata: {{name: chat, owner: ml@example.com}}
spec:
  provider: local
  baseModel: {base_model}
  suffix: chat
  data:
    train: {{sources: [{{path: data/train.jsonl}}]}}
  policy: {{minExamples: {{value: 10, level: warn}}}}
  training: {{hyperparameters: {{nEpochs: 1, batchSize: 8}}, seed: 3}}
  promote: {{alias: prod, when: always}}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServerHandle]:
    with running_local_server(tmp_path_factory.mktemp("server")) as handle:
        yield handle


def ftctl(root: Path, *args: str, check: int | None = 0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "FTCTL_USER": "Alice <alice@example.com>"}
    return run_ftctl(*args, workspace=root, env=env, check=check, timeout=240)


def lines(path: Path, start: int, stop: int) -> str:
    return "".join(path.read_text().splitlines(True)[start:stop])


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, server: LocalServerHandle) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("workspace")
    repo = git.Repo.init(root)
    with repo.config_writer() as config:
        config.set_value("user", "name", "Alice")
        config.set_value("user", "email", "alice@example.com")
    (root / ".gitignore").write_text(".ftctl/\n")
    (root / "ftctl.yaml").write_text(
        "apiVersion: ftctl/v1\nkind: Workspace\nmetadata: {name: audited}\n"
        f"providers:\n  local: {{type: local, baseUrl: '{server.base_url}'}}\n"
    )
    data = root / "projects" / "base" / "data"
    data.mkdir(parents=True)
    train = data / "train.jsonl"
    train.write_text(lines(SOURCE / "train.jsonl", 0, 30))
    repo.index.add([".gitignore", "ftctl.yaml", "projects/base/data/train.jsonl"])
    tagged = repo.index.commit("data v1")
    repo.create_tag("v1")
    train.write_text(lines(SOURCE / "train.jsonl", 100, 140))  # the data moved on since v1
    (root / "projects" / "base" / "project.yaml").write_text(BASE)
    repo.index.add(["projects/base/data/train.jsonl", "projects/base/project.yaml"])
    first = repo.index.commit("project base")
    ftctl(root, "apply", "--auto-approve")
    model1 = ftctl(root, "output", "base").stdout.strip()

    chat = root / "projects" / "chat"
    (chat / "data").mkdir(parents=True)
    (chat / "data" / "train.jsonl").write_text(lines(SOURCE / "train.jsonl", 200, 230))
    (chat / "project.yaml").write_text(CHAT.format(base_model=model1))
    repo.index.add(["projects/chat/data/train.jsonl", "projects/chat/project.yaml"])
    second = repo.index.commit("project chat on base")
    ftctl(root, "apply", "--auto-approve")
    model2 = ftctl(root, "output", "chat").stdout.strip()
    return {
        "root": root,
        "repo": repo,
        "tagged": tagged.hexsha,
        "tagged_blob": (tagged.tree / "projects/base/data/train.jsonl").hexsha,
        "first": first.hexsha,
        "second": second.hexsha,
        "model1": model1,
        "model2": model2,
    }


def test_lineage_of_a_version_trained_from_data_at_a_tagged_revision(
    trained: dict[str, Any],
) -> None:
    found = json.loads(ftctl(trained["root"], "lineage", "base", "--json").stdout)
    version = found["version"]
    assert found["model_id"] == trained["model1"] and version["git_commit"] == trained["first"]
    build = version["build"]
    assert build["config_file"] == "projects/base/project.yaml"
    assert build["git_commit"] == trained["first"] and build["git_dirty"] is False
    [source] = build["sources"]["train"]
    # The tag as written, the commit it resolved to and the file's blob there: not the
    # data file as it is now.
    assert (source["kind"], source["rev"], source["commit"], source["git_blob"]) == (
        "git",
        "v1",
        trained["tagged"],
        trained["tagged_blob"],
    )
    text = ftctl(trained["root"], "lineage", "base").stdout
    assert f"projects/base/data/train.jsonl@v1  commit {trained['tagged'][:12]}" in text
    assert re.search(r"\n  config +projects/base/project\.yaml\n", text)


def test_provenance_statements_validate_against_the_specs(trained: dict[str, Any]) -> None:
    out = ftctl(trained["root"], "provenance", "base", "prod").stdout
    provenance, tested = (json.loads(line) for line in out.splitlines())
    validator("slsa-provenance-v1").validate(provenance)
    validator("intoto-test-result-v0.1").validate(tested)

    names = {s["name"]: s["digest"] for s in provenance["subject"]}
    assert trained["model1"] in names and len(names) == 3  # the model, train and validation
    build = provenance["predicate"]["buildDefinition"]
    assert build["externalParameters"]["configFile"] == "projects/base/project.yaml"
    assert build["externalParameters"]["gitCommit"] == trained["first"]
    assert build["externalParameters"]["gitDirty"] is False
    deps = {d["name"]: d for d in build["resolvedDependencies"]}
    assert deps["projects/base/data/train.jsonl@v1"]["digest"]["gitBlob"] == trained["tagged_blob"]
    assert (
        deps["projects/base/data/train.jsonl@v1"]["annotations"]["gitCommit"] == trained["tagged"]
    )
    assert deps["workspace repository"]["digest"] == {"gitCommit": trained["first"]}
    assert deps["local-tiny"]["annotations"]["role"] == "base model"
    run = provenance["predicate"]["runDetails"]
    assert run["builder"]["id"] == "urn:ftctl:provider:local"
    assert run["metadata"]["invocationId"].startswith("ftjob-")
    assert {b["annotations"]["who"] for b in run["byproducts"]} == {"Alice <alice@example.com>"}
    assert tested["predicate"]["result"] == "PASSED"
    assert tested["subject"] == provenance["subject"][:1]
    assert tested["predicate"]["passedTests"] and not tested["predicate"]["failedTests"]

    # The schemas do reject what the specs forbid: a subject without a digest.
    broken = {**provenance, "subject": [{"name": trained["model1"]}]}
    with pytest.raises(jsonschema.ValidationError):
        validator("slsa-provenance-v1").validate(broken)


def test_a_fine_tune_of_a_fine_tune_is_shown_down_to_the_base_model(
    trained: dict[str, Any],
) -> None:
    root = trained["root"]
    found = json.loads(ftctl(root, "lineage", trained["model2"], "--json").stdout)
    assert found["base_chain"] == [trained["model2"], trained["model1"], "local-tiny"]
    parent = found["version"]["parent"]
    assert parent["address"] == "version.base.1" and parent["parent"] is None
    assert parent["build"]["sources"]["train"][0]["rev"] == "v1"
    text = ftctl(root, "lineage", trained["model2"]).stdout
    assert f"fine-tuned from version.base.1 -> {trained['model1']}" in text
    # The parent's own details follow, one level deeper.
    assert re.search(r"\n    source train +projects/base/data/train\.jsonl@v1", text)
    mermaid = ftctl(root, "lineage", "chat", "--mermaid").stdout
    assert mermaid.startswith("flowchart TD")
    assert mermaid.count("-->|fine-tuned from|") == 2 and "local-tiny" in mermaid
    dot = ftctl(root, "lineage", "chat", "--dot").stdout
    assert dot.startswith('digraph "lineage chat"') and dot.count("fine-tuned from") == 2


def test_history_shows_versions_and_alias_moves_with_who(trained: dict[str, Any]) -> None:
    out = json.loads(ftctl(trained["root"], "history", "base", "--json").stdout)
    assert [v["version"] for v in out["versions"]] == [1] and out["aliases"] == {"prod": 1}
    promotions = [e for e in out["events"] if e["action"] == "promote"]
    assert [(e["what"], e["who"]) for e in promotions] == [
        ("alias prod: set to 1", "Alice <alice@example.com>")
    ]
    created = next(e for e in out["events"] if e["action"] == "create")
    assert created["why"], "the plan's reason is recorded with the change"
    text = ftctl(trained["root"], "history", "base").stdout
    assert "version 1: started training" in text and "alias prod: set to 1" in text


def test_the_model_card_carries_hugging_face_metadata(trained: dict[str, Any]) -> None:
    from huggingface_hub import ModelCard

    out = ftctl(trained["root"], "lineage", trained["model2"], "--model-card").stdout
    card = ModelCard(out)
    assert card.data.base_model == trained["model1"]
    assert card.data.datasets and card.data.datasets[0].startswith("ftctl/chat/train@sha256:")
    assert card.data.eval_results, "model-index holds the job's metrics"
    assert "# Model card: chat / " not in out or "## Data" in out


def test_lineage_is_rebuilt_from_the_provider_after_the_state_is_lost(
    trained: dict[str, Any], tmp_path: Path
) -> None:
    # The same workspace (same repository, same provider), its state database deleted.
    root = tmp_path / "workspace"
    shutil.copytree(trained["root"], root, ignore=shutil.ignore_patterns("state.db*"))
    assert not (root / ".ftctl" / "state.db").exists()
    out = json.loads(ftctl(root, "import", "--all", "--json").stdout)
    rebuilt = {v["address"]: v for v in out["versions"]}
    assert set(rebuilt) == {"version.base.1", "version.chat.1"}
    assert rebuilt["version.base.1"]["model_id"] == trained["model1"]
    assert out["lost_aliases"] == ["alias.base.prod", "alias.chat.prod"]
    human = ftctl(root, "import", "--all")
    assert "Already in the state: 2 job(s)" in human.stdout
    assert "alias.base.prod" in human.stderr and "could not be recovered" in human.stderr

    # Lineage by model id, recursively, with the commits the jobs carried.
    found = json.loads(ftctl(root, "lineage", trained["model2"], "--json").stdout)
    assert found["base_chain"] == [trained["model2"], trained["model1"], "local-tiny"]
    assert found["version"]["git_commit"] == trained["second"]
    assert found["version"]["parent"]["git_commit"] == trained["first"]
    assert found["version"]["parent"]["build"]["config_file"] == "projects/base/project.yaml"
    assert found["version"]["parent"]["build"]["git_dirty"] is False
    # Fingerprints match the configuration: nothing is retrained, only the aliases return.
    plan = ftctl(root, "plan", check=None).stdout
    assert "will be trained" not in plan and "alias" in plan
