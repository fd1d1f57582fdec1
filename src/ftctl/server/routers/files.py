"""/v1/files: upload, list, retrieve, download and delete files."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import Response

from ftctl.server import ids, schemas
from ftctl.server.errors import not_found
from ftctl.server.jsonl import parse_jsonl
from ftctl.server.schemas import ApiError
from ftctl.server.state import ServerState
from ftctl.server.store import FileRecord, Store

UPLOAD_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
# OpenAI's `expires_after`: an anchor (only "created_at") and 1 hour to 30 days.
EXPIRES_ANCHORS = ("created_at",)
EXPIRES_MIN_SECONDS = 3_600
EXPIRES_MAX_SECONDS = 2_592_000


def router(state: ServerState) -> APIRouter:
    store = state.store
    api = APIRouter(prefix="/v1/files", tags=["files"])

    @api.post("", response_model=schemas.FileObject, summary="Upload a file")
    async def upload_file(
        file: Annotated[UploadFile, File(description="The file (JSONL for fine-tune)")],
        # Checked below (for OpenAI's message); the document lists the values.
        purpose: Annotated[
            str,
            Form(description="fine-tune, batch, ...", json_schema_extra={"enum": UPLOAD_PURPOSES}),
        ],
        # Sent by the SDK as two form fields; checked below (for OpenAI's messages).
        expires_anchor: Annotated[
            str | None,
            Form(
                alias="expires_after[anchor]",
                description="What the expiry counts from: created_at.",
                json_schema_extra={"anyOf": [{"type": "string", "enum": EXPIRES_ANCHORS}]},
            ),
        ] = None,
        expires_seconds: Annotated[
            str | None,
            Form(
                alias="expires_after[seconds]",
                description="Seconds after the anchor when the file is deleted (1 hour to 30 days).",
                json_schema_extra={
                    "anyOf": [
                        {
                            "type": "integer",
                            "minimum": EXPIRES_MIN_SECONDS,
                            "maximum": EXPIRES_MAX_SECONDS,
                        }
                    ]
                },
            ),
        ] = None,
    ) -> dict[str, Any]:
        content = await file.read()
        if purpose not in UPLOAD_PURPOSES:
            raise ApiError(
                400,
                f"'{purpose}' is not one of {list(UPLOAD_PURPOSES)} - 'purpose'",
                param="purpose",
            )
        lifetime = _expires_after(expires_anchor, expires_seconds)
        filename = file.filename or "upload"
        if purpose == "fine-tune":
            _check_fine_tune_upload(content)
        created_at = store.now()
        record = FileRecord(
            id=ids.file_id(),
            filename=filename,
            purpose=purpose,
            bytes=len(content),
            created_at=created_at,
            expires_at=None if lifetime is None else created_at + lifetime,
        )
        store.add_file(record, content)
        return record.to_api()

    @api.get("", response_model=schemas.FileList, summary="List files")
    def list_files(
        purpose: str | None = None,
        after: str | None = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 10_000,
        order: Literal["asc", "desc"] = "desc",
    ) -> dict[str, Any]:
        return store.list_files(purpose=purpose, after=after, limit=limit, order=order).to_api()

    @api.get("/{file_id}", response_model=schemas.FileObject, summary="Retrieve a file object")
    def retrieve_file(file_id: str) -> dict[str, Any]:
        return _file(store, file_id).to_api()

    @api.get(
        "/{file_id}/content",
        summary="Download a file's bytes",
        # The bytes as uploaded, not JSON: say so in the document.
        response_class=Response,
        responses={
            200: {
                "description": "The file's content",
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                },
            }
        },
    )
    def file_content(file_id: str) -> Response:
        content = store.read_file(file_id)
        if content is None:
            raise not_found("File", file_id, "file_id")
        return Response(content, media_type="application/octet-stream")

    @api.delete("/{file_id}", response_model=schemas.Deleted, summary="Delete a file")
    def delete_file(file_id: str) -> dict[str, Any]:
        if not store.delete_file(file_id):
            raise not_found("File", file_id, "file_id")
        return {"id": file_id, "object": "file", "deleted": True}

    return api


def _expires_after(anchor: str | None, seconds: str | None) -> int | None:
    """The lifetime in seconds `expires_after` asks for (None: the file never expires)."""
    if anchor is None and seconds is None:
        return None
    if anchor is None:
        raise ApiError(
            400, "Missing required parameter: 'expires_after.anchor'.", param="expires_after.anchor"
        )
    if seconds is None:
        raise ApiError(
            400,
            "Missing required parameter: 'expires_after.seconds'.",
            param="expires_after.seconds",
        )
    if anchor not in EXPIRES_ANCHORS:
        raise ApiError(
            400,
            f"Invalid 'expires_after.anchor': expected one of {list(EXPIRES_ANCHORS)}, "
            f"but got '{anchor}' instead.",
            param="expires_after.anchor",
            code="invalid_value",
        )
    text = seconds.strip()
    value = int(text) if text.isascii() and text.isdigit() and len(text) <= 12 else None
    if value is None or not EXPIRES_MIN_SECONDS <= value <= EXPIRES_MAX_SECONDS:
        raise ApiError(
            400,
            f"Invalid 'expires_after.seconds': expected an integer from {EXPIRES_MIN_SECONDS} "
            f"(1 hour) to {EXPIRES_MAX_SECONDS} (30 days), but got '{seconds}' instead.",
            param="expires_after.seconds",
            code="invalid_value",
        )
    return value


def _check_fine_tune_upload(content: bytes) -> None:
    """OpenAI rejects a fine-tune upload that is not JSONL at once (400)."""
    try:
        rows = parse_jsonl(content)
    except ValueError as error:
        raise ApiError(
            400,
            f"Invalid file format for Fine-Tuning API. Must be .jsonl: {error}.",
            param="file",
            code="invalid_file_format",
        ) from error
    if not rows:
        raise ApiError(
            400,
            "Invalid file format for Fine-Tuning API: the file is empty.",
            param="file",
            code="invalid_file_format",
        )


def _file(store: Store, file_id: str) -> FileRecord:
    record = store.get_file(file_id)
    if record is None:
        raise not_found("File", file_id, "file_id")
    return record
