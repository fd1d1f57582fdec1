"""The build record of a project in a real git repository (gitpython, tmp dir)."""

from __future__ import annotations

from pathlib import Path

import git

from ftctl.config.loader import load_workspace
from ftctl.lineage.sources import build_record, git_blob_id

PROJECT = """\
apiVersion: ftctl/v1
kind: FineTuneProject
metadata: {name: bot}
spec:
  provider: local
  baseModel: local-tiny
  data:
    train:
      sources:
        - {path: "data/*.jsonl"}
        - {git: {rev: v1, path: data/a.jsonl}}
        - {inline: [{messages: [{role: user, content: hi}, {role: assistant, content: yo}]}]}
"""
ROW = '{"messages": [{"role": "user", "content": "%s"}, {"role": "assistant", "content": "ok"}]}\n'


def test_build_record_names_files_revisions_and_the_dirty_flag(tmp_path: Path) -> None:
    repo = git.Repo.init(tmp_path)
    (tmp_path / "ftctl.yaml").write_text(
        "apiVersion: ftctl/v1\nkind: Workspace\nmetadata: {name: w}\n"
        "providers:\n  local: {type: local}\n"
    )
    data = tmp_path / "projects" / "bot" / "data"
    data.mkdir(parents=True)
    (data / "a.jsonl").write_text(ROW % "one")
    (data / "b.jsonl").write_text(ROW % "two")
    (tmp_path / "projects" / "bot" / "project.yaml").write_text(PROJECT)
    repo.index.add(["ftctl.yaml", "projects"])
    tagged = repo.index.commit("v1", author=git.Actor("A", "a@x"), committer=git.Actor("A", "a@x"))
    repo.create_tag("v1")
    (data / "a.jsonl").write_text(ROW % "changed")  # after the tag, and not committed

    workspace = load_workspace(tmp_path)
    project = workspace.project("bot")
    record = build_record(workspace, project, who="alice", git_commit=tagged.hexsha)
    assert record["config_file"] == "projects/bot/project.yaml"
    assert record["config_git_blob"] == repo.git.hash_object("projects/bot/project.yaml")
    assert record["git_dirty"] is True  # a.jsonl changed since the commit
    paths, from_git, inline = (
        record["sources"]["train"][:2],
        record["sources"]["train"][2],
        record["sources"]["train"][3],
    )
    assert [p["path"] for p in paths] == ["projects/bot/data/a.jsonl", "projects/bot/data/b.jsonl"]
    # The blob id of the bytes on disk now (what was uploaded), which no commit holds yet.
    assert paths[0]["git_blob"] == repo.git.hash_object("projects/bot/data/a.jsonl")
    assert paths[0]["git_blob"] != (tagged.tree / "projects/bot/data/a.jsonl").hexsha
    assert (from_git["rev"], from_git["commit"]) == ("v1", tagged.hexsha)
    assert from_git["git_blob"] == (tagged.tree / "projects/bot/data/a.jsonl").hexsha
    assert inline == {"kind": "inline", "index": 2, "rows": 1}

    repo.index.add(["projects"])
    repo.index.commit("data", author=git.Actor("A", "a@x"), committer=git.Actor("A", "a@x"))
    clean = build_record(workspace, project, who="alice", git_commit=None)
    assert clean["git_dirty"] is False


def test_git_blob_id_is_gits() -> None:
    assert git_blob_id(b"Hello") == "5ab2f8a4323abafb10abb68657d9d39f1a775057"
