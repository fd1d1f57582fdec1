"""Token counts of examples for an open-weights (`hf:`) model: its tokenizer and chat template.

The same method as the trainer's loss mask (`ftctl.text.chat_tokens`): `total` is the
length of the conversation as the chat template renders it, `trained` the tokens of the
assistant messages whose weight is not 0 (their end-of-turn marker included). DPO: the
prompt once plus both outputs (each rendered after the prompt), both outputs trained.
Examples the template cannot render (malformed rows, which the format checks report)
count the tokens of their JSON text, untrained, so that statistics still come out.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ftctl.datasets.counting import TokenCount
from ftctl.datasets.formats import Format


@dataclass(frozen=True)
class HfTokenizer:
    """A model directory whose tokenizer counts tokens (loaded on first use)."""

    model_dir: str

    @property
    def tokenizer(self) -> Any:
        from ftctl.text.chat_tokens import load_tokenizer

        return load_tokenizer(self.model_dir)

    def count_example(self, example: dict[str, Any], fmt: Format) -> TokenCount:
        from ftctl.text.chat_tokens import prompt_ids, tokenize_conversation

        tokenizer = self.tokenizer
        try:
            if fmt == "dpo":
                prompt = example["input"]["messages"]
                total = len(prompt_ids(tokenizer, prompt, example["input"].get("tools")))
                trained = 0
                for key in ("preferred_output", "non_preferred_output"):
                    answer = tokenize_conversation(
                        tokenizer, [*prompt, *example[key]], train_all_assistant=True
                    ).trained
                    total += answer
                    trained += answer
                return TokenCount(total=total, trained=trained)
            tokens = tokenize_conversation(tokenizer, example["messages"], example.get("tools"))
            trained = tokens.trained if fmt == "chat" else 0
            return TokenCount(total=len(tokens.input_ids), trained=trained)
        except Exception:  # malformed rows, template errors: reported by the format checks
            text = json.dumps(example, ensure_ascii=False)
            return TokenCount(
                total=len(tokenizer(text, add_special_tokens=False)["input_ids"]), trained=0
            )

    def count_examples(self, examples: Sequence[dict[str, Any]], fmt: Format) -> list[TokenCount]:
        return [self.count_example(example, fmt) for example in examples]
