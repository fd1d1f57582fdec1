"""The trainer of ftctl's local fine-tuning server: a small byte-level language model in numpy.

* Tokens are bytes (plus chat markers): every token count the local server reports
  (prompt_tokens, completion_tokens, trained_tokens) counts bytes. `tokenizer`
* The model reads the *whole* prompt as a hashed bag of word unigrams and bigrams and writes
  the answer byte by byte with an MLP over [prompt vector, last 12 answer bytes, position];
  hand-written backward pass. `model`
* `local-tiny` is that model with a fixed random initialisation (seeded by its name): it
  produces noise until fine-tuned. Any fine-tuned model is a base for the next fine-tune.
* Training: Adam on minibatches of examples, loss on assistant messages with weight 1 only,
  deterministic for a given seed, resumable from any epoch checkpoint. `train`, `hyper`
* Generation: greedy at temperature 0, seeded sampling otherwise; stops at the end token,
  a stop string or max_tokens. `generate`
* DPO and other methods are refused (`validate_training_file`, `DPO_NOT_SUPPORTED`).

Figures (bench/bench_trainer.py): support-triage (270 training tickets, 10 epochs) trains in
about 3 s on one core (~40k trained tokens/s); the fine-tune matches category and priority
on 0.80-0.94 of the 50 test tickets depending on the seed (0.88 with the project's seed 7),
always valid JSON; local-tiny: 0.00 and 0.00.

The server reaches this trainer only through `NumpyTrainer` (trainer.py), the `Trainer`
seam's implementation; the names re-exported here are for tests and bench scripts.
"""

from ftctl.server.trainers.base import Generation
from ftctl.server.trainers.numpy_lm.examples import DPO_NOT_SUPPORTED, validate_training_file
from ftctl.server.trainers.numpy_lm.generate import generate, prompt_of
from ftctl.server.trainers.numpy_lm.hyper import Hyper, resolve_hyperparameters
from ftctl.server.trainers.numpy_lm.model import BASE_MODELS, ModelConfig, Weights, base_weights
from ftctl.server.trainers.numpy_lm.train import EpochResult, StepMetrics, TrainOutcome, train
from ftctl.server.trainers.numpy_lm.trainer import NumpyTrainer

__all__ = [
    "BASE_MODELS",
    "DPO_NOT_SUPPORTED",
    "EpochResult",
    "Generation",
    "Hyper",
    "ModelConfig",
    "NumpyTrainer",
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
