"""A tiny Hugging Face chat model made on the spot: no hub, no network.

A byte-level BPE tokenizer trained (with the `tokenizers` library) on the caller's own
text, a ChatML chat template, and a randomly initialised Llama of about 100k parameters,
saved as an ordinary model directory that `AutoTokenizer` / `AutoModelForCausalLM` load
and that ftctl takes as `baseModel: hf:<directory>`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL_TOKENS = ["<|pad|>", "<|im_start|>", "<|im_end|>"]


def make_tiny_model(
    directory: Path,
    texts: Iterable[str],
    *,
    vocab_size: int = 384,
    hidden: int = 32,
    layers: int = 2,
    seed: int = 0,
    init_range: float = 0.2,
) -> Path:
    """Write a tokenizer + random tiny Llama to `directory`; return it."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(list(texts), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        pad_token="<|pad|>",
        eos_token="<|im_end|>",
        bos_token="<|im_start|>",
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(directory)

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
        tie_word_embeddings=False,
        # Larger than Llama's 0.02: with a frozen random output layer of std 0.02 and a
        # 32-wide normalised hidden state, logits stay near 0 whatever LoRA learns.
        initializer_range=init_range,
    )
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(directory)
    return directory


def parameter_count(directory: Path) -> int:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(directory)
    return sum(p.numel() for p in model.parameters())


# A learnable mapping for the tiny model: the category follows from a phrase in the ticket.
CATEGORIES: dict[str, tuple[str, ...]] = {
    "billing": ("refund", "charged twice", "invoice", "payment failed"),
    "shipping": ("package late", "tracking number", "delivery address", "parcel lost"),
    "account": ("password reset", "cannot log in", "delete my account", "change email"),
}
SYSTEM_PROMPT = "Route the ticket."
_NAMES = ("Ana", "Bo", "Cy", "Di", "Ed", "Fay", "Gus", "Hal")


def ticket_rows(n: int, seed: int) -> list[dict[str, Any]]:
    """`n` chat examples: a ticket naming a phrase -> `{"category": ...}` as JSON."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for _ in range(n):
        category = rng.choice(sorted(CATEGORIES))
        phrase = rng.choice(CATEGORIES[category])
        rows.append(
            {
                "messages": [
                    {"role": "system", "content": SYSTEM_PROMPT},
                    {
                        "role": "user",
                        "content": f"Hi, {phrase} please help. Order {rng.randrange(1000, 9999)}, {rng.choice(_NAMES)}",
                    },
                    {"role": "assistant", "content": json.dumps({"category": category})},
                ]
            }
        )
    return rows


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def tokenizer_texts() -> list[str]:
    """Text the test tokenizer is trained on (the tickets, answers and template markers)."""
    return [json.dumps(row) for row in ticket_rows(200, seed=99)]


WORKSPACE_YAML = """\
apiVersion: ftctl/v1
kind: Workspace
metadata: {name: hf-tests}
providers:
  local: {type: local}
state: {backend: sqlite, path: .ftctl/state.db}
defaults: {provider: local}
projects: [projects/*/project.yaml]
"""

PROJECT_YAML = """\
apiVersion: ftctl/v1
kind: FineTuneProject
metadata: {{name: triage, owner: tests@example.com}}
spec:
  provider: local
  baseModel: {base_model}
  suffix: triage
  data:
    train: {{sources: [{{path: data/train.jsonl}}]}}
    validation: {{sources: [{{path: data/valid.jsonl}}]}}
    test: {{sources: [{{path: data/test.jsonl}}]}}
  policy:
    minExamples: 10
    maxDuplicateRatio: {{value: 1.0, level: "off"}}
    leakage: warn   # synthetic tickets: test prompts resemble training prompts by design
    budget: {{maxCostUsd: 1}}
  training:
    method: supervised
    hyperparameters: {{nEpochs: {epochs}, batchSize: 8, learningRateMultiplier: {lr_multiplier}}}
    adapter: {adapter}
    seed: 7
  gates:
    evals:
      dataset: test
      baseline: base
      maxTokens: 16
      temperature: 0.0
      graders: [{{type: json_match, keys: [category]}}]
      pass: {{minPassRate: 0.6}}
  promote: {{alias: prod, when: gates_pass}}
"""


def write_workspace(
    root: Path,
    base_model: str,
    *,
    epochs: int = 8,
    lr_multiplier: float = 50.0,
    adapter: str = "{type: lora, rank: 16}",
    n_train: int = 48,
) -> Path:
    """A workspace with one project `triage` fine-tuning `base_model` on ticket_rows."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "ftctl.yaml").write_text(WORKSPACE_YAML, encoding="utf-8")
    project = root / "projects" / "triage"
    write_jsonl(project / "data" / "train.jsonl", ticket_rows(n_train, seed=1))
    write_jsonl(project / "data" / "valid.jsonl", ticket_rows(8, seed=2))
    write_jsonl(project / "data" / "test.jsonl", ticket_rows(12, seed=3))
    (project / "project.yaml").write_text(
        PROJECT_YAML.format(
            base_model=base_model, epochs=epochs, lr_multiplier=lr_multiplier, adapter=adapter
        ),
        encoding="utf-8",
    )
    return root
