"""A small synthetic routing task: one keyword hidden among filler words decides the queue."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

import pytest

from ftctl.server.trainers.numpy_lm import (
    EpochResult,
    Hyper,
    StepMetrics,
    TrainOutcome,
    Weights,
    base_weights,
    generate,
    prompt_of,
    train,
)

SYSTEM = "Route the ticket. Answer with JSON."
LABELS = {"invoice": "billing", "password": "account", "parcel": "shipping"}
FILLER = [
    "hello",
    "please",
    "help",
    "me",
    "today",
    "with",
    "my",
    "order",
    "thanks",
    "again",
    "for",
    "the",
    "quick",
    "support",
    "team",
]


def synthetic_rows(n: int, seed: int) -> list[dict[str, Any]]:
    """Tickets of filler words with one telling word somewhere in the middle of the prompt."""
    rng = random.Random(seed)
    rows = []
    for index in range(n):
        keyword = list(LABELS)[index % len(LABELS)]
        words = rng.sample(FILLER, 6)
        words.insert(rng.randrange(1, 6), keyword)
        answer = json.dumps({"queue": LABELS[keyword]})
        rows.append(
            {
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": " ".join(words)},
                    {"role": "assistant", "content": answer},
                ]
            }
        )
    return rows


@pytest.fixture(scope="session")
def train_rows() -> list[dict[str, Any]]:
    return synthetic_rows(36, seed=1)


@pytest.fixture(scope="session")
def valid_rows() -> list[dict[str, Any]]:
    return synthetic_rows(9, seed=2)


@pytest.fixture(scope="session")
def hyper() -> Hyper:
    return Hyper(n_epochs=6, batch_size=4, learning_rate_multiplier=2.0)


@dataclass
class Run:
    """Everything a training run reported."""

    outcome: TrainOutcome
    steps: list[StepMetrics] = field(default_factory=list)
    epochs: list[EpochResult] = field(default_factory=list)
    checkpoints: list[Weights] = field(default_factory=list)


def run_training(
    base: Weights,
    rows: list[dict[str, Any]],
    valid: list[dict[str, Any]] | None,
    hyper: Hyper,
    seed: int = 0,
    resume_from_epoch: int = 0,
    stop_after_steps: int | None = None,
) -> Run:
    steps: list[StepMetrics] = []
    epochs: list[EpochResult] = []
    checkpoints: list[Weights] = []

    def on_epoch(result: EpochResult, weights: Weights) -> None:
        epochs.append(result)
        checkpoints.append(weights)

    outcome = train(
        base,
        rows,
        valid,
        hyper,
        seed,
        on_step=steps.append,
        on_epoch=on_epoch,
        should_stop=lambda: stop_after_steps is not None and len(steps) >= stop_after_steps,
        resume_from_epoch=resume_from_epoch,
    )
    return Run(outcome, steps, epochs, checkpoints)


@pytest.fixture(scope="session")
def trained(
    train_rows: list[dict[str, Any]], valid_rows: list[dict[str, Any]], hyper: Hyper
) -> Run:
    """local-tiny fine-tuned on the synthetic task (shared: training is the slow part)."""
    return run_training(base_weights("local-tiny", 0), train_rows, valid_rows, hyper, seed=0)


def answers(weights: Weights, rows: list[dict[str, Any]]) -> list[str]:
    """The model's greedy answers to the rows' prompts."""
    return [generate(weights, prompt_of(row), 40, 0.0, None, None).text for row in rows]


def references(rows: list[dict[str, Any]]) -> list[str]:
    return [str(row["messages"][-1]["content"]) for row in rows]


class Helpers:
    """The helpers above, handed to tests as a fixture (test modules cannot import conftest)."""

    synthetic_rows = staticmethod(synthetic_rows)
    run_training = staticmethod(run_training)
    answers = staticmethod(answers)
    references = staticmethod(references)


@pytest.fixture(scope="session")
def helpers() -> type[Helpers]:
    return Helpers
