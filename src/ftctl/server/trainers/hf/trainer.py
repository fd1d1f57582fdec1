"""The Hugging Face trainer behind the server's `Trainer` seam (see `trainers.base`).

Serves every `hf:` base model. A relative `hf:<directory>` is resolved against
`$FTCTL_HF_ROOT` (the launcher sets it to the workspace), else the server's working
directory. The factory raises `TrainerUnavailable` when the `train` extra is not installed,
so such a server simply has no hf trainer and refuses `hf:` models with the install command.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ftctl.catalog import hf
from ftctl.errors import DataError
from ftctl.server.trainers.base import (
    Checkpoint,
    Emit,
    ExamplesError,
    Generation,
    Message,
    StepMetrics,
    TrainJob,
    TrainResult,
)
from ftctl.server.trainers.hf import runner
from ftctl.server.trainers.hf.rows import validate_rows
from ftctl.server.trainers.hf.serve import HfModels
from ftctl.server.trainers.hf.spec import (
    ADAPTER_KEYS,
    AUTO_LR_MULTIPLIER,
    DEFAULT_BETA,
    JobSpec,
    adapter_from,
    learning_rate,
)
from ftctl.server.trainers.numpy_lm.hyper import auto_batch_size, auto_n_epochs
from ftctl.server.trainers.registry import TrainerUnavailable


def models_root() -> Path:
    root = os.environ.get(hf.ROOT_ENV)
    return Path(root) if root else Path.cwd()


class HfChatModel:
    """A handle on base + weights; the model itself is loaded on first use and kept in
    the trainer's own small LRU (`serve.HfModels`), whatever the server caches."""

    def __init__(self, models: HfModels, key: str, base_dir: Path, path: Path | None) -> None:
        self._models, self._key, self._base_dir, self._path = models, key, base_dir, path

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
        out = self._models.generate(
            self._key,
            self._base_dir,
            self._path,
            messages,
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
            stop=stop,
        )
        return Generation(out.text, out.prompt_tokens, out.completion_tokens, out.finish_reason)


class HfTrainer:
    """transformers + PEFT + TRL: LoRA (default) or full fine-tuning; SFT and DPO."""

    name = "hf"
    base_models: tuple[str, ...] = ()  # the cache is not listed; any hf: model is served
    methods = frozenset({"supervised", "dpo"})

    def __init__(self) -> None:
        missing = hf.missing_train_packages()
        if missing:
            raise TrainerUnavailable(
                f"the Hugging Face trainer needs {', '.join(missing)}: {hf.INSTALL_COMMAND}"
            )
        self._models = HfModels()

    def serves(self, model: str) -> bool:
        return hf.is_hf(model)

    def base_model_problem(self, model: str) -> str | None:
        try:
            facts = hf.read_facts(hf.locate(model, models_root()))
        except DataError as error:
            return f"Model {model} cannot be trained here: {error.message}."
        if not facts.chat_template:
            return (
                f"Model {model} has no chat template, so it cannot be fine-tuned on chat "
                "data; use an instruct/chat variant."
            )
        return None

    def check_examples(self, rows: Sequence[Mapping[str, Any]], method: str) -> str | None:
        return validate_rows([dict(r) for r in rows], method)

    def resolve_hyperparameters(
        self, method: str, requested: Mapping[str, Any], n_examples: int
    ) -> dict[str, Any]:
        try:
            adapter = adapter_from(requested)
        except ValueError as error:
            raise ExamplesError(str(error)) from error
        resolved: dict[str, Any] = {
            "n_epochs": requested.get("n_epochs") or auto_n_epochs(n_examples),
            "batch_size": requested.get("batch_size") or auto_batch_size(n_examples),
            "learning_rate_multiplier": requested.get("learning_rate_multiplier")
            or AUTO_LR_MULTIPLIER,
            **adapter.to_hyperparameters(),
        }
        if method == "dpo":
            resolved["beta"] = requested.get("beta") or DEFAULT_BETA
        return resolved

    def train(
        self, job: TrainJob, workdir: Path, emit: Emit, should_stop: Callable[[], bool]
    ) -> TrainResult:
        if job.method not in self.methods:
            raise ExamplesError(validate_rows([], job.method) or f"method {job.method}")
        hp = job.hyperparameters
        adapter = adapter_from({k: hp.get(k) for k in ADAPTER_KEYS})
        try:
            model_dir = hf.locate(job.base_model, models_root())
        except hf.ModelNotFound as error:
            raise ExamplesError(error.message) from error
        facts = hf.read_facts(model_dir)
        spec = JobSpec(
            job_id=job.id,
            method="dpo" if job.method == "dpo" else "supervised",
            base_model=job.base_model,
            model_dir=str(model_dir),
            output_dir=str(workdir),
            train_file=str(job.training_file),
            valid_file=str(job.validation_file) if job.validation_file else None,
            n_epochs=int(hp["n_epochs"]),
            batch_size=int(hp["batch_size"]),
            learning_rate=learning_rate(
                job.method, adapter.type, float(hp["learning_rate_multiplier"])
            ),
            seed=job.seed,
            adapter=adapter,
            beta=float(hp.get("beta") or DEFAULT_BETA),
            max_length=facts.context_length,
            init_from=str(job.start_from) if job.start_from else None,
            resume_from=str(job.resume.path) if job.resume else None,
        )
        state: dict[str, Any] = {"total_steps": 0, "trained_tokens": 0}

        def on_event(event: dict[str, Any]) -> None:
            kind = event.get("event")
            if kind == "start":
                state.update(total_steps=int(event["total_steps"]))
                state.update(trained_tokens=int(event["trained_tokens"]))
                emit(
                    Message(
                        f"Training {job.base_model} ({adapter.type}) on {event.get('device')}, "
                        f"{event.get('world_size', 1)} process(es)"
                    )
                )
            elif kind == "step":
                emit(
                    StepMetrics(
                        step=int(event["step"]),
                        epoch=int(event["epoch"]),
                        total_steps=state["total_steps"],
                        train_loss=float(event["train_loss"]),
                        train_mean_token_accuracy=float(
                            event.get("train_mean_token_accuracy") or 0.0
                        ),
                    )
                )
            elif kind == "done":
                emit(
                    Message(
                        f"Trained in {float(event.get('train_runtime_s', 0)):.1f}s: "
                        f"{float(event.get('tokens_per_s', 0)):,.0f} tokens/s, final training "
                        f"loss {float(event.get('final_train_loss', 0)):.4f}, peak memory "
                        f"{float(event.get('peak_memory_mb', 0)):,.0f} MiB"
                    )
                )
            elif kind == "checkpoint":
                emit(
                    Checkpoint(
                        epoch=int(event["epoch"]),
                        step=int(event["step"]),
                        path=Path(str(event["path"])),
                        metrics={k: float(v) for k, v in dict(event.get("metrics") or {}).items()},
                    )
                )

        result = runner.run(spec, workdir, on_event, should_stop)
        if result.status == "stopped":
            return TrainResult(
                stopped=True, model_path=None, trained_tokens=state["trained_tokens"]
            )
        if result.status == "failed":
            message = result.error or "training failed"
            if message.startswith("ChatTemplateError"):
                raise ExamplesError(message.split(": ", 1)[-1])
            raise RuntimeError(message)
        return TrainResult(
            stopped=False, model_path=result.final_dir, trained_tokens=state["trained_tokens"]
        )

    def load(self, base_model: str, path: Path | None) -> HfChatModel:
        base_dir = hf.locate(base_model, models_root())
        key = f"{base_dir}|{path or ''}"
        return HfChatModel(self._models, key, base_dir, path)
