"""Benchmark: the no-op plan of 100 projects against a local server holding 2,000 jobs.

Sets up, in a temporary directory: a workspace of 100 tiny projects (built once, so the
dataset cache is warm), a state recording 20 versions per project (2,000), and a local
server whose store already holds the 2,000 matching jobs (inserted directly into its
SQLite store: training 2,000 jobs is not what is measured). Then it measures `plan`:
in-process (load + cached data build, refresh, pure planning) and through the CLI.

Target (issue): under 2 s, and at most one HTTP request per page of listings plus one
per changed object (here: no changes, so pages only).

    /tmp/venv/bin/python bench/bench_plan.py [--projects 100] [--versions 20]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from ftctl.ops.prepare import load_desired, make_plan, observe, prepare
from ftctl.plan.builder import PlanContext, build_plan
from ftctl.plan.changes import PlanOptions
from ftctl.plan.fingerprint import fingerprint
from ftctl.providers.base import META_FINGERPRINT, META_PROJECT, META_WORKSPACE
from ftctl.server.launcher import ensure_local_server, stop_local_server
from ftctl.server.store import JobRecord, ModelRecord, Store
from ftctl.state.model import AliasRecord, DatasetRecord, VersionRecord
from ftctl.state.sqlite import SqliteStateStore

PROJECT = """\
apiVersion: ftctl/v1
kind: FineTuneProject
metadata: {{name: {name}}}
spec:
  provider: local
  baseModel: local-tiny
  data:
    train: {{sources: [{{path: data/train.jsonl}}]}}
  policy:
    minExamples: {{value: 10, level: off}}
  training: {{hyperparameters: {{nEpochs: 1}}, seed: 7}}
  promote: {{alias: prod, when: always}}
  lifecycle: {{keepVersions: 100}}
"""


def write_workspace(root: Path, projects: int) -> None:
    (root / "ftctl.yaml").write_text(
        "apiVersion: ftctl/v1\nkind: Workspace\nmetadata: {name: bench}\n"
        "providers:\n  local: {type: local, dataDir: .ftctl/server}\n"
        "defaults: {provider: local}\n"
    )
    for i in range(projects):
        rows = [
            {
                "messages": [
                    {"role": "user", "content": f"q{i}-{j}"},
                    {"role": "assistant", "content": f"a{i}-{j}"},
                ]
            }
            for j in range(12)
        ]
        directory = root / "projects" / f"p{i:03d}"
        (directory / "data").mkdir(parents=True)
        (directory / "data" / "train.jsonl").write_text(
            "".join(json.dumps(row) + "\n" for row in rows)
        )
        (directory / "project.yaml").write_text(PROJECT.format(name=f"p{i:03d}"))


def populate(root: Path, versions: int) -> int:
    """Record `versions` versions per project in state and the same jobs on the server."""
    _, desired = load_desired(root)
    store = SqliteStateStore(root / ".ftctl" / "state.db", workspace_name="bench")
    snapshot = store.read()
    server = Store(root / ".ftctl" / "server")
    created = int(time.time()) - 86_400
    jobs = 0
    for name, project in sorted(desired.items()):
        train = project.splits["train"]
        snapshot = snapshot.with_dataset(
            DatasetRecord(name, "train", train.sha256, "local", f"file-{name}", 12, 100, "")
        )
        current = project.fingerprint_inputs()
        for number in range(1, versions + 1):
            latest = number == versions
            inputs = current if latest else {**current, "seed": number}
            fp = fingerprint(inputs)
            job_id = f"ftjob-bench-{name}-{number}"
            model_id = f"ft:local-tiny:bench:{name}:{number}" if latest else None
            server.add_job(
                JobRecord(
                    id=job_id,
                    created_at=created + jobs,
                    model="local-tiny",
                    base_model="local-tiny",
                    training_file=f"file-{name}",
                    validation_file=None,
                    status="succeeded",
                    method={"type": "supervised"},
                    hyperparameters={"n_epochs": 1},
                    seed=7,
                    metadata={
                        META_PROJECT: name,
                        META_FINGERPRINT: fp,
                        META_WORKSPACE: snapshot.workspace_id,
                    },
                    fine_tuned_model=model_id or f"ft:local-tiny:bench:{name}:{number}",
                    finished_at=created + jobs + 60,
                )
            )
            jobs += 1
            if model_id:
                server.add_model(ModelRecord(model_id, created, "user", job_id, None, "local-tiny"))
            snapshot = snapshot.with_version(
                VersionRecord(
                    project=name,
                    number=number,
                    fingerprint=fp,
                    fingerprint_inputs=inputs,
                    provider="local",
                    base_model="local-tiny",
                    method="supervised",
                    hyperparameters=project.hyperparameters,
                    seed=7,
                    train_sha256=train.sha256,
                    validation_sha256=None,
                    train_file_id=f"file-{name}",
                    validation_file_id=None,
                    job_id=job_id,
                    model_id=model_id,
                    status="succeeded" if latest else "retired",
                    gates=None,
                    created_at="2026-11-25T00:00:00Z",
                )
            )
        snapshot = snapshot.with_alias(
            AliasRecord(name, "prod", versions, f"ft:local-tiny:bench:{name}:{versions}", "")
        )
    server.close()
    store.write(dataclasses.replace(snapshot))
    return jobs


def run_cli(
    command: list[str], env: dict[str, str], server_pid: int
) -> tuple[float, float, float, int, str, str]:
    """Run the CLI once: wall s, its CPU s (user + system), the server's CPU s meanwhile.

    CPU times do not grow when other work shares the machine; on an idle machine the
    wall time is about their sum (a plan's requests run one after the other).
    """
    server_before = _process_cpu(server_pid)
    reaped_before = _children_cpu()
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    stdout, stderr = process.communicate()
    wall = time.perf_counter() - started
    cpu = _children_cpu() - reaped_before  # the CLI is the only child reaped meanwhile
    server_cpu = _process_cpu(server_pid) - server_before
    return wall, cpu, server_cpu, process.returncode, stdout, stderr


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _process_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=100)
    parser.add_argument("--versions", type=int, default=20, help="jobs per project")
    parser.add_argument("--cli-runs", type=int, default=3, help="CLI runs (best is shown)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ftctl-bench-") as tmp:
        root = Path(tmp)
        write_workspace(root, args.projects)
        started = time.perf_counter()
        jobs = populate(root, args.versions)
        print(
            f"setup: {args.projects} projects, {jobs} jobs on the server "
            f"({time.perf_counter() - started:.1f} s, includes the first data build)"
        )
        server = ensure_local_server(root / ".ftctl" / "server")
        try:
            t0 = time.perf_counter()
            prepared = prepare(root)
            t1 = time.perf_counter()
            observe(prepared)  # opens the provider (imports the SDK) and refreshes
            t2 = time.perf_counter()
            plan = make_plan(prepared, PlanOptions())  # refreshes again, now warm
            t3 = time.perf_counter()
            assert prepared.observation is not None
            t4 = time.perf_counter()
            build_plan(
                list(prepared.desired.values()),
                prepared.snapshot,
                prepared.observation.world(),
                PlanOptions(),
                PlanContext("bench", "", date.today()),
            )
            t5 = time.perf_counter()
            assert not plan.has_changes, [c.address for c in plan.changes][:5]
            requests = prepared.providers.request_count // 2  # two refreshes were made
            observation = prepared.observation
            pages = math.ceil(len(observation.jobs) / 100) + 1  # job pages + one model list
            print(f"load workspace + cached data build: {t1 - t0:.2f} s")
            print(f"first refresh (opens the provider, imports the SDK): {t2 - t1:.2f} s")
            print(
                f"refresh + plan (warm): {t3 - t2:.2f} s; pure build_plan alone: "
                f"{(t5 - t4) * 1000:.0f} ms"
            )
            print(
                f"HTTP requests per plan: {requests} (pages of listings: {pages}; "
                f"{len(observation.jobs)} jobs observed); changes: {len(plan.changes)}"
            )

            env = {**os.environ, "NO_COLOR": "1"}
            cli = [
                sys.executable,
                "-m",
                "ftctl",
                "--workspace",
                str(root),
                "--json",
                "plan",
                "--detailed-exitcode",
            ]
            runs = [run_cli(cli, env, server.pid) for _ in range(args.cli_runs)]
            wall, cpu, server_cpu, code, stdout, stderr = min(runs)
            summary = json.loads(stdout)["summary_text"] if stdout else stderr
            print(
                f"CLI `ftctl plan` wall time: {wall:.2f} s (best of {len(runs)}; exit {code}: "
                f"{summary}) -- includes interpreter start and imports"
            )
            print(
                f"CLI `ftctl plan` CPU time: {cpu:.2f} s in ftctl + {server_cpu:.2f} s in the "
                f"local server (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
            )
        finally:
            stop_local_server(root / ".ftctl" / "server")


if __name__ == "__main__":
    main()
