"""Graders: does one answer pass? One class per grader type of the config.

A grader takes the model's answer and the eval example (for its reference answer) and
returns a `Grade`: passed or not, and a reason a person can act on ("priority: got
'high', expected 'urgent'"). An example passes when every grader that `counts` passes.
The refusal grader does not count per example: it feeds the eval's refusal rate, which
the gate compares with its `max`.

JSON graders accept an answer wrapped in one Markdown code fence (```json ... ```),
since chat models often add one; anything else around the JSON makes it invalid.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ftctl.config.models import (
    ExactMatchGrader,
    JsonMatchGrader,
    JsonSchemaGrader,
    RefusalGrader,
    RegexGrader,
)
from ftctl.config.models import Grader as GraderConfig
from ftctl.errors import Diagnostic, GateError
from ftctl.gates.examples import EvalExample
from ftctl.text.refusals import DEFAULT_REFUSAL_PHRASES, refusal_matcher

_FENCE = re.compile(r"^```[A-Za-z0-9_-]*\s*\n(?P<body>.*?)\n?```$", re.DOTALL)
_MISSING = object()


@dataclass(frozen=True)
class Grade:
    grader: str
    passed: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"grader": self.grader, "passed": self.passed, "reason": self.reason}


class Grader(Protocol):
    """What every grader offers; `name` is how reports refer to it."""

    @property
    def name(self) -> str: ...

    @property
    def counts(self) -> bool:
        """Whether the grade decides if the example passes."""
        ...

    def reference_problem(self, reference: str | None) -> str | None:
        """Why this grader cannot use `reference` (checked before any model is called)."""
        ...

    def grade(self, answer: str, example: EvalExample) -> Grade: ...


def _shorten(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 1] + "…")


def parse_json_answer(text: str) -> tuple[Any, str | None]:
    """(value, None) when `text` is JSON (optionally in one code fence), else (None, reason)."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    if fenced:
        stripped = fenced.group("body").strip()
    if not stripped:
        return None, "not JSON: the answer is empty"
    try:
        return json.loads(stripped), None
    except json.JSONDecodeError as exc:
        return None, f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"


# --------------------------------------------------------------------------- graders


@dataclass(frozen=True)
class JsonSchemaCheck:
    """Passes when the answer is JSON valid against a JSON Schema file."""

    schema_path: str  # as written in the config, for messages
    validator: Any  # a jsonschema Validator instance
    name: str = "json_schema"
    counts: bool = True

    def reference_problem(self, reference: str | None) -> str | None:
        return None

    def grade(self, answer: str, example: EvalExample) -> Grade:
        value, problem = parse_json_answer(answer)
        if problem is not None:
            return Grade(self.name, False, problem)
        import jsonschema.exceptions  # imported on use: ~50 ms that `plan` never needs

        error = jsonschema.exceptions.best_match(self.validator.iter_errors(value))
        if error is not None:
            return Grade(self.name, False, f"{error.json_path}: {error.message}")
        return Grade(self.name, True, f"valid against {self.schema_path}")


@dataclass(frozen=True)
class ExactMatch:
    """Passes when the answer equals the reference, ignoring surrounding whitespace."""

    name: str = "exact_match"
    counts: bool = True

    def reference_problem(self, reference: str | None) -> str | None:
        return "exact_match needs a reference answer" if reference is None else None

    def grade(self, answer: str, example: EvalExample) -> Grade:
        expected = (example.reference or "").strip()
        if answer.strip() == expected:
            return Grade(self.name, True, "equals the reference")
        return Grade(self.name, False, f"got {_shorten(answer)}, expected {_shorten(expected)}")


@dataclass(frozen=True)
class JsonMatch:
    """Passes when the answer is JSON whose listed keys equal the reference's (all if none)."""

    keys: tuple[str, ...] | None
    name: str = "json_match"
    counts: bool = True

    def reference_problem(self, reference: str | None) -> str | None:
        if reference is None:
            return "json_match needs a reference answer"
        value, problem = parse_json_answer(reference)
        if problem is not None:
            return f"the reference answer is {problem}"
        if self.keys is not None:
            if not isinstance(value, dict):
                return "the reference answer is not a JSON object"
            missing = [k for k in self.keys if k not in value]
            if missing:
                return f"the reference answer has no key {', '.join(map(repr, missing))}"
        return None

    def grade(self, answer: str, example: EvalExample) -> Grade:
        expected, _ = parse_json_answer(example.reference or "")
        got, problem = parse_json_answer(answer)
        if problem is not None:
            return Grade(self.name, False, problem)
        if self.keys is None:
            if got == expected:
                return Grade(self.name, True, "equals the reference JSON")
            return Grade(
                self.name, False, f"differs from the reference JSON: {_diff(got, expected)}"
            )
        if not isinstance(got, dict):
            return Grade(self.name, False, f"not a JSON object: got {_shorten(json.dumps(got))}")
        mismatches = []
        for key in self.keys:
            value = got.get(key, _MISSING)
            if value is _MISSING:
                mismatches.append(f"{key}: missing, expected {json.dumps(expected[key])}")
            elif value != expected[key]:
                mismatches.append(
                    f"{key}: got {json.dumps(value)}, expected {json.dumps(expected[key])}"
                )
        if mismatches:
            return Grade(self.name, False, "; ".join(mismatches))
        return Grade(self.name, True, f"{', '.join(self.keys)} match")


def _diff(got: Any, expected: Any) -> str:
    if isinstance(got, dict) and isinstance(expected, dict):
        keys = sorted(k for k in got.keys() | expected.keys() if got.get(k) != expected.get(k))
        return "keys " + ", ".join(keys)
    return f"got {_shorten(json.dumps(got))}, expected {_shorten(json.dumps(expected))}"


@dataclass(frozen=True)
class RegexMatch:
    """Passes when the pattern is found in the answer (`re.search`; anchor it to match all)."""

    pattern: re.Pattern[str]
    name: str = "regex"
    counts: bool = True

    def reference_problem(self, reference: str | None) -> str | None:
        return None

    def grade(self, answer: str, example: EvalExample) -> Grade:
        if self.pattern.search(answer):
            return Grade(self.name, True, "matches the pattern")
        return Grade(
            self.name, False, f"does not match /{self.pattern.pattern}/: got {_shorten(answer)}"
        )


@dataclass(frozen=True)
class RefusalCheck:
    """Marks refusals; the eval's refusal rate, not each example, is held to `max`."""

    max: float
    phrases: tuple[str, ...]
    name: str = "refusal"
    counts: bool = False

    def reference_problem(self, reference: str | None) -> str | None:
        return None

    def grade(self, answer: str, example: EvalExample) -> Grade:
        if refusal_matcher(self.phrases)(answer):
            return Grade(self.name, False, f"a refusal: {_shorten(answer)}")
        return Grade(self.name, True, "not a refusal")


# --------------------------------------------------------------------------- building


def _load_schema(path_text: str, project_dir: Path, field: str) -> Any:
    path = Path(path_text)
    if not path.is_absolute():
        path = project_dir / path
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise GateError(
            f"{field}: schema file {path_text} not found",
            [Diagnostic(str(path), None, None, "error", field, "no such file")],
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise GateError(f"{field}: cannot read schema file {path_text}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise GateError(
            f"{field}: schema file {path_text} is not valid JSON",
            [Diagnostic(str(path), exc.lineno, exc.colno, "error", field, exc.msg)],
        ) from exc
    if not isinstance(schema, dict):
        raise GateError(f"{field}: schema file {path_text} must hold a JSON object")
    import jsonschema.exceptions
    import jsonschema.validators

    validator_class = jsonschema.validators.validator_for(schema)
    try:
        validator_class.check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        raise GateError(
            f"{field}: {path_text} is not a valid JSON Schema: {exc.json_path}: {exc.message}"
        ) from exc
    return validator_class(schema)


def _json_schema(
    config: JsonSchemaGrader, project_dir: Path, _phrases: Sequence[str] | None, field: str
) -> Grader:
    validator = _load_schema(config.schema_, project_dir, f"{field}.schema")
    return JsonSchemaCheck(config.schema_, validator)


def _exact_match(
    _config: ExactMatchGrader, _dir: Path, _phrases: Sequence[str] | None, _field: str
) -> Grader:
    return ExactMatch()


def _json_match(
    config: JsonMatchGrader, _dir: Path, _phrases: Sequence[str] | None, _field: str
) -> Grader:
    return JsonMatch(tuple(config.keys) if config.keys is not None else None)


def _regex(config: RegexGrader, _dir: Path, _phrases: Sequence[str] | None, field: str) -> Grader:
    try:
        return RegexMatch(re.compile(config.pattern))
    except re.error as exc:
        raise GateError(f"{field}.pattern: invalid regular expression: {exc}") from exc


def _refusal(
    config: RefusalGrader, _dir: Path, phrases: Sequence[str] | None, _field: str
) -> Grader:
    return RefusalCheck(config.max, DEFAULT_REFUSAL_PHRASES if phrases is None else tuple(phrases))


# The registry of grader types: the config's `type` -> a factory of (config, project dir,
# refusal phrases, field path for errors). A new grader is a config model in
# `ftctl.config.models` (the `Grader` union), a class here, and one entry.
GRADERS: dict[str, Callable[[Any, Path, Sequence[str] | None, str], Grader]] = {
    "json_schema": _json_schema,
    "exact_match": _exact_match,
    "json_match": _json_match,
    "regex": _regex,
    "refusal": _refusal,
}


def build_grader(
    config: GraderConfig,
    project_dir: Path,
    *,
    refusal_phrases: Sequence[str] | None = None,
    field: str = "grader",
) -> Grader:
    """The grader a config entry asks for; misconfiguration raises GateError naming `field`."""
    factory = GRADERS.get(str(getattr(config, "type", "")))
    if factory is None:
        raise GateError(f"{field}: unknown grader type {getattr(config, 'type', config)!r}")
    return factory(config, project_dir, refusal_phrases, field)


def build_graders(
    configs: Sequence[GraderConfig],
    project_dir: Path,
    *,
    refusal_phrases: Sequence[str] | None = None,
    field: str = "spec.gates.evals.graders",
) -> list[Grader]:
    """All graders of an eval gate, in config order."""
    return [
        build_grader(c, project_dir, refusal_phrases=refusal_phrases, field=f"{field}[{i}]")
        for i, c in enumerate(configs)
    ]
