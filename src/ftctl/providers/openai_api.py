"""The Provider implementation over the `openai` SDK (the only module importing it).

One class serves OpenAI, any compatible endpoint and ftctl's local server; only the
base URL and the key differ. Listings take the raw JSON of each page through the SDK
(`with_raw_response`: its retries, auth and query encoding, one HTTP request per page of
100) and read it straight into ftctl's frozen dataclasses: building the SDK's pydantic
objects for thousands of jobs cost more than the requests. Every HTTP request, retries
included, passes an event hook that counts it, so `request_count` is exact. SDK errors become `ProviderError`s here,
with the API key scrubbed from every message.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import secrets
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import openai
from openai.pagination import SyncCursorPage

from ftctl.config.models import is_openai_url
from ftctl.errors import (
    ProviderAPIError,
    ProviderError,
    ProviderUnreachableError,
    TrainingNotAvailableError,
)
from ftctl.providers.base import (
    JobEvent,
    JobRequest,
    RemoteCheckpoint,
    RemoteFile,
    RemoteJob,
    RemoteModel,
)

PAGE_SIZE = 100
# Job creation and uploads are not idempotent and the SDK sends no idempotency key: its
# blind retry of a POST whose answer was lost (a dropped connection, a timeout, a 5xx
# after the work was done) starts a second paid job. Those POSTs go out without SDK
# retries; after a failure that may have taken effect, ftctl looks for what the attempt
# made before sending it again. Each create carries a random id in its metadata for that.
META_REQUEST = "ftctl_request"
_METADATA_MAX_KEYS = 16  # OpenAI's limit; with no room left, a create is never retried
_RETRY_STATUSES = (408, 409, 429)  # and every 5xx, as the SDK does
_RETRY_INITIAL_S, _RETRY_MAX_S, _RETRY_AFTER_MAX_S = 0.5, 8.0, 60.0
_KEY_PATTERN = re.compile(r"\bsk-[A-Za-z0-9_\-*]{6,}")

TRAINING_NOT_AVAILABLE_HINT = (
    "OpenAI accepts no new fine-tuning jobs for this organisation (it stops accepting them "
    "for everyone on 2027-01-06). Models already trained keep serving. To train, point the "
    "project at another provider, e.g. ftctl's local provider (`type: local` in ftctl.yaml)."
)


def training_not_available_hint(base_url: str) -> str:
    """What a 403 `training_not_available` means, worded for the endpoint that sent it:
    OpenAI's cut-off dates only for OpenAI itself."""
    if is_openai_url(base_url):
        return TRAINING_NOT_AVAILABLE_HINT
    return (
        f"the endpoint {base_url} accepts no new fine-tuning jobs. Models already trained "
        "there keep serving. To train, point the project at a provider that accepts jobs "
        "(`providers` in ftctl.yaml)."
    )


class OpenAIProvider:
    """A `Provider` speaking the OpenAI fine-tuning HTTP API through the SDK."""

    # Whether the list-jobs endpoint filters by `metadata` server side (OpenAI does; an
    # endpoint that does not is listed in full and filtered here).
    filters_metadata = True

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
        client: Callable[[httpx2.Client], openai.OpenAI] | None = None,
        max_tokens_field: str = "max_completion_tokens",
    ) -> None:
        self.name = name
        # How chat requests bound the answer: OpenAI's `max_completion_tokens` (reasoning
        # models refuse `max_tokens`), or `max_tokens` for endpoints that know only that.
        self.max_tokens_field = max_tokens_field
        self.page_size = page_size
        self._api_key = api_key
        self._requests = 0
        self._max_retries = max_retries
        self._http = openai.DefaultHttpxClient(event_hooks={"request": [self._count]})
        if client is not None:
            # Another flavour of the API (Azure): its own URL and auth, the same counting.
            self._client = client(self._http)
        else:
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
        once = self._client.with_options(max_retries=0)
        with self._errors(f"upload {filename}"):
            for attempt in self._attempts():
                try:
                    created = once.files.create(file=(filename, content), purpose="fine-tune")
                    return _file(created)
                except (openai.APIConnectionError, openai.APIStatusError) as error:
                    self._before_retry(error, attempt)
                    if _may_have_taken_effect(error):
                        # ftctl names uploads by their content hash: same name and size
                        # is this content, uploaded by the attempt whose answer was lost.
                        made = [
                            f
                            for f in self.list_files()
                            if f.filename == filename and f.bytes == len(content)
                        ]
                        if made:
                            return max(made, key=lambda f: (f.created_at, f.id))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def list_files(self) -> list[RemoteFile]:
        with self._errors("list files"):
            items = _raw_pages(self._client.files.with_raw_response.list, limit=self.page_size)
            return [_file(f) for f in items]

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
        tag: str | None = None
        if len(request.metadata) < _METADATA_MAX_KEYS:
            tag = secrets.token_hex(12)
            arguments["metadata"][META_REQUEST] = tag
        if request.validation_file is not None:
            arguments["validation_file"] = request.validation_file
        if request.suffix is not None:
            arguments["suffix"] = request.suffix
        if request.seed is not None:
            arguments["seed"] = request.seed
        once = self._client.with_options(max_retries=0)
        with self._errors(f"create a fine-tuning job on {request.model}"):
            for attempt in self._attempts(retry=tag is not None):
                try:
                    return self._to_job(once.fine_tuning.jobs.create(**arguments))
                except (openai.APIConnectionError, openai.APIStatusError) as error:
                    self._before_retry(error, attempt)
                    if tag is not None and _may_have_taken_effect(error):
                        made = self._job_tagged(tag)
                        if made is not None:
                            return made
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _job_tagged(self, tag: str) -> RemoteJob | None:
        """The job an earlier attempt of this create made, if it got that far."""
        what = "find out whether the job was created before its answer was lost"
        # Page by page (newest first) until the page holding the tag, or the listing's end:
        # the filter narrows the listing where the endpoint has one, but the tag is checked
        # here either way (an endpoint may ignore the filter), so the job is found however
        # many jobs come before it.
        query: dict[str, Any] = {"metadata": {META_REQUEST: tag}} if self.filters_metadata else {}
        with self._errors(what):
            for item in _raw_pages(
                self._client.fine_tuning.jobs.with_raw_response.list,
                limit=self.page_size,
                **query,
            ):
                if (_plain(item).get("metadata") or {}).get(META_REQUEST) == tag:
                    return self._to_job(item)
        return None

    def _to_job(self, raw: Any) -> RemoteJob:
        """A job from its JSON or the SDK's object (a subclass maps its own statuses)."""
        return _job(raw)

    def _attempts(self, *, retry: bool = True) -> range:
        return range(self._max_retries + 1 if retry else 1)

    def _before_retry(self, error: openai.OpenAIError, attempt: int) -> None:
        """Re-raise `error` unless it is worth another attempt; else back off as the SDK does."""
        if attempt >= self._max_retries or not _retryable(error):
            raise error
        time.sleep(_retry_delay(error, attempt))

    def list_jobs(self, metadata: Mapping[str, str] | None = None) -> list[RemoteJob]:
        with self._errors("list fine-tuning jobs"):
            filters: dict[str, Any] = (
                {"metadata": dict(metadata)} if metadata and self.filters_metadata else {}
            )
            items = _raw_pages(
                self._client.fine_tuning.jobs.with_raw_response.list,
                limit=self.page_size,
                **filters,
            )
            jobs = [self._to_job(j) for j in items]
        if metadata:
            # The filter is the server's (when it has one); this guards against one that
            # ignores it, and is the filter for one that has none.
            jobs = [j for j in jobs if all(j.metadata.get(k) == v for k, v in metadata.items())]
        return jobs

    def retrieve_job(self, job_id: str) -> RemoteJob:
        with self._errors(f"retrieve job {job_id}"):
            return self._to_job(self._client.fine_tuning.jobs.retrieve(job_id))

    def cancel_job(self, job_id: str) -> RemoteJob:
        with self._errors(f"cancel job {job_id}"):
            return self._to_job(self._client.fine_tuning.jobs.cancel(job_id))

    def list_events(self, job_id: str, limit: int = 20) -> list[JobEvent]:
        # The newest `limit` events; more than a page (100) are fetched page by page.
        with self._errors(f"list events of job {job_id}"):
            page = self._client.fine_tuning.jobs.list_events(job_id, limit=min(limit, 100))
            items = list(itertools.islice(_walk(page), limit))
        return [
            JobEvent(
                id=e.id,
                created_at=e.created_at,
                level=e.level,
                message=e.message,
                type=e.type or "message",
                data=dict(e.data) if isinstance(e.data, Mapping) else {},
            )
            for e in items
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
            # Not paginated by the API: one page holds every model.
            models = list(_raw_pages(self._client.models.with_raw_response.list, cursor=False))
        return [
            RemoteModel(id=str(m["id"]), created=int(m["created"]), owned_by=str(m["owned_by"]))
            for m in models
        ]

    def delete_model(self, model_id: str) -> None:
        with self._errors(f"delete model {model_id}"):
            self._client.models.delete(model_id)

    def chat(
        self,
        model: str,
        messages: Sequence[Mapping[str, object]],
        max_tokens: int,
        temperature: float | None,
        seed: int | None,
    ) -> str:
        arguments: dict[str, Any] = {
            "model": model,
            "messages": [dict(m) for m in messages],
            self.max_tokens_field: max_tokens,
        }
        if temperature is not None:
            arguments["temperature"] = temperature
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
                    f"provider {self.name!r}: cannot {what}: "
                    f"{training_not_available_hint(str(self._client.base_url))} "
                    f"(HTTP 403 training_not_available: {message})"
                ) from None
            detail = f"HTTP {error.status_code}" + (f" {code}" if code else "")
            raise ProviderAPIError(
                f"provider {self.name!r}: cannot {what}: {detail}: {message}",
                status=error.status_code,
                code=code,
            ) from None
        except openai.APIConnectionError as error:  # timeouts too (APITimeoutError)
            raise ProviderUnreachableError(
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


def _raw_pages(
    list_page: Callable[..., Any], *, cursor: bool = True, **params: Any
) -> Iterator[dict[str, Any]]:
    """Every item (a JSON object) of every page a raw SDK listing returns.

    One request per page, the next one only when needed; the cursor rule is the SDK's
    (`SyncCursorPage`): stop when `has_more` is false, a page is empty, or its last item
    has no id.
    """
    after: str | None = None
    while True:
        response = list_page(**params) if after is None else list_page(after=after, **params)
        try:
            page = json.loads(response.content)
            items = page["data"]
        except (ValueError, KeyError, TypeError) as error:
            raise ProviderError(
                f"unexpected response from {response.http_request.url}: {error}"
            ) from None
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise ProviderError(f"unexpected response from {response.http_request.url}")
        yield from items
        if not cursor or not items or page.get("has_more") is False:
            return
        last = items[-1].get("id")
        if not isinstance(last, str):
            return
        after = last


def _retryable(error: openai.OpenAIError) -> bool:
    if isinstance(error, openai.APIConnectionError):  # timeouts included
        return True
    if not isinstance(error, openai.APIStatusError):
        return False
    should = error.response.headers.get("x-should-retry")
    if should in ("true", "false"):
        return should == "true"
    return error.status_code in _RETRY_STATUSES or error.status_code >= 500


def _may_have_taken_effect(error: openai.OpenAIError) -> bool:
    """A lost answer or a server error: the request may have been carried out."""
    if isinstance(error, openai.APIStatusError):
        return error.status_code >= 500
    return isinstance(error, openai.APIConnectionError)


def _retry_delay(error: openai.OpenAIError, attempt: int) -> float:
    """The server's `retry-after(-ms)` when sensible, else the SDK's jittered backoff."""
    if isinstance(error, openai.APIStatusError):
        headers = error.response.headers
        for header, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
            try:
                delay = float(headers.get(header, "")) / divisor
            except ValueError:
                continue
            if 0 < delay <= _RETRY_AFTER_MAX_S:
                return delay
    return min(_RETRY_INITIAL_S * 2.0**attempt, _RETRY_MAX_S) * (1 - 0.25 * random.random())


def _error_message(error: openai.APIStatusError) -> str:
    body = error.body
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping) and isinstance(inner.get("message"), str):
            return str(inner["message"])
    return error.message


def _plain(value: Any) -> dict[str, Any]:
    """A JSON object as a dict: SDK objects are dumped, raw JSON is taken as it is."""
    dump: Callable[[], dict[str, Any]] | None = getattr(value, "model_dump", None)
    if dump is not None:
        return dump()
    return dict(value) if isinstance(value, Mapping) else {}


def _file(raw: Any) -> RemoteFile:
    f = _plain(raw)
    return RemoteFile(
        id=str(f["id"]),
        filename=str(f.get("filename") or ""),
        bytes=int(f.get("bytes") or 0),
        purpose=str(f.get("purpose")),
        created_at=int(f["created_at"]),
    )


def _job(raw: Any) -> RemoteJob:
    """A job from its JSON (a listing) or the SDK's object (create, retrieve, cancel)."""
    j = _plain(raw)
    method_type = "supervised"
    hyper: dict[str, object] = {}
    method = _plain(j.get("method"))
    if method.get("type"):
        method_type = str(method["type"])
        settings = _plain(method.get(method_type))
        if settings.get("hyperparameters") is not None:
            hyper = _without_nulls(_plain(settings["hyperparameters"]))
    if not hyper and j.get("hyperparameters") is not None:
        hyper = _without_nulls(_plain(j["hyperparameters"]))
    error = None
    failure = _plain(j.get("error"))
    code, message = failure.get("code"), failure.get("message")
    if code or message:
        error = f"{code}: {message}" if code else str(message)
    finished = j.get("finished_at")
    return RemoteJob(
        id=str(j["id"]),
        status=str(j["status"]),
        model=str(j["model"]),
        fine_tuned_model=j.get("fine_tuned_model"),
        training_file=str(j["training_file"]),
        validation_file=j.get("validation_file"),
        # The request tag is the provider's own bookkeeping: callers see their metadata.
        metadata={
            str(k): str(v) for k, v in (j.get("metadata") or {}).items() if k != META_REQUEST
        },
        created_at=int(j["created_at"]),
        finished_at=int(finished) if finished is not None else None,
        trained_tokens=j.get("trained_tokens"),
        error=error,
        hyperparameters=hyper,
        method=method_type,
        seed=j.get("seed"),
    )


def _without_nulls(data: Mapping[str, Any]) -> dict[str, object]:
    return {k: v for k, v in data.items() if v is not None}
