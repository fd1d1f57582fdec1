"""DPO (TRL's DPOTrainer behind the hf trainer) moves the preference margin the right way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ftctl.server.trainers.hf import runner
from ftctl.server.trainers.hf.spec import Adapter, JobSpec

from ....support.hf_tiny import CATEGORIES, ticket_rows, write_jsonl

pytestmark = pytest.mark.slow


def _preference_rows(n: int, seed: int) -> list[dict[str, Any]]:
    """The right category preferred over the next category in the list."""
    names = sorted(CATEGORIES)
    rows = []
    for row in ticket_rows(n, seed):
        right = json.loads(row["messages"][-1]["content"])["category"]
        wrong = names[(names.index(right) + 1) % len(names)]
        rows.append(
            {
                "input": {"messages": row["messages"][:-1]},
                "preferred_output": [
                    {"role": "assistant", "content": json.dumps({"category": right})}
                ],
                "non_preferred_output": [
                    {"role": "assistant", "content": json.dumps({"category": wrong})}
                ],
            }
        )
    return rows


def _margin(model_dir: Path, adapter: Path | None, rows: list[dict[str, Any]]) -> float:
    """Mean log p(preferred) - log p(non-preferred) of the answers, with plain transformers."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
    model.eval()

    def logp(prompt: list[dict[str, Any]], answer: str) -> float:
        head = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        ids = tokenizer(head + answer, add_special_tokens=False, return_tensors="pt")["input_ids"]
        n_prompt = len(tokenizer(head, add_special_tokens=False)["input_ids"])
        with torch.no_grad():
            logits = model(ids).logits[0, :-1].log_softmax(-1)
        targets = ids[0, 1:]
        picked = logits.gather(1, targets[:, None])[:, 0]
        return float(picked[n_prompt - 1 :].sum())

    margins = [
        logp(r["input"]["messages"], r["preferred_output"][0]["content"])
        - logp(r["input"]["messages"], r["non_preferred_output"][0]["content"])
        for r in rows
    ]
    return sum(margins) / len(margins)


def test_dpo_widens_the_margin_of_the_preferred_answer(tiny_model: Path, tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl", _preference_rows(24, seed=1))
    held_out = _preference_rows(8, seed=3)
    spec = JobSpec(
        job_id="ftjob-dpo",
        method="dpo",
        base_model=f"hf:{tiny_model}",
        model_dir=str(tiny_model),
        output_dir=str(tmp_path / "out"),
        train_file=str(train),
        valid_file=None,
        n_epochs=2,
        batch_size=8,
        learning_rate=5e-3,
        seed=7,
        adapter=Adapter(type="lora", rank=8),
        beta=0.1,
        max_length=256,
    )
    events: list[dict[str, Any]] = []

    result = runner.run(spec, tmp_path / "out", events.append, lambda: False)

    assert result.status == "succeeded", result.error
    assert result.final_dir is not None
    assert [e["epoch"] for e in events if e["event"] == "checkpoint"] == [1, 2]
    before = _margin(tiny_model, None, held_out)
    after = _margin(tiny_model, result.final_dir, held_out)
    assert after > before + 0.5, (before, after)
