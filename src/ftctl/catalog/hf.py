"""Open-weights base models: `hf:<org>/<name>[@revision]` (the Hugging Face cache) or `hf:<path>`.

The catalog entry of such a model comes from the model's own files, not from a table:
its context length from `config.json`, its tokenizer and chat template from the model
directory, no per-token price (cost is trained tokens, or GPU-hours at a configured rate).

Resolution never reaches the network and needs no optional dependency: a hub model is
looked up in the local cache the way `huggingface_hub` lays it out
(`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`;
`models--<org>--<name>/refs/<revision>` -> `snapshots/<commit>/`). A model that is not
there is a `ModelNotFound` naming the command that downloads it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftctl.errors import DataError

HF_PREFIX = "hf:"
DEFAULT_REVISION = "main"
# Used when a model's config names no context length (rare; older GPT-2 style configs
# use n_positions, which is read too).
FALLBACK_CONTEXT = 2048
# Methods the Hugging Face trainer runs (reinforcement/GRPO is refused, see server.trainers.hf).
HF_METHODS: tuple[str, ...] = ("supervised", "dpo")
INSTALL_COMMAND = "pip install 'ftctl[train]'"
# Where the local server resolves relative `hf:<directory>` models (set by its launcher to
# the workspace; else the server's working directory).
ROOT_ENV = "FTCTL_HF_ROOT"
# The packages the trainer imports; validate checks they are importable.
TRAIN_PACKAGES: tuple[str, ...] = ("torch", "transformers", "peft", "trl", "accelerate")

_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")


class ModelNotFound(DataError):
    """An hf model that is not on this machine; the message says how to get it."""


@dataclass(frozen=True)
class HfRef:
    """A parsed `hf:` reference: a hub repository (with a revision) or a local directory."""

    text: str  # as written, with the prefix
    repo_id: str | None
    revision: str
    path: str | None

    @property
    def download_command(self) -> str:
        if self.repo_id is None:
            return ""
        revision = f" --revision {self.revision}" if self.revision != DEFAULT_REVISION else ""
        return f"hf download {self.repo_id}{revision}"


def is_hf(model: str) -> bool:
    return model.strip().startswith(HF_PREFIX)


def parse(model: str) -> HfRef:
    """`hf:org/name@rev` -> a hub reference; `hf:./dir`, `hf:/abs/dir`, `hf:dir/sub/x` -> a path.

    A value of the form `org/name` (one slash, no leading `.` or `/`) is a hub repository;
    anything else is a directory. Raises DataError for an empty reference.
    """
    text = model.strip()
    body = text[len(HF_PREFIX) :] if text.startswith(HF_PREFIX) else text
    if not body:
        raise DataError(f"{text!r}: expected hf:<org>/<name>[@revision] or hf:<directory>")
    name, _, revision = body.partition("@")
    if _REPO_ID.fullmatch(name) and not name.startswith("."):
        return HfRef(text=text, repo_id=name, revision=revision or DEFAULT_REVISION, path=None)
    return HfRef(text=text, repo_id=None, revision=DEFAULT_REVISION, path=body)


def hub_cache() -> Path:
    """Where huggingface_hub keeps downloaded models (its own environment variables)."""
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("HF_HOME")
    if home:
        return Path(home).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def locate(model: str, root: Path | None = None) -> Path:
    """The directory holding the model's files (config.json, weights, tokenizer).

    A relative `hf:<path>` is relative to `root` (the workspace), else the working directory.
    Like `from_pretrained`, a name of the form `org/name` is a local directory when one with
    a config.json exists there, else a hub repository.
    Raises ModelNotFound naming what to download or which directory is missing.
    """
    ref = parse(model)
    if ref.repo_id is not None and ref.revision == DEFAULT_REVISION and "@" not in ref.text:
        local = (root or Path.cwd()) / ref.repo_id
        if (local / "config.json").is_file():
            return local
    if ref.path is not None:
        path = Path(ref.path).expanduser()
        if not path.is_absolute():
            path = (root or Path.cwd()) / path
        if not (path / "config.json").is_file():
            raise ModelNotFound(
                f"model directory {path} not found (expected a Hugging Face model directory "
                "with config.json)"
            )
        return path
    assert ref.repo_id is not None
    repo = hub_cache() / ("models--" + ref.repo_id.replace("/", "--"))
    snapshot = _snapshot(repo, ref.revision)
    if snapshot is None or not (snapshot / "config.json").is_file():
        offline = " (HF_HUB_OFFLINE is set)" if _offline() else ""
        raise ModelNotFound(
            f"model {ref.repo_id}@{ref.revision} is not in the Hugging Face cache "
            f"{hub_cache()}{offline}; download it first: {ref.download_command}"
        )
    return snapshot


def _snapshot(repo: Path, revision: str) -> Path | None:
    ref_file = repo / "refs" / revision
    if ref_file.is_file():
        commit = ref_file.read_text(encoding="utf-8").strip()
        return repo / "snapshots" / commit
    direct = repo / "snapshots" / revision  # a commit hash given as the revision
    return direct if direct.is_dir() else None


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class HfModelFacts:
    """What the catalog reads from a model directory."""

    directory: Path
    context_length: int
    chat_template: bool
    model_type: str


def read_facts(directory: Path) -> HfModelFacts:
    """Context length, chat template presence and architecture from the model's own files."""
    config = _read_json(directory / "config.json")
    nested = config.get("text_config")
    text_config: dict[str, Any] = nested if isinstance(nested, dict) else {}
    context = _first_int(
        config, text_config, "max_position_embeddings", "n_positions", "seq_length"
    )
    tokenizer_config = _read_json(directory / "tokenizer_config.json")
    template = bool(tokenizer_config.get("chat_template")) or any(
        (directory / name).is_file() for name in ("chat_template.jinja", "chat_template.json")
    )
    return HfModelFacts(
        directory=directory,
        context_length=context or FALLBACK_CONTEXT,
        chat_template=template,
        model_type=str(config.get("model_type", "")),
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise DataError(f"cannot read {path}: {error}") from error
    return value if isinstance(value, dict) else {}


def _first_int(config: dict[str, Any], nested: dict[str, Any], *keys: str) -> int | None:
    for source in (config, nested):
        for key in keys:
            value = source.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
    return None


def missing_train_packages() -> list[str]:
    """The trainer's packages that are not importable here (no import is done)."""
    from importlib.util import find_spec

    return [name for name in TRAIN_PACKAGES if find_spec(name) is None]
