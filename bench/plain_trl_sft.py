#!/usr/bin/env python3
"""The baseline of bench_hf_trainer.py: LoRA SFT written the way TRL's docs show it.

A conversational prompt-completion dataset (the ticket as the prompt, the answer as the
completion: TRL computes the loss on the completion only), SFTConfig/SFTTrainer, a PEFT
LoraConfig. Prints one JSON object: per-step losses, trained tokens, runtime, peak memory.

Usage: plain_trl_sft.py MODEL_DIR TRAIN.jsonl --epochs 2 --batch-size 8 --lr 2e-3 --seed 7
       [--rank 16 --alpha 32 --dropout 0.05] --out DIR
"""

from __future__ import annotations

import argparse
import json
import resource

import torch
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback, set_seed
from trl import SFTConfig, SFTTrainer

from datasets import Dataset


class Losses(TrainerCallback):
    def __init__(self) -> None:
        self.steps: list[float] = []

    def on_log(self, args, state, control, logs=None, **kwargs):  # type: ignore[no-untyped-def]
        if logs and "loss" in logs:
            self.steps.append(float(logs["loss"]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir")
    parser.add_argument("train")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--alpha", type=float, default=32.0)
    parser.add_argument("--dropout", type=float, default=0.05)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    with open(args.train, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    dataset = Dataset.from_list(
        [{"prompt": r["messages"][:-1], "completion": r["messages"][-1:]} for r in rows]
    )
    set_seed(args.seed)  # before the LoRA weights are initialised, as ftctl does
    tokenizer = AutoTokenizer.from_pretrained(args.model_dir)
    model = AutoModelForCausalLM.from_pretrained(args.model_dir)
    cuda = torch.cuda.is_available()
    config = SFTConfig(
        output_dir=args.out,
        num_train_epochs=args.epochs,
        per_device_train_batch_size=args.batch_size,
        learning_rate=args.lr,
        lr_scheduler_type="linear",
        logging_steps=1,
        save_strategy="epoch",
        seed=args.seed,
        data_seed=args.seed,
        report_to=[],
        disable_tqdm=True,
        use_cpu=not cuda,
        bf16=cuda and torch.cuda.is_bf16_supported(),
    )
    losses = Losses()
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=LoraConfig(
            r=args.rank,
            lora_alpha=args.alpha,
            lora_dropout=args.dropout,
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        ),
        callbacks=[losses],
    )
    tokens = sum(len(ids) for ids in trainer.train_dataset["input_ids"]) * args.epochs
    output = trainer.train()
    runtime = float(output.metrics["train_runtime"])
    peak = (
        torch.cuda.max_memory_allocated() / 2**20
        if cuda
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    print(
        json.dumps(
            {
                "losses": losses.steps,
                "trained_tokens": tokens,
                "train_runtime_s": runtime,
                "tokens_per_s": tokens / runtime,
                "final_train_loss": float(output.training_loss),
                "peak_memory_mb": peak,
            }
        )
    )


if __name__ == "__main__":
    main()
