"""What one hf training run needs, as a JSON file the training subprocess reads.

OpenAI's hyperparameters keep their meaning: `n_epochs`, `batch_size` (examples per
optimizer step, over all processes) and `learning_rate_multiplier`, which multiplies a
documented base rate per method and adapter (`BASE_LEARNING_RATES`). The adapter settings
travel as extra hyperparameters of the job (`adapter`, `lora_rank`, `lora_alpha`,
`lora_dropout`, `lora_target_modules`, `gradient_checkpointing`), so they are recorded
on the job and part of the training fingerprint like every other setting.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

AdapterType = Literal["lora", "full"]

# Peak learning rate = base rate x learning_rate_multiplier ("auto": 1.0). The values are
# the usual starting points: LoRA SFT 2e-4 (the PEFT/TRL examples), full SFT 2e-5, and
# DPO one to two orders lower (TRL's DPO examples use 5e-7..5e-6 for full models; LoRA
# tolerates more).
BASE_LEARNING_RATES: dict[tuple[str, str], float] = {
    ("supervised", "lora"): 2e-4,
    ("supervised", "full"): 2e-5,
    ("dpo", "lora"): 5e-6,
    ("dpo", "full"): 5e-7,
}
AUTO_LR_MULTIPLIER = 1.0
DEFAULT_BETA = 0.1  # TRL's and OpenAI's default
DEFAULT_LORA_RANK = 16
DEFAULT_LORA_ALPHA = 32.0
DEFAULT_LORA_DROPOUT = 0.05
DEFAULT_TARGET_MODULES = "all-linear"

ADAPTER_KEYS = (
    "adapter",
    "lora_rank",
    "lora_alpha",
    "lora_dropout",
    "lora_target_modules",
    "gradient_checkpointing",
)


@dataclass(frozen=True)
class Adapter:
    type: AdapterType = "lora"
    rank: int = DEFAULT_LORA_RANK
    alpha: float = DEFAULT_LORA_ALPHA
    dropout: float = DEFAULT_LORA_DROPOUT
    target_modules: str | list[str] = DEFAULT_TARGET_MODULES
    gradient_checkpointing: bool = False

    def to_hyperparameters(self) -> dict[str, Any]:
        """As recorded on the job (the resolved values, like OpenAI's resolved "auto")."""
        out: dict[str, Any] = {"adapter": self.type}
        if self.type == "lora":
            out.update(
                lora_rank=self.rank,
                lora_alpha=self.alpha,
                lora_dropout=self.dropout,
                lora_target_modules=self.target_modules,
            )
        out["gradient_checkpointing"] = self.gradient_checkpointing
        return out


def adapter_from(hyperparameters: Mapping[str, Any]) -> Adapter:
    """The adapter a job asks for; ValueError naming the hyperparameter that is wrong."""

    def given(key: str) -> Any:
        value = hyperparameters.get(key)
        return None if value in (None, "auto") else value

    kind = given("adapter") or "lora"
    if kind not in ("lora", "full"):
        raise ValueError(f"Invalid 'adapter': expected 'lora' or 'full', got {kind!r}")
    rank = given("lora_rank")
    alpha = given("lora_alpha")
    dropout = given("lora_dropout")
    targets = given("lora_target_modules")
    checkpointing = given("gradient_checkpointing")
    if rank is not None and (not isinstance(rank, int) or isinstance(rank, bool) or rank < 1):
        raise ValueError(f"Invalid 'lora_rank': expected an integer >= 1, got {rank!r}")
    if alpha is not None and (not isinstance(alpha, int | float) or alpha <= 0):
        raise ValueError(f"Invalid 'lora_alpha': expected a number > 0, got {alpha!r}")
    if dropout is not None and (not isinstance(dropout, int | float) or not 0 <= dropout < 1):
        raise ValueError(f"Invalid 'lora_dropout': expected a number in [0, 1), got {dropout!r}")
    if targets is not None and not (
        isinstance(targets, str)
        or (isinstance(targets, list) and targets and all(isinstance(t, str) for t in targets))
    ):
        raise ValueError(
            "Invalid 'lora_target_modules': expected 'all-linear' or a list of module names"
        )
    if checkpointing is not None and not isinstance(checkpointing, bool):
        raise ValueError("Invalid 'gradient_checkpointing': expected true or false")
    if kind == "full" and any(v is not None for v in (rank, alpha, dropout, targets)):
        raise ValueError("lora_* hyperparameters are only valid with adapter 'lora'")
    return Adapter(
        type="full" if kind == "full" else "lora",
        rank=DEFAULT_LORA_RANK if rank is None else int(rank),
        alpha=DEFAULT_LORA_ALPHA if alpha is None else float(alpha),
        dropout=DEFAULT_LORA_DROPOUT if dropout is None else float(dropout),
        target_modules=DEFAULT_TARGET_MODULES if targets is None else targets,
        gradient_checkpointing=bool(checkpointing),
    )


def learning_rate(method: str, adapter: AdapterType, multiplier: float) -> float:
    return BASE_LEARNING_RATES[(method, adapter)] * multiplier


@dataclass(frozen=True)
class JobSpec:
    """Everything the training subprocess needs (written as JSON next to its outputs)."""

    job_id: str
    method: Literal["supervised", "dpo"]
    base_model: str  # the hf: reference, as the job names it
    model_dir: str  # the located base model directory
    output_dir: str  # checkpoints (checkpoint-<step>/) and final/ go here
    train_file: str  # JSONL
    valid_file: str | None
    n_epochs: int
    batch_size: int
    learning_rate: float
    seed: int
    adapter: Adapter = field(default_factory=Adapter)
    beta: float = DEFAULT_BETA
    max_length: int = 2048
    # Continue from a fine-tuned model: its adapter directory (LoRA) or weights (full).
    init_from: str | None = None
    # A TRL checkpoint directory to resume from (optimizer, scheduler, RNG restored).
    resume_from: str | None = None

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True), encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> JobSpec:
        values = json.loads(path.read_text(encoding="utf-8"))
        values["adapter"] = Adapter(**values["adapter"])
        return cls(**values)
