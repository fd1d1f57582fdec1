#!/usr/bin/env python3
"""Benchmark the local trainer (prints figures, asserts nothing): training speed and the
support-triage gap between `local-tiny` and its fine-tune.

For each seed it fine-tunes local-tiny on the project's training data (a fixed 10%
validation split, the project's hyperparameters from project.yaml), then answers every test
ticket greedily with both models and prints:

* training wall time, CPU time, steps/s and tokens/s (trained tokens = answer bytes + end
  token of every example, per epoch; local-tiny's tokens are bytes);
* JSON validity (the answer parses and satisfies evals/answer.schema.json), the exact
  category+priority match rate, and category / priority accuracy, for both models;
* generation speed.

Usage: bench/bench_trainer.py [--project projects/support-triage] [--seeds 7]
       bench/bench_trainer.py --seeds 1,2,3,4,7     # the spread over seeds
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from ftctl.server.trainers.numpy_lm import (
    EpochResult,
    StepMetrics,
    Weights,
    base_weights,
    generate,
    prompt_of,
    resolve_hyperparameters,
    train,
)

REPO = Path(__file__).resolve().parent.parent


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def evaluate(
    weights: Weights, rows: list[dict[str, Any]], schema: dict[str, Any], max_tokens: int
) -> dict[str, float]:
    valid = matched = category = priority = generated = 0
    started = time.perf_counter()
    for row in rows:
        generation = generate(weights, prompt_of(row), max_tokens, 0.0, None, None)
        generated += generation.completion_tokens
        want = json.loads(row["messages"][-1]["content"])
        try:
            got = json.loads(generation.text)
            jsonschema.validate(got, schema)
        except (ValueError, jsonschema.ValidationError):
            continue
        valid += 1
        matched += got == want
        category += got["category"] == want["category"]
        priority += got["priority"] == want["priority"]
    elapsed = time.perf_counter() - started
    n = len(rows)
    return {
        "json_valid": valid / n,
        "match": matched / n,
        "category": category / n,
        "priority": priority / n,
        "gen_tokens_per_s": generated / elapsed,
    }


class Recorder:
    def __init__(self) -> None:
        self.steps = 0
        self.epochs: list[dict[str, float]] = []

    def on_step(self, _metrics: StepMetrics) -> None:
        self.steps += 1

    def on_epoch(self, result: EpochResult, _weights: Weights) -> None:
        self.epochs.append(result.metrics)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--project", type=Path, default=REPO / "projects" / "support-triage")
    parser.add_argument(
        "--seeds", default="", help="comma-separated job seeds (default: the project's)"
    )
    args = parser.parse_args()

    spec = yaml.safe_load((args.project / "project.yaml").read_text())["spec"]
    schema = json.loads((args.project / "evals" / "answer.schema.json").read_text())
    rows = read_jsonl(args.project / "data" / "train.jsonl")
    test = read_jsonl(args.project / "data" / "test.jsonl")
    valid, train_rows = rows[::10], [r for i, r in enumerate(rows) if i % 10]
    settings = spec["training"]["hyperparameters"]

    def setting(name: str) -> Any:
        value = settings.get(name)
        return None if value in (None, "auto") else value

    hyper = resolve_hyperparameters(
        len(train_rows), setting("nEpochs"), setting("batchSize"), setting("learningRateMultiplier")
    )
    max_tokens = int(spec["gates"]["evals"].get("maxTokens", 64))
    seeds = (
        [int(s) for s in args.seeds.split(",")] if args.seeds else [int(spec["training"]["seed"])]
    )
    base_model = spec["baseModel"]

    print(
        f"project: {args.project.name}  train={len(train_rows)} valid={len(valid)} test={len(test)}"
    )
    print(
        f"hyperparameters: n_epochs={hyper.n_epochs} batch_size={hyper.batch_size} "
        f"learning_rate_multiplier={hyper.learning_rate_multiplier}  eval max_tokens={max_tokens}"
    )
    print(
        f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores\n"
    )

    base = evaluate(base_weights(base_model, 0), test, schema, max_tokens)
    header = f"{'model':<22}{'train s':>8}{'CPU s':>7}{'tok/s':>8}{'steps/s':>8}{'json':>7}{'match':>7}{'categ':>7}{'prio':>7}{'vloss':>7}"
    print(header)
    print("-" * len(header))
    print(
        f"{base_model:<22}{'':>8}{'':>7}{'':>8}{'':>8}{base['json_valid']:>7.2f}{base['match']:>7.2f}"
        f"{base['category']:>7.2f}{base['priority']:>7.2f}{'':>7}"
    )
    matches, rates, gen_rates = [], [], [base["gen_tokens_per_s"]]
    for seed in seeds:
        record = Recorder()
        wall, cpu = time.perf_counter(), time.process_time()
        outcome = train(
            base_weights(base_model, 0),
            train_rows,
            valid,
            hyper,
            seed,
            on_step=record.on_step,
            on_epoch=record.on_epoch,
            should_stop=lambda: False,
        )
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        tuned = evaluate(outcome.weights, test, schema, max_tokens)
        matches.append(tuned["match"])
        rates.append(outcome.trained_tokens / wall)
        gen_rates.append(tuned["gen_tokens_per_s"])
        print(
            f"{'fine-tuned seed ' + str(seed):<22}{wall:>8.2f}{cpu:>7.2f}{outcome.trained_tokens / wall:>8.0f}"
            f"{record.steps / wall:>8.1f}{tuned['json_valid']:>7.2f}{tuned['match']:>7.2f}{tuned['category']:>7.2f}"
            f"{tuned['priority']:>7.2f}{record.epochs[-1].get('full_valid_loss', float('nan')):>7.3f}"
        )
    print()
    print(
        f"trained tokens per run: {outcome.trained_tokens:,} (answer bytes + end token, x{hyper.n_epochs} epochs)"
    )
    print(f"training speed: median {statistics.median(rates):,.0f} trained tokens/s")
    print(
        f"generation speed: median {statistics.median(gen_rates):,.0f} tokens/s (greedy, one request at a time)"
    )
    if len(matches) > 1:
        print(
            f"match rate over {len(matches)} seeds: min {min(matches):.2f} median {statistics.median(matches):.2f} max {max(matches):.2f}"
        )


if __name__ == "__main__":
    main()
