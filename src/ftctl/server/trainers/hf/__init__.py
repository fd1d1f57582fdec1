"""The Hugging Face trainer of the local server: transformers + PEFT + TRL.

Base models are `hf:<org>/<name>[@revision]` (the Hugging Face cache, never the network) or
`hf:<directory>`. Training runs in a subprocess (`python -m ftctl.server.trainers.hf.run
SPEC.json`, or the same module under `accelerate launch` / `torchrun`) that prints one JSON
event per line; the server's worker turns them into OpenAI-shaped job events, checkpoints
and metrics (`runner`). Serving loads base + adapter once and keeps a few in an LRU
(`serve`). Nothing here imports torch at module level: the default install, `ftctl plan`
and a server that only runs `local-tiny` stay light.

* `supervised`: TRL's SFTTrainer on pre-tokenised conversations: the model's chat template
  renders each example (tools and tool calls included) and the loss covers only the tokens
  of assistant messages whose `weight` is not 0 (`chat.tokenize_conversation`).
* `dpo`: TRL's DPOTrainer on OpenAI's preference rows (`beta`); the reference model is the
  base with the adapter disabled (LoRA) or a frozen copy (full fine-tuning).
* `reinforcement` (GRPO) is refused: `REINFORCEMENT_NOT_SUPPORTED`.
* Adapter: LoRA by default (rank 16, alpha 32, dropout 0.05, all linear layers); full
  fine-tuning with `adapter: full`. See `spec`.
"""
