"""The training process: `python -m ftctl.server.trainers.hf.run SPEC.json`.

Runs one job with TRL (SFTTrainer or DPOTrainer, PEFT LoRA or full weights) and prints one
JSON object per line on stdout, prefixed with `EVENT_PREFIX` (the parent ignores any other
output): `start` (total steps, trained tokens), `step` (per optimizer step), `checkpoint`
(per epoch, after TRL saved `checkpoint-<step>/`), `done` (the final weights' directory)
and `error` (a message for the job). Only the main process prints, so the same command
works under `accelerate launch` or `torchrun` for data-parallel training.

Stopping: SIGTERM or SIGINT makes the trainer stop after its current step (exit code
`EXIT_STOPPED`); the parent kills the process if that takes too long. The process also
exits when its stdin reaches end-of-file (the server that started it died), so a killed
server leaves no orphan training the same job twice.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from ftctl.server.trainers.hf.rows import dpo_example
from ftctl.server.trainers.hf.spec import JobSpec

EVENT_PREFIX = "FTCTL-EVENT "
EXIT_STOPPED = 3
EXIT_FAILED = 4
# Set by the server (runner), whose pipe on stdin closes when it dies.
WATCH_STDIN = "FTCTL_HF_WATCH_STDIN"
FINAL_DIR = "final"

_stop = threading.Event()


def _is_main() -> bool:
    return os.environ.get("RANK", "0") == "0"


def emit(kind: str, **data: Any) -> None:
    if _is_main():
        sys.stdout.write(EVENT_PREFIX + json.dumps({"event": kind, **data}) + "\n")
        sys.stdout.flush()


def _watch_parent() -> None:
    """Exit when stdin closes: the server that started this process is gone."""

    def watch() -> None:
        # os.read on the descriptor, not sys.stdin: a daemon thread blocked inside a
        # buffered reader would abort the interpreter at exit.
        try:
            while os.read(0, 1):
                pass
        except OSError:
            pass
        os._exit(EXIT_STOPPED)

    if os.environ.get(WATCH_STDIN) == "1":
        threading.Thread(target=watch, name="ftctl-parent-watch", daemon=True).start()


def _read_jsonl(path: str) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8-sig") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _sft_dataset(tokenizer: Any, rows: list[dict[str, Any]], max_length: int) -> Any:
    from datasets import Dataset
    from ftctl.text.chat_tokens import tokenize_conversation

    items = []
    for row in rows:
        tokens = tokenize_conversation(tokenizer, row["messages"], row.get("tools"))
        items.append(
            {
                "input_ids": tokens.input_ids[:max_length],
                "assistant_masks": tokens.assistant_mask[:max_length],
            }
        )
    return Dataset.from_list(items)


def _callback(spec: JobSpec, steps_per_epoch: int) -> Any:
    from transformers import TrainerCallback

    class Events(TrainerCallback):  # type: ignore[misc]
        """Turns the trainer's logs into the events the server records."""

        def __init__(self) -> None:
            self.epoch_losses: list[float] = []
            self.epoch_accuracies: list[float] = []
            self.last_eval: dict[str, float] = {}

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if _stop.is_set():
                control.should_training_stop = True
                control.should_save = False
                control.should_evaluate = False

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            logs = logs or {}
            if "eval_loss" in logs:
                self.last_eval = {
                    "full_valid_loss": float(logs["eval_loss"]),
                    **(
                        {"full_valid_mean_token_accuracy": float(logs["eval_mean_token_accuracy"])}
                        if "eval_mean_token_accuracy" in logs
                        else {}
                    ),
                }
                return
            if "loss" not in logs:
                return
            step = int(state.global_step)
            loss = float(logs["loss"])
            accuracy = logs.get("mean_token_accuracy")
            self.epoch_losses.append(loss)
            if accuracy is not None:
                self.epoch_accuracies.append(float(accuracy))
            data: dict[str, Any] = {
                "step": step,
                "epoch": max(1, math.ceil(step / steps_per_epoch)),
                "train_loss": loss,
                "train_mean_token_accuracy": None if accuracy is None else float(accuracy),
            }
            if "rewards/margins" in logs:
                data["reward_margin"] = float(logs["rewards/margins"])
            emit("step", **data)

        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            step = int(state.global_step)
            epoch = max(1, round(step / steps_per_epoch))
            metrics: dict[str, float] = {}
            if self.epoch_losses:
                metrics["train_loss"] = sum(self.epoch_losses) / len(self.epoch_losses)
            if self.epoch_accuracies:
                metrics["train_mean_token_accuracy"] = sum(self.epoch_accuracies) / len(
                    self.epoch_accuracies
                )
            if self.last_eval:
                metrics.update(self.last_eval)
                metrics["valid_loss"] = self.last_eval["full_valid_loss"]
                if "full_valid_mean_token_accuracy" in self.last_eval:
                    metrics["valid_mean_token_accuracy"] = self.last_eval[
                        "full_valid_mean_token_accuracy"
                    ]
            path = Path(args.output_dir) / f"checkpoint-{step}"
            emit("checkpoint", step=step, epoch=epoch, path=str(path), metrics=metrics)
            self.epoch_losses, self.epoch_accuracies, self.last_eval = [], [], {}

    return Events()


def _device_settings() -> dict[str, Any]:
    import torch

    if torch.cuda.is_available():
        return {"bf16": torch.cuda.is_bf16_supported(), "use_cpu": False}
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return {"use_cpu": False}
    return {"use_cpu": True}


def train(spec: JobSpec) -> Path | None:
    """Run the job; the final weights' directory, or None when stopped."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    transformers.logging.set_verbosity_error()
    transformers.set_seed(spec.seed)
    tokenizer = AutoTokenizer.from_pretrained(spec.model_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    device = _device_settings()
    dtype = torch.bfloat16 if device.get("bf16") else torch.float32
    source = spec.model_dir
    if spec.init_from and spec.adapter.type == "full":
        source = spec.init_from  # continue from a fully fine-tuned model's weights
    model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
    peft_config = None
    if spec.adapter.type == "lora":
        from peft import LoraConfig, PeftModel

        if spec.init_from:
            model = PeftModel.from_pretrained(model, spec.init_from, is_trainable=True)
        else:
            peft_config = LoraConfig(
                r=spec.adapter.rank,
                lora_alpha=spec.adapter.alpha,
                lora_dropout=spec.adapter.dropout,
                target_modules=spec.adapter.target_modules,
                task_type="CAUSAL_LM",
            )

    train_rows = _read_jsonl(spec.train_file)
    valid_rows = _read_jsonl(spec.valid_file) if spec.valid_file else []
    world = int(os.environ.get("WORLD_SIZE", "1"))
    per_device = max(1, min(spec.batch_size, len(train_rows)) // world)
    steps_per_epoch = math.ceil(len(train_rows) / (per_device * world))
    common: dict[str, Any] = {
        "output_dir": spec.output_dir,
        "num_train_epochs": spec.n_epochs,
        "per_device_train_batch_size": per_device,
        "per_device_eval_batch_size": per_device,
        "learning_rate": spec.learning_rate,
        "lr_scheduler_type": "linear",
        "logging_steps": 1,
        "save_strategy": "epoch",
        "eval_strategy": "epoch" if valid_rows else "no",
        "seed": spec.seed,
        "data_seed": spec.seed,
        "report_to": [],
        "disable_tqdm": True,
        "dataloader_num_workers": 0,
        "max_length": spec.max_length,
        **device,
    }
    if spec.adapter.gradient_checkpointing:
        common["gradient_checkpointing"] = True
    callback = _callback(spec, steps_per_epoch)
    if spec.method == "dpo":
        from trl import DPOConfig, DPOTrainer

        from datasets import Dataset

        args = DPOConfig(**common, beta=spec.beta)
        trained_tokens = _dpo_tokens(tokenizer, train_rows) * spec.n_epochs
        trainer = DPOTrainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_list([dpo_example(r) for r in train_rows]),
            eval_dataset=Dataset.from_list([dpo_example(r) for r in valid_rows])
            if valid_rows
            else None,
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=[callback],
        )
    else:
        from trl import SFTConfig, SFTTrainer

        train_set = _sft_dataset(tokenizer, train_rows, spec.max_length)
        trained_tokens = sum(len(ids) for ids in train_set["input_ids"]) * spec.n_epochs
        args = SFTConfig(**common, packing=False)
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=train_set,
            eval_dataset=_sft_dataset(tokenizer, valid_rows, spec.max_length)
            if valid_rows
            else None,
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=[callback],
        )
    emit(
        "start",
        total_steps=steps_per_epoch * spec.n_epochs,
        steps_per_epoch=steps_per_epoch,
        trained_tokens=trained_tokens,
        device=str(trainer.args.device),
        world_size=world,
    )
    # Read before training: the server drops old checkpoints as new ones arrive.
    resumed_step = _resumed_step(spec)
    output = trainer.train(resume_from_checkpoint=spec.resume_from)
    if _stop.is_set():
        return None
    final = Path(spec.output_dir) / FINAL_DIR
    trainer.save_model(str(final))
    if _is_main():
        tokenizer.save_pretrained(str(final))
    runtime = float(output.metrics.get("train_runtime") or 0.0)
    _figures.update(
        train_runtime_s=runtime,
        # Tokens processed by this run (a resumed run: only the epochs it trained).
        tokens_per_s=(
            trained_tokens * (1 - resumed_step / max(1, int(trainer.state.max_steps))) / runtime
            if runtime
            else 0.0
        ),
        final_train_loss=float(output.training_loss),
        peak_memory_mb=_peak_memory_mb(),
    )
    return final


_figures: dict[str, float] = {}


def _resumed_step(spec: JobSpec) -> int:
    """The step the run resumes at (0 for a fresh run)."""
    if not spec.resume_from:
        return 0
    state = json.loads((Path(spec.resume_from) / "trainer_state.json").read_text())
    return int(state.get("global_step", 0))


def _peak_memory_mb() -> float:
    """Peak GPU memory allocated when on CUDA, else the process's peak resident memory."""
    import resource

    import torch

    if torch.cuda.is_available():
        return float(torch.cuda.max_memory_allocated()) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _dpo_tokens(tokenizer: Any, rows: list[dict[str, Any]]) -> int:
    """Prompt once plus both answers, each through the chat template (as the plan counts)."""
    from ftctl.text.chat_tokens import prompt_ids, tokenize_conversation

    total = 0
    for row in rows:
        prompt = row["input"]["messages"]
        total += len(prompt_ids(tokenizer, prompt))
        for key in ("preferred_output", "non_preferred_output"):
            total += tokenize_conversation(
                tokenizer, [*prompt, *row[key]], train_all_assistant=True
            ).trained
    return total


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m ftctl.server.trainers.hf.run SPEC.json\n")
        return 2
    spec = JobSpec.read(Path(args[0]))

    def request_stop(_signum: int, _frame: object) -> None:
        _stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    _watch_parent()
    try:
        final = train(spec)
    except Exception as error:  # reported to the job, then the traceback on stderr
        emit("error", message=f"{type(error).__name__}: {error}")
        raise
    if final is None:
        return EXIT_STOPPED
    emit("done", path=str(final), **_figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
