"""The Azure provider against the Azure test double: real openai, httpx and azure-identity
clients over loopback HTTP; every request and response checked against the vendored
Azure REST API descriptions (the `azure` fixture fails a test that left a violation)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from ftctl.config.models import AzureProvider as AzureConfig
from ftctl.errors import CredentialsError, ProviderAPIError, ProviderError
from ftctl.providers.azure import AzureProvider, default_credential
from ftctl.providers.base import JobRequest, deployments_api

from ..support.azure_double.fixtures import API_KEY, RunningDouble

MODEL = "gpt-4o-mini-2024-07-18"


def _config(azure: RunningDouble, **overrides: Any) -> AzureConfig:
    fields: dict[str, Any] = {
        "type": "azure",
        "endpoint": azure.url,
        "subscription_id": azure.double.subscription_id,
        "resource_group": azure.double.resource_group,
        "account": azure.double.account,
        "management_endpoint": azure.url,
        "deployment_poll_seconds": 0.01,
        "max_retries": 2,
    }
    fields.update(overrides)
    return AzureConfig.model_validate(fields)


@pytest.fixture
def keyed(azure: RunningDouble) -> AzureProvider:
    return AzureProvider("azure", _config(azure), api_key=API_KEY)


@pytest.fixture
def train_file(tmp_path: Path) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_text(
        '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n'
    )
    return path


def _request(training_file: str, **metadata: str) -> JobRequest:
    return JobRequest(
        model=MODEL,
        training_file=training_file,
        validation_file=None,
        method="supervised",
        hyperparameters={"n_epochs": 2},
        suffix="support",
        seed=7,
        metadata={"ftctl_project": "bot", **metadata},
    )


def _trained(provider: AzureProvider, train_file: Path) -> str:
    upload = provider.upload_file(train_file, "ftctl-abc.jsonl")
    job = provider.create_job(_request(upload.id))
    while not job.terminal:
        job = provider.retrieve_job(job.id)
    assert job.status == "succeeded" and job.fine_tuned_model
    return job.fine_tuned_model


def test_v1_api_with_the_api_key_header(
    azure: RunningDouble, keyed: AzureProvider, train_file: Path
) -> None:
    model = _trained(keyed, train_file)
    assert model.startswith(f"{MODEL}.ft-") and model.endswith("-support")
    data_plane = [s for s in azure.double.seen if s.path.startswith("/openai/")]
    assert data_plane and all(s.path.startswith("/openai/v1/") for s in data_plane)
    assert {s.auth for s in data_plane} == {"api-key"}
    # The v1 API takes no api-version; Resource Manager calls were not needed yet.
    assert not any(name == "api-version" for s in data_plane for name, _ in s.query)


def test_entra_id_tokens_from_default_azure_credential(
    azure: RunningDouble, train_file: Path
) -> None:
    provider = AzureProvider("azure", _config(azure, auth="entra"), credential=default_credential())
    _trained(provider, train_file)
    data_plane = [s for s in azure.double.seen if s.path.startswith("/openai/")]
    assert {s.auth for s in data_plane} == {"bearer"}
    # The token came from the managed-identity endpoint, for the Cognitive Services scope.
    assert "https://cognitiveservices.azure.com" in azure.double.tokens.values()


def test_jobs_are_listed_and_filtered_here_because_azure_has_no_metadata_filter(
    azure: RunningDouble, keyed: AzureProvider, train_file: Path
) -> None:
    upload = keyed.upload_file(train_file, "ftctl-abc.jsonl")
    mine = keyed.create_job(_request(upload.id, ftctl_workspace="w1"))
    keyed.create_job(_request(upload.id, ftctl_workspace="w2"))
    found = keyed.list_jobs(metadata={"ftctl_workspace": "w1"})
    assert [j.id for j in found] == [mine.id]
    # Sending `metadata` would be a violation of listPaginatedFineTuningJobs (the fixture
    # checks); the request tag is the provider's own and never shown.
    assert "ftctl_request" not in found[0].metadata


def test_a_lost_create_response_makes_one_job(
    azure: RunningDouble, keyed: AzureProvider, train_file: Path
) -> None:
    upload = keyed.upload_file(train_file, "ftctl-abc.jsonl")
    azure.double.faults.add("lose_job_create")
    job = keyed.create_job(_request(upload.id))
    assert azure.double.count("createFineTuningJob") == 1
    assert list(azure.double.jobs) == [job.id]


def test_deploy_waits_for_provisioning_and_chat_goes_through_the_deployment(
    azure: RunningDouble, keyed: AzureProvider, train_file: Path
) -> None:
    model = _trained(keyed, train_file)
    azure.double.reads_to_provision = 3
    api = deployments_api(keyed)
    assert api is not None
    deployment = api.deploy("bot-prod", model, "Standard", 1, {"ftctl_project": "bot"})
    assert deployment.serving and deployment.model == model
    assert azure.double.count("Deployments_Get") >= 2  # polled until Succeeded
    assert keyed.chat(model, [{"role": "user", "content": "hi"}], 16, 0.0, 1) == '{"answer": "ok"}'
    assert azure.double.chats == ["bot-prod"]
    arm = [s for s in azure.double.seen if s.path.startswith("/subscriptions/")]
    assert {s.auth for s in arm} == {"bearer"}
    assert "https://management.azure.com" in azure.double.tokens.values()


def test_a_model_without_a_deployment_cannot_answer(
    azure: RunningDouble, keyed: AzureProvider, train_file: Path
) -> None:
    model = _trained(keyed, train_file)
    with pytest.raises(ProviderError, match="has no deployment on account acme-ft"):
        keyed.chat(model, [{"role": "user", "content": "hi"}], 16, 0.0, None)


def test_retiring_a_model_deletes_its_deployments(
    azure: RunningDouble, keyed: AzureProvider, train_file: Path
) -> None:
    model = _trained(keyed, train_file)
    keyed.deploy("bot-prod", model, "Standard", 1, {})
    keyed.deploy("bot-v1-gate", model, "Developer", 1, {})
    keyed.delete_model(model)
    assert azure.double.deployments == {}
    assert keyed.delete_deployment("bot-prod") is False  # 204: already gone


def test_no_key_or_token_in_errors(azure: RunningDouble, train_file: Path) -> None:
    wrong = "f" * 32
    provider = AzureProvider("azure", _config(azure, max_retries=0), api_key=wrong)
    with pytest.raises(ProviderAPIError) as caught:
        provider.list_files()
    assert caught.value.status == 401
    assert wrong not in str(caught.value) and wrong not in repr(provider)
    entra = AzureProvider("azure", _config(azure, auth="entra"), credential=default_credential())
    entra.list_files()
    token = next(iter(azure.double.tokens))
    assert entra._scrub(f"failed with Bearer {token}") == "failed with Bearer ***"


def test_azure_statuses_are_mapped_to_openai_ones(keyed: AzureProvider) -> None:
    raw = {
        "id": "ftjob-1",
        "model": MODEL,
        "training_file": "file-1",
        "created_at": 1,
        "metadata": None,
    }
    assert keyed._to_job({**raw, "status": "canceled"}).status == "cancelled"
    assert keyed._to_job({**raw, "status": "notRunning"}).status == "queued"
    assert keyed._to_job({**raw, "status": "pending"}).status == "queued"
    assert keyed._to_job({**raw, "status": "running"}).status == "running"


def test_entra_without_azure_identity_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "azure.identity", None)
    with pytest.raises(CredentialsError, match=r"pip install 'ftctl\[azure\]'"):
        default_credential()


def test_the_descriptions_reject_what_azure_does_not_accept() -> None:
    """The checks are not vacuous: a metadata filter, a paginated file listing or a
    deployment without its api-version are violations."""
    from ..support.azure_double import spec_check

    jobs = spec_check.find_operation("GET", "/openai/v1/fine_tuning/jobs")
    files = spec_check.find_operation("GET", "/openai/v1/files")
    create = spec_check.find_operation("POST", "/openai/v1/fine_tuning/jobs")
    put = spec_check.find_operation(
        "PUT",
        "/subscriptions/s/resourceGroups/g/providers/Microsoft.CognitiveServices"
        "/accounts/a/deployments/d",
    )
    assert jobs and files and create and put
    assert spec_check.check_request(jobs, [("metadata[ftctl_project]", "x")], None)
    assert spec_check.check_request(files, [("limit", "100")], None)
    assert spec_check.check_request(create, [], {"model": MODEL})  # no training_file
    assert spec_check.check_request(put, [], {"sku": {"name": "Standard"}})
    assert spec_check.check_response(jobs, 200, {"object": "list", "data": [{"id": 1}]})


def test_azure_errors_say_what_to_do(
    azure: RunningDouble, keyed: AzureProvider, train_file: Path
) -> None:
    with pytest.raises(ProviderAPIError, match="not available for this resource or region"):
        keyed.deploy("bot-prod", "gpt-5-imaginary", "Standard", 1, {})
    wrong = AzureProvider("azure", _config(azure, max_retries=0), api_key="e" * 32)
    with pytest.raises(ProviderAPIError, match="check apiKeyEnv"):
        wrong.list_jobs()


@pytest.mark.parametrize("auth", ["key", "entra"])
def test_the_dated_api_for_resources_that_still_need_it(
    azure: RunningDouble, train_file: Path, auth: str
) -> None:
    config = _config(azure, auth=auth, api_version="2025-04-01-preview")
    provider = (
        AzureProvider("azure", config, api_key=API_KEY)
        if auth == "key"
        else AzureProvider("azure", config, credential=default_credential())
    )
    model = _trained(provider, train_file)
    provider.deploy("bot-prod", model, "Standard", 1, {})
    assert provider.chat(model, [{"role": "user", "content": "hi"}], 8, 0.0, None)
    data_plane = [s for s in azure.double.seen if s.path.startswith("/openai/")]
    assert {s.auth for s in data_plane} == {"api-key" if auth == "key" else "bearer"}
    assert set(azure.double.dated_api_versions) == {"2025-04-01-preview"}
    assert azure.double.chats == ["bot-prod"]


def test_no_credential_for_resource_manager_is_a_clear_error(
    azure: RunningDouble, keyed: AzureProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDENTITY_HEADER", "wrong")  # the managed identity refuses
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "ManagedIdentityCredential")
    with pytest.raises(
        CredentialsError, match="cannot get a Microsoft Entra ID token for https://management"
    ):
        keyed.list_deployments()
    assert azure.double.count("Deployments_List") == 0
