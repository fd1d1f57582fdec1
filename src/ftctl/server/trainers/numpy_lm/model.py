"""The local model: a whole-prompt conditioned byte-level MLP language model, in numpy.

Architecture (all sizes in `ModelConfig`):

* prompt vector  p = sum_i w_i * E[f_i]      hashed word uni/bigrams of the whole prompt
* context        c = concat(C[t-k..t-1])      embeddings of the previous k answer tokens
                                              (the assistant marker pads the start)
* position       q = Q[min(pos, n_positions-1)]
* hidden         h = tanh([p, c, q] @ W1 + b1)
* logits         z = h @ W2 + b2              over 256 bytes + EOS

Forward and backward are written by hand (`loss_and_grads`); a test checks them against
finite differences. Everything is deterministic: scatter-adds with `np.add.at` and
`np.add.reduceat` (fixed order), BLAS on one thread while training, and no randomness
outside explicitly seeded generators. Parameters are float32 (float64 works too: the
gradient check uses it).
"""

from __future__ import annotations

import io
import json
import os
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ftctl.server.trainers.numpy_lm.examples import Instance
from ftctl.server.trainers.numpy_lm.tokenizer import ASSISTANT, OUTPUT_SIZE, VOCAB_SIZE

Array = npt.NDArray[np.floating[Any]]
IntArray = npt.NDArray[np.int64]

BASE_MODELS: tuple[str, ...] = ("local-tiny",)
_FORMAT = "ftctl-local-lm/1"
PARAM_NAMES: tuple[str, ...] = ("E", "C", "Q", "W1", "b1", "W2", "b2")


@dataclass(frozen=True)
class ModelConfig:
    """The architecture; stored in every weights file."""

    n_buckets: int = 8192  # hashed prompt features (word unigrams and bigrams)
    prompt_dim: int = 64
    context: int = 12
    token_dim: int = 16
    n_positions: int = 64
    position_dim: int = 16
    hidden: int = 256

    @property
    def input_dim(self) -> int:
        return self.prompt_dim + self.context * self.token_dim + self.position_dim


@dataclass
class AdamState:
    """Optimizer state, carried in epoch checkpoints so that a resumed job continues exactly."""

    step: int
    m: dict[str, Array]
    v: dict[str, Array]

    def copy(self) -> AdamState:
        return AdamState(
            self.step,
            {k: a.copy() for k, a in self.m.items()},
            {k: a.copy() for k, a in self.v.items()},
        )


@dataclass
class Weights:
    """Parameters plus the architecture they belong to (and, in checkpoints, optimizer state)."""

    config: ModelConfig
    params: dict[str, Array]
    optimizer: AdamState | None = field(default=None)

    def copy(self, with_optimizer: bool = True) -> Weights:
        optimizer = (
            self.optimizer.copy() if (with_optimizer and self.optimizer is not None) else None
        )
        return Weights(self.config, {k: a.copy() for k, a in self.params.items()}, optimizer)

    def save(self, path: Path) -> None:
        """Write atomically (temp file + rename) as a numpy .npz archive, whatever `path` ends with."""
        arrays: dict[str, Any] = {f"param/{k}": a for k, a in self.params.items()}
        meta: dict[str, Any] = {"format": _FORMAT, "config": asdict(self.config)}
        if self.optimizer is not None:
            meta["optimizer_step"] = self.optimizer.step
            arrays.update({f"adam_m/{k}": a for k, a in self.optimizer.m.items()})
            arrays.update({f"adam_v/{k}": a for k, a in self.optimizer.v.items()})
        arrays["meta"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        with open(tmp, "wb") as handle:
            handle.write(buffer.getvalue())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Weights:
        with np.load(Path(path), allow_pickle=False) as archive:
            meta = json.loads(bytes(archive["meta"]).decode())
            if meta.get("format") != _FORMAT:
                raise ValueError(
                    f"{path}: not a local model weights file (format {meta.get('format')!r})"
                )
            config = ModelConfig(**meta["config"])
            params = {k: archive[f"param/{k}"] for k in PARAM_NAMES}
            optimizer = None
            if "optimizer_step" in meta:
                optimizer = AdamState(
                    int(meta["optimizer_step"]),
                    {k: archive[f"adam_m/{k}"] for k in PARAM_NAMES},
                    {k: archive[f"adam_v/{k}"] for k in PARAM_NAMES},
                )
        return cls(config, params, optimizer)


def init_params(
    config: ModelConfig, seed: int, dtype: type[np.floating[Any]] = np.float32
) -> dict[str, Array]:
    rng = np.random.default_rng(seed)

    def normal(shape: tuple[int, ...], scale: float) -> Array:
        return (rng.standard_normal(shape) * scale).astype(dtype)

    return {
        "E": normal((config.n_buckets, config.prompt_dim), 0.02),
        "C": normal((VOCAB_SIZE, config.token_dim), 0.5),
        "Q": normal((config.n_positions, config.position_dim), 0.5),
        "W1": normal((config.input_dim, config.hidden), 1.0 / np.sqrt(config.input_dim)),
        "b1": np.zeros(config.hidden, dtype=dtype),
        "W2": normal((config.hidden, OUTPUT_SIZE), 1.0 / np.sqrt(config.hidden)),
        "b2": np.zeros(OUTPUT_SIZE, dtype=dtype),
    }


def base_weights(model: str, seed: int = 0) -> Weights:
    """The weights of a base model: a deterministic random initialisation.

    The initialisation seed comes from the model *name*, not from `seed` (which is accepted
    for interface symmetry and ignored), so `local-tiny` is one and the same model everywhere.
    """
    del seed
    if model not in BASE_MODELS:
        raise ValueError(
            f"unknown local base model {model!r} (available: {', '.join(BASE_MODELS)})"
        )
    config = ModelConfig()
    return Weights(config, init_params(config, zlib.crc32(model.encode())))


@dataclass(frozen=True)
class Batch:
    """Instances flattened into per-token rows (so one matrix product serves the whole batch)."""

    n_instances: int
    feature_ids: IntArray  # [F] hashed bucket of each prompt feature
    feature_weights: Array  # [F]
    feature_starts: IntArray  # [n_instances] first feature row of each instance
    token_instance: IntArray  # [T] which instance each target token belongs to
    context: IntArray  # [T, k] previous tokens
    positions: IntArray  # [T]
    targets: IntArray  # [T]

    @property
    def n_tokens(self) -> int:
        return int(self.targets.shape[0])


def context_windows(targets: IntArray, k: int) -> IntArray:
    """For each target position, the k tokens before it (padded with the assistant marker)."""
    padded = np.concatenate([np.full(k, ASSISTANT, dtype=np.int64), targets[:-1]])
    index = np.arange(len(targets))[:, None] + np.arange(k)[None, :]
    windows: IntArray = padded[index]
    return windows


def make_batch(
    instances: Sequence[Instance], config: ModelConfig, dtype: type[np.floating[Any]] = np.float32
) -> Batch:
    starts = np.cumsum([0] + [len(i.feature_ids) for i in instances[:-1]]).astype(np.int64)
    lengths = [len(i.targets) for i in instances]
    return Batch(
        n_instances=len(instances),
        feature_ids=np.concatenate([i.feature_ids for i in instances]),
        feature_weights=np.concatenate([i.feature_weights for i in instances]).astype(dtype),
        feature_starts=starts,
        token_instance=np.repeat(np.arange(len(instances), dtype=np.int64), lengths),
        context=np.concatenate([context_windows(i.targets, config.context) for i in instances]),
        positions=np.minimum(
            np.concatenate([np.arange(n) for n in lengths]), config.n_positions - 1
        ).astype(np.int64),
        targets=np.concatenate([i.targets for i in instances]),
    )


def prompt_vectors(params: Mapping[str, Array], batch: Batch) -> Array:
    weighted = params["E"][batch.feature_ids] * batch.feature_weights[:, None]
    # Every instance has at least the bias feature, so reduceat segments are never empty.
    return np.add.reduceat(weighted, batch.feature_starts, axis=0)


@dataclass(frozen=True)
class LossResult:
    loss: float  # mean cross-entropy per target token (nats)
    accuracy: float  # fraction of target tokens predicted exactly (argmax)
    n_tokens: int


def _inputs(params: Mapping[str, Array], batch: Batch, prompt: Array) -> Array:
    n = batch.n_tokens
    return np.concatenate(
        [
            prompt[batch.token_instance],
            params["C"][batch.context].reshape(n, -1),
            params["Q"][batch.positions],
        ],
        axis=1,
    )


def _log_softmax(logits: Array) -> Array:
    shifted = logits - logits.max(axis=1, keepdims=True)
    out: Array = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return out


def evaluate(params: Mapping[str, Array], batch: Batch) -> LossResult:
    """Loss and token accuracy without gradients."""
    x = _inputs(params, batch, prompt_vectors(params, batch))
    logits = np.tanh(x @ params["W1"] + params["b1"]) @ params["W2"] + params["b2"]
    return _score(logits, batch)


def _score(logits: Array, batch: Batch) -> LossResult:
    logp = _log_softmax(logits)
    rows = np.arange(batch.n_tokens)
    loss = float(-logp[rows, batch.targets].astype(np.float64).mean())
    accuracy = float((logits.argmax(axis=1) == batch.targets).mean())
    return LossResult(loss, accuracy, batch.n_tokens)


@dataclass(frozen=True)
class Gradients:
    """Gradients of the mean token loss: full-shape for every parameter except `E`, whose
    gradient holds only the rows `embedding_rows` (the prompt features present in the batch)."""

    values: dict[str, Array]
    embedding_rows: IntArray

    def dense(self, name: str, like: Array) -> Array:
        """The full-shape gradient of parameter `name` (for checks; training uses the compact form)."""
        if name != "E":
            return self.values[name]
        full = np.zeros_like(like)
        full[self.embedding_rows] = self.values["E"]
        return full


def loss_and_grads(params: Mapping[str, Array], batch: Batch) -> tuple[LossResult, Gradients]:
    """Mean token cross-entropy of the batch and its exact gradient for every parameter."""
    cfg_k = batch.context.shape[1]
    prompt = prompt_vectors(params, batch)
    x = _inputs(params, batch, prompt)
    h = np.tanh(x @ params["W1"] + params["b1"])
    logits = h @ params["W2"] + params["b2"]
    result = _score(logits, batch)

    n = batch.n_tokens
    dlogits = np.exp(_log_softmax(logits))
    dlogits[np.arange(n), batch.targets] -= 1.0
    dlogits /= n
    grads: dict[str, Array] = {"W2": h.T @ dlogits, "b2": dlogits.sum(axis=0)}
    dpre = (dlogits @ params["W2"].T) * (1.0 - h * h)
    grads["W1"] = x.T @ dpre
    grads["b1"] = dpre.sum(axis=0)
    dx = dpre @ params["W1"].T

    prompt_dim = prompt.shape[1]
    token_dim = params["C"].shape[1]
    dprompt_tok = dx[:, :prompt_dim]
    dcontext = dx[:, prompt_dim : prompt_dim + cfg_k * token_dim].reshape(-1, token_dim)
    dposition = dx[:, prompt_dim + cfg_k * token_dim :]

    dprompt = np.zeros_like(prompt)
    np.add.at(dprompt, batch.token_instance, dprompt_tok)
    feature_instance = np.repeat(
        np.arange(batch.n_instances),
        np.diff(np.append(batch.feature_starts, len(batch.feature_ids))),
    )
    # The prompt-feature table is large and each batch touches few of its rows: its gradient
    # is kept compact (one row per distinct feature) and the optimizer updates only those rows.
    rows, inverse = np.unique(batch.feature_ids, return_inverse=True)
    grads["E"] = np.zeros((len(rows), prompt_dim), dtype=params["E"].dtype)
    np.add.at(grads["E"], inverse, dprompt[feature_instance] * batch.feature_weights[:, None])
    grads["C"] = np.zeros_like(params["C"])
    np.add.at(grads["C"], batch.context.reshape(-1), dcontext)
    grads["Q"] = np.zeros_like(params["Q"])
    np.add.at(grads["Q"], batch.positions, dposition)
    return result, Gradients(grads, rows.astype(np.int64))
