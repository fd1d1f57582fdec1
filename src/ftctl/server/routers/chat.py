"""/v1/chat/completions: generation with a base, fine-tuned or checkpoint model."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter

from ftctl import __version__
from ftctl.server import ids, schemas
from ftctl.server.errors import model_not_found
from ftctl.server.schemas import ApiError, ChatCompletionRequest
from ftctl.server.state import ServerState
from ftctl.server.trainers.base import ChatModel

DEFAULT_MAX_TOKENS = 256
MAX_STOP_SEQUENCES = 4


def router(state: ServerState) -> APIRouter:
    api = APIRouter(prefix="/v1/chat", tags=["chat"])

    @api.post(
        "/completions",
        response_model=schemas.ChatCompletionObject,
        summary="Create a chat completion",
    )
    def chat_completion(body: ChatCompletionRequest) -> dict[str, Any]:
        return _complete(state, body)

    return api


def _complete(state: ServerState, body: ChatCompletionRequest) -> dict[str, Any]:
    if body.stream:
        raise ApiError(
            400,
            "Streaming is not supported by the local server; send stream=false.",
            param="stream",
            code="unsupported_parameter",
        )
    if body.n not in (None, 1):
        raise ApiError(
            400, "The local server supports only n=1.", param="n", code="unsupported_parameter"
        )
    stop = [body.stop] if isinstance(body.stop, str) else body.stop
    if stop is not None and len(stop) > MAX_STOP_SEQUENCES:
        raise ApiError(
            400, f"Invalid 'stop': at most {MAX_STOP_SEQUENCES} sequences.", param="stop"
        )
    model = _chat_model(state, body.model)
    max_tokens = body.max_completion_tokens or body.max_tokens or DEFAULT_MAX_TOKENS
    temperature = 1.0 if body.temperature is None else body.temperature
    messages = [message.model_dump(exclude_none=True) for message in body.messages]
    # numpy's generator takes only non-negative seeds; OpenAI's seed is any int64.
    seed = None if body.seed is None else body.seed % 2**64
    generation = model.generate(
        messages,
        max_tokens=max_tokens,
        temperature=temperature,
        seed=seed,
        stop=stop,
        top_p=body.top_p,
    )
    return {
        "id": ids.completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": generation.text,
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": generation.finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": generation.prompt_tokens,
            "completion_tokens": generation.completion_tokens,
            "total_tokens": generation.prompt_tokens + generation.completion_tokens,
        },
        "system_fingerprint": f"fp_ftctl_{__version__}",
        "service_tier": None,
    }


def _chat_model(state: ServerState, model: str) -> ChatModel:
    """A base model, a (not deleted) fine-tuned model or one of its checkpoints, loaded by
    the trainer of its base model."""
    trainer = state.trainers.for_model(model)
    if trainer is not None:
        base_trainer = trainer
        return state.models.get(model, lambda: base_trainer.load(model, None))
    store = state.store
    base: str | None = None
    path: str | None = None
    record = store.get_model(model)
    if record is not None:
        base, path = record.base_model, record.weights_path
    else:
        checkpoint = store.checkpoint_by_model(model)
        job = store.get_job(checkpoint.job_id) if checkpoint is not None else None
        if checkpoint is not None and job is not None:
            base, path = job.base_model, checkpoint.weights_path
    trainer = state.trainers.for_model(base) if base is not None else None
    if trainer is None or base is None or path is None:
        raise model_not_found(model)
    found_trainer, found_base, weights = trainer, base, Path(path)
    return state.models.get(model, lambda: found_trainer.load(found_base, weights))
