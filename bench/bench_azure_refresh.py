#!/usr/bin/env python3
"""What Azure's missing job-metadata filter costs ftctl's refresh, against the Azure test
double (loopback HTTP, every request checked against Azure's published descriptions).

On OpenAI, refresh lists only this workspace's jobs (`metadata[ftctl_workspace]=…`, one
request per 100). Azure's job listing takes only `after` and `limit`, so ftctl lists every
job of the resource and filters them itself: requests grow with the resource's jobs, not
the workspace's. Also: the requests a create whose answer was lost takes to recover.

Usage (from the repository root): PYTHONPATH=. bench/bench_azure_refresh.py [--ours 100] [--others 400]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

from tests.support.azure_double.app import AzureDouble, serving

from ftctl.config.models import AzureProvider as AzureConfig
from ftctl.providers.azure import AzureProvider
from ftctl.providers.base import META_PROJECT, META_WORKSPACE, JobRequest
from ftctl.refresh import refresh
from ftctl.state.model import StateSnapshot

KEY = "0123456789abcdef0123456789abcdef"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ours", type=int, default=100)
    parser.add_argument("--others", type=int, default=400)
    args = parser.parse_args()
    double = AzureDouble(api_key=KEY, polls_to_train=10**9)
    with serving(double) as url, tempfile.TemporaryDirectory() as tmp:
        config = AzureConfig.model_validate(
            {
                "type": "azure",
                "endpoint": url,
                "subscriptionId": double.subscription_id,
                "resourceGroup": double.resource_group,
                "account": double.account,
                "managementEndpoint": url,
            }
        )
        provider = AzureProvider("azure", config, api_key=KEY)
        train = Path(tmp) / "t.jsonl"
        train.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
        file_id = provider.upload_file(train, "ftctl-bench.jsonl").id
        for i in range(args.ours + args.others):
            workspace = "ours" if i < args.ours else f"other-{i % 7}"
            provider.create_job(
                JobRequest(
                    model="gpt-4o-mini-2024-07-18",
                    training_file=file_id,
                    validation_file=None,
                    method="supervised",
                    hyperparameters={},
                    suffix=None,
                    seed=1,
                    metadata={META_PROJECT: "bench", META_WORKSPACE: workspace},
                )
            )
        snapshot = StateSnapshot.empty("ours")
        start = time.perf_counter()
        observed = refresh(snapshot, {"azure": provider}, "ours")
        elapsed = time.perf_counter() - start
        total = args.ours + args.others
        print(f"jobs on the resource: {total} ({args.ours} of this workspace)")
        print(f"refresh: {observed.request_count} requests, {elapsed * 1000:.0f} ms")
        print(
            f"  expected on Azure (no filter): ceil({total}/100) = {math.ceil(total / 100)}; "
            f"on OpenAI (filtered): ceil({args.ours}/100) = {math.ceil(args.ours / 100)}"
        )
        print(f"  jobs found: {len(observed.jobs)}")
        before = provider.request_count
        double.faults.add("lose_job_create")
        provider.create_job(
            JobRequest(
                model="gpt-4o-mini-2024-07-18",
                training_file=file_id,
                validation_file=None,
                method="supervised",
                hyperparameters={},
                suffix=None,
                seed=1,
                metadata={META_PROJECT: "bench", META_WORKSPACE: "ours"},
            )
        )
        print(
            f"a create whose answer was lost: {provider.request_count - before} requests "
            f"(1 create + listing pages until the tag is found), "
            f"{sum(1 for s in double.seen if s.operation == 'createFineTuningJob') - total} "
            "job created"
        )
        assert double.violations == [], double.violations


if __name__ == "__main__":
    main()
