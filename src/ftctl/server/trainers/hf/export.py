"""Export an hf fine-tune: the adapter (PEFT layout, safetensors) and, optionally, merged weights.

`OUT/adapter/` holds what `PeftModel.from_pretrained(base, OUT/adapter)` loads (for a full
fine-tune: the whole model, loadable with `AutoModelForCausalLM.from_pretrained`), with
the tokenizer; `OUT/merged/` (with `merged`) the base with the LoRA weights folded in,
loadable with plain transformers. The caller writes the model card next to them.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from ftctl.server.trainers.hf.serve import is_adapter

# What a trained weights directory holds beyond the weights (TRL checkpoints add optimizer
# and RNG state, which an export leaves out).
_KEEP_SUFFIXES = (".safetensors", ".json", ".jinja", ".model", ".txt")
_SKIP = ("trainer_state.json", "training_args.bin")


@dataclass(frozen=True)
class Exported:
    adapter_dir: Path
    merged_dir: Path | None
    lora: bool


def export(base_dir: Path, weights_dir: Path, out: Path, *, merged: bool) -> Exported:
    """Write the weights under `out` (see the module docstring); `out` is created."""
    out.mkdir(parents=True, exist_ok=True)
    adapter_dir = out / "adapter"
    if adapter_dir.exists():
        shutil.rmtree(adapter_dir)
    adapter_dir.mkdir()
    for item in sorted(weights_dir.iterdir()):
        if item.is_file() and item.name.endswith(_KEEP_SUFFIXES) and item.name not in _SKIP:
            shutil.copy2(item, adapter_dir / item.name)
    lora = is_adapter(weights_dir)
    if not (adapter_dir / "tokenizer_config.json").is_file():
        from transformers import AutoTokenizer

        AutoTokenizer.from_pretrained(base_dir).save_pretrained(adapter_dir)
    merged_dir = None
    if merged:
        merged_dir = _merge(base_dir, weights_dir, out / "merged", lora=lora)
    return Exported(adapter_dir, merged_dir, lora)


def _merge(base_dir: Path, weights_dir: Path, target: Path, *, lora: bool) -> Path:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if lora:
        from peft import PeftModel

        base = AutoModelForCausalLM.from_pretrained(base_dir)
        model = PeftModel.from_pretrained(base, weights_dir).merge_and_unload()
    else:
        model = AutoModelForCausalLM.from_pretrained(weights_dir)
    if target.exists():
        shutil.rmtree(target)
    model.save_pretrained(target, safe_serialization=True)
    tokenizer_dir = weights_dir if (weights_dir / "tokenizer_config.json").is_file() else base_dir
    AutoTokenizer.from_pretrained(tokenizer_dir).save_pretrained(target)
    return target
