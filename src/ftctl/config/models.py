"""Pydantic models of the workspace (`ftctl.yaml`) and project (`project.yaml`) spec v1.

YAML keys are camelCase (`baseModel`), Python attributes snake_case (`base_model`).
Every model forbids unknown keys and is frozen: a loaded config is a value.
These models are the contract between the loader, the dataset engine, the planner
and the gates; the JSON Schemas in `schemas/` are generated from them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

API_VERSION = "ftctl/v1"

# Annotated so that `float | Auto` is not the same typing.Union as the openai SDK's
# `Union[Literal["auto"], float]`: typing caches unions regardless of member order, so
# whichever was built first would decide the order in our JSON Schemas.
Auto = Annotated[Literal["auto"], "ftctl.auto"]
Level = Literal["error", "warn", "off"]
_LEVELS = ("error", "warn", "off")
# Project, workspace and alias names: DNS-label-like, so they fit in addresses and model ids.
NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
# OpenAI: suffix up to 64 characters; we also keep it to characters that survive in model ids.
Suffix = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
]
Seed = Annotated[int, Field(ge=0, le=2**31 - 1)]


class Spec(BaseModel):
    """Base of every spec model: camelCase keys, unknown keys rejected, immutable."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        populate_by_name=True,
        use_enum_values=True,
    )


# --------------------------------------------------------------------------- workspace


class LocalProvider(Spec):
    """ftctl's own fine-tuning server; started on demand unless `baseUrl` is given."""

    type: Literal["local"]
    base_url: str | None = Field(None, description="Use a running server instead of starting one.")
    api_key_env: str | None = Field(None, description="Env var holding the server's API key.")
    data_dir: str = Field(".ftctl/server", description="Where an on-demand server keeps its data.")


class OpenAIProvider(Spec):
    """OpenAI or any endpoint that speaks the OpenAI fine-tuning API."""

    type: Literal["openai"]
    api_key_env: str = Field("OPENAI_API_KEY", description="Env var holding the API key.")
    organization: str | None = None
    project: str | None = None
    base_url: str | None = None
    timeout_seconds: float = Field(60.0, gt=0)
    max_retries: int = Field(2, ge=0, le=10)
    chat_max_tokens_field: Literal["max_completion_tokens", "max_tokens"] | None = Field(
        None,
        description="How eval chat requests bound the answer. Default: max_completion_tokens "
        "on OpenAI itself, max_tokens on other endpoints (the field every compatible server "
        "knows).",
    )

    @property
    def max_tokens_field(self) -> str:
        """The chat request field that bounds the answer's length on this endpoint."""
        if self.chat_max_tokens_field is not None:
            return self.chat_max_tokens_field
        return "max_completion_tokens" if self.is_openai_itself else "max_tokens"

    @property
    def is_openai_itself(self) -> bool:
        """OpenAI's own API (no `baseUrl`, or api.openai.com), not another compatible endpoint."""
        return is_openai_url(self.base_url)


# Azure's deployment tiers ftctl manages: `Developer` has no hourly hosting fee and a fixed
# 24-hour lifetime (for evaluating a candidate), the others serve an alias.
DeploymentSku = Literal["Standard", "GlobalStandard", "Developer"]
# ARM deployment names: letters, digits, `-`, `_` and `.`, at most 64 characters.
DEPLOYMENT_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class AzureProvider(Spec):
    """Azure OpenAI (Microsoft Foundry): the OpenAI fine-tuning API on a resource's v1
    endpoint, plus deployments through Azure Resource Manager (a model serves only
    through a deployment there)."""

    type: Literal["azure"]
    endpoint: str = Field(
        ..., description="The resource's endpoint, e.g. https://acme-ft.openai.azure.com."
    )
    auth: Literal["key", "entra"] = Field(
        "key",
        description="`key`: the `api-key` header from `apiKeyEnv`; `entra`: a Microsoft Entra "
        "ID token from azure-identity's DefaultAzureCredential (pip install 'ftctl[azure]').",
    )
    api_key_env: str = Field("AZURE_OPENAI_API_KEY", description="Env var holding the API key.")
    api_version: str | None = Field(
        None,
        description="A dated API version (e.g. 2025-04-01-preview) for resources that still "
        "need one; unset: the v1 API (<endpoint>/openai/v1/, no api-version).",
    )
    subscription_id: str = Field(..., min_length=1, description="For deployments (ARM).")
    resource_group: str = Field(..., min_length=1, description="For deployments (ARM).")
    account: str | None = Field(
        None, description="The Azure OpenAI account (resource) name; default: the endpoint's."
    )
    management_endpoint: str = Field(
        "https://management.azure.com", description="Azure Resource Manager's endpoint."
    )
    management_api_version: str = Field(
        "2024-10-01", description="Microsoft.CognitiveServices API version for deployments."
    )
    management_token_env: str | None = Field(
        None,
        description="Env var holding an ARM bearer token (e.g. from `az account "
        "get-access-token`); unset: DefaultAzureCredential.",
    )
    timeout_seconds: float = Field(60.0, gt=0)
    max_retries: int = Field(2, ge=0, le=10)
    deployment_timeout_seconds: float = Field(
        1800.0, gt=0, description="How long to wait for a deployment's provisioningState."
    )
    deployment_poll_seconds: float = Field(
        5.0, gt=0, description="How often to look at a deployment being provisioned."
    )

    @model_validator(mode="after")
    def _endpoint_url(self) -> AzureProvider:
        parts = urlsplit(self.endpoint)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(f"endpoint must be an https:// URL, not {self.endpoint!r}")
        return self

    @property
    def account_name(self) -> str:
        """The account (resource) name: `account`, else the endpoint's first host label."""
        if self.account:
            return self.account
        host = urlsplit(self.endpoint).hostname or ""
        return host.split(".", 1)[0]


def is_openai_url(base_url: str | None) -> bool:
    """True for OpenAI's own API: no base URL (the SDK's default) or one on api.openai.com."""
    return base_url is None or urlsplit(base_url).hostname == "api.openai.com"


Provider = Annotated[LocalProvider | OpenAIProvider | AzureProvider, Field(discriminator="type")]


class SqliteBackend(Spec):
    backend: Literal["sqlite"] = "sqlite"
    path: str = ".ftctl/state.db"


class PostgresBackend(Spec):
    backend: Literal["postgres"]
    dsn_env: str = Field("FTCTL_STATE_DSN", description="Env var holding the PostgreSQL DSN.")
    schema_name: str = "ftctl"


StateBackend = Annotated[SqliteBackend | PostgresBackend, Field(discriminator="backend")]


class WorkspaceMetadata(Spec):
    name: Name
    description: str | None = None


class WorkspaceDefaults(Spec):
    provider: str | None = Field(None, description="Provider used by projects that name none.")
    policy: Policy | None = Field(None, description="Policy defaults merged under each project's.")


class Workspace(Spec):
    """`ftctl.yaml`: the providers, the state backend, defaults and where projects live."""

    api_version: Literal["ftctl/v1"]
    kind: Literal["Workspace"]
    metadata: WorkspaceMetadata
    providers: dict[str, Provider] = Field(default_factory=dict)
    state: StateBackend = Field(default_factory=SqliteBackend)
    defaults: WorkspaceDefaults = Field(default_factory=lambda: WorkspaceDefaults())
    projects: list[str] = Field(
        default_factory=lambda: ["projects/*/project.yaml"],
        description="Globs, relative to the workspace, of project files.",
    )


# --------------------------------------------------------------------------- data sources


class GitRef(Spec):
    rev: str = Field(
        ..., min_length=1, description="A commit, tag or branch of the workspace repo."
    )
    path: str = Field(..., min_length=1, description="Path of a JSONL file inside the repo.")

    @field_validator("rev", mode="before")
    @classmethod
    def _rev_is_text(cls, value: Any) -> Any:
        # About 1 in 100 short commit hashes is all digits, which YAML reads as a number
        # (and one with a leading 0 as another number): say how to write it.
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise ValueError(
                f"YAML read this revision as the number {value}; quote it, "
                f'e.g. rev: "{value}" (a commit hash of digits only must be quoted)'
            )
        return value


class SourceBase(Spec):
    limit: int | None = Field(None, ge=1, description="Keep at most this many rows (the first).")
    weight: float = Field(
        1.0,
        gt=0,
        description="Mixing weight: 2 repeats every row twice, 0.5 keeps a stable half.",
    )


class PathSource(SourceBase):
    path: str = Field(
        ..., min_length=1, description="A JSONL file or glob, relative to the project."
    )


class GitSource(SourceBase):
    git: GitRef


class InlineSource(SourceBase):
    inline: list[dict[str, Any]] = Field(..., min_length=1)


Source = PathSource | GitSource | InlineSource


# --------------------------------------------------------------------------- transforms


class SystemPromptArgs(Spec):
    text: str = ""
    mode: Literal["ensure", "replace", "remove"] = "ensure"


class SystemPromptTransform(Spec):
    system_prompt: SystemPromptArgs


class DedupeArgs(Spec):
    """Exact duplicates (same canonical bytes) are dropped; the first one is kept."""


class DedupeTransform(Spec):
    dedupe: DedupeArgs


class NearDedupeArgs(Spec):
    threshold: float = Field(0.9, gt=0, le=1, description="Jaccard similarity of word shingles.")
    num_perm: int = Field(128, ge=16, le=1024)


class NearDedupeTransform(Spec):
    near_dedupe: NearDedupeArgs


class MaxTokensArgs(Spec):
    limit: int | Auto = "auto"
    action: Literal["drop", "truncate", "error"] = "drop"


class MaxTokensTransform(Spec):
    max_tokens: MaxTokensArgs


class MapFieldsArgs(Spec):
    """Turn `{prompt, completion}`-like rows into chat examples."""

    prompt: str = Field("prompt", description="Field holding the user's text.")
    completion: str = Field("completion", description="Field holding the assistant's text.")
    system: str | None = Field(None, description="System prompt to put first, if any.")


class MapFieldsTransform(Spec):
    map_fields: MapFieldsArgs


Transform = (
    SystemPromptTransform
    | DedupeTransform
    | NearDedupeTransform
    | MaxTokensTransform
    | MapFieldsTransform
)


class SplitSpec(Spec):
    fraction: float = Field(..., gt=0, lt=1)
    seed: Seed = 0


class SplitData(Spec):
    """A split made of its own sources."""

    sources: list[Source] = Field(..., min_length=1)
    transforms: list[Transform] = Field(default_factory=list)


class DerivedSplit(Spec):
    """A split carved out of train by a stable hash of each example."""

    split: SplitSpec


class DataSpec(Spec):
    train: SplitData
    validation: SplitData | DerivedSplit | None = None
    test: SplitData | None = None


# --------------------------------------------------------------------------- policy


class Check(Spec):
    """A policy check: `level` says what a violation does, `value` is the threshold."""

    level: Level = "warn"


def _scalar_to_value(data: Any) -> Any:
    """Allow the short form `maxRefusalRatio: 0.2` for `{value: 0.2}`."""
    if isinstance(data, int | float | str) and not isinstance(data, bool):
        return {"value": data}
    if isinstance(data, bool):
        return {"level": "error" if data else "off"}
    return data


class RatioCheck(Check):
    value: float = Field(..., ge=0, le=1)

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        return _scalar_to_value(data)


class MinExamplesCheck(Check):
    value: int = Field(
        50, ge=1, description="Recommended minimum; fewer than 10 is always an error."
    )

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        return _scalar_to_value(data)


class MaxTokensCheck(Check):
    level: Level = "error"
    value: int | Auto = "auto"

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        return _scalar_to_value(data)


class RefusalCheck(RatioCheck):
    phrases: list[str] | None = Field(None, description="Replaces the built-in refusal phrases.")


class SystemPromptCheck(Check):
    mode: Literal["consistent", "required", "off"] = "consistent"
    expected: str | None = Field(None, description="The system prompt used at inference.")

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"mode": data, "level": "off" if data == "off" else "warn"}
        return data


class FlagCheck(Check):
    """A check without a threshold (empty answers, truncated answers, leakage, secrets)."""

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"level": data}
        return _scalar_to_value(data)


class BudgetCheck(Check):
    level: Level = "error"
    max_cost_usd: float = Field(..., ge=0)


class Policy(Spec):
    """The data validation policy. Defaults follow OpenAI's fine-tuning guidance."""

    min_examples: MinExamplesCheck = Field(default_factory=lambda: MinExamplesCheck())
    max_tokens_per_example: MaxTokensCheck = Field(default_factory=lambda: MaxTokensCheck())
    max_refusal_ratio: RefusalCheck = Field(default_factory=lambda: RefusalCheck(value=0.2))
    max_duplicate_ratio: RatioCheck = Field(default_factory=lambda: RatioCheck(value=0.01))
    max_near_duplicate_ratio: RatioCheck = Field(default_factory=lambda: RatioCheck(value=0.05))
    require_system_prompt: SystemPromptCheck = Field(default_factory=lambda: SystemPromptCheck())
    empty_answers: FlagCheck = Field(default_factory=lambda: FlagCheck(level="error"))
    truncated_answers: FlagCheck = Field(default_factory=lambda: FlagCheck(level="warn"))
    leakage: FlagCheck = Field(default_factory=lambda: FlagCheck(level="error"))
    secrets: FlagCheck = Field(default_factory=lambda: FlagCheck(level="error"))
    min_prompt_diversity: RatioCheck = Field(
        default_factory=lambda: RatioCheck(value=0.5),
        description="Minimum share of distinct user prompts.",
    )
    budget: BudgetCheck | None = None

    @model_validator(mode="before")
    @classmethod
    def _keep_default_thresholds(cls, data: Any) -> Any:
        """A check given only a level (`maxNearDuplicateRatio: off`, `warn`, `error`,
        `true`/`false`, `{level: off}`) keeps its default threshold; `budget: off` (or
        `false`) means no budget."""
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for name, info in cls.model_fields.items():
            key = next((k for k in (info.alias, name) if k and k in out), None)
            if key is None:
                continue
            given = out[key]
            if name == "budget":
                if given is False or given == "off":
                    out[key] = None
                continue
            default = info.get_default(call_default_factory=True)
            if not isinstance(default, Check):
                continue
            if isinstance(given, bool):
                given = {"level": "error" if given else "off"}
            elif given in _LEVELS and not (
                given == "off" and isinstance(default, SystemPromptCheck)
            ):
                given = {"level": given}  # (`requireSystemPrompt: off` is its mode)
            if isinstance(given, dict):
                out[key] = {**default.model_dump(by_alias=True, exclude_none=True), **given}
        return out


# --------------------------------------------------------------------------- training


class Hyperparameters(Spec):
    n_epochs: int | Auto = Field("auto", description="1-50, or auto (OpenAI's rule).")
    batch_size: int | Auto = "auto"
    learning_rate_multiplier: float | Auto = "auto"
    beta: float | Auto | None = Field(None, description="DPO only: (0, 2].")
    # Reinforcement only (OpenAI's FineTuneReinforcementHyperparameters).
    reasoning_effort: Literal["default", "low", "medium", "high"] | None = Field(
        None, description="Reinforcement only: default, low, medium or high."
    )
    compute_multiplier: float | Auto | None = Field(
        None, description="Reinforcement only: > 0, or auto."
    )
    eval_interval: int | Auto | None = Field(
        None, description="Reinforcement only: training steps between evals (>= 1), or auto."
    )
    eval_samples: int | Auto | None = Field(
        None, description="Reinforcement only: samples per eval (>= 1), or auto."
    )

    @property
    def reinforcement_only(self) -> list[str]:
        """The reinforcement-only settings given (camelCase, as written in YAML)."""
        given = {
            "reasoningEffort": self.reasoning_effort,
            "computeMultiplier": self.compute_multiplier,
            "evalInterval": self.eval_interval,
            "evalSamples": self.eval_samples,
        }
        return [name for name, value in given.items() if value is not None]

    @model_validator(mode="after")
    def _bounds(self) -> Hyperparameters:
        if isinstance(self.n_epochs, int) and not 1 <= self.n_epochs <= 50:
            raise ValueError("nEpochs must be between 1 and 50, or auto")
        if isinstance(self.batch_size, int) and not 1 <= self.batch_size <= 256:
            raise ValueError("batchSize must be between 1 and 256, or auto")
        lrm = self.learning_rate_multiplier
        if isinstance(lrm, float | int) and not isinstance(lrm, str) and lrm <= 0:
            raise ValueError("learningRateMultiplier must be greater than 0, or auto")
        beta = self.beta
        if isinstance(beta, float | int) and not isinstance(beta, str) and not 0 < beta <= 2:
            raise ValueError("beta must be in (0, 2], or auto")
        multiplier = self.compute_multiplier
        if isinstance(multiplier, float | int) and multiplier <= 0:
            raise ValueError("computeMultiplier must be greater than 0, or auto")
        for name, value in (
            ("evalInterval", self.eval_interval),
            ("evalSamples", self.eval_samples),
        ):
            if isinstance(value, int) and value < 1:
                raise ValueError(f"{name} must be at least 1, or auto")
        return self


class Adapter(Spec):
    """How an open-weights (`hf:`) model is fine-tuned: a LoRA adapter or all weights."""

    type: Literal["lora", "full"] = Field("lora", description="lora (default) or full fine-tuning.")
    rank: int | None = Field(None, ge=1, le=1024, description="LoRA rank (default 16).")
    alpha: float | None = Field(None, gt=0, description="LoRA alpha (default 32).")
    dropout: float | None = Field(None, ge=0, lt=1, description="LoRA dropout (default 0.05).")
    target_modules: (
        list[Annotated[str, StringConstraints(min_length=1)]] | Literal["all-linear"] | None
    ) = Field(None, description="Modules LoRA adapts (default all-linear).")
    gradient_checkpointing: bool | None = Field(
        None, description="Trade compute for memory (default false)."
    )

    @model_validator(mode="after")
    def _lora_only(self) -> Adapter:
        lora = (self.rank, self.alpha, self.dropout, self.target_modules)
        if self.type == "full" and any(value is not None for value in lora):
            raise ValueError(
                "rank, alpha, dropout and targetModules are only valid with type: lora"
            )
        return self

    def as_hyperparameters(self) -> dict[str, Any]:
        """The job's hyperparameters these settings become (explicit values only)."""
        values = {
            "adapter": self.type,
            "lora_rank": self.rank,
            "lora_alpha": self.alpha,
            "lora_dropout": self.dropout,
            "lora_target_modules": self.target_modules,
            "gradient_checkpointing": self.gradient_checkpointing,
        }
        return {key: value for key, value in values.items() if value is not None}


class Training(Spec):
    method: Literal["supervised", "dpo", "reinforcement"] = "supervised"
    hyperparameters: Hyperparameters = Field(default_factory=lambda: Hyperparameters())
    adapter: Adapter | None = Field(
        None, description="Open-weights (hf:) models only: LoRA (the default) or full."
    )
    seed: Seed | None = None
    grader: dict[str, Any] | None = Field(None, description="Reinforcement only: OpenAI grader.")

    @model_validator(mode="after")
    def _method_fields(self) -> Training:
        if self.hyperparameters.beta is not None and self.method != "dpo":
            raise ValueError("hyperparameters.beta is only valid with method: dpo")
        extra = self.hyperparameters.reinforcement_only
        if extra and self.method != "reinforcement":
            given = ", ".join(f"hyperparameters.{name}" for name in extra)
            raise ValueError(f"{given}: only valid with method: reinforcement")
        if self.method == "reinforcement" and self.grader is None:
            raise ValueError("method: reinforcement needs a grader")
        if self.method != "reinforcement" and self.grader is not None:
            raise ValueError("grader is only valid with method: reinforcement")
        return self


# --------------------------------------------------------------------------- gates

MetricName = Literal[
    "train_loss",
    "train_mean_token_accuracy",
    "valid_loss",
    "valid_mean_token_accuracy",
    "full_valid_loss",
    "full_valid_mean_token_accuracy",
]


class MetricGate(Spec):
    metric: MetricName
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bound(self) -> MetricGate:
        if self.min is None and self.max is None:
            raise ValueError("a metric gate needs min or max")
        return self


class JsonSchemaGrader(Spec):
    """Passes when the answer is JSON valid against the schema file."""

    type: Literal["json_schema"]
    schema_: str = Field(..., alias="schema", description="Path, relative to the project.")


class ExactMatchGrader(Spec):
    """Passes when the answer equals the reference answer (whitespace-trimmed)."""

    type: Literal["exact_match"]


class JsonMatchGrader(Spec):
    """Passes when the answer parses as JSON and the listed keys equal the reference's."""

    type: Literal["json_match"]
    keys: list[str] | None = Field(None, description="Keys to compare; all when omitted.")


class RegexGrader(Spec):
    type: Literal["regex"]
    pattern: str


class RefusalGrader(Spec):
    """Fails the eval when more than `max` of the answers are refusals."""

    type: Literal["refusal"]
    max: float = Field(0.05, ge=0, le=1)


Grader = Annotated[
    JsonSchemaGrader | ExactMatchGrader | JsonMatchGrader | RegexGrader | RefusalGrader,
    Field(discriminator="type"),
]


class EvalPass(Spec):
    min_pass_rate: float | None = Field(None, ge=0, le=1)
    min_win_rate: float | None = Field(None, ge=0, le=1)


class EvalGate(Spec):
    dataset: Literal["test", "validation"] = "test"
    baseline: str | None = Field(
        None, description="`base`, `alias:NAME` or a model id to compare against."
    )
    graders: list[Grader] = Field(..., min_length=1)
    pass_: EvalPass = Field(default_factory=lambda: EvalPass(), alias="pass")
    max_tokens: int = Field(256, ge=1, le=8192)
    temperature: float = Field(0.0, ge=0, le=2)
    limit: int | None = Field(None, ge=1, description="Evaluate at most this many examples.")


class Gates(Spec):
    metrics: list[MetricGate] = Field(default_factory=list)
    evals: EvalGate | None = None


class Deployment(Spec):
    """How an alias is served on a provider where models serve only through a deployment
    (Azure): the deployment ftctl creates or updates when the alias moves."""

    name: Annotated[str, StringConstraints(pattern=DEPLOYMENT_NAME_PATTERN)] | None = Field(
        None, description="Deployment name; default `<project>-<alias>`."
    )
    sku: DeploymentSku = "Standard"
    capacity: int = Field(1, ge=1, le=10_000)
    gate_sku: DeploymentSku = Field(
        "Developer",
        description="Tier of the short-lived deployment a candidate is evaluated through.",
    )


class Promote(Spec):
    alias: Name = "prod"
    when: Literal["gates_pass", "always", "manual"] = "gates_pass"
    version: int | None = Field(
        None,
        ge=1,
        description="Pin the alias to this version (a declarative rollback): new versions "
        "are still trained and gated, but the alias stays here until this is removed.",
    )
    deployment: Deployment | None = Field(
        None, description="Azure: the alias's deployment (default Standard, capacity 1)."
    )


class Lifecycle(Spec):
    keep_versions: int = Field(3, ge=1)
    prevent_destroy: bool = False


# --------------------------------------------------------------------------- project


class ProjectMetadata(Spec):
    name: Name
    owner: str | None = None
    description: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class ProjectSpec(Spec):
    provider: str | None = Field(None, description="A provider named in ftctl.yaml.")
    base_model: str = Field(..., min_length=1)
    suffix: Suffix | None = None
    data: DataSpec
    policy: Policy = Field(default_factory=lambda: Policy())
    training: Training = Field(default_factory=lambda: Training())
    gates: Gates = Field(default_factory=lambda: Gates())
    promote: Promote | None = None
    lifecycle: Lifecycle = Field(default_factory=lambda: Lifecycle())


class FineTuneProject(Spec):
    """`projects/<name>/project.yaml`: one fine-tune project."""

    api_version: Literal["ftctl/v1"]
    kind: Literal["FineTuneProject"]
    metadata: ProjectMetadata
    spec: ProjectSpec


WorkspaceDefaults.model_rebuild()
Workspace.model_rebuild()


def yaml_key(python_name: str) -> str:
    """The YAML spelling of an attribute name (`base_model` -> `baseModel`)."""
    return to_camel(python_name.rstrip("_"))
