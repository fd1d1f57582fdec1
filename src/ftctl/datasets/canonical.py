"""Canonical JSONL: the exact bytes ftctl uploads, identical on every machine.

One example per line, keys sorted, non-ASCII kept as UTF-8 (not `\\u` escapes), compact
separators, `\\n` line endings, no NaN/Infinity (not JSON). Python's float repr is the
shortest round-tripping form, so numbers print the same everywhere.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any


def canonical_json(value: Any) -> str:
    """The canonical text of one JSON value (no trailing newline)."""
    return json.dumps(
        value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )


def canonical_line(example: Any) -> bytes:
    """One canonical JSONL line, newline included."""
    return (canonical_json(example) + "\n").encode("utf-8")


def canonical_jsonl(examples: Iterable[Any]) -> bytes:
    return b"".join(canonical_line(example) for example in examples)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def unit_hash(salt: str, data: bytes) -> float:
    """A stable number in [0, 1) from `salt` and `data` (SHA-256, first 8 bytes).

    Used wherever a row must be chosen by its content alone (splits, fractional weights)
    so that adding or removing other rows never changes the choice for this one.
    """
    digest = hashlib.sha256(salt.encode("utf-8") + b"\0" + data).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
