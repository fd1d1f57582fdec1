"""The trainer of ftctl's local fine-tuning server: a small byte-level language model in numpy.

`local-tiny` is a randomly initialised (fixed seed) model; fine-tuning trains it with Adam on
OpenAI chat-format rows. Its tokens are bytes (see `tokenizer`). The server uses only the
names re-exported here.
"""

from ftctl.server.trainer.examples import DPO_NOT_SUPPORTED, validate_training_file
from ftctl.server.trainer.generate import Generation, generate, prompt_of
from ftctl.server.trainer.hyper import Hyper, resolve_hyperparameters
from ftctl.server.trainer.model import BASE_MODELS, ModelConfig, Weights, base_weights
from ftctl.server.trainer.train import EpochResult, StepMetrics, TrainOutcome, train

__all__ = [
    "BASE_MODELS",
    "DPO_NOT_SUPPORTED",
    "EpochResult",
    "Generation",
    "Hyper",
    "ModelConfig",
    "StepMetrics",
    "TrainOutcome",
    "Weights",
    "base_weights",
    "generate",
    "prompt_of",
    "resolve_hyperparameters",
    "train",
    "validate_training_file",
]
