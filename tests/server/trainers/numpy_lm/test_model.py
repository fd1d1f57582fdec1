"""The hand-written backward pass, the weights file, and the base model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ftctl.server.trainers.numpy_lm import Weights, base_weights, generate
from ftctl.server.trainers.numpy_lm.examples import instances_of
from ftctl.server.trainers.numpy_lm.model import (
    PARAM_NAMES,
    ModelConfig,
    evaluate,
    init_params,
    loss_and_grads,
    make_batch,
)

TINY = ModelConfig(
    n_buckets=32, prompt_dim=4, context=3, token_dim=3, n_positions=4, position_dim=2, hidden=6
)


def test_gradients_match_finite_differences() -> None:
    rows = [
        {
            "messages": [
                {"role": "user", "content": "red apple"},
                {"role": "assistant", "content": "ok!"},
            ]
        },
        {
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "green pear pear"},
                {"role": "assistant", "content": "fine, sure"},
            ]
        },
    ]
    instances = [i for row in rows for i in instances_of(row, TINY.n_buckets)]
    batch = make_batch(instances, TINY, dtype=np.float64)
    params = init_params(TINY, seed=3, dtype=np.float64)
    # Non-zero biases so that their gradients are exercised away from the initial point.
    params["b1"] += 0.1
    params["b2"] += np.linspace(-0.2, 0.2, params["b2"].size)
    _, grads = loss_and_grads(params, batch)
    rng = np.random.default_rng(0)
    eps = 1e-6
    for name in PARAM_NAMES:
        analytic = grads.dense(name, params[name])
        flat = params[name].reshape(-1)
        # Check every entry that has a gradient in E (sparse) and a random sample elsewhere.
        nonzero = np.flatnonzero(analytic.reshape(-1))
        picks = (
            nonzero
            if name == "E"
            else rng.choice(flat.size, size=min(flat.size, 25), replace=False)
        )
        assert len(picks) > 0, name
        for index in picks:
            saved = flat[index]
            flat[index] = saved + eps
            plus = evaluate(params, batch).loss
            flat[index] = saved - eps
            minus = evaluate(params, batch).loss
            flat[index] = saved
            numeric = (plus - minus) / (2 * eps)
            assert analytic.reshape(-1)[index] == pytest.approx(numeric, rel=1e-4, abs=1e-8), (
                name,
                index,
            )


def test_local_tiny_is_one_model_whatever_the_job_seed() -> None:
    a, b = base_weights("local-tiny", 1), base_weights("local-tiny", 99)
    assert all(np.array_equal(a.params[k], b.params[k]) for k in PARAM_NAMES)


def test_unknown_base_model_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown local base model 'gpt-4o'"):
        base_weights("gpt-4o", 0)


def test_save_load_round_trip_gives_identical_generations(tmp_path: Path) -> None:
    weights = base_weights("local-tiny", 0)
    # Perturb so the file cannot be confused with a fresh initialisation.
    weights.params["b2"][:] = np.arange(weights.params["b2"].size) % 7 * 0.3
    path = tmp_path / "models" / "m.weights"  # any suffix: the file is written exactly there
    weights.save(path)
    assert path.exists() and not (tmp_path / "models" / "m.weights.npz").exists()
    loaded = Weights.load(path)
    assert loaded.config == weights.config
    messages = [{"role": "user", "content": "Where is my parcel?"}]
    for temperature, seed in [(0.0, None), (0.9, 5)]:
        assert generate(loaded, messages, 40, temperature, seed, None) == generate(
            weights, messages, 40, temperature, seed, None
        )


def test_load_rejects_a_foreign_file(tmp_path: Path) -> None:
    path = tmp_path / "other.npz"
    np.savez(path, meta=np.frombuffer(b'{"format": "something-else"}', dtype=np.uint8))
    with pytest.raises(ValueError, match="not a local model weights file"):
        Weights.load(path)
