"""plan/apply/show/output/destroy end to end: the CLI in a subprocess, the local server,
the real openai SDK for out-of-band changes. Training is tiny (30 examples, 1 epoch).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from ftctl.providers.local_launcher import LocalServerHandle

from ..support.cli import run_ftctl
from ..support.local_server import running_local_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SOURCE_DATA = REPO / "projects" / "support-triage" / "data"

PROJECT_YAML = """\
apiVersion: ftctl/v1
kind: FineTuneProject
metadata: {{name: mini, owner: {owner}}}
spec:
  provider: local
  baseModel: local-tiny
  suffix: mini
  data:
    train: {{sources: [{{path: data/train.jsonl}}]}}
    validation: {{split: {{fraction: 0.2, seed: 7}}}}
    test: {{sources: [{{path: data/test.jsonl}}]}}
  policy:
    minExamples: {{value: 10, level: warn}}
  training:
    hyperparameters: {{nEpochs: {epochs}, batchSize: {batch}}}
    seed: 7
  gates:
    metrics: [{{metric: full_valid_loss, max: 100}}]
  promote: {{alias: prod, when: gates_pass}}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServerHandle]:
    data_dir = tmp_path_factory.mktemp("server")
    with running_local_server(data_dir) as handle:
        yield handle


def make_workspace(
    root: Path, server: LocalServerHandle, *, epochs: int = 1, batch: int = 8
) -> Path:
    (root / "projects" / "mini" / "data").mkdir(parents=True)
    (root / "ftctl.yaml").write_text(
        "apiVersion: ftctl/v1\nkind: Workspace\nmetadata: {name: e2e}\n"
        f"providers:\n  local: {{type: local, baseUrl: '{server.base_url}'}}\n"
        "defaults: {provider: local}\n"
    )
    train = (SOURCE_DATA / "train.jsonl").read_text()
    (root / "projects/mini/data/train.jsonl").write_text("".join(train.splitlines(True)[:30]))
    test = (SOURCE_DATA / "test.jsonl").read_text()
    (root / "projects/mini/data/test.jsonl").write_text("".join(test.splitlines(True)[:5]))
    write_project(root, epochs=epochs, batch=batch)
    return root


def write_project(
    root: Path, *, epochs: int = 1, owner: str = "a@example.com", batch: int = 8
) -> None:
    text = PROJECT_YAML.format(epochs=epochs, owner=owner, batch=batch)
    (root / "projects/mini/project.yaml").write_text(text)


def ftctl(root: Path, *args: str, check: int | None = 0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "USER": "e2e-tester"}
    return run_ftctl(*args, workspace=root, env=env, check=check, timeout=240)


def client(server: LocalServerHandle) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="ftctl-local", max_retries=0)


def plan_json(root: Path, *args: str) -> dict[str, object]:
    return json.loads(ftctl(root, "--json", "plan", *args, check=None).stdout)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, server: LocalServerHandle) -> Path:
    """A workspace whose first apply trained and promoted version 1 (shared, plan-only use)."""
    root = make_workspace(tmp_path_factory.mktemp("trained"), server)
    assert ftctl(root, "plan", "--detailed-exitcode", check=2).stdout.count("will be trained") == 1
    applied = ftctl(root, "apply", "--auto-approve")
    assert (
        "Apply complete! Resources: 2 uploaded, 1 trained, 1 promoted, 0 retired." in applied.stdout
    )
    return root


def test_first_apply_trains_promotes_and_the_second_plan_is_empty(
    trained: Path, server: LocalServerHandle
) -> None:
    model = ftctl(trained, "output", "mini").stdout.strip()
    assert model.startswith("ft:local-tiny")
    again = ftctl(trained, "plan", "--detailed-exitcode", check=0)
    assert "No changes. Fine-tunes match the configuration." in again.stdout
    # The job carries ftctl's metadata, so a retry can find it instead of paying twice.
    jobs = [j for j in client(server).fine_tuning.jobs.list() if j.fine_tuned_model == model]
    assert len(jobs) == 1
    assert jobs[0].metadata and jobs[0].metadata["ftctl_project"] == "mini"
    state = json.loads(ftctl(trained, "show", "--json").stdout)
    assert state["aliases"][0]["model_id"] == model
    assert state["versions"][0]["fingerprint"] == jobs[0].metadata["ftctl_fingerprint"]


def test_hyperparameter_change_plans_a_new_version_and_owner_change_does_not(
    trained: Path,
) -> None:
    try:
        write_project(trained, epochs=2)
        human = ftctl(trained, "plan", "--detailed-exitcode", check=2).stdout
        assert "# version.mini.2 will be trained (fingerprint changed)" in human
        assert re.search(r"n_epochs\s+= 1 -> 2\s+# forces a new version", human)
        data = plan_json(trained)
        change = next(c for c in data["resource_changes"] if c["address"] == "version.mini.2")  # type: ignore[union-attr,index]
        assert change["actions"] == ["create", "wait", "gate"]
        assert change["forces_new"] == [
            {"path": "hyperparameters.n_epochs", "before": 1, "after": 2}
        ]
        comment = ftctl(trained, "plan", "--markdown").stdout
        assert "| `mini` | 0 | 1 | 1 | 0 | 0 | $0.00 |" in comment
        assert "<details>" in comment and "# forces a new version" in comment
        only_version = plan_json(trained, "--target", "version.mini")
        assert [c["address"] for c in only_version["resource_changes"]] == ["version.mini.2"]  # type: ignore[union-attr,index]
        write_project(trained, epochs=1, owner="someone-else@example.com")
        ftctl(trained, "plan", "--detailed-exitcode", check=0)
    finally:
        write_project(trained)


def test_changed_data_plans_an_upload_that_counts_added_and_removed_examples(
    trained: Path,
) -> None:
    data = trained / "projects/mini/data/train.jsonl"
    original = data.read_text()
    source = (SOURCE_DATA / "train.jsonl").read_text().splitlines(True)
    try:
        # One example dropped, two new ones: the canonical files of the recorded upload
        # (still in the dataset cache) and of the new build are compared line by line.
        data.write_text("".join(source[1:30] + source[30:32]))
        human = ftctl(trained, "plan").stdout
        counts = re.findall(
            r"will be uploaded \(content changed: \+(\d+) / -(\d+) examples\)", human
        )
        assert counts, human
        # The validation split is a stable hash split of train: the examples land in one
        # of the two splits each.
        assert sum(int(a) for a, _ in counts) == 2 and sum(int(r) for _, r in counts) == 1
    finally:
        data.write_text(original)


def test_stale_saved_plan_is_refused(trained: Path) -> None:
    plan_file = trained / "next.plan"
    try:
        write_project(trained, epochs=2)
        ftctl(trained, "plan", "-out", str(plan_file), check=0)
        data = trained / "projects/mini/data/train.jsonl"
        original = data.read_text()
        data.write_text("".join(original.splitlines(True)[:29]))
        refused = ftctl(trained, "apply", str(plan_file), check=1)
        assert "Saved plan is stale" in refused.stderr
        assert "mini.train" in refused.stderr
        data.write_text(original)
        shown = ftctl(trained, "show", str(plan_file)).stdout
        assert "version.mini.2 will be trained" in shown
    finally:
        write_project(trained)
        plan_file.unlink(missing_ok=True)
    # Nothing was applied: the state still matches the original configuration.
    ftctl(trained, "plan", "--detailed-exitcode", check=0)


def test_apply_refuses_to_ask_without_a_terminal(trained: Path) -> None:
    try:
        write_project(trained, epochs=3)
        refused = ftctl(trained, "apply", check=1)
        assert "--auto-approve" in refused.stderr
    finally:
        write_project(trained)


def test_no_wait_then_out_of_band_cancel_shows_drift(
    tmp_path: Path, server: LocalServerHandle
) -> None:
    # Long enough (50 epochs, batch 1) that the job is still running when we cancel it.
    root = make_workspace(tmp_path / "ws", server, epochs=50, batch=1)
    started = ftctl(root, "apply", "--auto-approve", "--no-wait")
    assert "is training; run `ftctl apply` again" in started.stderr
    state = json.loads(ftctl(root, "show", "--json").stdout)
    job_id = state["versions"][0]["job_id"]
    assert state["versions"][0]["status"] == "running"
    client(server).fine_tuning.jobs.cancel(job_id)

    drift = plan_json(root, "--refresh-only")
    assert [d["address"] for d in drift["drift"]] == ["version.mini.1"]  # type: ignore[index]
    assert "cancelled outside ftctl" in drift["drift"][0]["message"]  # type: ignore[index]
    assert [c["actions"] for c in drift["resource_changes"]] == [["record-drift"]]  # type: ignore[union-attr,index]
    plan = ftctl(root, "plan", check=0).stdout
    assert "Objects have changed outside of ftctl" in plan
    assert "# version.mini.2 will be trained (version 1 was cancelled)" in plan
    # Applying the refresh-only plan records the cancellation and nothing else.
    ftctl(root, "plan", "--refresh-only", "-out", str(root / "refresh.plan"))
    ftctl(root, "apply", str(root / "refresh.plan"))
    versions = json.loads(ftctl(root, "show", "--json").stdout)["versions"]
    assert [(v["number"], v["status"]) for v in versions] == [(1, "cancelled")]


def _jobs_of(
    server: LocalServerHandle, workspace_id: str
) -> list[openai.types.fine_tuning.FineTuningJob]:
    return [
        j
        for j in client(server).fine_tuning.jobs.list(limit=100)
        if j.metadata and j.metadata.get("ftctl_workspace") == workspace_id
    ]


def test_sigkill_mid_apply_then_apply_again_trains_once_per_fingerprint(
    tmp_path: Path, server: LocalServerHandle
) -> None:
    root = make_workspace(tmp_path / "ws", server, epochs=2)
    # The workspace id is made with the state, by the apply (inspecting creates no state):
    # the apply's job is the one that was not on the (shared) server before.
    before = {j.id for j in client(server).fine_tuning.jobs.list(limit=100)}

    def new_jobs() -> list[openai.types.fine_tuning.FineTuningJob]:
        return [j for j in client(server).fine_tuning.jobs.list(limit=100) if j.id not in before]

    env = {**os.environ, "NO_COLOR": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "ftctl", "--workspace", str(root), "apply", "--auto-approve"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.monotonic() + 120
        while not new_jobs():  # kill as soon as the paid job exists
            assert process.poll() is None, "apply ended before it created the job"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    workspace_id = json.loads(ftctl(root, "show", "--json").stdout)["workspace_id"]
    assert [j.metadata["ftctl_workspace"] for j in new_jobs() if j.metadata] == [workspace_id]

    # The killed apply's lock names its dead process: the next apply takes it over.
    again = ftctl(root, "apply", "--auto-approve")
    assert re.search(
        rf"took over a stale state lock: lock \w+ held by .* pid {process.pid} on .*"
        "no longer running",
        again.stderr,
    ), again.stderr
    jobs = _jobs_of(server, workspace_id)
    fingerprints = [j.metadata["ftctl_fingerprint"] for j in jobs if j.metadata]
    assert len(jobs) == 1 and len(set(fingerprints)) == 1
    assert ftctl(root, "output", "mini").stdout.strip() == jobs[0].fine_tuned_model
    ftctl(root, "plan", "--detailed-exitcode", check=0)

    # A model deleted outside ftctl is drift; destroy then cleans up what is left.
    client(server).models.delete(jobs[0].fine_tuned_model or "")
    drift = ftctl(root, "plan", "--detailed-exitcode", check=2).stdout
    assert "model was deleted outside ftctl" in drift
    destroyed = ftctl(root, "destroy", "mini", "--auto-approve").stdout
    assert re.search(r"^Destroy complete! Resources: [1-9]\d* destroyed\.$", destroyed, re.M)
    assert "Apply complete" not in destroyed
    assert json.loads(ftctl(root, "show", "--json").stdout)["versions"] == []
    ftctl(root, "output", "mini", check=1)

    # Applying again never adopts the old job (its model is gone): it trains anew.
    replanned = ftctl(root, "plan").stdout
    assert "version.mini.1 will be trained" in replanned and "adopting" not in replanned
    ftctl(root, "apply", "-auto-approve", check=0)
    model = ftctl(root, "output", "mini").stdout.strip()
    assert model != jobs[0].fine_tuned_model
    assert model in {m.id for m in client(server).models.list()}


def _train_directly(
    server: LocalServerHandle, built: Path, *, epochs: int
) -> openai.types.fine_tuning.FineTuningJob:
    """Train with the openai SDK alone (no ftctl), from the project's built data."""
    sdk = client(server)
    with (built / "train.jsonl").open("rb") as handle:
        train = sdk.files.create(file=handle, purpose="fine-tune")
    with (built / "validation.jsonl").open("rb") as handle:
        validation = sdk.files.create(file=handle, purpose="fine-tune")
    job = sdk.fine_tuning.jobs.create(
        model="local-tiny",
        training_file=train.id,
        validation_file=validation.id,
        hyperparameters={"n_epochs": epochs, "batch_size": 8},
        seed=7,
        suffix="by-hand",
    )
    deadline = time.monotonic() + 120
    while job.status not in ("succeeded", "failed", "cancelled"):
        assert time.monotonic() < deadline, f"job {job.id} still {job.status}"
        time.sleep(0.2)
        job = sdk.fine_tuning.jobs.retrieve(job.id)
    assert job.status == "succeeded", job.error
    return job


def test_an_imported_job_trained_from_the_same_settings_and_data_is_not_retrained(
    tmp_path: Path, server: LocalServerHandle
) -> None:
    root = make_workspace(tmp_path / "ws", server)
    ftctl(root, "data", "build", "mini", "--out", str(tmp_path / "built"))
    same = _train_directly(server, tmp_path / "built", epochs=1)
    other = _train_directly(server, tmp_path / "built", epochs=2)

    imported = json.loads(ftctl(root, "import", "version.mini.1", same.id, "--json").stdout)
    assert imported["matches_configuration"] is True
    inputs = imported["version"]["fingerprint_inputs"]
    assert inputs["hyperparameters"]["n_epochs"] == 1 and inputs["seed"] == 7
    plan = plan_json(root)
    versions = [c for c in plan["resource_changes"] if c["address"].startswith("version.")]  # type: ignore[union-attr,index]
    # Nothing to train: only its gates run (then prod moves to it).
    assert [(c["address"], c["actions"]) for c in versions] == [("version.mini.1", ["gate"])]

    # A job trained with other settings is adopted, but the configuration gets its own
    # version, and the plan says why.
    ftctl(root, "state", "rm", "version.mini.1")
    mismatch = ftctl(root, "import", "version.mini.1", other.id)
    assert "hyperparameters.n_epochs: job 2, configuration 1" in mismatch.stderr
    human = ftctl(root, "plan", "--detailed-exitcode", check=2).stdout
    assert (
        "# version.mini.2 will be trained (imported version 1 does not match the configuration)"
        in human
    )
    forced = [line.split("=")[0].strip() for line in human.splitlines() if "# forces" in line]
    assert forced == ["n_epochs"]  # the data and the "auto" settings match: not listed


def test_apply_exits_1_when_the_new_version_fails_its_gates(
    tmp_path: Path, server: LocalServerHandle
) -> None:
    root = make_workspace(tmp_path, server)
    project = root / "projects/mini/project.yaml"
    project.write_text(project.read_text().replace("max: 100", "max: 0.0001"))
    failed = ftctl(root, "apply", "-auto-approve", check=1)
    assert re.search(
        r"^Error: version 1 of mini failed its gates: full_valid_loss: [\d.]+ vs <= 0\.0001$",
        failed.stderr,
        re.MULTILINE,
    ), failed.stderr
    assert "Apply complete!" not in failed.stdout
    # Everything was recorded; the alias did not move.
    state = json.loads(ftctl(root, "show", "--json").stdout)
    assert state["aliases"] == []
    [version] = state["versions"]
    assert version["status"] == "succeeded" and version["gates"]["passed"] is False
