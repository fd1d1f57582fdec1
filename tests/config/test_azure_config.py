"""`type: azure` providers and `promote.deployment` in the YAML."""

from __future__ import annotations

from pathlib import Path

from ftctl.config.loader import read_workspace

AZURE = """\
  azure:
    type: azure
    endpoint: https://acme-ft.openai.azure.com
    apiKeyEnv: AZURE_OPENAI_API_KEY
    subscriptionId: 00000000-0000-0000-0000-000000000000
    resourceGroup: ml
"""


def _with_azure(workspace: Path, provider: str = AZURE) -> None:
    path = workspace / "ftctl.yaml"
    path.write_text(path.read_text().replace("providers:\n", "providers:\n" + provider, 1))


def test_an_azure_provider_and_a_deployment_load(workspace: Path) -> None:
    _with_azure(workspace)
    project = workspace / "projects/demo/project.yaml"
    project.write_text(
        project.read_text()
        + "  promote: {alias: prod, deployment: {sku: GlobalStandard, capacity: 2}}\n"
    )
    report = read_workspace(workspace)
    assert report.valid, "\n".join(map(str, report.diagnostics))
    config = report.workspace.model.providers["azure"]
    assert config.type == "azure"
    assert config.account_name == "acme-ft"  # from the endpoint
    assert config.auth == "key" and config.api_version is None
    promote = report.projects[0].model.spec.promote
    assert promote is not None and promote.deployment is not None
    assert (promote.deployment.sku, promote.deployment.capacity) == ("GlobalStandard", 2)
    assert promote.deployment.gate_sku == "Developer"


def test_a_wrong_sku_is_located(workspace: Path) -> None:
    _with_azure(workspace)
    project = workspace / "projects/demo/project.yaml"
    project.write_text(project.read_text() + "  promote: {deployment: {sku: Premium}}\n")
    report = read_workspace(workspace)
    assert not report.valid
    (diagnostic,) = report.diagnostics
    assert diagnostic.field == "spec.promote.deployment.sku"
    assert "Premium" in diagnostic.message or "Standard" in diagnostic.message


def test_an_azure_provider_needs_its_resource_group(workspace: Path) -> None:
    _with_azure(workspace, AZURE.replace("    resourceGroup: ml\n", ""))
    report = read_workspace(workspace)
    assert not report.valid
    (diagnostic,) = report.diagnostics
    assert diagnostic.file == "ftctl.yaml"
    assert diagnostic.field == "providers.azure.resourceGroup"
