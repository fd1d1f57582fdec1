"""Fixtures for tests that talk to the Azure test double (import them in a conftest)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from .app import AzureDouble, serving

API_KEY = "0123456789abcdef0123456789abcdef"  # the shape of an Azure OpenAI key
# Variables azure-identity's DefaultAzureCredential reads: cleared so that only the
# double's managed-identity endpoint can answer.
_AZURE_ENV = (
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_USERNAME",
    "AZURE_PASSWORD",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_AUTHORITY_HOST",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "IDENTITY_SERVER_THUMBPRINT",
    "IMDS_ENDPOINT",
)


@dataclass
class RunningDouble:
    double: AzureDouble
    url: str

    @property
    def identity_env(self) -> dict[str, str]:
        """The App Service managed-identity variables that point azure-identity here."""
        return {
            "IDENTITY_ENDPOINT": f"{self.url}/msi/token",
            "IDENTITY_HEADER": self.double.identity_header,
        }


@pytest.fixture
def azure(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningDouble]:
    """A fresh Azure double on loopback, with this process's environment pointing
    azure-identity at its managed-identity endpoint; no spec violation may be left."""
    double = AzureDouble(api_key=API_KEY, polls_to_train=2)
    with serving(double) as url:
        running = RunningDouble(double, url)
        for name in _AZURE_ENV:
            monkeypatch.delenv(name, raising=False)
        for name, value in running.identity_env.items():
            monkeypatch.setenv(name, value)
        yield running
    assert double.violations == [], "\n".join(double.violations)


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    """This environment without Azure credentials, plus `extra` (for a CLI subprocess)."""
    env = {k: v for k, v in os.environ.items() if k not in _AZURE_ENV}
    env.pop("IDENTITY_ENDPOINT", None)
    env.pop("IDENTITY_HEADER", None)
    env.update(extra)
    return env
