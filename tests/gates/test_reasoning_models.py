"""Eval gates send only the sampling parameters a model accepts, and bound the answer
with the field the endpoint knows: checked on the wire (the real openai SDK over HTTP to
an OpenAI-shaped endpoint on loopback)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ftctl.apply.gating import GateInputs, run_gates
from ftctl.config.loader import load_workspace
from ftctl.config.models import Gates
from ftctl.providers.openai_api import OpenAIProvider
from ftctl.providers.registry import open_provider

from ..support.fake_openai import FakeOpenAI, fake_openai

GATES = Gates.model_validate(
    {
        "evals": {
            "dataset": "test",
            "baseline": "base",
            "maxTokens": 64,
            "temperature": 0.0,
            "graders": [{"type": "refusal", "max": 1.0}],
        }
    }
)


def _eval_split(tmp_path: Path) -> Path:
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"What is {i} + 2?"},
                {"role": "assistant", "content": str(i + 2)},
            ]
        }
        for i in range(3)
    ]
    path = tmp_path / "test.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _gate(api: FakeOpenAI, tmp_path: Path, model: str, base: str) -> list[dict[str, Any]]:
    provider = OpenAIProvider("openai", api_key="sk-test", base_url=api.base_url)
    run_gates(
        GateInputs(
            gates=GATES,
            metrics={},
            model_id=model,
            provider=provider,
            project_dir=tmp_path,
            eval_splits={"test": _eval_split(tmp_path)},
            baseline_models={"base": base},
            seed=7,
        )
    )
    return list(api.bodies("POST", "/v1/chat/completions"))


def test_a_reasoning_model_gets_no_temperature(tmp_path: Path) -> None:
    with fake_openai() as api:
        bodies = _gate(api, tmp_path, "ft:o4-mini-2025-04-16:acme::abc123", "o4-mini-2025-04-16")
    assert len(bodies) == 6  # 3 examples, candidate and base
    for body in bodies:
        assert "temperature" not in body and "max_tokens" not in body
        assert body["max_completion_tokens"] == 64
        assert body["seed"] == 7


def test_a_chat_model_gets_the_configured_temperature(tmp_path: Path) -> None:
    with fake_openai() as api:
        bodies = _gate(
            api, tmp_path, "ft:gpt-4o-mini-2024-07-18:acme::abc123", "gpt-4o-mini-2024-07-18"
        )
    assert {(b["temperature"], b["max_completion_tokens"]) for b in bodies} == {(0.0, 64)}


@pytest.mark.parametrize(
    ("setting", "field"),
    [("", "max_tokens"), ("chatMaxTokensField: max_completion_tokens", "max_completion_tokens")],
)
def test_the_answer_bound_is_the_field_the_endpoint_knows(
    tmp_path: Path, setting: str, field: str
) -> None:
    with fake_openai() as api:
        (tmp_path / "ftctl.yaml").write_text(
            "apiVersion: ftctl/v1\nkind: Workspace\nmetadata: {name: w}\nproviders:\n"
            f"  vllm:\n    type: openai\n    baseUrl: '{api.base_url}'\n    apiKeyEnv: KEY\n"
            + (f"    {setting}\n" if setting else "")
        )
        with pytest.MonkeyPatch.context() as env:
            env.setenv("KEY", "sk-test")
            provider = open_provider(load_workspace(tmp_path), "vllm")
        provider.chat("my-model", [{"role": "user", "content": "hi"}], 32, 0.5, None)
    [body] = api.bodies("POST", "/v1/chat/completions")
    assert body[field] == 32 and body["temperature"] == 0.5
    assert {"max_tokens", "max_completion_tokens"} - {field} & set(body) == set()
