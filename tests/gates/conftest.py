"""Fixtures of the gates tests: real JSON Schema and JSONL files in a tmp project dir."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ANSWER_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "category": {"type": "string", "enum": ["billing", "shipping", "refund"]},
        "priority": {"type": "string", "enum": ["low", "normal", "urgent"]},
    },
    "required": ["category", "priority"],
    "additionalProperties": False,
}

SYSTEM = "Route the ticket. Reply with JSON only."


def chat_row(ticket: str, category: str, priority: str) -> dict[str, Any]:
    answer = json.dumps({"category": category, "priority": priority})
    return {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": ticket},
            {"role": "assistant", "content": answer},
        ]
    }


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    """A project dir with `evals/answer.schema.json` and `data/test.jsonl` (4 tickets)."""
    (tmp_path / "evals").mkdir()
    (tmp_path / "evals" / "answer.schema.json").write_text(json.dumps(ANSWER_SCHEMA))
    write_jsonl(
        tmp_path / "data" / "test.jsonl",
        [
            chat_row("I was charged twice for order 1234!", "billing", "urgent"),
            chat_row("Where is my parcel? Tracking is stuck.", "shipping", "normal"),
            chat_row("Please refund the broken lamp.", "refund", "normal"),
            chat_row("No rush: can I get an invoice copy?", "billing", "low"),
        ],
    )
    return tmp_path


def keyword_router(answers: dict[str, str]) -> Callable[..., str]:
    """A deterministic stand-in for a model: the answer of the first keyword in the ticket."""

    def complete(
        *,
        model: str,
        messages: list[dict[str, Any]],
        max_tokens: int,
        temperature: float,
        seed: int | None,
    ) -> str:
        ticket = messages[-1]["content"].lower()
        for keyword, answer in answers.items():
            if keyword in ticket:
                return answer
        return "I'm sorry, but I can't help with that."

    return complete


@pytest.fixture
def make_row() -> Callable[[str, str, str], dict[str, Any]]:
    return chat_row


@pytest.fixture
def router() -> Callable[[dict[str, str]], Callable[..., str]]:
    return keyword_router


@pytest.fixture
def save_jsonl() -> Callable[[Path, list[dict[str, Any]]], Path]:
    return write_jsonl
