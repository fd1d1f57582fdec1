"""Create a workspace (when there is none) and a starter project in it.

The project is small but complete: a `project.yaml` with the schema modeline, training
and test data in the chat format, so that `ftctl validate` (and `ftctl plan`) pass right
after `ftctl init`. Nothing existing is overwritten: an existing project is an error,
an existing `ftctl.yaml` is kept as it is. The project is assembled in a temporary
directory and moved into place, so a failure leaves no half-made project behind.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

from ftctl.config.loader import read_workspace
from ftctl.config.models import NAME_PATTERN
from ftctl.config.schema import SCHEMA_MODELS, packaged_schema, write_text_atomic
from ftctl.errors import ConfigError, Diagnostic

PROJECT_NAME = re.compile(NAME_PATTERN)

# (question, answer) pairs on unrelated topics, worded differently on purpose: the data
# policy flags near-duplicate prompts and test prompts that resemble training prompts.
# The first `_TRAIN_COUNT` are training data, the rest the test split.
_EXAMPLES = [
    ("What is the capital of France?", "Paris."),
    ("How many days are in a leap year?", "366."),
    ("Which planet is known as the Red Planet?", "Mars."),
    ("Convert 5 kilometres to metres.", "5000 metres."),
    ("Who wrote Romeo and Juliet?", "William Shakespeare."),
    ("At what Celsius temperature does water boil at sea level?", "100 degrees."),
    ("Name the largest ocean on Earth.", "The Pacific Ocean."),
    ("What gas do plants absorb from the air?", "Carbon dioxide."),
    ("How many sides does a hexagon have?", "Six."),
    ("What is 12 multiplied by 12?", "144."),
    ("Which language has the most native speakers?", "Mandarin Chinese."),
    ("On which continent is Kenya?", "Africa."),
    ("Give the chemical symbol for gold.", "Au."),
    ("Two hours make how many minutes?", "120."),
    ("Which instrument usually has 88 keys?", "The piano."),
    ("Water freezes at what Fahrenheit temperature?", "32 degrees."),
    ("Name the longest river in South America.", "The Amazon."),
    ("Who painted the Mona Lisa?", "Leonardo da Vinci."),
    ("What is the square root of 81?", "9."),
    ("Which organ pumps blood through the body?", "The heart."),
    ("Translate 'thank you' into Spanish.", "Gracias."),
    ("What currency is used in Japan?", "The yen."),
    ("How many continents are there?", "Seven."),
    ("Which metal is liquid at room temperature?", "Mercury."),
    ("Tell me the capital of Canada.", "Ottawa."),
    ("How many legs does a spider have?", "Eight."),
    ("Who discovered penicillin?", "Alexander Fleming."),
    ("Add 15 and 27.", "42."),
    ("Which planet is closest to the Sun?", "Mercury."),
    ("Say 'good morning' in French.", "Bonjour."),
]
_TRAIN_COUNT = 24
# Below the 50 OpenAI recommends, on purpose: the starter data only shows the format.
_MIN_EXAMPLES = 10


@dataclass(frozen=True)
class InitResult:
    workspace_dir: Path
    project_dir: Path
    created: tuple[Path, ...]  # files written, in order
    workspace_created: bool
    # Problems of the new project in an existing workspace (say it has no `local`
    # provider): the files are written, the user has to adapt one of them.
    problems: tuple[Diagnostic, ...] = ()


def validate_project_name(name: str) -> str | None:
    """Why `name` cannot name a project (None when it can)."""
    if PROJECT_NAME.fullmatch(name):
        return None
    return (
        f"invalid project name '{name}': use 1-63 lowercase letters, digits and '-', "
        "starting and ending with a letter or digit"
    )


def init_project(workspace_dir: Path, name: str) -> InitResult:
    """Scaffold `projects/NAME/` (and the workspace around it when missing)."""
    problem = validate_project_name(name)
    if problem:
        raise ConfigError(problem)
    workspace_dir = workspace_dir.resolve()
    project_dir = workspace_dir / "projects" / name
    if project_dir.exists():
        raise ConfigError(
            f"project '{name}' already exists at {project_dir}; ftctl init does not "
            "overwrite (choose another name, or remove the directory)"
        )
    # Checked before anything is written: a failing init leaves the directory untouched.
    for needed in (workspace_dir, workspace_dir / "projects", workspace_dir / "schemas"):
        if needed.exists() and not needed.is_dir():
            raise ConfigError(f"cannot create {project_dir}: {needed} is a file, not a directory")
    try:
        return _scaffold(workspace_dir, project_dir, name)
    except OSError as error:
        where = error.filename or workspace_dir
        raise ConfigError(f"cannot create the project in {where}: {error.strerror}") from error


def _scaffold(workspace_dir: Path, project_dir: Path, name: str) -> InitResult:
    created: list[Path] = []
    workspace_dir.mkdir(parents=True, exist_ok=True)
    workspace_file = workspace_dir / "ftctl.yaml"
    workspace_created = not workspace_file.exists()
    if workspace_created:
        text = _template("ftctl.yaml").substitute(workspace_name=_workspace_name(workspace_dir))
        write_text_atomic(workspace_file, text)
        created.append(workspace_file)
    created.extend(_write_schemas(workspace_dir / "schemas"))
    gitignore = _ensure_gitignore(workspace_dir / ".gitignore")
    if gitignore:
        created.append(gitignore)
    created.extend(_write_project(project_dir, name))
    problems: tuple[Diagnostic, ...] = ()
    if not workspace_created:
        problems = read_workspace(workspace_dir, only=[str(project_dir)]).diagnostics
    return InitResult(workspace_dir, project_dir, tuple(created), workspace_created, problems)


def _write_project(project_dir: Path, name: str) -> list[Path]:
    project_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=project_dir.parent, prefix=f".{name}."))
    try:
        (staging / "data").mkdir()
        project_text = _template("project.yaml").substitute(name=name, min_examples=_MIN_EXAMPLES)
        (staging / "project.yaml").write_text(project_text, encoding="utf-8")
        train, test = _EXAMPLES[:_TRAIN_COUNT], _EXAMPLES[_TRAIN_COUNT:]
        (staging / "data" / "train.jsonl").write_text(_jsonl(train), encoding="utf-8")
        (staging / "data" / "test.jsonl").write_text(_jsonl(test), encoding="utf-8")
        # mkdtemp makes the directory private; give it the mode a plain mkdir would.
        staging.chmod(0o777 & ~_current_umask())
        staging.rename(project_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [
        project_dir / "project.yaml",
        project_dir / "data/train.jsonl",
        project_dir / "data/test.jsonl",
    ]


def _write_schemas(directory: Path) -> list[Path]:
    """Copy the packaged schemas unless the workspace already has these exact files."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name in SCHEMA_MODELS:
        text = packaged_schema(file_name)
        path = directory / file_name
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        write_text_atomic(path, text)
        written.append(path)
    return written


def _ensure_gitignore(path: Path) -> Path | None:
    """Make git ignore `.ftctl/`; returns the path when it had to be written."""
    block = _template("gitignore").template
    if not path.exists():
        write_text_atomic(path, block)
        return path
    text = path.read_text(encoding="utf-8")
    if any(line.strip() in (".ftctl", ".ftctl/", "/.ftctl/") for line in text.splitlines()):
        return None
    separator = "" if text.endswith("\n") or not text else "\n"
    write_text_atomic(path, text + separator + block)
    return path


def _jsonl(pairs: list[tuple[str, str]]) -> str:
    lines = []
    for question, answer in pairs:
        messages = [
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ]
        lines.append(json.dumps({"messages": messages}, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def _workspace_name(directory: Path) -> str:
    """A valid workspace name from the directory name (`My Repo` -> `my-repo`)."""
    slug = re.sub(r"[^a-z0-9-]+", "-", directory.name.lower()).strip("-")[:63].strip("-")
    return slug or "workspace"


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _template(file_name: str) -> Template:
    text = resources.files("ftctl.scaffold").joinpath("templates", file_name).read_text("utf-8")
    return Template(text)
