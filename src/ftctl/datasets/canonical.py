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

import orjson

_ORJSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE


def canonical_json(value: Any) -> str:
    """The canonical text of one JSON value (no trailing newline)."""
    return json.dumps(
        value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )


def canonical_line(example: Any) -> bytes:
    """One canonical JSONL line, newline included: `canonical_json`'s bytes.

    orjson writes them ~2.4x as fast as `json.dumps` (a data build makes one per row:
    7 against 17 µs for a 2.4 KB chat example), byte for byte the same for every value it
    accepts but floats: it writes 1e-05 as 0.00001 and 1e-07 as 1e-7, where Python writes
    the repr. So a value with a float, and any value orjson refuses (an integer beyond 64
    bits, a key that is not a string, a lone surrogate, nesting past 254 levels), take
    `json.dumps`, whose bytes the cache and every earlier build have.
    """
    if not _holds_float(example):
        try:
            return orjson.dumps(example, option=_ORJSON_OPTIONS)
        except (orjson.JSONEncodeError, TypeError):
            pass
    return (canonical_json(example) + "\n").encode("utf-8")


def _holds_float(value: Any) -> bool:
    """Whether a float, or anything but a dict, list, str, int, bool or None, is in
    `value` (~1.8 µs for a chat example of nine messages)."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or kind is int or kind is bool or item is None:
            continue
        if kind is dict:
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        else:
            return True  # a float, or a type only json.dumps is trusted with
    return False


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
