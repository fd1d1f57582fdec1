"""`ftctl data stats --model hf:<dir>`: tokens counted by the model's own tokenizer and chat
template (the counter `data build` uses), and no made-up $0.00 price."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from ftctl.datasets.formats import Format
from ftctl.datasets.hf_counting import HfTokenizer

from ..support.cli import run_ftctl
from ..support.hf_tiny import ticket_rows, write_jsonl


def test_stats_counts_with_the_models_tokenizer_and_shows_no_price(
    tiny_hf_model: Path, tmp_path: Path
) -> None:
    rows = ticket_rows(6, seed=3)
    data = write_jsonl(tmp_path / "train.jsonl", rows)
    env = {**os.environ, "FTCTL_CACHE_DIR": str(tmp_path / "cache")}
    model = f"hf:{tiny_hf_model}"

    done = run_ftctl("data", "stats", str(data), "--model", model, "--json", env=env, check=0)
    report = json.loads(done.stdout)

    chat: Format = "chat"
    counts = HfTokenizer(str(tiny_hf_model)).count_examples(rows, chat)
    assert report["total_tokens"] == sum(c.total for c in counts)
    assert report["trained_tokens"] == sum(c.trained for c in counts)
    o200k = run_ftctl("data", "stats", str(data), "--model", "gpt-4.1-mini", "--json", env=env)
    assert json.loads(o200k.stdout)["total_tokens"] != report["total_tokens"]
    assert report["cost"]["cost_usd"] is None

    human = run_ftctl("data", "stats", str(data), "--model", model, env=env, check=0)
    assert "price unknown" in human.stdout
    assert "$0.00" not in human.stdout
    assert f"hf:{tiny_hf_model}" in human.stdout  # the tokenizer that counted


def test_a_relative_model_directory_is_found_from_the_current_directory(
    tiny_hf_model: Path, tmp_path: Path
) -> None:
    write_jsonl(tmp_path / "train.jsonl", ticket_rows(2, seed=4))
    env = {**os.environ, "FTCTL_CACHE_DIR": str(tmp_path / "cache")}
    relative = os.path.relpath(tiny_hf_model, tmp_path)
    done = run_ftctl(
        "data", "stats", "train.jsonl", "--model", f"hf:{relative}", cwd=tmp_path, env=env
    )
    assert done.returncode == 0, done.stderr
    missing = run_ftctl(
        "data", "stats", "train.jsonl", "--model", "hf:no/such-model", cwd=tmp_path, env=env
    )
    assert missing.returncode == 1
    assert "hf download no/such-model" in missing.stderr


def test_the_plan_shows_price_unknown_and_the_tokens_for_an_hf_model(
    tiny_hf_model: Path, tmp_path: Path
) -> None:
    from ..support.hf_tiny import write_workspace

    workspace = write_workspace(tmp_path / "ws", f"hf:{tiny_hf_model}", epochs=2, n_train=10)
    env = {**os.environ, "FTCTL_CACHE_DIR": str(tmp_path / "cache")}
    done = run_ftctl("plan", "-no-color", workspace=workspace, env=env, check=0)
    assert "$0.00" not in done.stdout
    assert "price unknown (" in done.stdout  # the job's line: tokens and epochs follow
    assert "2 epochs" in done.stdout
    assert re.search(r"total +price unknown", done.stdout)
