"""JSONL as the fine-tuning API takes it: one JSON object per line, UTF-8."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def parse_jsonl(content: bytes) -> list[dict[str, Any]]:
    """The rows of a JSONL file; ValueError naming the line when one is not a JSON object."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"the file is not UTF-8 text ({error.reason} at byte {error.start})"
        ) from error
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"line {number} is not valid JSON: {error.msg}") from error
        if not isinstance(row, dict):
            raise ValueError(f"line {number} is not a JSON object")
        rows.append(row)
    return rows


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """`parse_jsonl` of the file at `path`."""
    return parse_jsonl(path.read_bytes())
