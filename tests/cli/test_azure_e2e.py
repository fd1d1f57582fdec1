"""An Azure project end to end: the CLI in a subprocess against the Azure test double
(data plane, Resource Manager deployments and a managed-identity token endpoint on
loopback), every request and response checked against Azure's published descriptions.

plan offline -> apply (train, gate through a temporary Developer deployment, deploy and
promote) -> a new version (deployment updated, the old version retired) -> a deployment
deleted out of band is drift and is re-created -> a lost create answer makes one job ->
destroy. No key or token may appear in any output or file.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..support.azure_double.app import AzureDouble, serving
from ..support.azure_double.fixtures import API_KEY, clean_env
from ..support.cli import run_ftctl
from ..support.local_server import running_local_server

pytestmark = [pytest.mark.e2e]

EXAMPLE = (
    '{{"messages": [{{"role": "system", "content": "Route the ticket."}}, '
    '{{"role": "user", "content": "Ticket {i}: my invoice {i} is wrong"}}, '
    '{{"role": "assistant", "content": "{{\\"answer\\": \\"billing-{i}\\"}}"}}]}}\n'
)

PROJECT = """\
apiVersion: ftctl/v1
kind: FineTuneProject
metadata: {{name: mini}}
spec:
  provider: azure
  baseModel: gpt-4o-mini-2024-07-18
  suffix: mini
  data:
    train: {{sources: [{{path: data/train.jsonl}}]}}
    test: {{sources: [{{path: data/test.jsonl}}]}}
  policy:
    minExamples: {{value: 10, level: warn}}
  training:
    hyperparameters: {{nEpochs: {epochs}}}
    seed: 7
  gates:
    metrics: [{{metric: full_valid_loss, max: 1.0}}]
    evals:
      graders: [{{type: regex, pattern: "answer"}}]
      pass: {{minPassRate: 0.9}}
  promote: {{alias: prod, deployment: {{sku: Standard, capacity: 2}}}}
  lifecycle: {{keepVersions: 1}}
"""


def _workspace(root: Path, url: str, double: AzureDouble, epochs: int = 2) -> Path:
    data = root / "projects" / "mini" / "data"
    data.mkdir(parents=True, exist_ok=True)
    (root / "ftctl.yaml").write_text(
        "apiVersion: ftctl/v1\nkind: Workspace\nmetadata: {name: az}\n"
        "providers:\n"
        "  azure:\n"
        "    type: azure\n"
        f"    endpoint: {url}\n"
        "    apiKeyEnv: AZURE_OPENAI_API_KEY\n"
        f"    subscriptionId: {double.subscription_id}\n"
        f"    resourceGroup: {double.resource_group}\n"
        f"    account: {double.account}\n"
        f"    managementEndpoint: {url}\n"
        "    deploymentPollSeconds: 0.05\n"
        "defaults: {provider: azure}\n"
    )
    (data / "train.jsonl").write_text("".join(EXAMPLE.format(i=i) for i in range(12)))
    (data / "test.jsonl").write_text("".join(EXAMPLE.format(i=i) for i in range(20, 23)))
    (root / "projects/mini/project.yaml").write_text(PROJECT.format(epochs=epochs))
    return root


@pytest.fixture
def double() -> Iterator[tuple[AzureDouble, str]]:
    azure = AzureDouble(api_key=API_KEY, polls_to_train=2, reads_to_provision=2)
    with serving(azure) as url:
        yield azure, url
    assert azure.violations == [], "\n".join(azure.violations)


class Session:
    """Runs the CLI with the Azure credentials a user would have, and keeps every output."""

    def __init__(self, root: Path, azure: AzureDouble, url: str) -> None:
        self.root = root
        self.azure = azure
        self.env = clean_env(
            {
                "AZURE_OPENAI_API_KEY": API_KEY,
                "IDENTITY_ENDPOINT": f"{url}/msi/token",
                "IDENTITY_HEADER": azure.identity_header,
            }
        )
        self.outputs: list[str] = []

    def __call__(self, *args: str, check: int | None = 0) -> subprocess.CompletedProcess[str]:
        done = run_ftctl(*args, workspace=self.root, env=self.env, check=check, timeout=180)
        self.outputs += [done.stdout, done.stderr]
        return done

    def plan_json(self) -> dict[str, object]:
        done = self("--json", "plan", check=None)
        assert done.returncode in (0, 2), done.stderr
        return json.loads(done.stdout)


def _changes(plan: dict[str, object]) -> dict[str, list[str]]:
    return {c["address"]: c["actions"] for c in plan["resource_changes"]}  # type: ignore[index,union-attr]


def test_azure_project_end_to_end(tmp_path: Path, double: tuple[AzureDouble, str]) -> None:
    azure, url = double
    root = _workspace(tmp_path / "ws", url, azure)
    run = Session(root, azure, url)

    # Offline, without credentials (and nothing listening where Azure would be): the plan
    # shows the training job and the deployment, each with its cost.
    offline = _workspace(tmp_path / "offline", "http://127.0.0.1:9", azure)
    done = run_ftctl("plan", workspace=offline, env=clean_env({}), check=0)
    run.outputs += [done.stdout, done.stderr]
    assert "+ version" in done.stdout and '"mini/1"' in done.stdout
    assert re.search(r"est\. cost +=  ?\$0\.00 \(888 billed tokens, 2 epochs\)", done.stdout)
    assert "deployment.mini.prod will be created" in done.stdout
    assert "hosting  = $1.70/hour" in done.stdout
    assert 'temporary Developer deployment "mini-v1-gate"' in done.stdout
    assert "+ hosting $1.70/hour" in done.stdout
    assert azure.seen == []

    # Apply: train, gate through the temporary deployment, deploy, promote.
    run("apply", "--auto-approve")
    assert azure.chats and set(azure.chats) == {"mini-v1-gate"}
    assert set(azure.deployments) == {"mini-prod"}
    v1 = azure.deployments["mini-prod"]["properties"]["model"]["name"]
    assert v1.startswith("gpt-4o-mini-2024-07-18.ft-")
    assert azure.deployments["mini-prod"]["sku"] == {"name": "Standard", "capacity": 2}
    assert run("output", "mini").stdout.strip() == v1
    assert run("output", "mini", "--deployment").stdout.strip() == "mini-prod"
    listed = run("state", "list").stdout
    assert "deployment.mini.prod" in listed and "alias.mini.prod" in listed
    assert run("plan", "--detailed-exitcode", check=0)

    # A new version: the deployment is updated to it, the old version is retired.
    (root / "projects/mini/project.yaml").write_text(PROJECT.format(epochs=3))
    plan = run.plan_json()
    assert _changes(plan)["deployment.mini.prod"] == ["deploy"]
    assert _changes(plan)["version.mini.2"] == ["create", "wait", "gate"]
    run("apply", "--auto-approve")
    v2 = azure.deployments["mini-prod"]["properties"]["model"]["name"]
    assert v2 != v1 and set(azure.deployments) == {"mini-prod"}
    assert "mini-v2-gate" in azure.chats

    # Azure deletes an idle deployment (15 days without calls): drift, re-created on apply.
    azure.drop_deployment("mini-prod")
    done = run("plan", check=0)
    assert "deployment.mini.prod has changed: deployment mini-prod was deleted outside ftctl" in (
        done.stdout
    )
    assert "15 consecutive days" in done.stderr  # a warning: on stderr
    plan = run.plan_json()
    assert _changes(plan)["deployment.mini.prod"] == ["deploy"]
    run("apply", "--auto-approve")
    assert azure.deployments["mini-prod"]["properties"]["model"]["name"] == v2

    # The answer to a job creation is lost: the retry finds the job, one job is made.
    (root / "projects/mini/project.yaml").write_text(PROJECT.format(epochs=4))
    jobs_before = len(azure.jobs)
    azure.faults.add("lose_job_create")
    run("apply", "--auto-approve")
    assert len(azure.jobs) == jobs_before + 1
    assert "lose_job_create" not in azure.faults  # the fault did fire

    # Destroy deletes the deployment (billed by the hour) and forgets everything.
    run("destroy", "mini", "--auto-approve")
    assert azure.deployments == {}
    assert "deployment.mini" not in run("state", "list", check=None).stdout

    # No key or token anywhere: outputs, the state, plan files, caches.
    secrets = [s for s in azure.secrets if s]
    assert secrets and len(azure.tokens) >= 1
    for text in run.outputs:
        assert not any(secret in text for secret in secrets)
    for path in root.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert not any(secret.encode() in content for secret in secrets), path


MIGRATING = """\
apiVersion: ftctl/v1
kind: FineTuneProject
metadata: {{name: mini}}
spec:
  provider: {provider}
  baseModel: {base}
  data:
    train: {{sources: [{{path: data/train.jsonl}}]}}
    test: {{sources: [{{path: data/test.jsonl}}]}}
  policy:
    minExamples: {{value: 10, level: warn}}
  training:
    hyperparameters: {{nEpochs: 1, batchSize: 4}}
    seed: 7
  gates:
    evals:
      baseline: alias:prod
      graders: [{{type: regex, pattern: "answer"}}]
      pass: {{minPassRate: 0.9, minWinRate: 0.5}}
  promote: {{alias: prod, when: {when}}}
  lifecycle: {{keepVersions: 2}}
"""


def test_moving_a_project_to_azure_is_gated_on_the_prod_the_old_provider_serves(
    tmp_path: Path, double: tuple[AzureDouble, str]
) -> None:
    """One change of `provider:` and `baseModel:`: the Azure candidate (through its gate
    deployment) and the old provider's `prod` answer the same test set; prod moves to
    Azure and gets its deployment only because the candidate is at least as good."""
    azure, url = double
    root = _workspace(tmp_path / "ws", url, azure)
    with running_local_server(tmp_path / "server") as local:
        config = (root / "ftctl.yaml").read_text()
        (root / "ftctl.yaml").write_text(
            config.replace(
                "providers:\n", f"providers:\n  old: {{type: local, baseUrl: '{local.base_url}'}}\n"
            )
        )
        project = root / "projects/mini/project.yaml"
        project.write_text(MIGRATING.format(provider="old", base="local-tiny", when="always"))
        run = Session(root, azure, url)
        run("apply", "--auto-approve")
        old_prod = run("output", "mini").stdout.strip()
        assert old_prod.startswith("ft:local-tiny") and azure.seen == []

        project.write_text(
            MIGRATING.format(provider="azure", base="gpt-4o-mini-2024-07-18", when="gates_pass")
        )
        plan = run.plan_json()
        assert _changes(plan)["version.mini.2"] == ["create", "wait", "gate"]
        assert _changes(plan)["deployment.mini.prod"] == ["deploy"]
        run("apply", "--auto-approve")

        new_prod = run("output", "mini").stdout.strip()
        assert new_prod.startswith("gpt-4o-mini-2024-07-18.ft-")
        # The candidate answered through its temporary deployment, prod through the old
        # provider (the double never saw prod's model), and the win made the move.
        assert set(azure.chats) == {"mini-v2-gate"}
        assert set(azure.deployments) == {"mini-prod"}
        state = json.loads(run("state", "show", "version.mini.2", "--json").stdout)
        assert state["gates"]["passed"] is True
        assert state["gates"]["eval"]["baseline"] == old_prod
