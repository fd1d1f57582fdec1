"""A second trainer for the seam tests: it trains in a child process, as the Hugging Face
trainer does (so `accelerate launch` can run the same command), and learns one thing: the
last assistant answer of the training file.

The child (`python subprocess_trainer.py JOB.json WORKDIR`) writes one event per line with
`encode_event`; after the checkpoint of epoch 1 it waits for a file `release` in its
workdir, so that a test can pause the job at a known point without timing anything.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ftctl.server.trainers.base import (
    Checkpoint,
    Emit,
    Generation,
    Message,
    StepMetrics,
    TrainJob,
    TrainResult,
    encode_event,
)
from ftctl.server.trainers.child import run_training_process

BASE_MODEL = "echo-small"


class EchoModel:
    def __init__(self, answer: str) -> None:
        self.answer = answer

    def generate(
        self,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int,
        temperature: float,
        seed: int | None,
        stop: list[str] | None,
        top_p: float | None = None,
    ) -> Generation:
        text = self.answer[:max_tokens]
        return Generation(text, len(messages), len(text), "stop")


class SubprocessTrainer:
    name = "echo"
    base_models = (BASE_MODEL,)
    methods = frozenset({"supervised", "dpo"})

    def serves(self, model: str) -> bool:
        return model == BASE_MODEL

    def base_model_problem(self, model: str) -> str | None:
        return None

    def check_examples(self, rows: Sequence[Mapping[str, Any]], method: str) -> str | None:
        for line, row in enumerate(rows, start=1):
            if "messages" not in row:
                return f"line {line}: no messages"
        return None

    def resolve_hyperparameters(
        self, method: str, requested: Mapping[str, Any], n_examples: int
    ) -> dict[str, Any]:
        resolved = {"n_epochs": 2, "batch_size": 1, "learning_rate_multiplier": 1.0}
        if method == "dpo":
            resolved["beta"] = 0.1
        return {**resolved, **requested}

    def train(
        self, job: TrainJob, workdir: Path, emit: Emit, should_stop: Callable[[], bool]
    ) -> TrainResult:
        spec = workdir / "job.json"
        values = asdict(job)
        spec.write_text(json.dumps(values, default=str))
        outcome = run_training_process(
            [sys.executable, __file__, str(spec), str(workdir)],
            emit,
            should_stop,
            workdir / "train.log",
        )
        if outcome.stopped:
            return TrainResult(stopped=True, model_path=None, trained_tokens=0)
        return TrainResult(stopped=False, model_path=workdir / "final.json", trained_tokens=42)

    def load(self, base_model: str, path: Path | None) -> EchoModel:
        if path is None:
            return EchoModel("untrained")
        return EchoModel(json.loads(path.read_text())["answer"])


def _child(spec_path: str, workdir_path: str) -> None:
    job = json.loads(Path(spec_path).read_text())
    workdir = Path(workdir_path)
    rows = [json.loads(line) for line in Path(job["training_file"]).read_text().splitlines()]
    answer = rows[-1]["messages"][-1]["content"]
    if answer == "crash":
        print("Traceback: CUDA out of memory (pretend)", file=sys.stderr)
        raise SystemExit(3)
    n_epochs = int(job["hyperparameters"]["n_epochs"])
    resume = job["resume"]
    first = resume["epoch"] + 1 if resume else 1

    def say(event: StepMetrics | Checkpoint | Message) -> None:
        print(encode_event(event), flush=True)

    say(Message(f"{job['method']} from epoch {first}, beta={job['hyperparameters'].get('beta')}"))
    for epoch in range(first, n_epochs + 1):
        say(StepMetrics(epoch, epoch, n_epochs, 1.0 / epoch, 0.5))
        path = workdir / f"epoch-{epoch}.json"
        path.write_text(json.dumps({"answer": answer}))
        say(Checkpoint(epoch, epoch, path, {"train_loss": 1.0 / epoch}))
        print("a stray line from a library", flush=True)
        while epoch == 1 and not (workdir / "release").exists():
            time.sleep(0.02)
    (workdir / "final.json").write_text(json.dumps({"answer": answer}))


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2])
