"""Pydantic validation errors turned into diagnostics a person can act on.

Pydantic reports `loc` tuples that mix YAML keys with union-member tags
(`sources, 0, PathSource, limt`) and, when no member of a union fits, one error per
member. We map each `loc` onto the data that was actually written (so the field path
reads like the YAML and has a line and column), keep only the union member that fits
best, and word the message for a YAML author (unknown keys get a "did you mean").
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Union

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from ftctl.config.models import NAME_PATTERN
from ftctl.config.suggest import closest, did_you_mean
from ftctl.config.yaml_marks import FieldPath, SourceMap, format_field_path
from ftctl.errors import Diagnostic


@dataclass(frozen=True)
class _Segment:
    value: str | int
    is_tag: bool  # a union member pydantic tried, not something written in the YAML


@dataclass(frozen=True)
class _Error:
    segments: tuple[_Segment, ...]
    details: ErrorDetails

    @property
    def data_path(self) -> FieldPath:
        return tuple(s.value for s in self.segments if not s.is_tag)


def diagnostics_from_validation_error(
    error: ValidationError, data: Any, source_map: SourceMap, model: type[BaseModel]
) -> list[Diagnostic]:
    errors = [_Error(_classify(d["loc"], data, d["type"]), d) for d in error.errors()]
    errors = _drop_missing_explained_by_typos(errors, model)
    kept = _prefer_best_union_member(errors, 0, data, model, source_map)
    return sorted(set(kept))


# --------------------------------------------------------------------------- loc -> path


def _classify(loc: tuple[str | int, ...], data: Any, error_type: str) -> tuple[_Segment, ...]:
    """Tell the parts of `loc` written in the YAML from union tags pydantic added."""
    segments: list[_Segment] = []
    node = data
    for index, part in enumerate(loc):
        is_last = index == len(loc) - 1
        found, child = _child(node, part)
        if found:
            segments.append(_Segment(part, False))
            node = child
        elif is_last and error_type == "missing" and isinstance(node, dict):
            segments.append(_Segment(part, False))
        else:
            segments.append(_Segment(part, True))
    return tuple(segments)


def _drop_missing_explained_by_typos(errors: list[_Error], model: type[BaseModel]) -> list[_Error]:
    """`baseModle: x` gives "unknown key baseModle" and "baseModel missing": keep the first."""
    misspelt: set[tuple[tuple[_Segment, ...], str]] = set()
    for e in errors:
        if e.details["type"] == "extra_forbidden":
            parent = e.segments[:-1]
            match = closest(str(e.segments[-1].value), _allowed_keys(model, parent))
            if match is not None:
                misspelt.add((parent, match))
    return [
        e
        for e in errors
        if not (
            e.details["type"] == "missing"
            and (e.segments[:-1], str(e.segments[-1].value)) in misspelt
        )
    ]


# --------------------------------------------------------------------------- unions


def _prefer_best_union_member(
    errors: list[_Error], depth: int, data: Any, model: type[BaseModel], source_map: SourceMap
) -> list[Diagnostic]:
    """Errors sharing `segments[:depth]`, reduced to those of the best-fitting members."""
    done = [e for e in errors if len(e.segments) == depth]
    deeper = [e for e in errors if len(e.segments) > depth]
    diagnostics = [_diagnostic(e, data, model, source_map) for e in done]
    tagged = [e for e in deeper if e.segments[depth].is_tag]
    untagged = [e for e in deeper if not e.segments[depth].is_tag]
    if tagged:
        by_member: dict[str | int, list[_Error]] = {}
        for e in tagged:
            by_member.setdefault(e.segments[depth].value, []).append(e)
        fewest = min(len(errs) for errs in by_member.values())
        best = [errs for errs in by_member.values() if len(errs) == fewest]
        if len(best) == 1:
            untagged = untagged + best[0]
        else:
            diagnostics.append(_no_member_fits(best, depth, data, model, source_map))
    groups: dict[str | int, list[_Error]] = {}
    for e in untagged:
        groups.setdefault(e.segments[depth].value, []).append(e)
    for group in groups.values():
        diagnostics.extend(_prefer_best_union_member(group, depth + 1, data, model, source_map))
    return diagnostics


def _no_member_fits(
    members: list[list[_Error]],
    depth: int,
    data: Any,
    model: type[BaseModel],
    source_map: SourceMap,
) -> Diagnostic:
    """One error for a value that fits no member of a union equally badly."""
    site = members[0][0].segments[:depth]
    path = tuple(s.value for s in site if not s.is_tag)
    value = _value_at(data, path)
    firsts = [errs[0] for errs in members]
    if all(len(e.segments) == depth + 1 for e in firsts):
        # A scalar union such as `int | "auto"`: say every accepted form at once.
        wanted = " or ".join(dict.fromkeys(_expected_form(e.details) for e in firsts))
        return _at_value(source_map, path, value, f"should be {wanted} (got {_show(value)})")
    if isinstance(value, dict):
        allowed: list[str] = []
        for errs in members:
            allowed.extend(_allowed_keys(model, errs[0].segments[: depth + 1]))
        unknown = [
            e.details["loc"][-1]
            for e in members[0]
            if e.details["type"] == "extra_forbidden"
            and all(
                any(o.details["loc"][-1] == e.details["loc"][-1] for o in errs) for errs in members
            )
        ]
        required = sorted(
            {
                str(e.details["loc"][-1])
                for errs in members
                for e in errs
                if e.details["type"] == "missing" and len(e.segments) == depth + 2
            }
        )
        if unknown:
            key = str(unknown[0])
            return source_map.diagnostic(
                (*path, key),
                f"unknown key '{key}'",
                hint=did_you_mean(key, allowed)
                or f"expected one of: {', '.join(sorted(set(allowed)))}",
            )
        if all(e.details["type"] == "extra_forbidden" for errs in members for e in errs):
            keys = sorted({str(e.details["loc"][-1]) for errs in members for e in errs})
            return source_map.diagnostic(
                path,
                f"cannot combine {_quoted(keys, 'and')} in one item",
                hint="write each as its own list item"
                if path and isinstance(path[-1], int)
                else "",
            )
        if required:
            options = ", ".join(f"'{k}'" for k in required)
            return source_map.diagnostic(path, f"needs exactly one of {options}")
    reasons = "; ".join(
        f"as {errs[0].segments[depth].value}: {_short_reason(errs[0])}" for errs in members
    )
    return _at_value(source_map, path, value, f"matches no accepted form ({reasons})")


def _short_reason(error: _Error) -> str:
    where = format_field_path(error.data_path)
    return f"{where}: {error.details['msg']}" if where else error.details["msg"]


# --------------------------------------------------------------------------- messages


def _diagnostic(
    error: _Error, data: Any, model: type[BaseModel], source_map: SourceMap
) -> Diagnostic:
    details = error.details
    kind = details["type"]
    path = error.data_path
    ctx = details.get("ctx") or {}
    value = _value_at(data, path)

    if kind == "missing":
        return source_map.diagnostic(path, f"required key '{path[-1]}' is missing")
    if kind == "extra_forbidden":
        key = str(path[-1])
        allowed = _allowed_keys(model, error.segments[:-1])
        hint = did_you_mean(key, allowed)
        return source_map.diagnostic(path, f"unknown key '{key}'", hint=hint)
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        key = str(ctx.get("discriminator", "type")).strip("'")
        tags = re.findall(r"'([^']*)'", str(ctx.get("expected_tags", "")))
        if kind == "union_tag_not_found" or not isinstance(value, dict) or key not in value:
            if not isinstance(value, dict):
                return _at_value(
                    source_map, path, value, f"should be a mapping (got {_show(value)})"
                )
            return source_map.diagnostic(
                (*path, key), f"required key '{key}' is missing (one of {_quoted(tags)})"
            )
        tag = str(ctx.get("tag", ""))
        return source_map.diagnostic(
            (*path, key),
            f"unknown {key} '{tag}', expected one of {_quoted(tags)}",
            hint=did_you_mean(tag, tags),
            at_value=True,
        )
    if kind == "literal_error":
        expected = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        hint = did_you_mean(value, expected) if isinstance(value, str) else ""
        return _at_value(
            source_map, path, value, f"should be {_quoted(expected)} (got {_show(value)})", hint
        )
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return _at_value(source_map, path, value, f"should be a mapping (got {_show(value)})")
    if kind == "list_type":
        return _at_value(source_map, path, value, f"should be a list (got {_show(value)})")
    if kind == "value_error":
        message = str(details["msg"]).removeprefix("Value error, ")
        path = _refine_by_message(message, path, data)
        return _at_value(source_map, path, _value_at(data, path), message)
    if kind == "string_pattern_mismatch" and ctx.get("pattern") == NAME_PATTERN:
        message = (
            "should be 1-63 lowercase letters, digits or '-', starting and ending with "
            f"a letter or digit (got {_show(value)})"
        )
        return _at_value(source_map, path, value, message)
    message = _strip_input(str(details["msg"]))
    if not isinstance(value, dict | list):
        message += f" (got {_show(value)})"
    return _at_value(source_map, path, value, message)


def _at_value(
    source_map: SourceMap, path: FieldPath, value: Any, message: str, hint: str = ""
) -> Diagnostic:
    """Scalars are pointed at themselves; mappings and lists at their key."""
    scalar = not isinstance(value, dict | list)
    return source_map.diagnostic(path, message, hint=hint, at_value=scalar)


def _refine_by_message(message: str, path: FieldPath, data: Any) -> FieldPath:
    """`nEpochs must be ...` raised by a model validator: point at `nEpochs` when written."""
    first = re.split(r"[\s:,]", message, maxsplit=1)[0]
    candidate = (*path, *first.split("."))
    return candidate if _exists(data, candidate) else path


def _strip_input(message: str) -> str:
    return message.replace("Input should be", "should be", 1)


def _expected_form(details: ErrorDetails) -> str:
    """What one member of a union wanted: "a valid integer", "'auto'", "a mapping"."""
    if details["type"] in ("model_type", "model_attributes_type", "dict_type"):
        return "a mapping"
    if details["type"] == "list_type":
        return "a list"
    text = str(details["msg"]).removeprefix("Input should be ").strip()
    return text.split(",")[0] if text.startswith("a valid") else text


def _quoted(options: Sequence[str], last: str = "or") -> str:
    quoted = [f"'{o}'" for o in options]
    if len(quoted) <= 1:
        return "".join(quoted)
    return ", ".join(quoted[:-1]) + f" {last} " + quoted[-1]


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _child(node: Any, part: str | int) -> tuple[bool, Any]:
    """(True, value) when `node` has the key or index `part` as written in the YAML."""
    if isinstance(node, dict) and part in node:
        return True, node[part]
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return True, node[part]
    return False, None


def _value_at(data: Any, path: FieldPath) -> Any:
    node = data
    for part in path:
        found, node = _child(node, part)
        if not found:
            return None
    return node


def _exists(data: Any, path: FieldPath) -> bool:
    node = data
    for part in path:
        found, node = _child(node, part)
        if not found:
            return False
    return True


# --------------------------------------------------------------------------- allowed keys


def _allowed_keys(model: type[BaseModel], segments: Sequence[_Segment]) -> list[str]:
    """The YAML keys the model accepts at the mapping `segments` lead to."""
    annotation: Any = model
    for segment in segments:
        annotation = _step(annotation, segment)
        if annotation is None:
            return []
    target = _only_model(annotation)
    if target is None:
        return []
    return [info.alias or name for name, info in target.model_fields.items()]


def _step(annotation: Any, segment: _Segment) -> Any:
    annotation = _unwrap(annotation)
    members = _union_members(annotation)
    if segment.is_tag:
        for member in members:
            if _matches_tag(member, segment.value):
                return member
        return annotation if not members else None
    if members:
        candidates = [m for m in members if _only_model(m) is not None]
        if len(candidates) != 1:
            return None
        annotation = candidates[0]
    origin = typing.get_origin(annotation)
    if origin is list and isinstance(segment.value, int):
        return typing.get_args(annotation)[0]
    if origin is dict:
        return typing.get_args(annotation)[1]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, info in annotation.model_fields.items():
            if (info.alias or name) == segment.value:
                return info.annotation
    return None


def _unwrap(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _union_members(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return [_unwrap(a) for a in typing.get_args(annotation) if a is not type(None)]
    return []


def _only_model(annotation: Any) -> type[BaseModel] | None:
    annotation = _unwrap(annotation)
    members = _union_members(annotation) or [annotation]
    models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
    return models[0] if len(models) == 1 else None


def _matches_tag(member: Any, tag: str | int) -> bool:
    if not (isinstance(member, type) and issubclass(member, BaseModel)):
        return False
    if member.__name__ == tag:
        return True
    for info in member.model_fields.values():
        if typing.get_origin(info.annotation) is Literal and tag in typing.get_args(
            info.annotation
        ):
            return True
    return False
