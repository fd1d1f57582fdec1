"""Chat completions from an hf model: base + adapter, loaded once, a few kept (LRU).

The prompt is the conversation rendered by the model's chat template with the generation
prompt; decoding is greedy at temperature 0, otherwise sampling with `temperature` and
`top_p`, seeded when the request has a seed. Generation stops at the model's end-of-turn
token (finish_reason "stop"), at a stop string (cut before it, "stop") or after
`max_tokens` new tokens ("length").
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

CACHE_SIZE = 2  # models in memory at once (a base shared by adapters is loaded per entry)


@dataclass(frozen=True)
class HfGeneration:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: Literal["stop", "length"]


@dataclass
class _Loaded:
    model: Any
    tokenizer: Any
    lock: threading.Lock


def is_adapter(directory: Path) -> bool:
    return (directory / "adapter_config.json").is_file()


def load(base_dir: Path, weights_dir: Path | None) -> tuple[Any, Any]:
    """The model (base, base + LoRA adapter, or fully fine-tuned weights) and its tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = torch.float32
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        dtype = torch.bfloat16
    if weights_dir is not None and not is_adapter(weights_dir):
        model = AutoModelForCausalLM.from_pretrained(weights_dir, dtype=dtype)
    else:
        model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=dtype)
        if weights_dir is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, weights_dir)
    tokenizer_dir = (
        weights_dir
        if weights_dir and (weights_dir / "tokenizer_config.json").is_file()
        else base_dir
    )
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    if torch.cuda.is_available():
        model = model.to("cuda")
    model.eval()
    return model, tokenizer


class HfModels:
    """Loaded models by name, least recently used evicted."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._size = size
        self._items: OrderedDict[str, _Loaded] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, name: str, base_dir: Path, weights_dir: Path | None) -> _Loaded:
        with self._lock:
            found = self._items.get(name)
            if found is not None:
                self._items.move_to_end(name)
                return found
        model, tokenizer = load(base_dir, weights_dir)
        loaded = _Loaded(model, tokenizer, threading.Lock())
        with self._lock:
            self._items[name] = loaded
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return loaded

    def forget(self, name: str) -> None:
        with self._lock:
            self._items.pop(name, None)

    def generate(
        self,
        name: str,
        base_dir: Path,
        weights_dir: Path | None,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int,
        temperature: float,
        top_p: float | None,
        seed: int | None,
        stop: Sequence[str] | None,
    ) -> HfGeneration:
        loaded = self.get(name, base_dir, weights_dir)
        with loaded.lock:
            return generate(
                loaded.model,
                loaded.tokenizer,
                messages,
                max_tokens=max_tokens,
                temperature=temperature,
                top_p=top_p,
                seed=seed,
                stop=stop,
            )


def generate(
    model: Any,
    tokenizer: Any,
    messages: list[dict[str, Any]],
    *,
    max_tokens: int,
    temperature: float,
    top_p: float | None = None,
    seed: int | None = None,
    stop: Sequence[str] | None = None,
) -> HfGeneration:
    """One assistant message for `messages` (see the module docstring)."""
    import torch

    from ftctl.text.chat_tokens import prompt_ids

    ids = prompt_ids(tokenizer, messages)
    inputs = torch.tensor([ids], device=model.device)
    sampling = temperature > 0
    options: dict[str, Any] = {
        "max_new_tokens": max_tokens,
        "do_sample": sampling,
        "pad_token_id": tokenizer.pad_token_id
        if tokenizer.pad_token_id is not None
        else tokenizer.eos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }
    if sampling:
        options["temperature"] = temperature
        options["top_p"] = 1.0 if top_p is None else top_p
    else:
        # Greedy: no sampling settings (the model's generation_config may set some).
        options.update(temperature=None, top_p=None, top_k=None)
    generator_state = None
    if sampling and seed is not None:
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(seed % 2**63)
    try:
        with torch.no_grad():
            output = model.generate(
                input_ids=inputs, attention_mask=torch.ones_like(inputs), **options
            )
    finally:
        if generator_state is not None:
            torch.random.set_rng_state(generator_state)
    new = output[0, len(ids) :].tolist()
    ended = bool(new) and new[-1] == tokenizer.eos_token_id
    if ended:
        new = new[:-1]
    text = tokenizer.decode(new, skip_special_tokens=True)
    reason: Literal["stop", "length"] = "stop" if ended else "length"
    for marker in stop or ():
        cut = text.find(marker) if marker else -1
        if cut >= 0:
            text, reason = text[:cut], "stop"
    return HfGeneration(text, len(ids), len(new) + (1 if ended else 0), reason)
