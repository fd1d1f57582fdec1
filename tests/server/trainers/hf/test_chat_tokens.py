"""Which tokens are trained: the assistant's answers as the model's chat template renders them."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftctl.text.chat_tokens import ChatTemplateError, load_tokenizer, tokenize_conversation


def _trained_text(tokenizer: object, messages: list[dict[str, object]]) -> str:
    tokens = tokenize_conversation(tokenizer, messages)
    ids = [i for i, m in zip(tokens.input_ids, tokens.assistant_mask, strict=True) if m]
    return str(tokenizer.decode(ids))  # type: ignore[attr-defined]


def test_only_assistant_answers_with_weight_are_trained(tiny_model: Path) -> None:
    tokenizer = load_tokenizer(str(tiny_model))
    messages: list[dict[str, object]] = [
        {"role": "system", "content": "Route the ticket."},
        {"role": "user", "content": "Hi, refund please help."},
        {"role": "assistant", "content": "first answer", "weight": 0},
        {"role": "user", "content": "And my invoice?"},
        {"role": "assistant", "content": '{"category": "billing"}'},
    ]
    trained = _trained_text(tokenizer, messages)
    # The answer and the end-of-turn marker that ends generation; nothing of the prompt
    # and nothing of the weight-0 answer.
    assert trained == '{"category": "billing"}<|im_end|>\n'
    whole = tokenize_conversation(tokenizer, messages)
    assert len(whole.input_ids) > whole.trained > 0


def test_a_model_without_chat_template_is_refused(tiny_model: Path, tmp_path: Path) -> None:
    tokenizer = load_tokenizer(str(tiny_model))
    plain = type(tokenizer).from_pretrained(tiny_model)
    plain.chat_template = None
    with pytest.raises(ChatTemplateError, match="no chat template"):
        tokenize_conversation(plain, [{"role": "user", "content": "hi"}])
