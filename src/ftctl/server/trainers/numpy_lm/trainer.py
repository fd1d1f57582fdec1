"""The numpy trainer behind the server's `Trainer` seam (see `trainers.base`).

Checkpoints are `epoch-<n>.npz` (weights and Adam state) and the final model `final.npz`
under the job's workdir; training runs in the calling thread (it is small and fast).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ftctl.server.jsonl import read_jsonl
from ftctl.server.trainers.base import (
    Checkpoint,
    Emit,
    ExamplesError,
    Generation,
    StepMetrics,
    TrainJob,
    TrainResult,
)
from ftctl.server.trainers.numpy_lm.examples import validate_training_file
from ftctl.server.trainers.numpy_lm.generate import generate
from ftctl.server.trainers.numpy_lm.hyper import Hyper, resolve_hyperparameters
from ftctl.server.trainers.numpy_lm.model import BASE_MODELS, Weights, base_weights
from ftctl.server.trainers.numpy_lm.train import EpochResult, train
from ftctl.server.trainers.numpy_lm.train import StepMetrics as NumpyStep


class NumpyChatModel:
    """Loaded numpy weights, ready to generate (read-only: safe to share between threads)."""

    def __init__(self, weights: Weights) -> None:
        self.weights = weights

    def generate(
        self,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int,
        temperature: float,
        seed: int | None,
        stop: list[str] | None,
        top_p: float | None = None,  # not used: greedy or plain temperature sampling
    ) -> Generation:
        return generate(self.weights, messages, max_tokens, temperature, seed, stop)


class NumpyTrainer:
    """`local-tiny`: a small byte-level model trained with numpy (supervised only)."""

    name = "numpy"
    base_models: tuple[str, ...] = BASE_MODELS
    methods = frozenset({"supervised"})

    def serves(self, model: str) -> bool:
        return model in BASE_MODELS

    def base_model_problem(self, model: str) -> str | None:
        return None

    def check_examples(self, rows: Sequence[Mapping[str, Any]], method: str) -> str | None:
        return validate_training_file(rows)

    def resolve_hyperparameters(
        self, method: str, requested: Mapping[str, Any], n_examples: int
    ) -> dict[str, Any]:
        hyper = resolve_hyperparameters(
            n_examples,
            requested.get("n_epochs"),
            requested.get("batch_size"),
            requested.get("learning_rate_multiplier"),
        )
        return {
            "n_epochs": hyper.n_epochs,
            "batch_size": hyper.batch_size,
            "learning_rate_multiplier": hyper.learning_rate_multiplier,
        }

    def train(
        self, job: TrainJob, workdir: Path, emit: Emit, should_stop: Callable[[], bool]
    ) -> TrainResult:
        train_rows = read_jsonl(job.training_file)
        valid_rows = read_jsonl(job.validation_file) if job.validation_file else None
        for rows in (train_rows, valid_rows):
            problem = None if rows is None else validate_training_file(rows)
            if problem is not None:  # the file changed since the worker checked it
                raise ExamplesError(problem)
        hp = job.hyperparameters
        hyper = Hyper(
            n_epochs=int(hp["n_epochs"]),
            batch_size=int(hp["batch_size"]),
            learning_rate_multiplier=float(hp["learning_rate_multiplier"]),
        )
        if job.resume is not None:
            base = Weights.load(job.resume.path)
            resume_from = job.resume.epoch
        elif job.start_from is not None:
            base = Weights.load(job.start_from)
            resume_from = 0
        else:
            base = base_weights(job.base_model, job.seed)
            resume_from = 0
        steps_per_epoch = -(-len(train_rows) // min(hyper.batch_size, len(train_rows)))
        total_steps = steps_per_epoch * hyper.n_epochs

        def on_step(metrics: NumpyStep) -> None:
            emit(
                StepMetrics(
                    step=metrics.step,
                    epoch=metrics.epoch,
                    total_steps=total_steps,
                    train_loss=metrics.train_loss,
                    train_mean_token_accuracy=metrics.train_mean_token_accuracy,
                    valid_loss=metrics.valid_loss,
                    valid_mean_token_accuracy=metrics.valid_mean_token_accuracy,
                )
            )

        def on_epoch(result: EpochResult, weights: Weights) -> None:
            path = workdir / f"epoch-{result.epoch}.npz"
            weights.save(path)
            metrics = {key: float(value) for key, value in result.metrics.items()}
            emit(Checkpoint(epoch=result.epoch, step=result.step, path=path, metrics=metrics))

        outcome = train(
            base,
            train_rows,
            valid_rows,
            hyper,
            job.seed,
            on_step=on_step,
            on_epoch=on_epoch,
            should_stop=should_stop,
            resume_from_epoch=resume_from,
        )
        if outcome.stopped:
            return TrainResult(stopped=True, model_path=None, trained_tokens=outcome.trained_tokens)
        path = workdir / "final.npz"
        outcome.weights.save(path)
        return TrainResult(stopped=False, model_path=path, trained_tokens=outcome.trained_tokens)

    def load(self, base_model: str, path: Path | None) -> NumpyChatModel:
        if path is None:
            return NumpyChatModel(base_weights(base_model, 0))
        return NumpyChatModel(Weights.load(path))
