"""Request models and the error type of the local server's OpenAI-compatible API.

The request models give the OpenAPI document its shapes and reject malformed bodies
with a 400 naming the offending parameter, as OpenAI does. Responses are plain dicts
built by the store's records (their shapes follow the openai SDK's types).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

METADATA_MAX_KEYS = 16
METADATA_MAX_KEY_LENGTH = 64
METADATA_MAX_VALUE_LENGTH = 512
SUFFIX_MAX_LENGTH = 64
_SUFFIX_CHARACTERS = re.compile(r"[A-Za-z0-9._-]*")


class ApiError(Exception):
    """An error answered with OpenAI's body: `{"error": {message, type, param, code}}`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        return error_body(self.message, type=self.type, param=self.param, code=self.code)


def error_body(
    message: str,
    *,
    type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


class _Request(BaseModel):
    # OpenAI rejects parameters it does not know ("Unrecognized request argument"), and
    # values of the wrong JSON type: strict, so `false` is not taken for 0 nor "3" for 3.
    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _text_is_unicode(cls, data: Any) -> Any:
        # JSON can escape an unpaired surrogate ("\ud800"): not text that can be encoded,
        # stored or generated from, so refuse it here rather than fail deep inside.
        where = unpaired_surrogate(data)
        if where is not None:
            raise PydanticCustomError(
                "invalid_unicode",
                "'{where}' is not valid Unicode text (it has an unpaired surrogate)",
                {"where": where.encode("utf-8", "backslashreplace").decode()},
            )
        return data


def unpaired_surrogate(value: Any, path: str = "") -> str | None:
    """The path of the first string (or key) in `value` that is not encodable as UTF-8."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path or "body"
        return None
    items: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    for key, item in items:
        where = f"{path}.{key}" if path else str(key)
        found = unpaired_surrogate(key, where) or unpaired_surrogate(item, where)
        if found is not None:
            return found
    return None


Auto = Literal["auto"]
SEED_MAX = 2_147_483_647
EPOCHS = (1, 50)
BATCH_SIZE = (1, 256)
_AUTO_SCHEMA = {"type": "string", "enum": ["auto"]}
_NULL_SCHEMA = {"type": "null"}


def _auto_or(schema: dict[str, Any]) -> dict[str, Any]:
    """The document's schema of an "auto"-or-value hyperparameter: the limits the server
    enforces at run time (in `requested_method`), so that fuzzers test them."""
    return {"anyOf": [_AUTO_SCHEMA, schema, _NULL_SCHEMA]}


def _integer_range(low: int, high: int) -> dict[str, Any]:
    # JSON Schema's integer includes 1.0: integral numbers are accepted, as by OpenAI.
    return _auto_or({"type": "integer", "minimum": low, "maximum": high})


_POSITIVE = _auto_or({"type": "number", "exclusiveMinimum": 0})


class SupervisedHyperparameters(_Request):
    # `float` too: 1.0 is an integer in JSON; `requested_method` refuses 1.5.
    n_epochs: Auto | int | float | None = Field(
        default=None,
        description="Epochs, 1-50, or auto.",
        json_schema_extra=_integer_range(*EPOCHS),
    )
    batch_size: Auto | int | float | None = Field(
        default=None,
        description="Batch size, 1-256, or auto.",
        json_schema_extra=_integer_range(*BATCH_SIZE),
    )
    learning_rate_multiplier: Auto | float | None = Field(
        default=None,
        description="Learning rate multiplier, > 0, or auto.",
        json_schema_extra=_POSITIVE,
    )
    # ftctl's extension for open-weights (hf:) base models; other trainers ignore them.
    adapter: Literal["lora", "full"] | None = Field(
        default=None, description="hf: models: lora (default) or full fine-tuning."
    )
    lora_rank: int | None = Field(default=None, ge=1, description="hf: models: LoRA rank.")
    lora_alpha: float | None = Field(default=None, gt=0, description="hf: models: LoRA alpha.")
    lora_dropout: float | None = Field(
        default=None, ge=0, lt=1, description="hf: models: LoRA dropout."
    )
    lora_target_modules: list[str] | Literal["all-linear"] | None = Field(
        default=None, description="hf: models: modules LoRA adapts."
    )
    gradient_checkpointing: bool | None = Field(
        default=None, description="hf: models: recompute activations to save memory."
    )

    @field_validator("n_epochs", "batch_size")
    @classmethod
    def _integral(cls, value: Any) -> Any:
        """1.0 is 1 (JSON does not tell them apart); 1.5 is refused like any non-integer."""
        if isinstance(value, float):
            if not value.is_integer():
                raise PydanticCustomError(
                    "int_from_float",
                    "Input should be a valid integer, got a number with a fractional part",
                )
            return int(value)
        return value


class DpoHyperparameters(SupervisedHyperparameters):
    beta: Auto | float | None = Field(
        default=None, description="DPO beta, > 0, or auto.", json_schema_extra=_POSITIVE
    )


class SupervisedMethod(_Request):
    hyperparameters: SupervisedHyperparameters | None = None


class DpoMethod(_Request):
    hyperparameters: DpoHyperparameters | None = None


class Method(_Request):
    type: Literal["supervised", "dpo", "reinforcement"]
    supervised: SupervisedMethod | None = None
    dpo: DpoMethod | None = None
    reinforcement: dict[str, Any] | None = None


class JobCreateRequest(_Request):
    """POST /v1/fine_tuning/jobs"""

    model: str = Field(
        description="Base model (e.g. local-tiny) or a fine-tuned model to continue."
    )
    training_file: str = Field(description="Id of an uploaded file with purpose fine-tune.")
    validation_file: str | None = None
    hyperparameters: SupervisedHyperparameters | None = Field(
        default=None, description="Deprecated: use method.supervised.hyperparameters."
    )
    method: Method | None = None
    suffix: str | None = Field(
        default=None,
        description="Up to 64 characters, part of the model name.",
        json_schema_extra={"maxLength": SUFFIX_MAX_LENGTH, "pattern": "^[A-Za-z0-9._-]*$"},
    )
    seed: int | None = Field(
        default=None,
        description="Random if absent; recorded on the job.",
        json_schema_extra={"minimum": 0, "maximum": SEED_MAX},
    )
    metadata: dict[str, str] | None = Field(
        default=None,
        description="Up to 16 pairs; keys <= 64 chars, values <= 512 chars.",
        json_schema_extra={
            "maxProperties": METADATA_MAX_KEYS,
            "propertyNames": {"maxLength": METADATA_MAX_KEY_LENGTH},
            "additionalProperties": {"type": "string", "maxLength": METADATA_MAX_VALUE_LENGTH},
        },
    )
    integrations: list[dict[str, Any]] | None = None


class PermissionCreateRequest(_Request):
    """POST /v1/fine_tuning/checkpoints/{fine_tuned_model_checkpoint}/permissions"""

    project_ids: list[str] = Field(min_length=1, description="The projects to grant access to.")


class ChatMessage(BaseModel):
    # Clients send assorted optional fields (name, tool_calls, refusal...); keep them.
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionRequest(_Request):
    """POST /v1/chat/completions (non-streaming)."""

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    n: int | None = Field(default=None, ge=1)
    stream: bool | None = None
    stop: str | list[str] | None = None
    # Any int64, as OpenAI takes (negative ones too; the sampler is given it modulo 2**64).
    seed: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)
    user: str | None = None
    store: bool | None = None
    metadata: dict[str, str] | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None


def check_metadata(metadata: dict[str, str] | None) -> None:
    """OpenAI's limits: at most 16 pairs, keys <= 64 characters, values <= 512."""
    if metadata is None:
        return
    if len(metadata) > METADATA_MAX_KEYS:
        raise ApiError(
            400,
            f"Invalid 'metadata': too many properties. Expected an object with at most "
            f"{METADATA_MAX_KEYS} properties, but got an object with {len(metadata)} properties instead.",
            param="metadata",
            code="object_above_max_properties",
        )
    for key, value in metadata.items():
        if len(key) > METADATA_MAX_KEY_LENGTH:
            raise ApiError(
                400,
                f"Invalid 'metadata': string too long. Expected a key with maximum length "
                f"{METADATA_MAX_KEY_LENGTH}, but got a key with length {len(key)} instead.",
                param="metadata",
                code="string_above_max_length",
            )
        if len(value) > METADATA_MAX_VALUE_LENGTH:
            raise ApiError(
                400,
                f"Invalid 'metadata.{key}': string too long. Expected a string with maximum "
                f"length {METADATA_MAX_VALUE_LENGTH}, but got a string with length {len(value)} instead.",
                param=f"metadata.{key}",
                code="string_above_max_length",
            )


def check_suffix(suffix: str | None) -> None:
    """At most 64 characters that are safe inside a model id (a URL path segment with `:`
    separated fields)."""
    if suffix is None:
        return
    if not _SUFFIX_CHARACTERS.fullmatch(suffix):
        raise ApiError(
            400,
            "Invalid 'suffix': use only letters, digits, '-', '_' and '.'.",
            param="suffix",
            code="invalid_value",
        )
    if len(suffix) > SUFFIX_MAX_LENGTH:
        raise ApiError(
            400,
            f"Invalid 'suffix': string too long. Expected a string with maximum length "
            f"{SUFFIX_MAX_LENGTH}, but got a string with length {len(suffix)} instead.",
            param="suffix",
            code="string_above_max_length",
        )


@dataclass(frozen=True)
class RequestedMethod:
    """A job's training method as requested: its type, its hyperparameters ("auto" for each
    one not given) and the rest of its method section (e.g. a reinforcement `grader`)."""

    type: Literal["supervised", "dpo", "reinforcement"]
    hyperparameters: dict[str, Any]
    config: dict[str, Any]

    def record(self) -> dict[str, Any]:
        """The job's `method` as OpenAI shows it."""
        return {
            "type": self.type,
            self.type: {**self.config, "hyperparameters": dict(self.hyperparameters)},
        }


def requested_method(body: JobCreateRequest) -> RequestedMethod:
    """The method from `method` or the legacy top-level `hyperparameters`, checked against
    OpenAI's ranges (whether the model's trainer has the method is checked by the caller)."""
    legacy = body.hyperparameters
    method = body.method
    config: dict[str, Any] = {}
    if method is None:
        requested: dict[str, Any] = legacy.model_dump() if legacy else {}
        method_type: Literal["supervised", "dpo", "reinforcement"] = "supervised"
    else:
        if legacy is not None:
            raise ApiError(
                400,
                f"Give hyperparameters in method.{method.type}.hyperparameters, not also in "
                "the deprecated top-level 'hyperparameters'.",
                param="hyperparameters",
            )
        method_type = method.type
        if method_type == "reinforcement":
            section = dict(method.reinforcement or {})
            given = section.pop("hyperparameters", None)
            requested = dict(given) if isinstance(given, dict) else {}
            config = section
        else:
            typed = method.supervised if method_type == "supervised" else method.dpo
            hyper = typed.hyperparameters if typed else None
            requested = hyper.model_dump() if hyper else {}
    prefix = "hyperparameters" if method is None else f"method.{method_type}.hyperparameters"
    for name, (low, high) in (("n_epochs", EPOCHS), ("batch_size", BATCH_SIZE)):
        if name in requested:
            requested[name] = _integer(requested[name], low, high, f"{prefix}.{name}")
    for name in ("learning_rate_multiplier", "beta"):
        _check_positive(requested.get(name), f"{prefix}.{name}")
    hyperparameters: dict[str, Any] = {
        "n_epochs": "auto",
        "batch_size": "auto",
        "learning_rate_multiplier": "auto",
    }
    hyperparameters.update({name: value for name, value in requested.items() if value is not None})
    if method_type == "dpo":
        hyperparameters.setdefault("beta", "auto")
    return RequestedMethod(method_type, hyperparameters, config)


def _check_positive(value: object, param: str) -> None:
    if value in (None, "auto"):
        return
    if not (isinstance(value, int | float) and not isinstance(value, bool)) or not (
        value > 0 and math.isfinite(value)
    ):
        raise ApiError(400, f"Invalid '{param}': must be > 0.", param=param)


def _integer(value: object, low: int, high: int, param: str) -> object:
    """`value` as an int when it is an integral number from `low` to `high` (1.0 is 1, as
    JSON does not tell them apart); None and "auto" as they are; anything else a 400."""
    if value in (None, "auto"):
        return value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ApiError(
            400, f"Invalid '{param}': must be an integer from {low} to {high}.", param=param
        )
    return value


# --- response shapes (for the OpenAPI document; the openai SDK's types are the reference) --


class _Response(BaseModel):
    # Responses may carry fields newer than these models; never drop them.
    model_config = ConfigDict(extra="allow")


class _ListOf(_Response):
    object: Literal["list"] = "list"
    has_more: bool = False
    first_id: str | None = None
    last_id: str | None = None


class FileObject(_Response):
    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    filename: str
    purpose: str
    status: Literal["uploaded", "processed", "error"]
    status_details: str | None = None
    expires_at: int | None = None


class FileList(_ListOf):
    data: list[FileObject]


class Deleted(_Response):
    id: str
    object: str
    deleted: bool


class JobErrorObject(_Response):
    code: str
    message: str
    param: str | None = None


class FineTuningJobObject(_Response):
    id: str
    object: Literal["fine_tuning.job"] = "fine_tuning.job"
    created_at: int
    error: JobErrorObject | None = None
    fine_tuned_model: str | None = Field(
        default=None, description="ft:<base>:<org>:<suffix>:<job>, set when the job succeeds."
    )
    finished_at: int | None = None
    hyperparameters: dict[str, Any] = Field(description='"auto" until the files are validated.')
    model: str
    organization_id: str
    result_files: list[str]
    seed: int
    status: Literal[
        "validating_files", "queued", "running", "paused", "succeeded", "failed", "cancelled"
    ]
    trained_tokens: int | None = None
    training_file: str
    validation_file: str | None = None
    estimated_finish: int | None = None
    integrations: list[dict[str, Any]] = []
    metadata: dict[str, str] | None = None
    method: dict[str, Any]


class FineTuningJobList(_ListOf):
    data: list[FineTuningJobObject]


class JobEventObject(_Response):
    id: str
    object: Literal["fine_tuning.job.event"] = "fine_tuning.job.event"
    created_at: int
    level: Literal["info", "warn", "error"]
    message: str
    type: Literal["message", "metrics"]
    data: dict[str, Any] = Field(description="For metrics events: step, train_loss, ...")


class JobEventList(_ListOf):
    data: list[JobEventObject]


class CheckpointMetrics(_Response):
    step: float | None = None
    train_loss: float | None = None
    train_mean_token_accuracy: float | None = None
    valid_loss: float | None = None
    valid_mean_token_accuracy: float | None = None
    full_valid_loss: float | None = None
    full_valid_mean_token_accuracy: float | None = None


class CheckpointObject(_Response):
    id: str
    object: Literal["fine_tuning.job.checkpoint"] = "fine_tuning.job.checkpoint"
    created_at: int
    fine_tuned_model_checkpoint: str
    fine_tuning_job_id: str
    metrics: CheckpointMetrics
    step_number: int


class CheckpointList(_ListOf):
    data: list[CheckpointObject]


class PermissionObject(_Response):
    id: str
    object: Literal["checkpoint.permission"] = "checkpoint.permission"
    created_at: int
    project_id: str


class PermissionList(_ListOf):
    data: list[PermissionObject]


class ModelObject(_Response):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(_Response):
    object: Literal["list"] = "list"
    data: list[ModelObject]


class ChatCompletionMessage(_Response):
    role: Literal["assistant"] = "assistant"
    content: str | None
    refusal: str | None = None


class ChatCompletionChoice(_Response):
    index: int
    message: ChatCompletionMessage
    finish_reason: Literal["stop", "length"]
    logprobs: None = None


class CompletionUsage(_Response):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletionObject(_Response):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatCompletionChoice]
    usage: CompletionUsage


class ErrorObject(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorResponse(BaseModel):
    """The body of every 4xx/5xx answer, as OpenAI sends it."""

    error: ErrorObject


class Health(_Response):
    status: Literal["ok"]
    pid: int
    version: str
