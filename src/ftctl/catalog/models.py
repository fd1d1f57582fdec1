"""A small, dated catalog of base models ftctl knows how to estimate for.

The values are what OpenAI published as of 2026-11 (training prices per 1M training
tokens, per-example token limits, the fine-tuning cut-off). They go stale: `plan` shows
them as estimates and warns about the dates. Retirement dates are None where OpenAI has
not announced one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

from ftctl.catalog import hf
from ftctl.errors import DataError

# OpenAI accepts no new fine-tuning jobs after this day (announced 2026-05; since then
# only for organisations that already fine-tune). Fine-tuned models keep serving until
# their base model retires.
OPENAI_TRAINING_CUTOFF = date(2027, 1, 6)

Provider = Literal["openai", "local", "compatible", "azure"]


@dataclass(frozen=True)
class ModelInfo:
    id: str
    provider: Provider
    encoding: str
    max_tokens_per_example: int
    training_price_per_1m: float | None  # USD per 1M billed training tokens; None: not per token
    training_available_until: date | None
    retires_on: date | None
    methods: tuple[str, ...]
    # Providers that serve a fine-tuned model only through a deployment (Azure) bill each
    # deployment by the hour, whether it is called or not. None: no hourly fee (or unknown).
    hosting_price_per_hour: float | None = None
    # Where the prices come from and as of when (shown by `plan` next to the estimate).
    price_source: str = ""
    prices_as_of: date | None = None
    # Open-weights (`hf:`) models: the model directory, whose tokenizer and chat template
    # count tokens instead of `encoding` (which is then only a fallback estimate).
    model_dir: str | None = None
    chat_template: bool = True
    # The chat sampling parameters the model accepts. Reasoning models (o-series) take
    # only their defaults: sending `temperature` is an error there.
    sampling: tuple[str, ...] = ("temperature", "seed")


def _openai(
    model_id: str,
    *,
    price: float | None,
    limit: int = 65_536,
    encoding: str = "o200k_base",
    methods: tuple[str, ...] = ("supervised", "dpo"),
    sampling: tuple[str, ...] = ("temperature", "seed"),
) -> ModelInfo:
    return ModelInfo(
        id=model_id,
        provider="openai",
        encoding=encoding,
        max_tokens_per_example=limit,
        training_price_per_1m=price,
        training_available_until=OPENAI_TRAINING_CUTOFF,
        retires_on=None,
        methods=methods,
        sampling=sampling,
    )


# Values as of 2026-11 (OpenAI pricing and fine-tuning guide). Keep sorted by id.
_MODELS: tuple[ModelInfo, ...] = (
    _openai(
        "babbage-002", price=0.40, limit=16_385, encoding="cl100k_base", methods=("supervised",)
    ),
    _openai(
        "davinci-002", price=6.00, limit=16_385, encoding="cl100k_base", methods=("supervised",)
    ),
    _openai(
        "gpt-3.5-turbo-0125",
        price=8.00,
        limit=16_385,
        encoding="cl100k_base",
        methods=("supervised",),
    ),
    _openai("gpt-4.1-2025-04-14", price=25.00),
    _openai("gpt-4.1-mini-2025-04-14", price=5.00),
    _openai("gpt-4.1-nano-2025-04-14", price=1.50),
    _openai("gpt-4o-2024-08-06", price=25.00),
    _openai("gpt-4o-mini-2024-07-18", price=3.00),
    # Reinforcement fine-tuning is billed per training hour, not per token: no token price.
    # Its per-example limit is not published separately; ftctl assumes the family's 65,536.
    # A reasoning model: no `temperature` (only its default), as for every o-series model.
    _openai("o4-mini-2025-04-16", price=None, methods=("reinforcement",), sampling=("seed",)),
    # ftctl's own local server: free; o200k_base is used only for estimates.
    ModelInfo(
        id="local-tiny",
        provider="local",
        encoding="o200k_base",
        max_tokens_per_example=4096,
        training_price_per_1m=0.0,
        training_available_until=None,
        retires_on=None,
        methods=("supervised",),
    ),
)

MODELS: dict[str, ModelInfo] = {m.id: m for m in _MODELS}

# Azure OpenAI (Microsoft Foundry) keeps fine-tuning the same families after OpenAI's
# cut-off, under the same snapshot names, at its own prices: regional Standard training per
# 1M training tokens and the hourly hosting fee of a Standard deployment of the fine-tuned
# model (Global Standard training is 10-30% cheaper, Developer training 50% of Global; a
# Developer deployment has no hosting fee: Microsoft Learn, "Cost management for
# fine-tuning" and "Test a fine-tuned model"). The figures are those of the Azure OpenAI
# pricing page as ftctl's maintainers last read it; this build could not re-read the live
# page, so `plan` labels them estimates with their date and source.
AZURE_PRICE_SOURCE = (
    "https://azure.microsoft.com/pricing/details/cognitive-services/openai-service/"
)
AZURE_PRICES_AS_OF = date(2026, 11, 1)


def _azure(
    model_id: str,
    *,
    price: float | None,
    hosting: float,
    methods: tuple[str, ...] = ("supervised", "dpo"),
) -> ModelInfo:
    base = MODELS[model_id]
    return ModelInfo(
        id=model_id,
        provider="azure",
        encoding=base.encoding,
        max_tokens_per_example=base.max_tokens_per_example,
        training_price_per_1m=price,
        # Azure has announced no end to fine-tuning these families.
        training_available_until=None,
        retires_on=base.retires_on,
        methods=methods,
        hosting_price_per_hour=hosting,
        price_source=AZURE_PRICE_SOURCE,
        prices_as_of=AZURE_PRICES_AS_OF,
        sampling=base.sampling,
    )


_AZURE_MODELS: tuple[ModelInfo, ...] = (
    _azure("gpt-4.1-2025-04-14", price=27.50, hosting=1.70),
    _azure("gpt-4.1-mini-2025-04-14", price=5.50, hosting=1.70),
    _azure("gpt-4.1-nano-2025-04-14", price=1.65, hosting=1.70),
    _azure("gpt-4o-2024-08-06", price=27.50, hosting=1.70),
    _azure("gpt-4o-mini-2024-07-18", price=3.30, hosting=1.70),
    # Reinforcement fine-tuning is billed per training hour on Azure too.
    _azure("o4-mini-2025-04-16", price=None, hosting=1.70, methods=("reinforcement",)),
)

AZURE_MODELS: dict[str, ModelInfo] = {m.id: m for m in _AZURE_MODELS}

# Undated names OpenAI accepts as fine-tuning bases, and the snapshot they stand for.
ALIASES: dict[str, str] = {
    "gpt-3.5-turbo": "gpt-3.5-turbo-0125",
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "o4-mini": "o4-mini-2025-04-16",
}


def base_model_id(model: str) -> str:
    """`ft:BASE:org:suffix:id` (OpenAI) or `BASE.ft-<id>[-suffix]` (Azure) -> `BASE`;
    anything else unchanged (aliases not resolved). An open-weights base keeps its prefix:
    `ft:hf:org/name:local:...` -> `hf:org/name`."""
    if model.startswith("ft:hf:"):
        return "hf:" + model[6:].split(":", 1)[0]
    if model.startswith("ft:"):
        return model[3:].split(":", 1)[0]
    if ".ft-" in model:
        return model.split(".ft-", 1)[0]
    return model


def lookup_model(model: str, provider: str | None = None) -> ModelInfo:
    """The catalog entry for `model`: a base id, an undated alias, or a fine-tuned `ft:` id.

    A fine-tuned model maps to its base (its encoding, limit and price apply when it is
    fine-tuned further). `provider` is the provider's type (`azure` has its own prices and
    models). Unknown names raise `DataError` listing the known ones.
    """
    base = base_model_id(model.strip())
    if hf.is_hf(base):
        return hf_model(base)
    base = ALIASES.get(base, base)
    catalog = AZURE_MODELS if provider == "azure" else MODELS
    info = catalog.get(base)
    if info is None:
        known = ", ".join(sorted(catalog))
        where = " for Azure" if provider == "azure" else ""
        raise DataError(
            f"unknown model {model!r}: ftctl's catalog{where} knows {known}, and "
            "open-weights models as hf:<org>/<name>[@revision] or hf:<directory>"
        )
    return info


def accepts_parameter(model: str, parameter: str) -> bool:
    """Whether chat completions with `model` (a base, alias or fine-tuned id) take the
    sampling `parameter` (`temperature`, `seed`). Unknown models are assumed to take it."""
    try:
        return parameter in lookup_model(model).sampling
    except DataError:
        return True


def compatible_model(model: str) -> ModelInfo:
    """What ftctl assumes of a model the catalog does not know, served by an OpenAI-compatible
    endpoint other than OpenAI: o200k_base for estimates, a 65,536-token example limit, every
    method (the endpoint decides), and no price (its cost is unknown to ftctl)."""
    return ModelInfo(
        id=model,
        provider="compatible",
        encoding="o200k_base",
        max_tokens_per_example=65_536,
        training_price_per_1m=None,
        training_available_until=None,
        retires_on=None,
        methods=("supervised", "dpo", "reinforcement"),
    )


def hf_model(model: str, root: Path | None = None, *, read: bool = False) -> ModelInfo:
    """The catalog entry of an open-weights model (`hf:...`, trained by the local server).

    Without `read`, no file is touched (plan stays pure): a 4,096-token limit is assumed
    (and `model_dir` is None). With `read`, the model is located (`hf.locate`, raising
    `hf.ModelNotFound`) and its own config gives the context length and chat template.
    No per-token price (None: "price unknown", never $0.00); cost shows as tokens.
    """
    limit, directory, template = 4096, None, True
    if read:
        facts = hf.read_facts(hf.locate(model, root))
        limit, directory, template = (
            facts.context_length,
            str(facts.directory),
            facts.chat_template,
        )
    return ModelInfo(
        id=model.strip(),
        provider="local",
        encoding="o200k_base",
        max_tokens_per_example=limit,
        training_price_per_1m=None,
        training_available_until=None,
        retires_on=None,
        methods=hf.HF_METHODS,
        model_dir=directory,
        chat_template=template,
    )


def known_models() -> tuple[str, ...]:
    return tuple(sorted(MODELS))
