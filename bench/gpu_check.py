#!/usr/bin/env python3
"""GPU check of the Hugging Face trainer: LoRA SFT of a random ~0.5B Llama, no network.

Builds a byte-level BPE tokenizer (trained here on synthetic text) and a randomly
initialised Llama config of about 0.5B parameters (hidden 1152, 26 layers, MLP 3584,
vocabulary 32,000: 0.49B), writes synthetic chat examples of ~`--seq-len` tokens, and trains it
with ftctl's own training process (`python -m ftctl.server.trainers.hf.run`, the command
the server runs; `FTCTL_HF_LAUNCHER` applies, e.g. `accelerate launch --num_processes 8`)
for `--steps` optimizer steps of `--batch-size` sequences, in bf16 on CUDA.

Prints tokens/s, peak GPU memory and model FLOPs utilisation:
MFU = 6 * N * tokens/s / peak FLOP/s, N = the model's parameters (the usual 6N per token for
forward + backward; with LoRA the frozen weights get no weight gradients, so the work
actually done is nearer 4N: the printed MFU is the conventional figure), peak = the
GPU's dense bf16 rate (H100/H200 989 TFLOP/s, A100 312; `--peak-tflops` to override).
Goal: >= 35% on a data-centre GPU.

`--tiny` swaps in a ~100k-parameter model and 2 steps: a quick check that the script runs
(also on a CPU-only machine, where MFU is not computed).

Usage: bench/gpu_check.sh [--steps 30] [--batch-size 8] [--seq-len 1024] [--tiny]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0}
WORDS = [
    "order",
    "refund",
    "invoice",
    "package",
    "delivery",
    "account",
    "password",
    "shipping",
    "tracking",
    "billing",
    "support",
    "ticket",
    "customer",
    "please",
    "help",
    "thanks",
    "return",
    "exchange",
    "warranty",
    "device",
    "error",
    "screen",
    "battery",
    "charger",
    "cable",
    "login",
    "email",
    "address",
    "payment",
    "card",
    "bank",
    "transfer",
]


def synthetic_text(rng: random.Random, n_words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n_words))


def make_model(directory: Path, *, tiny: bool) -> int:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    rng = random.Random(0)
    corpus = [synthetic_text(rng, 200) for _ in range(2000)]
    vocab = 384 if tiny else 32_000
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(
        corpus,
        trainers.BpeTrainer(
            vocab_size=vocab,
            special_tokens=["<|pad|>", "<|im_start|>", "<|im_end|>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, pad_token="<|pad|>", eos_token="<|im_end|>", bos_token="<|im_start|>"
    )
    tokenizer.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    tokenizer.save_pretrained(directory)
    if tiny:
        shape = {
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
        }
    else:
        shape = {
            "hidden_size": 1152,
            "intermediate_size": 3584,
            "num_hidden_layers": 26,
            "num_attention_heads": 18,
            "num_key_value_heads": 6,
        }
    config = LlamaConfig(
        # The synthetic corpus yields a few hundred BPE tokens; the embedding and output
        # layer keep a real model's 32,000 rows (their compute is part of the check).
        vocab_size=len(tokenizer) if tiny else max(len(tokenizer), vocab),
        max_position_embeddings=4096,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
        tie_word_embeddings=False,
        **shape,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.save_pretrained(directory)
    return sum(p.numel() for p in model.parameters())


def write_examples(path: Path, n: int, seq_len: int) -> None:
    rng = random.Random(1)
    # ~1.3 tokens per synthetic word with the trained vocabulary; the answer is a third.
    words = max(8, int(seq_len / 1.3))
    with open(path, "w", encoding="utf-8") as handle:
        for _ in range(n):
            row = {
                "messages": [
                    {"role": "user", "content": synthetic_text(rng, words * 2 // 3)},
                    {"role": "assistant", "content": synthetic_text(rng, words // 3)},
                ]
            }
            handle.write(json.dumps(row) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seq-len", type=int, default=1024)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--peak-tflops", type=float, default=None)
    parser.add_argument("--tiny", action="store_true", help="~100k parameters, 2 steps")
    parser.add_argument("--keep", type=Path, default=None, help="keep the files here")
    args = parser.parse_args()
    if args.tiny:
        args.steps, args.seq_len = 2, 64

    import torch

    from ftctl.server.trainers.hf import runner
    from ftctl.server.trainers.hf.spec import Adapter, JobSpec

    cuda = torch.cuda.is_available()
    device = torch.cuda.get_device_name(0) if cuda else "CPU"
    world = int(os.environ.get("WORLD_SIZE_FOR_CHECK", "1"))
    with tempfile.TemporaryDirectory(prefix="ftctl-gpu-check-") as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        n_params = make_model(root / "model", tiny=args.tiny)
        train = root / "train.jsonl"
        write_examples(train, args.steps * args.batch_size * world, args.seq_len)
        print(
            f"device: {device}; model: {n_params:,} parameters "
            f"(made in {time.monotonic() - started:.0f}s)",
            flush=True,
        )
        spec = JobSpec(
            job_id="gpu-check",
            method="supervised",
            base_model=f"hf:{root / 'model'}",
            model_dir=str(root / "model"),
            output_dir=str(root / "out"),
            train_file=str(train),
            valid_file=None,
            n_epochs=1,
            batch_size=args.batch_size * world,
            learning_rate=2e-4,
            seed=7,
            adapter=Adapter(
                type="lora", rank=args.rank, gradient_checkpointing=args.gradient_checkpointing
            ),
            max_length=args.seq_len * 2,
        )
        events: list[dict[str, object]] = []
        result = runner.run(spec, root / "out", events.append, lambda: False)
        if result.status != "succeeded":
            print(f"FAILED: {result.error}", file=sys.stderr)
            return 1
    done = next(e for e in events if e.get("event") == "done")
    start = next(e for e in events if e.get("event") == "start")
    tokens_per_s = float(done["tokens_per_s"])  # type: ignore[arg-type]
    print(f"steps: {start['total_steps']}, trained tokens: {start['trained_tokens']:,}")
    print(f"train time: {float(done['train_runtime_s']):.1f}s")  # type: ignore[arg-type]
    print(f"tokens/s: {tokens_per_s:,.0f}")
    print(f"peak memory: {float(done['peak_memory_mb']):,.0f} MiB")  # type: ignore[arg-type]
    print(f"final training loss: {float(done['final_train_loss']):.4f}")  # type: ignore[arg-type]
    peak = args.peak_tflops or next((v for k, v in PEAK_TFLOPS.items() if k in device), None)
    if cuda and peak:
        mfu = 6 * n_params * tokens_per_s / (peak * 1e12 * world)
        print(f"MFU: {100 * mfu:.1f}% of {peak:g} TFLOP/s per GPU x {world} (goal >= 35%)")
    else:
        print("MFU: not computed (no CUDA device with a known peak rate; --peak-tflops)")
    return 0 if math.isfinite(tokens_per_s) else 1


if __name__ == "__main__":
    sys.exit(main())
