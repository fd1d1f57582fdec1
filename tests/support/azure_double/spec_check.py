"""Validate HTTP requests and responses against the vendored Azure REST API descriptions.

The data plane excerpt is OpenAPI 3.0 (`nullable` is read as JSON Schema's `null`); the ARM
excerpt is Swagger 2.0 (body parameter, `definitions`). Schemas the excerpts reference but
do not vendor (listed in each file) accept anything. A check returns messages (empty: valid).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SPECS = Path(__file__).parent / "specs"
DATA_PLANE = SPECS / "azure-openai-v1.excerpt.json"
ARM = SPECS / "cognitiveservices-2024-10-01.deployments.excerpt.json"
DATA_PLANE_PREFIX = "/openai/v1"


@dataclass(frozen=True)
class Operation:
    """One operation of a description: its method, path template and definition."""

    method: str
    template: str
    pattern: re.Pattern[str]
    definition: Mapping[str, Any]
    document: str  # "data-plane" | "arm"

    @property
    def operation_id(self) -> str:
        return str(self.definition.get("operationId", f"{self.method} {self.template}"))


def _openapi_to_jsonschema(node: Any) -> Any:
    """OpenAPI 3.0 / Swagger 2.0 schema -> JSON Schema 2020-12 (refs kept)."""
    if isinstance(node, list):
        return [_openapi_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {
        k: _openapi_to_jsonschema(v)
        for k, v in node.items()
        if k not in ("nullable", "discriminator", "x-ms-enum", "readOnly", "deprecated")
        and not k.startswith("x-")
    }
    ref = out.get("$ref")
    if isinstance(ref, str) and not ref.startswith("#/"):
        out = {k: v for k, v in out.items() if k != "$ref"}  # an external (common-types) ref
    if node.get("nullable"):
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@cache
def _documents() -> dict[str, dict[str, Any]]:
    data_plane = json.loads(DATA_PLANE.read_text(encoding="utf-8"))
    arm = json.loads(ARM.read_text(encoding="utf-8"))
    stubs = data_plane["x-ftctl-vendored"]["not_vendored"]
    schemas = _openapi_to_jsonschema(data_plane["components"]["schemas"])
    for name in stubs:
        schemas.setdefault(name, {})
    definitions = _openapi_to_jsonschema(arm["definitions"])
    for name in ("Sku", "CallRateLimit", "ThrottlingRule", "DeploymentCapacitySettings"):
        definitions.setdefault(name, {})
    return {
        "data-plane": {"raw": data_plane, "root": {"components": {"schemas": schemas}}},
        "arm": {"raw": arm, "root": {"definitions": definitions}},
    }


@cache
def operations() -> tuple[Operation, ...]:
    found: list[Operation] = []
    for document, entry in _documents().items():
        prefix = DATA_PLANE_PREFIX if document == "data-plane" else ""
        for template, methods in entry["raw"]["paths"].items():
            regex = re.sub(r"\\\{[^}]+\\\}", r"[^/]+", re.escape(prefix + template))
            for method, definition in methods.items():
                found.append(
                    Operation(
                        method.upper(), template, re.compile(f"^{regex}$"), definition, document
                    )
                )
    return tuple(found)


def find_operation(method: str, path: str) -> Operation | None:
    for operation in operations():
        if operation.method == method.upper() and operation.pattern.match(path):
            return operation
    return None


def _validate(document: str, ref: str, value: Any) -> list[str]:
    root = _documents()[document]["root"]
    validator = Draft202012Validator({"$ref": ref, **root})
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(body)'}: {error.message}"
        for error in validator.iter_errors(value)
    ]


def _query_parameters(operation: Operation) -> dict[str, Mapping[str, Any]]:
    out: dict[str, Mapping[str, Any]] = {}
    for parameter in operation.definition.get("parameters", []):
        ref = parameter.get("$ref", "")
        if ref.endswith("/ApiVersionParameter"):  # common-types, Swagger 2.0
            out["api-version"] = {"required": True, "schema": {"type": "string"}}
        elif parameter.get("in") == "query":
            out[parameter["name"]] = parameter
    return out


def check_request(
    operation: Operation,
    query: Sequence[tuple[str, str]],
    body: Any,
    *,
    arm_api_version: str | None = None,
) -> list[str]:
    """A request's query parameters and JSON body against the operation."""
    problems: list[str] = []
    allowed = _query_parameters(operation)
    names = [name for name, _ in query]
    for name, value in query:
        parameter = allowed.get(name)
        if parameter is None:
            problems.append(f"query parameter {name!r} is not described")
            continue
        kind = (parameter.get("schema") or {}).get("type")
        if kind == "integer" and not re.fullmatch(r"-?\d+", value):
            problems.append(f"query parameter {name!r}={value!r} is not an integer")
    for name, parameter in allowed.items():
        if parameter.get("required") and name not in names:
            problems.append(f"required query parameter {name!r} is missing")
    if operation.document == "arm" and arm_api_version is not None:
        versions = [v for n, v in query if n == "api-version"]
        if versions and versions[0] != arm_api_version:
            problems.append(f"api-version {versions[0]} is not {arm_api_version}")
    schema_ref = _request_schema(operation)
    if schema_ref is not None:
        if body is None:
            problems.append("the request has no JSON body")
        else:
            problems += [f"request {p}" for p in _validate(operation.document, schema_ref, body)]
    return problems


def _request_schema(operation: Operation) -> str | None:
    if operation.document == "data-plane":
        content = (operation.definition.get("requestBody") or {}).get("content") or {}
        schema = (content.get("application/json") or {}).get("schema")
        return schema.get("$ref") if schema else None
    for parameter in operation.definition.get("parameters", []):
        if parameter.get("in") == "body":
            return str(parameter["schema"]["$ref"])
    return None


def check_response(operation: Operation, status: int, body: Any) -> list[str]:
    """A response's status and JSON body against the operation."""
    responses = operation.definition.get("responses", {})
    described = responses.get(str(status)) or responses.get("default")
    if described is None:
        return [f"status {status} is not described"]
    if operation.document == "data-plane":
        content = described.get("content") or {}
        schema = (content.get("application/json") or {}).get("schema")
    else:
        schema = described.get("schema")
    if schema is None:
        return [] if body in (None, b"", "") else [f"status {status} has no body described"]
    ref = str(schema.get("$ref", ""))
    if not ref.startswith("#/"):
        return []  # an ARM common type (ErrorResponse) that is not vendored
    return [f"response {p}" for p in _validate(operation.document, ref, body)]
