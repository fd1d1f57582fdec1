#!/usr/bin/env python3
"""Benchmark the Hugging Face trainer of `ftctl server` against a plain TRL script.

The same model (a random Llama made on the spot, no download), the same data (synthetic
support tickets -> category JSON), the same hyperparameters and seed, trained twice:

* by ftctl: a real local server (`ftctl server` on loopback), the file uploaded and the job
  created with the openai SDK, `baseModel: hf:<dir>`, LoRA, until the job succeeds;
* by `bench/plain_trl_sft.py`: LoRA SFT the way TRL's documentation writes it.

Prints, for both: trained tokens/s (inside the trainer), training time, wall time
(ftctl: from job creation to `succeeded`, so server and process start-up included),
peak memory (GPU when on CUDA, else the training process's peak RSS) and final training
loss; then ftctl's throughput as a fraction of plain TRL's (goal >= 0.95) and the largest
per-step difference of the two loss curves (goal: identical).

Usage: bench/bench_hf_trainer.py [--examples 256] [--epochs 2] [--batch-size 8]
                                 [--hidden 128] [--layers 4] [--lr 2e-3] [--seed 7]
Set OMP_NUM_THREADS=1 on a small shared machine (both runs see the same setting).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from support.hf_tiny import make_tiny_model, ticket_rows, tokenizer_texts, write_jsonl  # noqa: E402

LORA_SFT_BASE_RATE = 2e-4  # ftctl.server.trainers.hf.spec.BASE_LEARNING_RATES


def run_plain(args: argparse.Namespace, model: Path, train: Path, out: Path) -> dict[str, Any]:
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "plain_trl_sft.py"),
            str(model),
            str(train),
            f"--epochs={args.epochs}",
            f"--batch-size={args.batch_size}",
            f"--lr={args.lr}",
            f"--seed={args.seed}",
            f"--rank={args.rank}",
            f"--out={out}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall_s"] = time.monotonic() - started
    return result


_TRAINED = re.compile(
    r"Trained in ([\d.]+)s: ([\d,]+) tokens/s, final training loss ([\d.]+), "
    r"peak memory ([\d,]+) MiB"
)


def run_ftctl(args: argparse.Namespace, model: Path, train: Path, data_dir: Path) -> dict[str, Any]:
    from openai import OpenAI

    from ftctl.server.launcher import ensure_local_server, stop_local_server

    server = ensure_local_server(data_dir)
    try:
        client = OpenAI(base_url=server.base_url, api_key="bench")
        with open(train, "rb") as handle:
            uploaded = client.files.create(file=handle, purpose="fine-tune")
        started = time.monotonic()
        job = client.fine_tuning.jobs.create(
            model=f"hf:{model}",
            training_file=uploaded.id,
            seed=args.seed,
            method={
                "type": "supervised",
                "supervised": {
                    "hyperparameters": {
                        "n_epochs": args.epochs,
                        "batch_size": args.batch_size,
                        "learning_rate_multiplier": args.lr / LORA_SFT_BASE_RATE,
                        "adapter": "lora",
                        "lora_rank": args.rank,
                    }
                },
            },
        )
        while job.status not in ("succeeded", "failed", "cancelled"):
            time.sleep(0.2)
            job = client.fine_tuning.jobs.retrieve(job.id)
        wall = time.monotonic() - started
        if job.status != "succeeded":
            raise SystemExit(f"ftctl job {job.status}: {job.error}")
        events = list(client.fine_tuning.jobs.list_events(job.id, limit=100))
    finally:
        stop_local_server(data_dir)
    steps = sorted(
        (int(e.data["step"]), float(e.data["train_loss"]))
        for e in events
        if e.type == "metrics" and e.data and "train_loss" in e.data and "total_steps" in e.data
    )
    found = next((m for e in events if (m := _TRAINED.search(e.message))), None)
    if found is None:
        raise SystemExit("ftctl's job has no 'Trained in' event")
    return {
        "losses": [loss for _, loss in steps],
        "trained_tokens": job.trained_tokens,
        "train_runtime_s": float(found.group(1)),
        "tokens_per_s": float(found.group(2).replace(",", "")),
        "final_train_loss": float(found.group(3)),
        "peak_memory_mb": float(found.group(4).replace(",", "")),
        "wall_s": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ftctl-bench-hf-") as tmp:
        root = Path(tmp)
        model = make_tiny_model(
            root / "model", tokenizer_texts(), hidden=args.hidden, layers=args.layers
        )
        train = write_jsonl(root / "train.jsonl", ticket_rows(args.examples, seed=1))
        ftctl = run_ftctl(args, model, train, root / "server")
        plain = run_plain(args, model, train, root / "plain")

    n_params = _parameters(args)
    print(
        f"model: random Llama, hidden {args.hidden}, {args.layers} layers (~{n_params:,} "
        f"parameters); {args.examples} examples x {args.epochs} epochs, batch {args.batch_size}, "
        f"LoRA rank {args.rank}, lr {args.lr}, seed {args.seed}"
    )
    print(f"{'':14}{'tokens/s':>10}{'train s':>9}{'wall s':>8}{'peak MiB':>10}{'final loss':>12}")
    for name, figures in (("ftctl server", ftctl), ("plain TRL", plain)):
        print(
            f"{name:14}{figures['tokens_per_s']:>10,.0f}{figures['train_runtime_s']:>9.2f}"
            f"{figures['wall_s']:>8.2f}{figures['peak_memory_mb']:>10,.0f}"
            f"{figures['final_train_loss']:>12.4f}"
        )
    ratio = ftctl["tokens_per_s"] / plain["tokens_per_s"]
    pairs = list(zip(ftctl["losses"], plain["losses"], strict=False))
    worst = max((abs(a - b) for a, b in pairs), default=float("nan"))
    print(f"throughput ftctl / plain TRL: {ratio:.3f} (goal >= 0.95)")
    first = ", ".join(f"{a:.4f}/{b:.4f}" for a, b in pairs[:4])
    print(f"first steps' losses (ftctl/plain): {first}")
    print(
        f"loss curves: {len(ftctl['losses'])} and {len(plain['losses'])} steps, largest "
        f"per-step difference {worst:.2e}; trained tokens {ftctl['trained_tokens']:,} and "
        f"{plain['trained_tokens']:,}"
    )


def _parameters(args: argparse.Namespace) -> int:
    h, layers, vocab = args.hidden, args.layers, 384
    return 2 * vocab * h + layers * (4 * h * h + 3 * h * 2 * h + 2 * h) + h


if __name__ == "__main__":
    main()
