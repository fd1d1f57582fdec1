"""The Provider implementation over the `openai` SDK (the only module importing it).

One class serves OpenAI, any compatible endpoint and ftctl's local server; only the
base URL and the key differ. Listings walk the SDK's page objects (one HTTP request per
page, 100 items per page). Every HTTP request, retries included, passes an event hook
that counts it, so `request_count` is exact. SDK errors become `ProviderError`s here,
with the API key scrubbed from every message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import openai
from openai.pagination import SyncCursorPage

from ftctl.errors import ProviderAPIError, ProviderError, TrainingNotAvailableError
from ftctl.providers.base import (
    JobEvent,
    JobRequest,
    RemoteCheckpoint,
    RemoteFile,
    RemoteJob,
    RemoteModel,
)

PAGE_SIZE = 100
_KEY_PATTERN = re.compile(r"\bsk-[A-Za-z0-9_\-*]{6,}")

TRAINING_NOT_AVAILABLE_HINT = (
    "OpenAI accepts no new fine-tuning jobs for this organisation (it stops accepting them "
    "for everyone on 2027-01-06). Models already trained keep serving. To train, point the "
    "project at another provider, e.g. ftctl's local provider (`type: local` in ftctl.yaml)."
)


class OpenAIProvider:
    """A `Provider` speaking the OpenAI fine-tuning HTTP API through the SDK."""

    def __init__(
        self,
        name: str,
        *,
        api_key: str,
        base_url: str | None = None,
        organization: str | None = None,
        project: str | None = None,
        max_retries: int = 2,
        timeout: float = 60.0,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.name = name
        self.page_size = page_size
        self._api_key = api_key
        self._requests = 0
        self._http = openai.DefaultHttpxClient(event_hooks={"request": [self._count]})
        self._client = openai.OpenAI(
            api_key=api_key,
            base_url=base_url,
            organization=organization,
            project=project,
            max_retries=max_retries,
            timeout=timeout,
            http_client=self._http,
        )

    def _count(self, _request: httpx2.Request) -> None:
        self._requests += 1

    @property
    def request_count(self) -> int:
        return self._requests

    def close(self) -> None:
        """Close the HTTP connections (the provider is unusable afterwards)."""
        self._client.close()

    def __repr__(self) -> str:  # never show the key
        return f"OpenAIProvider(name={self.name!r}, base_url={str(self._client.base_url)!r})"

    # ---- files

    def upload_file(self, path: Path, filename: str) -> RemoteFile:
        try:
            # Bytes, not a stream: a retried upload must send the whole file again.
            content = path.read_bytes()
        except OSError as error:
            raise ProviderError(f"cannot read {path} to upload it: {error.strerror}") from error
        with self._errors(f"upload {filename}"):
            created = self._client.files.create(file=(filename, content), purpose="fine-tune")
        return _file(created)

    def list_files(self) -> list[RemoteFile]:
        with self._errors("list files"):
            first = self._client.files.list(limit=self.page_size)
            return [_file(f) for f in _walk(first)]

    def download_file(self, file_id: str) -> bytes:
        with self._errors(f"download file {file_id}"):
            return self._client.files.content(file_id).content

    # ---- jobs

    def create_job(self, request: JobRequest) -> RemoteJob:
        method: dict[str, Any] = {"type": request.method}
        settings: dict[str, Any] = {}
        if request.hyperparameters:
            settings["hyperparameters"] = dict(request.hyperparameters)
        if request.method == "reinforcement" and request.grader is not None:
            settings["grader"] = dict(request.grader)
        if settings:
            method[request.method] = settings
        arguments: dict[str, Any] = {
            "model": request.model,
            "training_file": request.training_file,
            "method": method,
            "metadata": dict(request.metadata),
        }
        if request.validation_file is not None:
            arguments["validation_file"] = request.validation_file
        if request.suffix is not None:
            arguments["suffix"] = request.suffix
        if request.seed is not None:
            arguments["seed"] = request.seed
        with self._errors(f"create a fine-tuning job on {request.model}"):
            return _job(self._client.fine_tuning.jobs.create(**arguments))

    def list_jobs(self, metadata: Mapping[str, str] | None = None) -> list[RemoteJob]:
        with self._errors("list fine-tuning jobs"):
            if metadata:
                first = self._client.fine_tuning.jobs.list(
                    limit=self.page_size, metadata=dict(metadata)
                )
            else:
                first = self._client.fine_tuning.jobs.list(limit=self.page_size)
            jobs = [_job(j) for j in _walk(first)]
        if metadata:
            # The filter is the server's; this guards against one that ignores it.
            jobs = [j for j in jobs if all(j.metadata.get(k) == v for k, v in metadata.items())]
        return jobs

    def retrieve_job(self, job_id: str) -> RemoteJob:
        with self._errors(f"retrieve job {job_id}"):
            return _job(self._client.fine_tuning.jobs.retrieve(job_id))

    def cancel_job(self, job_id: str) -> RemoteJob:
        with self._errors(f"cancel job {job_id}"):
            return _job(self._client.fine_tuning.jobs.cancel(job_id))

    def list_events(self, job_id: str, limit: int = 20) -> list[JobEvent]:
        with self._errors(f"list events of job {job_id}"):
            page = self._client.fine_tuning.jobs.list_events(job_id, limit=limit)
        return [
            JobEvent(
                id=e.id,
                created_at=e.created_at,
                level=e.level,
                message=e.message,
                type=e.type or "message",
                data=dict(e.data) if isinstance(e.data, Mapping) else {},
            )
            for e in page.data
        ]

    def list_checkpoints(self, job_id: str) -> list[RemoteCheckpoint]:
        with self._errors(f"list checkpoints of job {job_id}"):
            first = self._client.fine_tuning.jobs.checkpoints.list(job_id, limit=self.page_size)
            checkpoints = list(_walk(first))
        return [
            RemoteCheckpoint(
                id=c.id,
                step=c.step_number,
                metrics={
                    k: float(v)
                    for k, v in c.metrics.model_dump().items()
                    if v is not None and k != "step"
                },
                fine_tuned_model_checkpoint=c.fine_tuned_model_checkpoint,
            )
            for c in checkpoints
        ]

    # ---- models

    def list_models(self) -> list[RemoteModel]:
        with self._errors("list models"):
            page = self._client.models.list()
            models = list(_walk(page))
        return [RemoteModel(id=m.id, created=m.created, owned_by=m.owned_by) for m in models]

    def delete_model(self, model_id: str) -> None:
        with self._errors(f"delete model {model_id}"):
            self._client.models.delete(model_id)

    def chat(
        self,
        model: str,
        messages: Sequence[Mapping[str, object]],
        max_tokens: int,
        temperature: float,
        seed: int | None,
    ) -> str:
        arguments: dict[str, Any] = {
            "model": model,
            "messages": [dict(m) for m in messages],
            "max_completion_tokens": max_tokens,
            "temperature": temperature,
        }
        if seed is not None:
            arguments["seed"] = seed
        with self._errors(f"chat with {model}"):
            completion = self._client.chat.completions.create(**arguments)
        if not completion.choices:
            return ""
        return completion.choices[0].message.content or ""

    # ---- errors

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Turn SDK errors into ftctl's, naming the provider and the call."""
        try:
            yield
        except openai.APIStatusError as error:
            code = error.code
            message = self._scrub(_error_message(error))
            if isinstance(error, openai.PermissionDeniedError) and (
                code == "training_not_available"
            ):
                raise TrainingNotAvailableError(
                    f"provider {self.name!r}: cannot {what}: {TRAINING_NOT_AVAILABLE_HINT} "
                    f"(HTTP 403 training_not_available: {message})"
                ) from None
            detail = f"HTTP {error.status_code}" + (f" {code}" if code else "")
            raise ProviderAPIError(
                f"provider {self.name!r}: cannot {what}: {detail}: {message}",
                status=error.status_code,
                code=code,
            ) from None
        except openai.APIConnectionError as error:
            raise ProviderError(
                f"provider {self.name!r}: cannot {what}: cannot reach "
                f"{self._client.base_url}: {self._scrub(str(error))}"
            ) from None
        except openai.OpenAIError as error:
            raise ProviderError(
                f"provider {self.name!r}: cannot {what}: {self._scrub(str(error))}"
            ) from None

    def _scrub(self, text: str) -> str:
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return _KEY_PATTERN.sub("sk-***", text)


def _walk(first: Any) -> Iterator[Any]:
    """Every item of every page, fetching the next page only when needed (one request each)."""
    page = first
    while True:
        yield from page.data
        if not isinstance(page, SyncCursorPage) or not page.has_next_page():
            return
        page = page.get_next_page()


def _error_message(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping) and isinstance(inner.get("message"), str):
            return str(inner["message"])
    return error.message


def _file(f: Any) -> RemoteFile:
    return RemoteFile(
        id=f.id,
        filename=f.filename,
        bytes=int(f.bytes or 0),
        purpose=str(f.purpose),
        created_at=int(f.created_at),
    )


def _job(j: Any) -> RemoteJob:
    method_type = "supervised"
    hyper: dict[str, object] = {}
    method = getattr(j, "method", None)
    if method is not None and method.type:
        method_type = str(method.type)
        settings = getattr(method, method_type, None)
        if settings is not None and getattr(settings, "hyperparameters", None) is not None:
            hyper = _plain_dict(settings.hyperparameters)
    if not hyper and getattr(j, "hyperparameters", None) is not None:
        hyper = _plain_dict(j.hyperparameters)
    error = None
    if j.error is not None and (j.error.code or j.error.message):
        error = f"{j.error.code}: {j.error.message}" if j.error.code else str(j.error.message)
    return RemoteJob(
        id=j.id,
        status=str(j.status),
        model=j.model,
        fine_tuned_model=j.fine_tuned_model,
        training_file=j.training_file,
        validation_file=j.validation_file,
        metadata=dict(j.metadata or {}),
        created_at=int(j.created_at),
        finished_at=int(j.finished_at) if j.finished_at is not None else None,
        trained_tokens=j.trained_tokens,
        error=error,
        hyperparameters=hyper,
        method=method_type,
        seed=j.seed,
    )


def _plain_dict(model: Any) -> dict[str, object]:
    dump: Callable[[], dict[str, object]] | None = getattr(model, "model_dump", None)
    data = dump() if dump is not None else dict(model)
    return {k: v for k, v in data.items() if v is not None}
