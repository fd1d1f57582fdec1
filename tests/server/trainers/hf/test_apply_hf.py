"""An open-weights fine-tune end to end: `ftctl apply` on the local server trains the tiny
model with LoRA (TRL), its eval gate passes where the base model fails, and `ftctl export`
writes an adapter that plain transformers + PEFT load to answer exactly as the server does.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from ftctl.config.local_server import ServerInfo
from ftctl.providers.local_launcher import stop_local_server

from ....support.cli import run_ftctl
from ....support.hf_tiny import ticket_rows, write_workspace

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EPOCHS = 8


@pytest.fixture(scope="module")
def applied(tiny_hf_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A workspace whose project `triage` (base `hf:models/tiny`, a directory in the
    workspace) has been applied: trained, gated, promoted."""
    workspace = write_workspace(
        tmp_path_factory.mktemp("hf-apply"), "hf:models/tiny", epochs=EPOCHS
    )
    (workspace / "models").mkdir()
    (workspace / "models" / "tiny").symlink_to(tiny_hf_model, target_is_directory=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = run_ftctl("apply", "--auto-approve", workspace=workspace, env=env, timeout=600)
    try:
        assert done.returncode == 0, done.stdout + done.stderr
        yield workspace
    finally:
        stop_local_server(workspace / ".ftctl" / "server")


def _client(workspace: Path) -> openai.OpenAI:
    info = ServerInfo.read(workspace / ".ftctl" / "server")
    assert info is not None
    return openai.OpenAI(base_url=f"{info.url}/v1", api_key="ftctl-local")


def _lineage(workspace: Path) -> dict[str, Any]:
    done = run_ftctl("lineage", "triage", "--json", workspace=workspace, check=0)
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def test_the_fine_tune_passes_the_gate_its_base_fails(applied: Path) -> None:
    version = _lineage(applied)["version"]

    assert version["model_id"].startswith("ft:hf:models/tiny:local:triage:")
    evaluation = version["gates"]["eval"]
    assert version["gates"]["passed"] is True
    assert evaluation["pass_rate"] >= 0.6
    # Every ticket the fine-tune answers right, the random base model gets wrong.
    assert "0 lost" in evaluation["summary"] and evaluation["win_rate"] >= 0.6
    # The chat template's tokens, counted as the trainer trains them, each epoch.
    train = next(d for d in version["datasets"] if d["split"] == "train")
    assert version["trained_tokens"] == train["tokens"] * EPOCHS


def test_the_job_reports_like_an_openai_job(applied: Path) -> None:
    client = _client(applied)
    job = client.fine_tuning.jobs.retrieve(_lineage(applied)["version"]["job_id"])

    assert job.status == "succeeded"
    assert job.hyperparameters.n_epochs == EPOCHS
    extra = job.method.supervised.hyperparameters.model_extra or {}  # type: ignore[union-attr]
    assert extra["adapter"] == "lora" and extra["lora_rank"] == 16
    events = list(client.fine_tuning.jobs.list_events(job.id, limit=100))
    steps = [e.data for e in events if e.type == "metrics" and "total_steps" in (e.data or {})]
    assert steps and {"train_loss", "train_mean_token_accuracy"} <= set(steps[0])
    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id, limit=20).data
    # One per epoch, of which the server keeps the last 3 (as OpenAI does).
    assert len(checkpoints) == 3 and all(c.id.startswith("ftckpt-") for c in checkpoints)
    on_disk = sorted((applied / ".ftctl" / "server").rglob("checkpoint-*"))
    assert [d.name for d in on_disk] == [
        f"checkpoint-{c.step_number}" for c in sorted(checkpoints, key=lambda c: c.step_number)
    ]
    assert all(
        "full_valid_loss" in (c.metrics.model_extra or {}) or c.metrics.full_valid_loss
        for c in checkpoints
    )
    result = client.files.content(job.result_files[0]).text
    rows = list(csv.DictReader(io.StringIO(result)))
    assert len(rows) == len(steps) and rows[-1]["full_valid_loss"]
    first, last = float(rows[0]["train_loss"]), float(rows[-1]["train_loss"])
    assert last < first


def test_export_generates_what_the_server_generates(applied: Path, tmp_path: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ftctl.server.trainers.hf.serve import generate

    out = tmp_path / "export"
    run_ftctl("export", "triage", "--out", str(out), "--merged", workspace=applied, check=0)
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    assert "triage" in (out / "README.md").read_text()

    model_id = _lineage(applied)["version"]["model_id"]
    prompt = ticket_rows(3, seed=11)[2]["messages"][:2]
    served = _client(applied).chat.completions.create(
        model=model_id, messages=prompt, max_tokens=16, temperature=0
    )
    tokenizer = AutoTokenizer.from_pretrained(out / "adapter")
    base = AutoModelForCausalLM.from_pretrained(applied / "models" / "tiny")
    with_adapter = PeftModel.from_pretrained(base, out / "adapter")
    merged = AutoModelForCausalLM.from_pretrained(out / "merged")
    for model in (with_adapter, merged):
        local = generate(model.eval(), tokenizer, prompt, max_tokens=16, temperature=0)
        assert local.text == served.choices[0].message.content
    assert json.loads(served.choices[0].message.content or "")["category"]
