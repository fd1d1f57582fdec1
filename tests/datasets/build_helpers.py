"""Tiny workspaces on disk for the dataset build tests (`from . import build_helpers as h`).

Tests write an ftctl.yaml, a project.yaml and JSONL files, then load them with the real
config loader; nothing is mocked.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ftctl.config.loader import LoadedProject, LoadedWorkspace, load_workspace
from ftctl.datasets.build import BuiltProject

WORKSPACE_YAML = """\
apiVersion: ftctl/v1
kind: Workspace
metadata:
  name: ws
providers:
  local:
    type: local
defaults:
  provider: local
"""

_WORDS = (
    "account billing invoice refund order parcel delivery courier address password login "
    "email phone router modem signal battery charger screen keyboard printer scanner "
    "warranty repair replacement exchange coupon discount subscription plan upgrade "
    "downgrade cancel renewal payment card bank transfer receipt tax shipping customs "
    "tracking label return label box damaged missing late early weekend holiday store "
    "branch hours manager agent ticket priority urgent callback chat voicemail language "
    "french german spanish settings profile avatar notification alert reminder calendar "
    "meeting booking reservation table seat flight hotel luggage gate boarding passport "
    "visa insurance claim policy premium deductible doctor appointment prescription "
    "pharmacy dosage allergy recipe oven flour sugar butter garden tomato fence paint "
    "ladder roof gutter window curtain sofa lamp bulb socket fuse heater boiler radiator"
)
_VOCABULARY = tuple(_WORDS.split())


def sentence(seed: int, words: int = 14) -> str:
    """A reproducible sentence of unrelated words: unlike any other seed's."""
    rng = random.Random(seed)
    text = " ".join(rng.choice(_VOCABULARY) for _ in range(words))
    return text[0].upper() + text[1:]


def chat(user: str, answer: str, system: str | None = "You are Acme support.") -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    if system is not None:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": user})
    messages.append({"role": "assistant", "content": answer})
    return {"messages": messages}


def example(seed: int, system: str | None = "You are Acme support.") -> dict[str, Any]:
    """A well-formed, distinct chat example."""
    return chat(sentence(seed) + "?", sentence(seed + 100_000) + ".", system)


def examples(start: int, count: int, **kwargs: Any) -> list[dict[str, Any]]:
    return [example(seed, **kwargs) for seed in range(start, start + count)]


def write_jsonl(path: Path, rows: Iterable[Mapping[str, Any] | str]) -> Path:
    """Rows as JSON lines (a str row is written as is, for broken lines)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def project_yaml(data: str, policy: str = "", training: str = "", model: str = "local-tiny") -> str:
    """A project.yaml; `data`, `policy`, `training` are YAML blocks indented under spec."""
    text = (
        "apiVersion: ftctl/v1\n"
        "kind: FineTuneProject\n"
        "metadata:\n"
        "  name: demo\n"
        "spec:\n"
        "  provider: local\n"
        f"  baseModel: {model}\n"
        "  data:\n" + _indent(data, 4)
    )
    if policy:
        text += "  policy:\n" + _indent(policy, 4)
    if training:
        text += "  training:\n" + _indent(training, 4)
    return text


def _indent(block: str, spaces: int) -> str:
    lines = block.strip("\n").splitlines()
    return "".join(" " * spaces + line + "\n" for line in lines)


def write_workspace(root: Path, project: str, files: Mapping[str, Iterable[Any]] = ()) -> Path:
    """ftctl.yaml, projects/demo/project.yaml and data files (relative to the project)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "ftctl.yaml").write_text(WORKSPACE_YAML, encoding="utf-8")
    project_dir = root / "projects" / "demo"
    project_dir.mkdir(parents=True, exist_ok=True)
    (project_dir / "project.yaml").write_text(project, encoding="utf-8")
    for name, rows in dict(files).items():
        write_jsonl(project_dir / name, rows)
    return project_dir


def big_workspace(root: Path) -> Path:
    """A project `demo` whose one file is past `POOL_MIN_BYTES` (5 MB: worker processes);
    that file."""
    long_answer = " ".join(sentence(s, 40) for s in range(12))  # ~2 KB an example
    rows = [chat(sentence(i), f"{i} {long_answer}") for i in range(2400)]
    write_workspace(
        root,
        project_yaml("train: {sources: [{path: data/train.jsonl}]}"),
        {"data/train.jsonl": rows},
    )
    data = root / "projects/demo/data/train.jsonl"
    assert data.stat().st_size > 4 << 20
    return data


def load(root: Path) -> tuple[LoadedProject, LoadedWorkspace]:
    workspace = load_workspace(root)
    return workspace.project("demo"), workspace


def built_rows(built: BuiltProject, split: str = "train") -> list[dict[str, Any]]:
    """The rows of one built split, read back from its canonical JSONL file."""
    text = built.splits[split].path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def built_origins(built: BuiltProject, split: str = "train") -> list[str]:
    """Where each row of a built split was read ("file:line"), from the origins file kept
    beside its canonical JSONL."""
    path = built.splits[split].path
    origins = path.with_name(path.name.replace(".jsonl", ".origins.jsonl"))
    rows = [json.loads(line) for line in origins.read_text(encoding="utf-8").splitlines()]
    return [file if line is None else f"{file}:{line}" for file, line in rows]


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """The 1-based line of the `occurrence`-th line containing `needle`."""
    seen = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{needle!r} not found")


PROJECT_FILE = "projects/demo/project.yaml"
TRAIN_FILE = "projects/demo/data/train.jsonl"


def json_line(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def canonical(value: Any) -> str:
    """Canonical JSON written out independently of ftctl's implementation."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def origin(line: int, file: str = TRAIN_FILE) -> Any:
    from ftctl.datasets.provenance import Origin

    return Origin(file, line)


def reused(messages: list[str]) -> tuple[int, int]:
    """From a build's messages: (rows whose results came from the cache, rows read)."""
    for message in messages:
        found = re.search(r"reused the results of (\d+) of (\d+) rows", message)
        if found:
            return int(found.group(1)), int(found.group(2))
    raise AssertionError(messages)


def snapshots(root: Path) -> list[Path]:
    """The row snapshots of a workspace's projects' last builds (`row_snapshot`)."""
    return sorted((root / ".ftctl/cache/datasets/builds/latest").glob("*.rows"))


def drop_snapshots(root: Path) -> None:
    """Rebuilds look rows up in the example cache alone (what a build does when the last
    build left no snapshot)."""
    for path in snapshots(root):
        path.unlink()


def date_snapshots(root: Path, days_ago: int) -> None:
    """The snapshots as if written `days_ago` days ago (the day in their footer: the day
    the rows that leave them take in the example cache, with their modification time)."""
    from ftctl.datasets.example_cache import today
    from ftctl.datasets.row_snapshot import MAGIC

    for path in snapshots(root):
        data = bytearray(path.read_bytes())
        at = len(data) - 64 + len(MAGIC) + 16
        data[at : at + 8] = (today() - days_ago).to_bytes(8, "little")
        path.write_bytes(bytes(data))
