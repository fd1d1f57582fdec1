"""/v1/fine_tuning/checkpoints/{fine_tuned_model_checkpoint}/permissions: share a fine-tuned
model or checkpoint with other projects (list, create, delete), as OpenAI's API does.

The local server has no projects: permissions are recorded and listed, nothing else."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from ftctl.server import schemas
from ftctl.server.errors import not_found
from ftctl.server.schemas import ApiError, PermissionCreateRequest
from ftctl.server.state import ServerState
from ftctl.server.store import Page, Store

MAX_PAGE = 100
Limit = Annotated[
    int, Query(ge=1, description=f"Page size; values above {MAX_PAGE} are treated as {MAX_PAGE}.")
]


def router(state: ServerState) -> APIRouter:
    store = state.store
    api = APIRouter(
        prefix="/v1/fine_tuning/checkpoints/{fine_tuned_model_checkpoint}/permissions",
        tags=["fine_tuning"],
    )

    @api.post("", response_model=schemas.PermissionList, summary="Create checkpoint permissions")
    def create_permissions(
        fine_tuned_model_checkpoint: str, body: PermissionCreateRequest
    ) -> dict[str, Any]:
        _check_checkpoint(store, fine_tuned_model_checkpoint)
        if any(not project.strip() for project in body.project_ids):
            raise ApiError(400, "Invalid 'project_ids': empty project id.", param="project_ids")
        made = store.add_permissions(fine_tuned_model_checkpoint, body.project_ids)
        return Page(made, has_more=False).to_api()

    @api.get("", response_model=schemas.PermissionList, summary="List checkpoint permissions")
    def list_permissions(
        fine_tuned_model_checkpoint: str,
        project_id: str | None = None,
        after: str | None = None,
        limit: Limit = 10,
        order: Literal["ascending", "descending"] = "descending",
    ) -> dict[str, Any]:
        _check_checkpoint(store, fine_tuned_model_checkpoint)
        page = store.list_permissions(
            fine_tuned_model_checkpoint,
            project_id=project_id,
            after=after,
            limit=min(limit, MAX_PAGE),
            descending=order == "descending",
        )
        return page.to_api()

    @api.delete(
        "/{permission_id}",
        response_model=schemas.Deleted,
        summary="Delete a checkpoint permission",
    )
    def delete_permission(fine_tuned_model_checkpoint: str, permission_id: str) -> dict[str, Any]:
        _check_checkpoint(store, fine_tuned_model_checkpoint)
        if not store.delete_permission(fine_tuned_model_checkpoint, permission_id):
            raise not_found("checkpoint permission", permission_id, "permission_id")
        return {"id": permission_id, "object": "checkpoint.permission", "deleted": True}

    return api


def _check_checkpoint(store: Store, name: str) -> None:
    """A fine-tuned model (not deleted) or one of its checkpoints, by model name."""
    if store.get_model(name) is None and store.checkpoint_by_model(name) is None:
        raise not_found("fine-tuned model checkpoint", name, "fine_tuned_model_checkpoint")
