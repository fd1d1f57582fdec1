"""The seam between the local server and its trainers: what a trainer is, and what it says.

A trainer serves some base models (`local-tiny`, `hf:<repo>`...) with some methods
(supervised, dpo, reinforcement). The server knows nothing else about it: the worker checks
a job's examples and resolves its "auto" hyperparameters through it, runs `train` in one of
its threads, turns the events the trainer emits into the job's events, metrics and
checkpoints, and the chat route asks it to `load` a model for generation.

`train` is written so that a trainer may run the training in a subprocess (so that
`accelerate launch` / `torchrun` can run the same command on several GPUs): everything it
gets is a plain value or a path (the JSONL files, the checkpoint to resume from, a working
directory), and every event is a small JSON-able value (`encode_event` / `decode_event`
turn them into one line of JSON and back, for a child process's stdout). The trainer calls
`emit` from the thread that called `train`: a subprocess trainer reads its child's lines
and re-emits them there.

Checkpoints: the trainer writes each one under `workdir` (a file or a directory: the
trainer's choice) and emits a `Checkpoint` naming it; the worker registers it (the job's
checkpoint list, a `ft:...:ckpt-step-N` model that chat can use). A job that stopped
(server shutdown, pause) is given the last registered checkpoint back as `TrainJob.resume`
and continues from there; the trainer must not rely on anything in `workdir` that it did
not announce. Cancel and pause are seen through `should_stop`, which the trainer polls
between steps (a subprocess trainer: while it waits for its child, then stops the child).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

Method = Literal["supervised", "dpo", "reinforcement"]
Level = Literal["info", "warn", "error"]
FinishReason = Literal["stop", "length"]


# --- what a trainer is given --------------------------------------------------------------


@dataclass(frozen=True)
class Resume:
    """The last checkpoint the worker registered for a job: train on from there."""

    path: Path  # as the trainer announced it in `Checkpoint.path`
    epoch: int
    step: int


@dataclass(frozen=True)
class TrainJob:
    """One fine-tuning job, as a trainer needs it (all values and paths)."""

    id: str
    base_model: str  # a model `Trainer.serves` (a fine-tuned model's base, when continuing)
    # The weights of the fine-tuned model this job continues (its `TrainResult.model_path`);
    # None when the job starts from `base_model` itself.
    start_from: Path | None
    method: Method
    # The job's method section without its hyperparameters (for reinforcement: `grader`...).
    method_config: Mapping[str, Any]
    # Resolved by `Trainer.resolve_hyperparameters`: no "auto" left.
    hyperparameters: Mapping[str, Any]
    seed: int
    training_file: Path  # JSONL, already checked with `Trainer.check_examples`
    validation_file: Path | None
    resume: Resume | None = None


# --- what a trainer says while it trains ---------------------------------------------------


@dataclass(frozen=True)
class StepMetrics:
    """One optimizer step (1-based, counted over the whole job)."""

    step: int
    epoch: int  # 1-based
    total_steps: int
    train_loss: float
    train_mean_token_accuracy: float
    valid_loss: float | None = None
    valid_mean_token_accuracy: float | None = None
    kind: Literal["step"] = "step"


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint the trainer wrote under its workdir, at the end of `epoch` (1-based).

    `metrics`: the epoch's figures, with any of train_loss, train_mean_token_accuracy,
    valid_loss, valid_mean_token_accuracy, full_valid_loss, full_valid_mean_token_accuracy.
    """

    epoch: int
    step: int
    path: Path
    metrics: Mapping[str, float] = field(default_factory=dict)
    kind: Literal["checkpoint"] = "checkpoint"


@dataclass(frozen=True)
class Message:
    """Free text for the job's event list (e.g. "Loading base model hf:...")."""

    text: str
    level: Level = "info"
    kind: Literal["message"] = "message"


TrainEvent = StepMetrics | Checkpoint | Message
Emit = Callable[[TrainEvent], None]


@dataclass(frozen=True)
class TrainResult:
    """How `train` ended: finished (the final model at `model_path`), or stopped early
    because `should_stop` said so (nothing to register; the job resumes or is over)."""

    stopped: bool
    model_path: Path | None
    # Tokens the loss was computed on, summed over all epochs (those before a resume too).
    trained_tokens: int


# --- generation --------------------------------------------------------------------------


@dataclass(frozen=True)
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int  # excluding any end-of-answer token
    finish_reason: FinishReason


class ChatModel(Protocol):
    """A loaded model (kept in a small cache by the server; called from several threads)."""

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
        """One assistant message for `messages`; stops at the end of the answer, a `stop`
        string (not included) or `max_tokens`. `seed` makes sampling reproducible; `top_p`
        (nucleus sampling) may be ignored by a trainer that has no use for it."""
        ...


# --- the trainer -------------------------------------------------------------------------


@runtime_checkable
class Trainer(Protocol):
    """A way to fine-tune and run some base models. See the module docstring."""

    # Short and stable ("numpy", "hf"): appears in messages.
    name: str
    # Base models listed by GET /v1/models (a trainer may serve more, see `serves`).
    base_models: tuple[str, ...]
    methods: frozenset[str]

    def serves(self, model: str) -> bool:
        """True when `model` is a base model of this trainer (e.g. any `hf:<repo>`)."""
        ...

    def base_model_problem(self, model: str) -> str | None:
        """Why a job cannot train `model` (a base model it serves) on this machine, e.g. an
        hf: model that is not downloaded; None when it can. Checked when a job is created."""
        ...

    def check_examples(self, rows: Sequence[Mapping[str, Any]], method: str) -> str | None:
        """The first problem that makes `rows` (one training or validation file) unusable
        for `method`, as a sentence fragment naming the line; None when they are fine.
        Called before the job is queued, so a bad file fails the job at once."""
        ...

    def resolve_hyperparameters(
        self, method: str, requested: Mapping[str, Any], n_examples: int
    ) -> dict[str, Any]:
        """Every hyperparameter the job trains with: `requested` ("auto" already removed:
        an absent key is auto) filled in with this trainer's defaults. Shown on the job."""
        ...

    def train(
        self, job: TrainJob, workdir: Path, emit: Emit, should_stop: Callable[[], bool]
    ) -> TrainResult:
        """Train `job`, writing checkpoints and the final model under `workdir` (created by
        the caller, kept across resumes). Raises `ExamplesError` for unusable rows; any
        other exception fails the job as an internal error."""
        ...

    def load(self, base_model: str, path: Path | None) -> ChatModel:
        """A model for generation: `base_model` itself (path None), or the weights at `path`
        (a `TrainResult.model_path` or `Checkpoint.path`) trained from it."""
        ...


class ExamplesError(ValueError):
    """Training rows the trainer cannot learn from (fails the job as an invalid file)."""


# --- events as lines of JSON (for trainers whose training runs in a child process) ----------


def encode_event(event: TrainEvent) -> str:
    """One line of JSON (no newline) for `event`; `decode_event` reads it back."""
    values = asdict(event)
    if isinstance(event, Checkpoint):
        values["path"] = str(event.path)
    return json.dumps(values, sort_keys=True, allow_nan=True)


def decode_event(line: str) -> TrainEvent:
    """The event in a line written by `encode_event`; ValueError when it is not one."""
    try:
        values = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"not a trainer event: {line[:200]!r}") from error
    if not isinstance(values, dict):
        raise ValueError(f"not a trainer event: {line[:200]!r}")
    kind = values.get("kind")
    try:
        if kind == "step":
            return StepMetrics(**values)
        if kind == "checkpoint":
            return Checkpoint(**{**values, "path": Path(values["path"])})
        if kind == "message":
            return Message(**values)
    except (TypeError, KeyError) as error:
        raise ValueError(f"malformed {kind} event: {error}") from error
    raise ValueError(f"unknown trainer event kind {kind!r}")
