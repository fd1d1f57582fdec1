"""Validators for the JSON Schemas in schemas/ (written from the in-toto and SLSA specs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource

SCHEMAS = Path(__file__).parent / "schemas"


def validator(name: str) -> jsonschema.Draft202012Validator:
    """The validator of the schema whose $id ends with `name` (the others resolvable)."""
    schemas = [json.loads(p.read_text()) for p in sorted(SCHEMAS.glob("*.schema.json"))]
    registry: Registry[Any] = Registry().with_resources(
        (s["$id"], Resource.from_contents(s)) for s in schemas
    )
    schema = next(s for s in schemas if s["$id"].endswith(name))
    return jsonschema.Draft202012Validator(schema, registry=registry)
