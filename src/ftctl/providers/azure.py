"""The Azure OpenAI provider (Microsoft Foundry): the only module importing azure-identity.

Data plane: the `openai` SDK against the resource's v1 API (`<endpoint>/openai/v1/`, no
api-version) with the `api-key` header, or with a Microsoft Entra ID token
(`DefaultAzureCredential`, scope `https://cognitiveservices.azure.com/.default`); with
`apiVersion` set, the SDK's `AzureOpenAI` client against the dated API instead. Files,
jobs, events and checkpoints are the OpenAI provider's calls, with Azure's differences:

- The job listing has no `metadata` filter (only `after` and `limit`), though jobs keep
  their metadata: ftctl lists the jobs and filters them itself, and the retry of a create
  whose answer was lost finds its request tag (`ftctl_request`) in that listing.
- The file listing is not paginated (no `limit`/`after`).
- There is no call to delete a fine-tuned model in the v1 API; a model costs nothing until
  it is deployed, so retiring one deletes the deployments that serve it.
- A model serves only through a deployment: `chat(model)` calls the deployment that
  serves `model` (its name goes in the request's `model` field).
- Job statuses of older API versions (`pending`, `notRunning`, `canceled`, ...) are
  mapped to OpenAI's.

Control plane: deployments through Azure Resource Manager (`ftctl.providers.azure_arm`),
authorized with a token for `https://management.azure.com/.default` from the same
credential, or from `managementTokenEnv`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import httpx
import httpx2
import openai

from ftctl.config.models import AzureProvider as AzureProviderConfig
from ftctl.errors import CredentialsError, ProviderAPIError, ProviderError
from ftctl.providers.azure_arm import ArmDeployments
from ftctl.providers.base import RemoteDeployment, RemoteFile, RemoteJob
from ftctl.providers.openai_api import OpenAIProvider, _file, _raw_pages

COGNITIVE_SCOPE = "https://cognitiveservices.azure.com/.default"
MANAGEMENT_SCOPE = "https://management.azure.com/.default"

# Azure's job statuses (older API versions and the portal's words) -> OpenAI's.
_STATUS = {
    "pending": "queued",
    "notrunning": "queued",
    "not_running": "queued",
    "created": "validating_files",
    "preprocessing": "validating_files",
    "canceled": "cancelled",
    "canceling": "running",
    "cancelling": "running",
    "deleted": "cancelled",
    "paused": "paused",
}
# Bearer tokens (JWTs) and 32/84-character Azure keys never reach a message.
_SECRET_PATTERNS = (
    re.compile(r"\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]{16,}"),
)


# What an Azure data-plane error code means for an ftctl user.
_HINTS = {
    "DeploymentNotFound": "on Azure a model answers only through a deployment; ftctl deploys "
    "the models its aliases and gates use",
    "quotaExceeded": "Azure limits the fine-tuning jobs running at once per resource; wait "
    "for one to finish (ftctl apply adopts a job already started)",
    "429": "Azure throttled the request (rate or quota); ftctl retries with back-off",
    "invalidPayload": "Azure refused the request's content (training data or settings)",
    "ModelNotSupported": "this base model cannot be fine-tuned on this resource or region",
    "401": "check apiKeyEnv (auth: key) or the Entra ID identity's role on the resource "
    "(auth: entra: Cognitive Services OpenAI Contributor)",
}


class _KeyHeaderClient(openai.OpenAI):
    """The v1 API with Azure's `api-key` header instead of `Authorization: Bearer`."""

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"api-key": self.api_key}

    def _auth_headers(self, security: Any) -> dict[str, str]:
        return {"api-key": self.api_key}

    def _validate_headers(self, headers: Any, custom_headers: Any) -> None:
        return None  # the api-key header is the credential


def default_credential() -> Any:
    """azure-identity's DefaultAzureCredential (environment, workload or managed identity,
    Azure CLI, ...), or a clear error when the optional dependency is not installed."""
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError:
        raise CredentialsError(
            "Microsoft Entra ID authentication needs azure-identity: pip install 'ftctl[azure]'"
        ) from None
    return DefaultAzureCredential()


class AzureProvider(OpenAIProvider):
    """A `Provider` (and `SupportsDeployments`) for one Azure OpenAI resource."""

    filters_metadata = False

    def __init__(
        self,
        name: str,
        config: AzureProviderConfig,
        *,
        api_key: str | None = None,
        credential: Any | None = None,
        management_token: str | None = None,
    ) -> None:
        if config.auth == "key" and not api_key:
            raise CredentialsError(f"provider {name!r}: no API key")
        self.config = config
        self._credential = credential
        self._secrets = [s for s in (api_key, management_token) if s]
        self._deployment_cache: list[RemoteDeployment] | None = None
        super().__init__(
            name,
            api_key=api_key or "",
            max_retries=config.max_retries,
            timeout=config.timeout_seconds,
            client=self._data_plane_client,
        )
        self.arm = ArmDeployments(
            base_url=config.management_endpoint,
            subscription_id=config.subscription_id,
            resource_group=config.resource_group,
            account=config.account_name,
            api_version=config.management_api_version,
            token=(lambda: management_token) if management_token else self._management_token,
            timeout_s=config.timeout_seconds,
            wait_timeout_s=config.deployment_timeout_seconds,
            poll_interval_s=config.deployment_poll_seconds,
            on_request=self._count_arm,
            scrub=self._scrub,
        )

    def __repr__(self) -> str:  # never show a key or a token
        return f"AzureProvider(name={self.name!r}, endpoint={self.config.endpoint!r})"

    # ---- clients

    def _data_plane_client(self, http: httpx2.Client) -> openai.OpenAI:
        config = self.config
        endpoint = config.endpoint.rstrip("/")
        common: dict[str, Any] = {
            "max_retries": config.max_retries,
            "timeout": config.timeout_seconds,
            "http_client": http,
        }
        token = self._cognitive_token if config.auth == "entra" else None
        if config.api_version is not None:
            if token is not None:
                return openai.AzureOpenAI(
                    azure_endpoint=endpoint,
                    api_version=config.api_version,
                    azure_ad_token_provider=token,
                    **common,
                )
            return openai.AzureOpenAI(
                azure_endpoint=endpoint,
                api_version=config.api_version,
                api_key=self._api_key,
                **common,
            )
        base_url = f"{endpoint}/openai/v1/"
        if token is not None:
            # A callable key: the SDK asks it for a fresh bearer token on every request.
            return openai.OpenAI(api_key=token, base_url=base_url, **common)
        return _KeyHeaderClient(api_key=self._api_key, base_url=base_url, **common)

    def _cognitive_token(self) -> str:
        return self._token(COGNITIVE_SCOPE)

    def _management_token(self) -> str:
        return self._token(MANAGEMENT_SCOPE)

    def _token(self, scope: str) -> str:
        if self._credential is None:
            self._credential = default_credential()
        try:
            token = str(self._credential.get_token(scope).token)
        except Exception as error:  # azure-identity raises several unrelated types
            first_line = (str(error).splitlines() or [type(error).__name__])[0]
            raise CredentialsError(
                f"provider {self.name!r}: cannot get a Microsoft Entra ID token for {scope}: "
                f"{self._scrub(first_line)}"
            ) from None
        if token not in self._secrets:
            self._secrets.append(token)
        return token

    def _count_arm(self, _request: httpx.Request) -> None:
        self._requests += 1

    def close(self) -> None:
        super().close()
        self.arm.close()

    # ---- data plane differences

    def list_files(self) -> list[RemoteFile]:
        with self._errors("list files"):
            # Azure's listFiles takes no limit or cursor: one answer holds every file.
            items = _raw_pages(self._client.files.with_raw_response.list, cursor=False)
            return [_file(f) for f in items]

    def _to_job(self, raw: Any) -> RemoteJob:
        job = super()._to_job(raw)
        status = _STATUS.get(job.status.lower().replace("-", "_"), job.status)
        return job if status == job.status else dataclasses.replace(job, status=status)

    def delete_model(self, model_id: str) -> None:
        """Azure's v1 API cannot delete a fine-tuned model, and an undeployed model costs
        nothing: retiring it deletes every deployment that serves it."""
        for deployment in self.list_deployments():
            if deployment.model == model_id:
                self.delete_deployment(deployment.name)

    def chat(
        self,
        model: str,
        messages: Sequence[Mapping[str, object]],
        max_tokens: int,
        temperature: float | None,
        seed: int | None,
    ) -> str:
        return super().chat(self.deployment_for(model), messages, max_tokens, temperature, seed)

    def deployment_for(self, model: str) -> str:
        """The name of a serving deployment of `model` (a deployment's own name is
        accepted as it is). Raises ProviderError when nothing serves it."""
        for refresh in (False, True):
            deployments = self._deployments(refresh)
            if any(d.name == model for d in deployments):
                return model
            serving = sorted(d.name for d in deployments if d.model == model and d.serving)
            if serving:
                return serving[0]
        raise ProviderError(
            f"provider {self.name!r}: model {model} has no deployment on account "
            f"{self.config.account_name}; on Azure a model serves only through a deployment "
            "(ftctl deploys the models its aliases and gates use)"
        )

    def _deployments(self, refresh: bool) -> list[RemoteDeployment]:
        if refresh or self._deployment_cache is None:
            self._deployment_cache = self.list_deployments()
        return self._deployment_cache

    # ---- control plane (SupportsDeployments)

    def list_deployments(self) -> list[RemoteDeployment]:
        found = self.arm.list()
        self._deployment_cache = found
        return found

    def deploy(
        self, name: str, model: str, sku: str, capacity: int, tags: Mapping[str, str]
    ) -> RemoteDeployment:
        deployment = self.arm.put(name, model, sku, capacity, tags)
        self._deployment_cache = None
        return deployment

    def delete_deployment(self, name: str) -> bool:
        deleted = self.arm.delete(name)
        self._deployment_cache = None
        return deleted

    # ---- errors and secrets

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            with super()._errors(what):
                yield
        except ProviderAPIError as error:
            hint = _HINTS.get(error.code or "") or _HINTS.get(str(error.status or ""))
            if hint is None or hint in error.message:
                raise
            raise ProviderAPIError(
                f"{error.message} ({hint})", status=error.status, code=error.code
            ) from None

    def _scrub(self, text: str) -> str:
        text = super()._scrub(text)
        for secret in getattr(self, "_secrets", ()):
            text = text.replace(secret, "***")
        text = _SECRET_PATTERNS[0].sub("***", text)
        return _SECRET_PATTERNS[1].sub(r"\1***", text)


def open_azure(
    name: str, config: AzureProviderConfig, api_key_of: Callable[[str], str]
) -> AzureProvider:
    """The provider for `config`, with its credentials from the environment.

    `api_key_of(variable)` reads an API key (raising CredentialsError, with the config line,
    when it is unset). Nothing is requested here: Entra ID tokens are fetched on first use.
    """
    api_key = api_key_of(config.api_key_env) if config.auth == "key" else None
    management_token = None
    if config.management_token_env:
        management_token = api_key_of(config.management_token_env)
    credential = default_credential() if config.auth == "entra" else None
    return AzureProvider(
        name, config, api_key=api_key, credential=credential, management_token=management_token
    )
