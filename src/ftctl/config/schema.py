"""JSON Schemas of ftctl.yaml and project.yaml, generated from the pydantic models.

The schemas are checked in (`schemas/` at the repo root, for editors through the
`yaml-language-server` modeline) and shipped in the package (`ftctl/schemas/`, so that
`ftctl init` can write them into a new workspace). Output is stable: sorted keys,
two-space indent, a trailing newline, so that a regenerated file diffs cleanly.

Regenerate both copies from a source checkout with `python -m ftctl.config.schema`
(`--check` only reports stale files), or a workspace's copy with `ftctl schema --write`.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ftctl.config.models import FineTuneProject, Workspace

DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_MODELS: dict[str, type[BaseModel]] = {
    "project.schema.json": FineTuneProject,
    "workspace.schema.json": Workspace,
}
_LEVELS = ["error", "warn", "off"]

# The policy checks accept a short scalar form (`maxRefusalRatio: 0.2`,
# `requireSystemPrompt: consistent`, `leakage: off`, `maxNearDuplicateRatio: off`)
# through `mode="before"` validators in models.py, which pydantic cannot see when it
# writes the schema. These are the same short forms, so that editors accept what the
# loader accepts.
_SHORT_FORMS: dict[str, list[dict[str, Any]]] = {
    "RatioCheck": [
        {"type": "number", "minimum": 0, "maximum": 1},
        {"enum": _LEVELS},
        {"type": "boolean"},
    ],
    "RefusalCheck": [
        {"type": "number", "minimum": 0, "maximum": 1},
        {"enum": _LEVELS},
        {"type": "boolean"},
    ],
    "MinExamplesCheck": [{"type": "integer", "minimum": 1}, {"enum": _LEVELS}, {"type": "boolean"}],
    "MaxTokensCheck": [
        {"type": "integer"},
        {"enum": ["auto", *_LEVELS]},
        {"type": "boolean"},
    ],
    "SystemPromptCheck": [{"enum": ["consistent", "required", *_LEVELS]}, {"type": "boolean"}],
    "FlagCheck": [{"enum": _LEVELS}, {"type": "boolean"}],
}
# In the policy a check given only a level keeps its default threshold, so the object
# form needs no `value` either (`maxDuplicateRatio: {level: error}`).
_DEFAULTED_CHECKS = ("RatioCheck", "RefusalCheck", "MinExamplesCheck", "MaxTokensCheck")


def build_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of `model`, keys spelt as in YAML."""
    schema = model.model_json_schema(by_alias=True, mode="validation")
    definitions = schema.get("$defs", {})
    for name, short_forms in _SHORT_FORMS.items():
        if name not in definitions:
            continue
        full = copy.deepcopy(definitions[name])
        if name in _DEFAULTED_CHECKS:
            full.pop("required", None)
        wrapper: dict[str, Any] = {"anyOf": [*short_forms, full]}
        for key in ("title", "description"):
            if key in full:
                wrapper[key] = full.pop(key)
        definitions[name] = wrapper
    budget = definitions.get("Policy", {}).get("properties", {}).get("budget", {})
    if "anyOf" in budget:
        budget["anyOf"].append({"enum": ["off", False]})  # `budget: off`: no budget
    return {"$schema": DIALECT, **schema}


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render_all() -> dict[str, str]:
    """File name -> file content, for every schema."""
    return {name: render(build_schema(model)) for name, model in SCHEMA_MODELS.items()}


def stale_files(directory: Path) -> list[str]:
    """Names of the schema files in `directory` that are missing or out of date."""
    stale = []
    for name, text in render_all().items():
        path = directory / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(name)
    return stale


def write_schemas(directory: Path) -> list[Path]:
    """Write every schema into `directory` (atomically); returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_all().items():
        path = directory / name
        write_text_atomic(path, text)
        written.append(path)
    return written


def packaged_schema(name: str) -> str:
    """A schema as shipped in the installed package (`ftctl/schemas/NAME`)."""
    return resources.files("ftctl").joinpath("schemas", name).read_text(encoding="utf-8")


def write_text_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` so that readers never see a half-written file."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def source_checkout_dirs() -> list[Path]:
    """`schemas/` and `src/ftctl/schemas/` of the source checkout this module runs from."""
    package_dir = Path(__file__).resolve().parent.parent
    repo = package_dir.parent.parent
    if not (repo / "pyproject.toml").is_file():
        return []
    return [repo / "schemas", package_dir / "schemas"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ftctl.config.schema",
        description="Regenerate the JSON Schemas of ftctl.yaml and project.yaml.",
    )
    parser.add_argument(
        "directories",
        nargs="*",
        type=Path,
        help="Where to write (default: schemas/ and src/ftctl/schemas/ of this checkout).",
    )
    parser.add_argument("--check", action="store_true", help="Only report stale files.")
    args = parser.parse_args(argv)
    directories: list[Path] = args.directories or source_checkout_dirs()
    if not directories:
        parser.error("not running from a source checkout; name the directories to write")
    stale = [directory / name for directory in directories for name in stale_files(directory)]
    if args.check:
        for path in stale:
            print(f"{path}: out of date; run python -m ftctl.config.schema", file=sys.stderr)
        return 1 if stale else 0
    for directory in directories:
        write_schemas(directory)
    for path in stale:
        print(f"updated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
