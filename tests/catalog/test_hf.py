"""Open-weights base models: `hf:<org>/<name>[@rev]` from the Hugging Face cache, `hf:<dir>`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftctl.catalog import hf
from ftctl.catalog.models import base_model_id, hf_model, lookup_model


def _model_dir(path: Path, *, context: int = 8192, template: bool = True) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text(
        json.dumps({"model_type": "llama", "max_position_embeddings": context})
    )
    tokenizer = {"chat_template": "{{ messages }}"} if template else {}
    (path / "tokenizer_config.json").write_text(json.dumps(tokenizer))
    return path


def _cached(cache: Path, repo: str, commit: str, *, ref: str = "main") -> Path:
    """A repository laid out as huggingface_hub's cache does."""
    root = cache / ("models--" + repo.replace("/", "--"))
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / ref).write_text(commit)
    return _model_dir(root / "snapshots" / commit)


def test_a_hub_model_is_found_in_hf_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    main = _cached(tmp_path / "hf" / "hub", "acme/tiny-chat", "a" * 40)
    tagged = _cached(tmp_path / "hf" / "hub", "acme/tiny-chat", "b" * 40, ref="v1")

    assert hf.locate("hf:acme/tiny-chat") == main
    assert hf.locate("hf:acme/tiny-chat@v1") == tagged
    assert hf.locate(f"hf:acme/tiny-chat@{'a' * 40}") == main


def test_a_missing_model_names_the_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    with pytest.raises(hf.ModelNotFound) as caught:
        hf.locate("hf:acme/other@v2")

    message = caught.value.message
    assert "hf download acme/other --revision v2" in message
    assert str(tmp_path / "cache") in message and "HF_HUB_OFFLINE" in message


def test_a_directory_is_relative_to_the_workspace(tmp_path: Path) -> None:
    model = _model_dir(tmp_path / "models" / "mine", context=2048, template=False)

    assert hf.locate("hf:models/mine", tmp_path) == model  # a directory wins over the hub
    assert hf.locate(f"hf:{model}") == model
    info = hf_model("hf:./models/mine", tmp_path, read=True)
    assert (info.max_tokens_per_example, info.chat_template) == (2048, False)
    assert info.training_price_per_1m is None  # no per-token price: "price unknown"
    assert info.model_dir == str(model)
    with pytest.raises(hf.ModelNotFound, match=r"model directory .* not found"):
        hf.locate("hf:./models/absent", tmp_path)


def test_fine_tuned_hf_models_map_to_their_base() -> None:
    assert base_model_id("ft:hf:acme/tiny-chat:local:triage:abc") == "hf:acme/tiny-chat"
    info = lookup_model("ft:hf:acme/tiny-chat@v1:local:triage:abc")
    assert info.id == "hf:acme/tiny-chat@v1"
    # GRPO is not offered by the hf trainer: validate refuses `method: reinforcement`.
    assert info.methods == ("supervised", "dpo")
