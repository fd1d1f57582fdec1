#!/usr/bin/env bash
# GPU check of the Hugging Face trainer (see bench/gpu_check.py): a random ~0.5B Llama,
# LoRA SFT for a fixed number of steps in bf16, no network. Prints tokens/s, peak GPU
# memory and MFU. Needs the train extra: pip install torch && pip install -e ".[train]".
#   bench/gpu_check.sh                   # 30 steps x 8 sequences of ~1024 tokens
#   bench/gpu_check.sh --tiny            # a 2-step smoke run (works on CPU)
#   FTCTL_HF_LAUNCHER="accelerate launch --num_processes 8" WORLD_SIZE_FOR_CHECK=8 bench/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec python bench/gpu_check.py "$@"
