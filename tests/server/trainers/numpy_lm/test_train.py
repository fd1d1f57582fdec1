"""Training behaviour a user of the local server notices: it learns, reproducibly, resumably."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ftctl.server.trainers.numpy_lm import Hyper, Weights, base_weights, generate, train
from ftctl.server.trainers.numpy_lm.model import PARAM_NAMES

Rows = list[dict[str, Any]]


def same_params(a: Weights, b: Weights) -> bool:
    return all(np.array_equal(a.params[k], b.params[k]) for k in PARAM_NAMES)


def matches(got: list[str], want: list[str]) -> int:
    return sum(g == w for g, w in zip(got, want, strict=True))


def test_loss_falls_and_accuracy_rises(trained: Any) -> None:
    first, last = trained.epochs[0].metrics, trained.epochs[-1].metrics
    assert last["train_loss"] < first["train_loss"] / 4
    assert last["full_valid_loss"] < first["full_valid_loss"] / 2
    assert last["train_mean_token_accuracy"] > max(0.95, first["train_mean_token_accuracy"])
    assert last["full_valid_mean_token_accuracy"] > 0.95


def test_fine_tuned_model_answers_held_out_tickets_and_base_does_not(
    trained: Any, valid_rows: Rows, helpers: Any
) -> None:
    want = helpers.references(valid_rows)
    tuned = helpers.answers(trained.outcome.weights, valid_rows)
    base = helpers.answers(base_weights("local-tiny", 0), valid_rows)
    assert matches(tuned, want) >= 7  # of 9 unseen tickets: it routes by the keyword
    assert matches(base, want) == 0


def test_reports_every_step_and_epoch(trained: Any, train_rows: Rows, hyper: Hyper) -> None:
    steps_per_epoch = -(-len(train_rows) // hyper.batch_size)
    assert [s.step for s in trained.steps] == list(range(1, steps_per_epoch * hyper.n_epochs + 1))
    assert [s.epoch for s in trained.steps[: steps_per_epoch + 1]] == [1] * steps_per_epoch + [2]
    assert all(
        s.valid_loss is not None and s.valid_mean_token_accuracy is not None for s in trained.steps
    )
    assert [(e.epoch, e.step) for e in trained.epochs] == [
        (n, n * steps_per_epoch) for n in range(1, hyper.n_epochs + 1)
    ]
    assert set(trained.epochs[0].metrics) == {
        "train_loss",
        "train_mean_token_accuracy",
        "valid_loss",
        "valid_mean_token_accuracy",
        "full_valid_loss",
        "full_valid_mean_token_accuracy",
    }
    assert not trained.outcome.stopped
    # Trained tokens: the answer bytes + end token of every example, once per epoch.
    per_epoch = sum(len(r["messages"][-1]["content"].encode()) + 1 for r in train_rows)
    assert trained.outcome.trained_tokens == per_epoch * hyper.n_epochs


def test_without_validation_rows_only_train_metrics(train_rows: Rows, helpers: Any) -> None:
    run = helpers.run_training(
        base_weights("local-tiny", 0), train_rows[:8], None, Hyper(1, 4, 2.0)
    )
    assert all(s.valid_loss is None and s.valid_mean_token_accuracy is None for s in run.steps)
    assert set(run.epochs[0].metrics) == {"train_loss", "train_mean_token_accuracy"}


def test_same_seed_same_run_and_different_seed_differs(
    trained: Any, train_rows: Rows, valid_rows: Rows, hyper: Hyper, helpers: Any
) -> None:
    again = helpers.run_training(
        base_weights("local-tiny", 0), train_rows, valid_rows, hyper, seed=0
    )
    assert again.steps == trained.steps and again.epochs == trained.epochs
    assert same_params(again.outcome.weights, trained.outcome.weights)
    assert helpers.answers(again.outcome.weights, valid_rows) == helpers.answers(
        trained.outcome.weights, valid_rows
    )
    other = helpers.run_training(
        base_weights("local-tiny", 0), train_rows, valid_rows, hyper, seed=1
    )
    assert [s.train_loss for s in other.steps] != [s.train_loss for s in trained.steps]
    assert not same_params(other.outcome.weights, trained.outcome.weights)


def test_resume_from_a_saved_epoch_checkpoint_ends_where_an_uninterrupted_run_ends(
    trained: Any, train_rows: Rows, valid_rows: Rows, hyper: Hyper, helpers: Any, tmp_path: Path
) -> None:
    # The server restarts a killed job from the file it saved at the last on_epoch.
    path = tmp_path / "epoch-2.npz"
    trained.checkpoints[1].save(path)
    resumed = helpers.run_training(
        Weights.load(path), train_rows, valid_rows, hyper, seed=0, resume_from_epoch=2
    )
    assert resumed.epochs == trained.epochs[2:]
    assert resumed.steps == trained.steps[len(trained.steps) - len(resumed.steps) :]
    assert resumed.outcome.trained_tokens == trained.outcome.trained_tokens
    assert same_params(resumed.outcome.weights, trained.outcome.weights)
    # Killed after the last checkpoint but before the job was marked done: nothing left to train.
    finished = helpers.run_training(
        trained.checkpoints[-1],
        train_rows,
        valid_rows,
        hyper,
        seed=0,
        resume_from_epoch=hyper.n_epochs,
    )
    assert finished.steps == [] and finished.epochs == []
    assert same_params(finished.outcome.weights, trained.outcome.weights)


def test_should_stop_ends_training_early(train_rows: Rows, hyper: Hyper, helpers: Any) -> None:
    run = helpers.run_training(
        base_weights("local-tiny", 0), train_rows, None, hyper, stop_after_steps=3
    )
    assert run.outcome.stopped
    assert len(run.steps) == 3 and run.epochs == []
    assert not same_params(run.outcome.weights, base_weights("local-tiny", 0))


def test_continuing_from_a_fine_tuned_model_starts_from_what_it_learned(
    trained: Any, train_rows: Rows, valid_rows: Rows, helpers: Any, tmp_path: Path
) -> None:
    # Lineage: local-tiny -> m1 (trained) -> m2 (continued from m1's saved file) -> m3.
    path = tmp_path / "m1.npz"
    trained.outcome.weights.save(path)
    one_epoch = Hyper(1, 4, 2.0)
    m2 = helpers.run_training(Weights.load(path), train_rows, valid_rows, one_epoch, seed=3)
    fresh = helpers.run_training(
        base_weights("local-tiny", 0), train_rows, valid_rows, one_epoch, seed=3
    )
    assert m2.epochs[0].metrics["train_loss"] < fresh.epochs[0].metrics["train_loss"] / 5
    want = helpers.references(valid_rows)
    assert matches(helpers.answers(m2.outcome.weights, valid_rows), want) > matches(
        helpers.answers(fresh.outcome.weights, valid_rows), want
    )
    m3 = helpers.run_training(m2.outcome.weights, train_rows[:8], None, one_epoch, seed=4)
    assert not same_params(m3.outcome.weights, m2.outcome.weights)


def conversation(helpers: Any, first_answer: str, weight: int) -> Rows:
    """Two turns: an aside whose answer has the given weight, then a routed ticket (weight 1)."""
    return [
        {
            "messages": [
                {"role": "user", "content": "what is the secret word"},
                {"role": "assistant", "content": first_answer, "weight": weight},
                *row["messages"][1:],
            ]
        }
        for row in helpers.synthetic_rows(24, seed=5)
    ]


def test_weight_zero_assistant_messages_are_not_learned(helpers: Any) -> None:
    secret = "zebra crossing"
    hyper = Hyper(6, 4, 2.0)
    ask = [{"role": "user", "content": "what is the secret word"}]
    weighted = helpers.run_training(
        base_weights("local-tiny", 0), conversation(helpers, secret, 1), None, hyper
    )
    masked = helpers.run_training(
        base_weights("local-tiny", 0), conversation(helpers, secret, 0), None, hyper
    )
    # Weight 1: both assistant messages are targets; weight 0: only the second one.
    extra = weighted.outcome.trained_tokens - masked.outcome.trained_tokens
    assert extra == 24 * (len(secret) + 1) * hyper.n_epochs
    assert generate(weighted.outcome.weights, ask, 30, 0.0, None, None).text == secret
    assert "zebra" not in generate(masked.outcome.weights, ask, 30, 0.0, None, None).text
    # The weight-1 turn after it is learned either way.
    assert masked.epochs[-1].metrics["train_mean_token_accuracy"] > 0.9


def test_rows_the_validator_rejects_are_refused(hyper: Hyper, helpers: Any) -> None:
    dpo = [{"input": {"messages": []}, "preferred_output": [], "non_preferred_output": []}]
    with pytest.raises(ValueError, match="DPO is not supported by the local trainer"):
        helpers.run_training(base_weights("local-tiny", 0), dpo, None, hyper)


def ignore(*_: object) -> None:
    pass


TRAIN_IN_CHILD = """
import hashlib, json, sys
from ftctl.server.trainers.numpy_lm import Hyper, base_weights, train
rows = json.loads(sys.stdin.read())
out = train(base_weights("local-tiny", 0), rows, None, Hyper(2, 4, 2.0), 5,
            lambda m: None, lambda e, w: None, lambda: False)
print(hashlib.sha256(b"".join(out.weights.params[k].tobytes() for k in sorted(out.weights.params))).hexdigest())
"""


def test_weights_do_not_depend_on_the_blas_thread_setting(train_rows: Rows) -> None:
    rows = train_rows[:12]
    here = train(
        base_weights("local-tiny", 0),
        rows,
        None,
        Hyper(2, 4, 2.0),
        5,
        ignore,
        ignore,
        lambda: False,
    )
    params = here.weights.params
    digest = hashlib.sha256(b"".join(params[k].tobytes() for k in sorted(params))).hexdigest()
    # Other machines, other defaults: the trained weights must be the same bytes everywhere.
    for threads in ("1", "2"):
        env = {**os.environ, "OPENBLAS_NUM_THREADS": threads, "OMP_NUM_THREADS": threads}
        child = subprocess.run(
            [sys.executable, "-c", TRAIN_IN_CHILD],
            input=json.dumps(rows),
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        assert child.stdout.strip() == digest, threads


def test_large_batches_are_processed_in_chunks_with_the_same_result(
    train_rows: Rows, valid_rows: Rows, helpers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Memory stays bounded for big batches of long answers: a batch is split into chunks of
    # at most MAX_CHUNK_TOKENS target tokens whose gradients are accumulated.
    hyper = Hyper(2, 12, 2.0)
    whole = helpers.run_training(base_weights("local-tiny", 0), train_rows, valid_rows, hyper)
    monkeypatch.setattr(sys.modules["ftctl.server.trainers.numpy_lm.train"], "MAX_CHUNK_TOKENS", 50)
    chunked = helpers.run_training(base_weights("local-tiny", 0), train_rows, valid_rows, hyper)
    assert [s.train_loss for s in chunked.steps] == pytest.approx(
        [s.train_loss for s in whole.steps], rel=1e-4
    )
    for name in PARAM_NAMES:
        np.testing.assert_allclose(
            chunked.outcome.weights.params[name], whole.outcome.weights.params[name], atol=1e-4
        )
    assert chunked.epochs[-1].metrics["full_valid_loss"] == pytest.approx(
        whole.epochs[-1].metrics["full_valid_loss"], rel=1e-3
    )
