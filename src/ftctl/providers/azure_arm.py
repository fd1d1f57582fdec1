"""Azure OpenAI deployments through Azure Resource Manager, over plain httpx.

Four operations of `Microsoft.CognitiveServices/accounts/deployments` (List, Get,
CreateOrUpdate, Delete; API version from the config, 2024-10-01 by default) are all ftctl
needs, so it speaks them directly rather than through `azure-mgmt-cognitiveservices`: no
generated client and its msrest/azure-mgmt-core stack to install, one HTTP client whose
requests are counted like the data plane's, the base URL configurable (sovereign clouds,
the test double on loopback), and errors turned into ftctl's in one place. Long-running
PUT/DELETE are followed by polling the deployment itself, which is what
`provisioningState` is for.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from ftctl.errors import ProviderAPIError, ProviderError, ProviderUnreachableError
from ftctl.providers.base import RemoteDeployment

# provisioningState values after which nothing changes any more.
_FAILED = frozenset({"Failed", "Canceled", "Disabled"})
# What an ARM error code on a deployment means for an ftctl user.
_HINTS = {
    "InsufficientQuota": "the subscription's quota for this model and deployment type is used "
    "up: raise it in the Azure portal (Quotas) or lower promote.deployment.capacity",
    "QuotaExceeded": "the subscription's quota for this model and deployment type is used up: "
    "raise it or lower promote.deployment.capacity",
    "InvalidResourceProperties": "the model, its version or the deployment type "
    "(promote.deployment.sku) is not available for this resource or region",
    "DeploymentModelNotSupported": "this model cannot be deployed with this deployment type "
    "in this region (promote.deployment.sku)",
    "AuthorizationFailed": "the identity needs Microsoft.CognitiveServices/accounts/"
    "deployments/write on the resource (e.g. the Cognitive Services Contributor role)",
    "ResourceNotFound": "check subscriptionId, resourceGroup and account in ftctl.yaml",
    "ResourceGroupNotFound": "check resourceGroup in ftctl.yaml",
}


class ArmDeployments:
    """The deployments of one Azure OpenAI account."""

    def __init__(
        self,
        *,
        base_url: str,
        subscription_id: str,
        resource_group: str,
        account: str,
        api_version: str,
        token: Callable[[], str],
        timeout_s: float = 60.0,
        wait_timeout_s: float = 1800.0,
        poll_interval_s: float = 5.0,
        on_request: Callable[[httpx.Request], None] | None = None,
        scrub: Callable[[str], str] = lambda text: text,
    ) -> None:
        self._account = account
        self._prefix = (
            f"/subscriptions/{quote(subscription_id, safe='')}"
            f"/resourceGroups/{quote(resource_group, safe='')}"
            f"/providers/Microsoft.CognitiveServices/accounts/{quote(account, safe='')}"
            "/deployments"
        )
        self._api_version = api_version
        self._token = token
        self._wait_timeout_s = wait_timeout_s
        self._poll_interval_s = poll_interval_s
        self._scrub = scrub
        hooks: dict[str, list[Callable[..., Any]]] = {"request": [self._authorize]}
        if on_request is not None:
            hooks["request"].append(on_request)
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), timeout=timeout_s, event_hooks=hooks
        )

    def _authorize(self, request: httpx.Request) -> None:
        # A fresh token per request: azure-identity caches it and renews it before expiry.
        request.headers["Authorization"] = f"Bearer {self._token()}"

    def close(self) -> None:
        self._http.close()

    # ---- operations

    def list(self) -> list[RemoteDeployment]:
        """Deployments_List, following `nextLink`."""
        found: list[RemoteDeployment] = []
        url: str | None = self._prefix
        params: dict[str, str] | None = {"api-version": self._api_version}
        while url:
            body = self._json(self._send("GET", url, params=params), "list deployments")
            values = body.get("value") or []
            found += [_deployment(v) for v in values if isinstance(v, Mapping)]
            next_link = body.get("nextLink")
            url, params = (str(next_link), None) if next_link else (None, None)
        return found

    def get(self, name: str) -> RemoteDeployment | None:
        """Deployments_Get; None when it does not exist."""
        response = self._send("GET", self._path(name), params=self._version)
        if response.status_code == 404:
            return None
        return _deployment(self._json(response, f"get deployment {name}"))

    def put(
        self, name: str, model: str, sku: str, capacity: int, tags: Mapping[str, str]
    ) -> RemoteDeployment:
        """Deployments_CreateOrUpdate, then wait for provisioningState Succeeded."""
        body = {
            "sku": {"name": sku, "capacity": capacity},
            "tags": dict(tags),
            "properties": {"model": {"format": "OpenAI", "name": model, "version": "1"}},
        }
        response = self._send("PUT", self._path(name), params=self._version, json=body)
        deployment = _deployment(self._json(response, f"create deployment {name}"))
        return self._wait_provisioned(name, deployment)

    def delete(self, name: str) -> bool:
        """Deployments_Delete (200, 202 then gone, or 204 when it did not exist)."""
        response = self._send("DELETE", self._path(name), params=self._version)
        if response.status_code == 204:
            return False
        self._check(response, f"delete deployment {name}")
        if response.status_code == 202:
            deadline = time.monotonic() + self._wait_timeout_s
            while self.get(name) is not None:
                if time.monotonic() > deadline:
                    raise ProviderError(
                        f"deployment {name} of account {self._account} was still being "
                        f"deleted after {self._wait_timeout_s:.0f}s"
                    )
                time.sleep(self._poll_interval_s)
        return True

    # ---- plumbing

    @property
    def _version(self) -> dict[str, str]:
        return {"api-version": self._api_version}

    def _path(self, name: str) -> str:
        return f"{self._prefix}/{quote(name, safe='')}"

    def _wait_provisioned(self, name: str, deployment: RemoteDeployment) -> RemoteDeployment:
        deadline = time.monotonic() + self._wait_timeout_s
        while not deployment.serving:
            if deployment.state in _FAILED:
                raise ProviderAPIError(
                    f"deployment {name} of account {self._account} ended in provisioningState "
                    f"{deployment.state}",
                    status=None,
                    code=deployment.state,
                )
            if time.monotonic() > deadline:
                raise ProviderError(
                    f"deployment {name} of account {self._account} was still "
                    f"{deployment.state} after {self._wait_timeout_s:.0f}s"
                )
            time.sleep(self._poll_interval_s)
            found = self.get(name)
            if found is None:
                raise ProviderError(f"deployment {name} disappeared while it was provisioned")
            deployment = found
        return deployment

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        try:
            return self._http.request(method, url, params=params, json=json)
        except httpx.HTTPError as error:
            raise ProviderUnreachableError(
                f"cannot reach Azure Resource Manager at {self._http.base_url}: "
                f"{self._scrub(str(error))}"
            ) from None

    def _check(self, response: httpx.Response, what: str) -> None:
        if response.is_success:
            return
        code, message = _arm_error(response)
        hint = _HINTS.get(code or "")
        raise ProviderAPIError(
            f"Azure Resource Manager: cannot {what}: HTTP {response.status_code}"
            + (f" {code}" if code else "")
            + f": {self._scrub(message)}"
            + (f" ({hint})" if hint else ""),
            status=response.status_code,
            code=code,
        )

    def _json(self, response: httpx.Response, what: str) -> dict[str, Any]:
        self._check(response, what)
        try:
            body = response.json()
        except ValueError:
            raise ProviderError(f"Azure Resource Manager: cannot {what}: not JSON") from None
        if not isinstance(body, dict):
            raise ProviderError(f"Azure Resource Manager: cannot {what}: unexpected answer")
        return body


def _deployment(raw: Mapping[str, Any]) -> RemoteDeployment:
    properties = raw.get("properties") or {}
    model = properties.get("model") or {}
    sku = raw.get("sku") or {}
    return RemoteDeployment(
        name=str(raw.get("name", "")),
        model=str(model.get("name", "")),
        sku=str(sku.get("name", "")),
        capacity=int(sku.get("capacity") or 0),
        state=str(properties.get("provisioningState") or "Accepted"),
        tags={str(k): str(v) for k, v in (raw.get("tags") or {}).items()},
    )


def _arm_error(response: httpx.Response) -> tuple[str | None, str]:
    """ARM's ErrorResponse: `{"error": {"code", "message"}}`."""
    try:
        body = response.json()
    except ValueError:
        return None, response.text[:200] or response.reason_phrase
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = error.get("code")
        return (str(code) if code else None), str(error.get("message") or "")
    return None, response.reason_phrase
