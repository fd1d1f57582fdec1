"""/v1/models: the trainers' base models and the fine-tuned models; delete a fine-tuned one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ftctl.server import schemas
from ftctl.server.errors import model_not_found
from ftctl.server.schemas import ApiError
from ftctl.server.state import ServerState

BASE_MODEL_CREATED = 1_735_689_600  # 2025-01-01: a fixed date, so listings are stable


def router(state: ServerState) -> APIRouter:
    store = state.store
    api = APIRouter(prefix="/v1/models", tags=["models"])

    @api.get("", response_model=schemas.ModelList, summary="List models")
    def list_models() -> dict[str, Any]:
        data = [base_model_api(name) for name in state.trainers.base_models()]
        data += [model.to_api() for model in store.list_models()]
        return {"object": "list", "data": data}

    @api.get("/{model}", response_model=schemas.ModelObject, summary="Retrieve a model")
    def retrieve_model(model: str) -> dict[str, Any]:
        if state.trainers.for_model(model) is not None:
            return base_model_api(model)
        record = store.get_model(model)
        if record is None:
            raise model_not_found(model)
        return record.to_api()

    @api.delete("/{model}", response_model=schemas.Deleted, summary="Delete a fine-tuned model")
    def delete_model(model: str) -> dict[str, Any]:
        if state.trainers.for_model(model) is not None:
            raise ApiError(
                403,
                f"You do not have permission to delete the base model '{model}'; only "
                "fine-tuned models can be deleted.",
                param="model",
                code="model_not_deletable",
            )
        if not store.delete_model(model):
            raise model_not_found(model)
        state.models.forget(model)
        return {"id": model, "object": "model", "deleted": True}

    return api


def base_model_api(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": BASE_MODEL_CREATED, "owned_by": "system"}
