"""A flaky provider must never cost a second paid job or a second upload.

Two kinds of flakiness: the server's own fault injection (errors, latency and dropped
connections on every endpoint, decided before a request is handled), and a proxy that
lets a request take effect and then drops the connection before the answer arrives (the
case the SDK's blind retry of a POST turns into a duplicate).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from _kit import (
    LosingProxy,
    ServerFactory,
    ServerProcess,
    ftctl,
    make_workspace,
    state,
    workspace_jobs,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FLAKY = "rate=0.2,codes=429:500:503,latency_ms=50,drop=0.05,seed=1,retry_after_ms=5"


def assert_one_job_per_fingerprint_and_one_upload_per_dataset(
    root: Path, server: ServerProcess
) -> None:
    snapshot = state(root)
    jobs = workspace_jobs(server, str(snapshot["workspace_id"]))
    fingerprints = Counter(j.metadata["ftctl_fingerprint"] for j in jobs if j.metadata)
    assert jobs and set(fingerprints.values()) == {1}, [(j.id, j.metadata) for j in jobs]
    recorded = {str(v["fingerprint"]) for v in snapshot["versions"]}  # type: ignore[attr-defined]
    assert recorded == set(fingerprints)
    uploads = Counter(f.filename for f in server.client().files.list() if f.purpose == "fine-tune")
    datasets = snapshot["datasets"]
    assert datasets and all(
        uploads[f"ftctl-{d['sha256']}.jsonl"] == 1  # type: ignore[index]
        for d in datasets  # type: ignore[attr-defined]
    ), uploads
    assert sum(uploads.values()) == len({d["sha256"] for d in datasets})  # type: ignore[attr-defined,index]


def test_apply_completes_against_a_flaky_server(
    tmp_path: Path, start_server: ServerFactory
) -> None:
    server = start_server("--faults", FLAKY)
    root = make_workspace(tmp_path / "ws", server.base_url)
    applied = ftctl(root, "apply", "--auto-approve")
    assert "Apply complete! Resources: 2 uploaded, 1 trained, 1 promoted" in applied.stdout
    # The faults really happened, on reads and writes alike.
    injected = [code for code in server.requests("POST", "/v1/") if code >= 429]
    injected += [code for code in server.requests("GET", "/v1/") if code >= 429]
    assert injected, server.log()
    assert_one_job_per_fingerprint_and_one_upload_per_dataset(root, server)


def test_a_lost_create_response_does_not_start_a_second_job(
    tmp_path: Path, start_server: ServerFactory
) -> None:
    server = start_server()
    # The first upload and a job creation take effect on the server, but their answers
    # never reach ftctl: it sees a dropped connection. (The creation's first attempt
    # gets a 503 without reaching the server: that one must simply be tried again.)
    lose = {"POST /v1/files": 1, "POST /v1/fine_tuning/jobs": 1}
    refuse = {"POST /v1/fine_tuning/jobs": 1}
    proxy = LosingProxy(server.base_url.removesuffix("/v1"), lose, refuse=refuse)
    try:
        root = make_workspace(tmp_path / "ws", proxy.base_url)
        applied = ftctl(root, "apply", "--auto-approve")
        assert sorted(proxy.lost) == sorted(lose), proxy.forwarded
        assert proxy.refused == ["POST /v1/fine_tuning/jobs"]
    finally:
        proxy.close()
    assert "Apply complete! Resources: 2 uploaded, 1 trained, 1 promoted" in applied.stdout
    assert_one_job_per_fingerprint_and_one_upload_per_dataset(root, server)


def test_a_create_whose_outcome_stays_unknown_is_adopted_by_the_next_apply(
    tmp_path: Path, start_server: ServerFactory
) -> None:
    server = start_server()
    # The job is created but its answer is lost, and so are the look-ups that would find
    # it: this apply cannot know whether the job exists, so it must not create another.
    lose = {"POST /v1/fine_tuning/jobs": 1}
    then = {"GET /v1/fine_tuning/jobs": 3}  # the SDK's try and its two retries
    proxy = LosingProxy(server.base_url.removesuffix("/v1"), lose, then)
    try:
        root = make_workspace(tmp_path / "ws", proxy.base_url)
        failed = ftctl(root, "apply", "--auto-approve", check=1)
        assert proxy.lost == [*lose, *(["GET /v1/fine_tuning/jobs"] * 3)], proxy.forwarded
        assert (
            "Error: version.mini.1: provider 'local': cannot find out whether the job was "
            "created before its answer was lost: cannot reach" in failed.stderr
        )
        [job] = server.client().fine_tuning.jobs.list().data
        assert state(root)["versions"] == []

        again = ftctl(root, "apply", "--auto-approve")
        assert f"# version.mini.1 will be adopted (job {job.id} " in again.stdout
        assert "Apply complete! Resources: 0 uploaded, 0 trained, 1 promoted" in again.stdout
    finally:
        proxy.close()
    assert_one_job_per_fingerprint_and_one_upload_per_dataset(root, server)
