"""The job worker: validates files, then trains queued jobs one at a time (FIFO).

Two kinds of threads: one validator (cheap: parse and check the files, resolve the "auto"
hyperparameters) and `n_workers` trainers. Every state change goes through the store
first, so a server killed at any moment restarts with each job either queued again or
finished; a job that was running resumes from its last epoch checkpoint.

Cancel and pause are requests: the API records the new status at once and the trainer
sees it through `should_stop` before its next step.

The worker knows trainers only through the `Trainer` seam (trainers/base.py): the one that
serves a job's base model checks its files, resolves its hyperparameters and trains it; the
worker turns what it emits into the job's events, step metrics, checkpoints and model.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import queue
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftctl.server import ids
from ftctl.server.jsonl import parse_jsonl
from ftctl.server.store import CheckpointRecord, FileRecord, JobRecord, ModelRecord, Store, now
from ftctl.server.trainers.base import (
    Checkpoint,
    ExamplesError,
    Message,
    Method,
    Resume,
    StepMetrics,
    Trainer,
    TrainEvent,
    TrainJob,
    TrainResult,
)
from ftctl.server.trainers.registry import TrainerRegistry

log = logging.getLogger("ftctl.server.worker")

ORGANIZATION = "local"
RESULT_COLUMNS = (
    "step",
    "epoch",
    "train_loss",
    "train_accuracy",
    "valid_loss",
    "valid_mean_token_accuracy",
    "full_valid_loss",
    "full_valid_mean_token_accuracy",
)
_SHUTDOWN = "__shutdown__"
# OpenAI keeps "the checkpoints for the last 3 epochs of the job"; so does this server, which
# also bounds a long job's disk use (a local-tiny checkpoint with its Adam state is ~27 MB).
KEPT_CHECKPOINT_EPOCHS = 3


def fine_tuned_model_name(job: JobRecord) -> str:
    """`ft:<base>:<org>:<suffix>:<job tail>` as OpenAI names them (empty suffix allowed)."""
    return f"ft:{job.base_model}:{ORGANIZATION}:{job.suffix or ''}:{ids.job_tail(job.id)}"


def checkpoint_model_name(job: JobRecord, step: int) -> str:
    return f"{fine_tuned_model_name(job)}:ckpt-step-{step}"


class InvalidFileError(Exception):
    """A training or validation file the trainer cannot use."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass
class _Progress:
    started: float
    first_step: int
    step: int
    total_steps: int


class JobWorker:
    """Runs the server's jobs in background threads; see the module docstring."""

    def __init__(self, store: Store, trainers: TrainerRegistry, *, n_workers: int = 1) -> None:
        self.store = store
        self.trainers = trainers
        self.n_workers = max(1, n_workers)
        self._validate_queue: queue.Queue[str] = queue.Queue()
        self._train_queue: queue.Queue[str] = queue.Queue()
        self._lock = threading.Lock()
        self._stop_requests: set[str] = set()
        self._active: set[str] = set()
        self._deferred: set[str] = set()
        self._progress: dict[str, _Progress] = {}
        self._shutdown = threading.Event()
        self._threads: list[threading.Thread] = []

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Pick up the jobs a previous server left unfinished, then start the threads."""
        for job in self.store.jobs_with_status(["validating_files"]):
            self._validate_queue.put(job.id)
        interrupted = self.store.jobs_with_status(["running"])
        for job in interrupted:
            checkpoint = self.store.last_checkpoint(job.id)
            where = f"epoch {checkpoint.epoch} checkpoint" if checkpoint else "the beginning"
            self.store.update_job(job.id, only_from=["running"], status="queued")
            self.store.add_event(
                job.id, f"Server restarted: the job is queued again and resumes from {where}."
            )
        # Interrupted jobs first (they started earlier), then the queue in FIFO order.
        resumed = [job.id for job in interrupted]
        waiting = [
            job.id for job in self.store.jobs_with_status(["queued"]) if job.id not in resumed
        ]
        for job_id in resumed + waiting:
            self._train_queue.put(job_id)
        threads = [threading.Thread(target=self._validate_loop, name="ftctl-validate", daemon=True)]
        threads += [
            threading.Thread(target=self._train_loop, name=f"ftctl-train-{n}", daemon=True)
            for n in range(self.n_workers)
        ]
        self._threads = threads
        for thread in threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the threads; a job being trained stays `running` and resumes at next start."""
        self._shutdown.set()
        self._validate_queue.put(_SHUTDOWN)
        for _ in range(self.n_workers):
            self._train_queue.put(_SHUTDOWN)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    # --- requests from the API -------------------------------------------------------

    def submit(self, job_id: str) -> None:
        self._validate_queue.put(job_id)

    def request_stop(self, job_id: str) -> None:
        """Make a running job stop before its next step (after cancel or pause)."""
        with self._lock:
            if job_id in self._active:
                self._stop_requests.add(job_id)

    def requeue(self, job_id: str) -> None:
        """Queue a resumed job (it waits if its previous run is still winding down)."""
        self._train_queue.put(job_id)

    def estimated_finish(self, job_id: str) -> int | None:
        with self._lock:
            progress = self._progress.get(job_id)
        if progress is None or progress.step <= progress.first_step:
            return None
        elapsed = time.monotonic() - progress.started
        per_step = elapsed / (progress.step - progress.first_step)
        return int(time.time() + per_step * (progress.total_steps - progress.step)) + 1

    # --- validation ------------------------------------------------------------------

    def _validate_loop(self) -> None:
        while True:
            job_id = self._validate_queue.get()
            if job_id == _SHUTDOWN or self._shutdown.is_set():
                return
            try:
                self._validate(job_id)
            except Exception as error:  # a bug must not kill the thread
                log.exception("validating %s failed", job_id)
                self._fail(
                    job_id, "internal_error", f"Validation failed unexpectedly: {error}", None
                )

    def _validate(self, job_id: str) -> None:
        job = self.store.get_job(job_id)
        if job is None or job.status != "validating_files":
            return
        trainer = self._trainer(job)
        n_examples = self._check_files(job, trainer)
        if n_examples is None:
            return
        requested = {
            name: value
            for name, value in job.hyperparameters.items()
            if value not in (None, "auto")
        }
        resolved = trainer.resolve_hyperparameters(job.method["type"], requested, n_examples)
        method = json.loads(json.dumps(job.method))
        section = method.setdefault(method["type"], {})
        section["hyperparameters"] = {**(section.get("hyperparameters") or {}), **resolved}
        updated = self.store.update_job(
            job_id,
            only_from=["validating_files"],
            status="queued",
            hyperparameters=resolved,
            method=method,
        )
        if updated is None:
            return
        self.store.add_event(job_id, "Files validated, moving job to queued state")
        self._train_queue.put(job_id)

    def _trainer(self, job: JobRecord) -> Trainer:
        trainer = self.trainers.for_model(job.base_model)
        if trainer is None:  # the trainer was there when the job was created
            raise RuntimeError(f"no trainer serves the base model {job.base_model} any more")
        return trainer

    def _check_files(self, job: JobRecord, trainer: Trainer) -> int | None:
        """The number of training examples once the job's files are checked; None once the
        job is failed because a file is missing or its examples are unusable."""
        try:
            n_examples = self._check_file(job, trainer, job.training_file, "training_file")
            if job.validation_file:
                self._check_file(job, trainer, job.validation_file, "validation_file")
        except InvalidFileError as error:
            self._fail_file(job.id, error.param, str(error))
            return None
        return n_examples

    def _fail_file(self, job_id: str, param: str, message: str) -> None:
        code = "invalid_training_file" if param == "training_file" else "invalid_validation_file"
        self._fail(job_id, code, message, param)

    def _check_file(self, job: JobRecord, trainer: Trainer, file_id: str, param: str) -> int:
        label = "training" if param == "training_file" else "validation"
        content = self.store.read_file(file_id)
        if content is None:
            raise InvalidFileError(param, f"The {label} file {file_id} no longer exists.")
        try:
            rows = parse_jsonl(content)
        except ValueError as error:
            raise InvalidFileError(
                param,
                f"The job failed due to an invalid {label} file. Invalid file format: {error}.",
            ) from error
        problem = trainer.check_examples(rows, job.method["type"])
        if problem is not None:
            raise InvalidFileError(param, _invalid_examples(label, problem))
        return len(rows)

    def _fail(self, job_id: str, code: str, message: str, param: str | None) -> None:
        updated = self.store.update_job(
            job_id,
            only_from=["validating_files", "queued", "running"],
            status="failed",
            finished_at=now(),
            error={"code": code, "message": message, "param": param},
        )
        if updated is not None:
            self.store.add_event(job_id, message, level="error")
            self.store.add_event(job_id, "The job has failed", level="error")

    # --- training --------------------------------------------------------------------

    def _train_loop(self) -> None:
        while True:
            job_id = self._train_queue.get()
            if job_id == _SHUTDOWN or self._shutdown.is_set():
                return
            with self._lock:
                if job_id in self._active:
                    self._deferred.add(job_id)
                    continue
                self._active.add(job_id)
                self._stop_requests.discard(job_id)
            try:
                self._run(job_id)
            except Exception as error:
                log.exception("training %s failed", job_id)
                self._fail(job_id, "internal_error", f"Training failed unexpectedly: {error}", None)
            finally:
                with self._lock:
                    self._active.discard(job_id)
                    self._stop_requests.discard(job_id)
                    self._progress.pop(job_id, None)
                    if job_id in self._deferred:
                        self._deferred.discard(job_id)
                        self._train_queue.put(job_id)

    def _should_stop(self, job_id: str) -> bool:
        return self._shutdown.is_set() or job_id in self._stop_requests

    def _run(self, job_id: str) -> None:
        job = self.store.update_job(job_id, only_from=["queued"], status="running")
        if job is None:  # cancelled or paused while it waited
            return
        trainer = self._trainer(job)
        # Checked again: a file may have been deleted while the job waited.
        if self._check_files(job, trainer) is None:
            return
        checkpoint = self.store.last_checkpoint(job_id)
        resume = None
        if checkpoint is not None:
            resume = Resume(Path(checkpoint.weights_path), checkpoint.epoch, checkpoint.step_number)
            self.store.add_event(
                job_id,
                f"Fine-tuning job resumed from the checkpoint at step {checkpoint.step_number}",
            )
        else:
            self.store.add_event(job_id, "Fine-tuning job started")
        with self._lock:
            first = resume.step if resume else 0
            self._progress[job_id] = _Progress(time.monotonic(), first, first, 0)
        method_type: Method = job.method["type"]
        train_job = TrainJob(
            id=job.id,
            base_model=job.base_model,
            start_from=self._start_from(job),
            method=method_type,
            method_config={
                key: value
                for key, value in (job.method.get(method_type) or {}).items()
                if key != "hyperparameters"
            },
            hyperparameters=dict(job.hyperparameters),
            seed=job.seed,
            training_file=self.store.file_path(job.training_file),
            validation_file=(
                self.store.file_path(job.validation_file) if job.validation_file else None
            ),
            resume=resume,
        )
        workdir = self.store.weights_dir / job.id
        workdir.mkdir(parents=True, exist_ok=True)
        n_epochs = int(job.hyperparameters.get("n_epochs") or 0)

        def emit(event: TrainEvent) -> None:
            if isinstance(event, StepMetrics):
                self._on_step(job, event)
            elif isinstance(event, Checkpoint):
                self._on_checkpoint(job, event, n_epochs)
            else:
                self._on_message(job, event)

        try:
            result = trainer.train(train_job, workdir, emit, lambda: self._should_stop(job_id))
        except ExamplesError as error:
            self._fail_file(job.id, "training_file", _invalid_examples("training", str(error)))
            return
        if result.stopped:
            return  # cancelled, paused (the API recorded it) or shutting down (stays running)
        self._finish(job, result)

    def _start_from(self, job: JobRecord) -> Path | None:
        """The weights of the fine-tuned model a job continues; None for a base model."""
        if job.model == job.base_model:
            return None
        model = self.store.get_model(job.model)
        if model is None or model.weights_path is None:
            raise RuntimeError(f"the model {job.model} to continue from no longer exists")
        return Path(model.weights_path)

    def _on_message(self, job: JobRecord, message: Message) -> None:
        self.store.add_event(job.id, message.text, level=message.level)

    def _on_step(self, job: JobRecord, metrics: StepMetrics) -> None:
        total_steps = metrics.total_steps
        data: dict[str, Any] = {
            "step": metrics.step,
            "epoch": metrics.epoch,
            "total_steps": total_steps,
            "train_loss": metrics.train_loss,
            "train_mean_token_accuracy": metrics.train_mean_token_accuracy,
        }
        if metrics.valid_loss is not None:
            data["valid_loss"] = metrics.valid_loss
            data["valid_mean_token_accuracy"] = metrics.valid_mean_token_accuracy
        self.store.record_step(job.id, metrics.step, data)
        message = f"Step {metrics.step}/{total_steps}: training loss={metrics.train_loss:.2f}"
        if metrics.valid_loss is not None:
            message += f", validation loss={metrics.valid_loss:.2f}"
        self.store.add_event(job.id, message, type="metrics", data=data)
        with self._lock:
            progress = self._progress.get(job.id)
            if progress is not None:
                progress.step = metrics.step
                progress.total_steps = total_steps

    def _on_checkpoint(self, job: JobRecord, result: Checkpoint, n_epochs: int) -> None:
        name = checkpoint_model_name(job, result.step)
        metrics = {key: float(value) for key, value in result.metrics.items()}
        self.store.add_checkpoint(
            CheckpointRecord(
                id=ids.checkpoint_id(),
                job_id=job.id,
                created_at=now(),
                epoch=result.epoch,
                step_number=result.step,
                metrics=metrics,
                fine_tuned_model_checkpoint=name,
                weights_path=str(result.path),
            )
        )
        # The last step of the epoch also carries the epoch's full-validation figures.
        step_rows = [row for row in self.store.step_metrics(job.id) if row["step"] == result.step]
        if step_rows and "full_valid_loss" in metrics:
            row = {
                **step_rows[0],
                "full_valid_loss": metrics["full_valid_loss"],
                "full_valid_mean_token_accuracy": metrics.get("full_valid_mean_token_accuracy"),
            }
            self.store.record_step(job.id, result.step, row)
        summary = f"Epoch {result.epoch}/{n_epochs} finished at step {result.step}"
        if "full_valid_loss" in metrics:
            summary += f": full validation loss={metrics['full_valid_loss']:.2f}"
        self.store.add_event(
            job.id,
            summary,
            type="metrics",
            data={"step": result.step, "epoch": result.epoch, **metrics},
        )
        self.store.add_event(job.id, f"Checkpoint created at step {result.step}")
        for dropped in self.store.drop_old_checkpoints(job.id, keep=KEPT_CHECKPOINT_EPOCHS):
            _remove_weights(Path(dropped.weights_path))

    def _finish(self, job: JobRecord, outcome: TrainResult) -> None:
        model_name = fine_tuned_model_name(job)
        if outcome.model_path is None:
            raise RuntimeError("the trainer finished without a model")
        path = outcome.model_path
        result_file = self._write_result_file(job)
        self.store.add_model(
            ModelRecord(
                id=model_name,
                created=now(),
                owned_by=ORGANIZATION,
                job_id=job.id,
                weights_path=str(path),
                base_model=job.base_model,
            )
        )
        finished = self.store.update_job(
            job.id,
            only_from=["running"],
            status="succeeded",
            finished_at=now(),
            trained_tokens=outcome.trained_tokens,
            fine_tuned_model=model_name,
            result_files=[result_file.id],
        )
        if finished is None:  # cancelled in the instant between the last step and here
            self.store.delete_model(model_name)
            return
        self.store.add_event(job.id, f"New fine-tuned model created: {model_name}")
        self.store.add_event(job.id, "The job has successfully completed")

    def _write_result_file(self, job: JobRecord) -> FileRecord:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(RESULT_COLUMNS)
        for row in self.store.step_metrics(job.id):
            values = {**row, "train_accuracy": row.get("train_mean_token_accuracy")}
            writer.writerow(["" if values.get(c) is None else values[c] for c in RESULT_COLUMNS])
        content = buffer.getvalue().encode()
        record = FileRecord(
            id=ids.file_id(),
            filename="step_metrics.csv",
            purpose="fine-tune-results",
            bytes=len(content),
            created_at=now(),
        )
        self.store.add_file(record, content)
        return record


def _invalid_examples(label: str, problem: str) -> str:
    return f"The job failed due to an invalid {label} file. {problem[0].upper()}{problem[1:]}."


def _remove_weights(path: Path) -> None:
    """Delete a checkpoint's weights: a file (numpy) or a directory (Hugging Face)."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
