"""Execute a plan, and nothing else.

Under the state lock (taken by `apply_plan`, or by a caller that planned under it and
calls `apply_locked`), each change's actions run in the plan's order, and the state is
written (compare-and-swap) after every step, so an interruption at any point leaves a
state that the next plan continues from. A job is never recorded before it exists:
crash safety comes from looking jobs up by their metadata (project, fingerprint,
workspace) before creating one, so a retry adopts the job instead of paying twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ftctl import __version__
from ftctl.apply.gating import GateInputs, run_gates
from ftctl.apply.records import version_record
from ftctl.apply.waiting import DEFAULT_OUTAGE_S, PollPolicy, wait_for_job
from ftctl.datasets.sources import file_sha256
from ftctl.errors import FtctlError, GateError, PlanError, ProviderAPIError, ProviderError
from ftctl.events import Event, EventSink, ignore
from ftctl.gates.results import format_number
from ftctl.plan.changes import (
    Action,
    CancelChange,
    CheckChange,
    DeployChange,
    DriftChange,
    ImportChange,
    NewVersionChange,
    Plan,
    PromoteChange,
    ResourceChange,
    RetireChange,
    UndeployChange,
    UploadChange,
    gates_json,
)
from ftctl.plan.desired import DesiredProject
from ftctl.plan.rebuild import build_from_metadata
from ftctl.plan.savedplan import check_fresh
from ftctl.providers.base import (
    META_COMMIT,
    META_CONFIG,
    META_DIRTY,
    META_FINGERPRINT,
    META_NUMBER,
    META_PROJECT,
    META_TRAIN_SHA256,
    META_VALIDATION_SHA256,
    META_VERSION,
    META_WORKSPACE,
    JobRequest,
    Provider,
    RemoteFile,
    RemoteJob,
    SupportsDeployments,
    deployments_api,
    fit_metadata,
)
from ftctl.state.model import (
    AliasRecord,
    AuditEntry,
    DatasetRecord,
    DeploymentRecord,
    StateSnapshot,
    VersionRecord,
    VersionStatus,
    iso_from_unix,
    utc_now,
)
from ftctl.state.store import StateStore


@dataclass
class ApplyOptions:
    who: str
    git_commit: str | None = None
    operation: str = "apply"
    wait: bool = True
    lock_timeout_s: float = 0.0
    poll: PollPolicy = field(default_factory=PollPolicy)
    # How long a wait keeps polling a provider that fails temporarily (unreachable, 429,
    # 5xx) before it gives up on that change; per provider name where it differs.
    outage_timeout_s: float = DEFAULT_OUTAGE_S
    outage_timeouts: Mapping[str, float] = field(default_factory=dict)
    project_dirs: Mapping[str, Path] = field(default_factory=dict)
    # Per project: what its versions are built from (ftctl.lineage.sources.build_record),
    # stored on each version this apply creates.
    build_records: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass
class ApplyResult:
    applied: list[tuple[str, str]] = field(default_factory=list)  # (address, action)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (address, message)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (address, why)
    started: list[str] = field(default_factory=list)  # versions left training (--no-wait)
    # (address, "version N of P failed its gates: ...") for versions trained and recorded
    # but not promoted: the desired state was not reached, so apply fails.
    gates_failed: list[tuple[str, str]] = field(default_factory=list)
    snapshot: StateSnapshot | None = None

    @property
    def ok(self) -> bool:
        """Every step ran (a version failing its gates is a result, not a failed step)."""
        return not self.failed

    @property
    def reached(self) -> bool:
        """The configuration was reached: every step ran and every gate passed."""
        return self.ok and not self.gates_failed


class _StepFailed(FtctlError):
    """One change failed; the rest of its project is skipped, other projects go on."""


C = TypeVar("C", bound=ResourceChange)


def _expect(change: ResourceChange, kind: type[C], action: Action) -> C:
    """The change as the type its action needs (a plan file could pair them wrongly)."""
    if not isinstance(change, kind):
        raise PlanError(f"{change.address}: cannot apply action {action!s} to this change")
    return change


class Executor:
    def __init__(
        self,
        plan: Plan,
        store: StateStore,
        providers: Callable[[str], Provider],
        desired: Mapping[str, DesiredProject],
        options: ApplyOptions,
        events: EventSink = ignore,
    ) -> None:
        self.plan = plan
        self.store = store
        self.providers = providers
        self.desired = desired
        self.options = options
        self.events = events
        self.result = ApplyResult()
        self.snapshot: StateSnapshot | None = None
        self._files: dict[str, list[RemoteFile]] = {}
        self._blocked: dict[str, str] = {}  # project -> why its later steps are skipped

    # ---------------------------------------------------------------- driver

    def run(self) -> ApplyResult:
        """Apply the plan; the caller holds the state lock."""
        self.snapshot = self.store.read()
        data_hashes = {
            f"{name}.{split}": s.sha256
            for name, p in self.desired.items()
            for split, s in p.splits.items()
        }
        check_fresh(self.plan, self.snapshot, data_hashes)
        for change in self.plan.actionable:
            self._run_change(change)
        self.result.snapshot = self.snapshot
        return self.result

    def _run_change(self, change: ResourceChange) -> None:
        blocked = self._blocked.get(change.project)
        if blocked and change.actions[0] in (Action.PROMOTE, Action.RETIRE, Action.DEPLOY):
            self.result.skipped.append((change.address, blocked))
            return
        try:
            for action in change.actions:
                if not self._run_action(change, action):
                    break
        except (ProviderError, GateError) as error:
            self._fail(change, str(error))
        except _StepFailed as error:
            self._fail(change, error.message)

    def _fail(self, change: ResourceChange, message: str) -> None:
        # Reported once, by whoever renders the result (not also as a warning event).
        self.result.failed.append((change.address, message))
        self._blocked[change.project] = f"{change.address} failed"

    def _run_action(self, change: ResourceChange, action: Action) -> bool:
        """Run one step; False stops the change's remaining steps (without failing it)."""
        if action in (Action.WAIT, Action.GATE) and not self.options.wait:
            self._blocked[change.project] = "not waited for (--no-wait)"
            self.result.started.append(change.address)
            self.result.skipped.append((change.address, "--no-wait: the next apply waits"))
            return False
        self.events(Event("step", f"{change.address}: {action}", task=change.address))
        detail = self._step(change, action)
        if detail is None:
            return False
        self.result.applied.append((change.address, action))
        self.store.append_audit(
            AuditEntry.new(
                who=self.options.who,
                operation=self.options.operation,
                address=change.address,
                action=str(action),
                plan_id=self.plan.plan_id,
                git_commit=self.options.git_commit,
                # The plan's reason, so `ftctl history` can say why without the plan file.
                detail={**detail, "reason": change.reason.text},
            )
        )
        return True

    def _step(self, change: ResourceChange, action: Action) -> dict[str, Any] | None:
        """Run `action` of `change`: the audit detail, or None when it did nothing."""
        match action:
            case Action.UPLOAD:
                return self._upload(_expect(change, UploadChange, action))
            case Action.CREATE:
                return self._create(_expect(change, NewVersionChange, action))
            case Action.ADOPT if isinstance(change, ImportChange):
                return self._import(change)
            case Action.ADOPT:
                return self._adopt(_expect(change, NewVersionChange, action))
            case Action.WAIT:
                return self._wait(change)
            case Action.GATE:
                gated = change if isinstance(change, NewVersionChange) else None
                return self._gate(gated or _expect(change, CheckChange, action))
            case Action.PROMOTE:
                return self._promote(_expect(change, PromoteChange, action))
            case Action.CANCEL:
                return self._cancel(_expect(change, CancelChange, action))
            case Action.RETIRE:
                return self._retire(_expect(change, RetireChange, action))
            case Action.FORGET:
                return self._forget(change)
            case Action.RECORD_DRIFT:
                return self._record_drift(_expect(change, DriftChange, action))
            case Action.DEPLOY:
                return self._deploy(_expect(change, DeployChange, action))
            case Action.UNDEPLOY:
                return self._undeploy(_expect(change, UndeployChange, action))

    def _write(self, snapshot: StateSnapshot) -> None:
        self.snapshot = self.store.write(snapshot)

    @property
    def _state(self) -> StateSnapshot:
        assert self.snapshot is not None
        return self.snapshot

    def _version(self, change: ResourceChange) -> VersionRecord:
        record = self._state.find(change.address)
        if not isinstance(record, VersionRecord):
            raise _StepFailed(f"{change.address} is not in the state")
        return record

    # ---------------------------------------------------------------- steps

    def _upload(self, change: UploadChange) -> dict[str, Any]:
        project, split = change.project, change.split
        provider = self.providers(change.provider)
        sha = change.sha256
        built = self.desired[project].splits[split]
        if built.path is None or built.sha256 != sha:
            raise _StepFailed(f"built data for {change.address} is missing or changed")
        # Content-addressed: the name carries the hash, so a re-run finds the upload.
        filename = f"ftctl-{sha}.jsonl"
        remote = next((f for f in self._list_files(provider) if f.filename == filename), None)
        reused = remote is not None
        if remote is None:
            # The build took the cache's file as intact by its stat (`cache_verified`): what
            # leaves the machine is hashed, so that a file damaged on disk is not uploaded
            # under the name of the bytes it no longer holds.
            if file_sha256(built.path) != sha:
                raise _StepFailed(
                    f"built data for {change.address} ({built.path}) no longer has the SHA-256 "
                    f"{sha[:12]}… it was built with (changed or damaged on disk); nothing was "
                    "uploaded: build the data again (`ftctl data build`) and plan again"
                )
            remote = provider.upload_file(built.path, filename)
            self._files[provider.name].append(remote)
        record = DatasetRecord(
            project=project,
            split=split,
            sha256=sha,
            provider=provider.name,
            file_id=remote.id,
            examples=built.examples,
            tokens=built.tokens,
            uploaded_at=utc_now(),
        )
        self._write(self._state.with_dataset(record))
        return {"file_id": remote.id, "sha256": sha, "reused": reused}

    def _list_files(self, provider: Provider) -> list[RemoteFile]:
        if provider.name not in self._files:
            self._files[provider.name] = provider.list_files()
        return self._files[provider.name]

    def _file_id(self, provider: str, sha: str | None) -> str | None:
        if sha is None:
            return None
        for record in self._state.datasets:
            if record.provider == provider and record.sha256 == sha:
                return record.file_id
        raise _StepFailed(f"no uploaded file with sha256 {sha[:12]}… on provider {provider!r}")

    def _create(self, change: NewVersionChange) -> dict[str, Any]:
        spec = change.spec
        provider = self.providers(spec.provider)
        fingerprint = spec.fingerprint
        metadata = {
            META_PROJECT: change.project,
            META_FINGERPRINT: fingerprint,
            META_WORKSPACE: self._state.workspace_id,
        }
        # The SDK sends no idempotency key: look for a job we already started first.
        existing = [
            j
            for j in provider.list_jobs(metadata=metadata)
            if j.status not in ("failed", "cancelled") and self._state.version_by_job(j.id) is None
        ]
        if any(j.status == "succeeded" for j in existing):
            # A finished job whose model was deleted since (`ftctl destroy`) is not reused.
            models = {m.id for m in provider.list_models()}
            existing = [
                j for j in existing if j.status != "succeeded" or j.fine_tuned_model in models
            ]
        if existing:
            job = max(existing, key=lambda j: (j.created_at, j.id))
            adopted = True
        else:
            stamped = fit_metadata(metadata, self._rebuild_metadata(change))
            hyper = {k: v for k, v in spec.hyperparameters.items() if v != "auto"}
            request = JobRequest(
                model=spec.base_model,
                training_file=str(self._file_id(provider.name, spec.train_sha256)),
                validation_file=self._file_id(provider.name, spec.validation_sha256),
                method=spec.method,
                hyperparameters=hyper,
                suffix=spec.suffix,
                seed=spec.seed,
                metadata=stamped,
                grader=spec.grader,
            )
            job = provider.create_job(request)
            adopted = False
        self._record_job(change, job)
        return {"job_id": job.id, "fingerprint": fingerprint, "adopted_existing": adopted}

    def _rebuild_metadata(self, change: NewVersionChange) -> dict[str, str | None]:
        """What `ftctl import --all` rebuilds the version from when the state is lost."""
        spec = change.spec
        build = self.options.build_records.get(change.project) or {}
        dirty = build.get("git_dirty")
        return {
            META_VERSION: __version__,
            META_COMMIT: self.options.git_commit,
            META_NUMBER: str(spec.number),
            META_TRAIN_SHA256: spec.train_sha256,
            META_VALIDATION_SHA256: spec.validation_sha256,
            META_DIRTY: None if dirty is None else str(bool(dirty)).lower(),
            META_CONFIG: build.get("config_file"),
        }

    def _adopt(self, change: NewVersionChange) -> dict[str, Any]:
        provider = self.providers(change.spec.provider)
        job = provider.retrieve_job(str(change.job_id))
        self._record_job(change, job)
        return {"job_id": job.id, "fingerprint": change.spec.fingerprint}

    def _record_job(self, change: NewVersionChange, job: RemoteJob) -> None:
        record = version_record(
            change.project,
            change.spec,
            job,
            plan_id=self.plan.plan_id,
            git_commit=self.options.git_commit,
            build=_build_record(self.options.build_records.get(change.project)),
        )
        self._write(self._state.with_version(record))

    def _import(self, change: ImportChange) -> dict[str, Any]:
        """Record an existing job as the provider shows it now, with the files it
        trained on when they hold the configured data: one state write, one audit entry."""
        provider = self.providers(change.spec.provider)
        job = provider.retrieve_job(change.job_id)
        checkpoints = provider.list_checkpoints(job.id) if job.status == "succeeded" else []
        record = version_record(
            change.project,
            change.spec,
            job,
            plan_id=self.plan.plan_id,
            git_commit=job.metadata.get(META_COMMIT),
            imported=True,
            checkpoints=checkpoints,
        )
        # What the job's metadata says it was built from (commit, project file, dirty flag).
        record = dataclasses.replace(record, build=build_from_metadata(job.metadata))
        snapshot = self._state.with_version(record)
        for file in change.files:
            current = snapshot.dataset(change.project, file.split)
            if current is None or current.sha256 != file.sha256:
                snapshot = snapshot.with_dataset(
                    DatasetRecord(
                        project=change.project,
                        split=file.split,
                        sha256=file.sha256,
                        provider=provider.name,
                        file_id=file.file_id,
                        examples=file.examples,
                        tokens=file.tokens,
                        uploaded_at=utc_now(),
                    )
                )
        self._write(snapshot)
        return {
            "job_id": job.id,
            "model_id": job.fine_tuned_model,
            "fingerprint": record.fingerprint,
            "mismatches": list(change.mismatches),
        }

    def _wait(self, change: ResourceChange) -> dict[str, Any]:
        version = self._version(change)
        if version.job_id is None:
            raise _StepFailed(f"{change.address} has no job to wait for")
        provider = self.providers(version.provider)
        outage = self.options.outage_timeouts.get(provider.name, self.options.outage_timeout_s)
        job = wait_for_job(
            provider,
            version.job_id,
            change.address,
            self.events,
            self.options.poll,
            outage_s=outage,
        )
        finished = iso_from_unix(job.finished_at) if job.finished_at else utc_now()
        if job.status != "succeeded":
            status: VersionStatus = "cancelled" if job.status == "cancelled" else "failed"
            failed = dataclasses.replace(version, status=status, finished_at=finished)
            self._write(self._state.with_version(failed))
            why = f": {job.error}" if job.error else ""
            raise _StepFailed(f"job {job.id} {job.status}{why}")
        checkpoints = provider.list_checkpoints(job.id)
        final = max(checkpoints, key=lambda c: c.step) if checkpoints else None
        metrics = {k: float(v) for k, v in final.metrics.items()} if final else {}
        done = dataclasses.replace(
            version,
            status="succeeded",
            model_id=job.fine_tuned_model,
            metrics=metrics,
            trained_tokens=job.trained_tokens,
            finished_at=finished,
        )
        self._write(self._state.with_version(done))
        return {"job_id": job.id, "model_id": job.fine_tuned_model, "metrics": metrics}

    def _gate(self, change: NewVersionChange | CheckChange) -> dict[str, Any] | None:
        version = self._version(change)
        if version.status != "succeeded" or not version.model_id:
            raise _StepFailed(f"{change.address} has no trained model to check")
        gates = change.gates
        desired = self.desired.get(change.project)
        eval_splits = {
            name: s.path
            for name, s in (desired.splits.items() if desired else ())
            if s.path is not None and name in ("test", "validation")
        }
        baselines = {"base": version.base_model}
        # A baseline served by another provider (an alias trained elsewhere, e.g. on OpenAI
        # before a move to Azure) is asked through that provider.
        baseline_providers: dict[str, Provider] = {}
        for alias in self._state.aliases_of(change.project):
            baselines[f"alias:{alias.name}"] = alias.model_id
            target = self._state.version(change.project, alias.version)
            if target is not None and target.provider != version.provider:
                baseline_providers[alias.model_id] = self.providers(target.provider)
        provider = self.providers(version.provider)
        inputs = GateInputs(
            gates=gates,
            metrics=version.metrics,
            model_id=version.model_id,
            provider=provider,
            project_dir=self.options.project_dirs.get(change.project),
            eval_splits=eval_splits,
            baseline_models=baselines,
            seed=version.seed if version.seed is not None else 0,
            refusal_phrases=desired.spec.policy.max_refusal_ratio.phrases if desired else None,
            baseline_providers=baseline_providers,
        )
        if change.gate_deployment is not None and gates.evals is not None:
            decision = self._gate_through_deployment(change, inputs, provider)
        else:
            decision = run_gates(inputs, self.events)
        # The config the decision was made under: a later plan re-runs the gates when it changes.
        decision = {**decision, "config": gates_json(gates)}
        self._write(self._state.with_version(dataclasses.replace(version, gates=decision)))
        if not decision.get("passed"):
            self._blocked[change.project] = f"{change.address} failed its gates"
            shortfalls = "; ".join(
                shortfall(r) for r in decision.get("results", []) if not r.get("passed")
            )
            self.result.gates_failed.append(
                (
                    change.address,
                    f"version {version.number} of {change.project} failed its gates: {shortfalls}",
                )
            )
        return decision

    def _gate_through_deployment(
        self, change: NewVersionChange | CheckChange, inputs: GateInputs, provider: Provider
    ) -> dict[str, Any]:
        """Evals call the candidate through a short-lived deployment (on providers whose
        models serve only through one), deleted afterwards whatever the outcome."""
        assert change.gate_deployment is not None
        api = self._deployments(provider, change)
        name, sku = change.gate_deployment.name, change.gate_deployment.sku
        self.events(Event("step", f"{change.address}: deploy {name} ({sku}) for the gates"))
        try:
            api.deploy(name, inputs.model_id, sku, 1, self._deployment_tags(change.project, "gate"))
            return run_gates(inputs, self.events)
        finally:
            # Deleted whatever happened (a deployment that failed to provision too); a
            # failure to delete is reported without hiding the gates' own outcome.
            try:
                api.delete_deployment(name)
                self.events(Event("step", f"{change.address}: deleted {name}"))
            except ProviderError as error:
                self.events(
                    Event("warning", f"could not delete the temporary deployment {name}: {error}")
                )

    def _deployments(self, provider: Provider, change: ResourceChange) -> SupportsDeployments:
        api = deployments_api(provider)
        if api is None:
            raise _StepFailed(
                f"{change.address}: provider {provider.name!r} does not serve through deployments"
            )
        return api

    def _deployment_tags(self, project: str, alias: str) -> dict[str, str]:
        return {
            META_PROJECT: project,
            "ftctl_alias": alias,
            META_WORKSPACE: self._state.workspace_id,
            META_VERSION: __version__,
        }

    def _model_to_serve(self, change: DeployChange | PromoteChange) -> str | None:
        """The model an alias or its deployment may point at: the version's, when it trained,
        has a model and passed its gates (unless `when: always`); else None, recorded as
        skipped."""
        number = change.version
        version = self._state.version(change.project, number)
        if version is None or version.status != "succeeded" or not version.model_id:
            self.result.skipped.append((change.address, f"version {number} has no model"))
            return None
        gated = change.when != "always" and version.gates is not None
        if gated and not (version.gates or {}).get("passed"):
            self.result.skipped.append((change.address, f"version {number} failed its gates"))
            return None
        return version.model_id

    def _deploy(self, change: DeployChange) -> dict[str, Any] | None:
        number = change.version
        model_id = self._model_to_serve(change)
        if model_id is None:
            return None
        api = self._deployments(self.providers(change.provider), change)
        deployment = api.deploy(
            change.deployment_name,
            model_id,
            change.sku,
            change.capacity,
            self._deployment_tags(change.project, change.alias),
        )
        previous = self._state.deployment(change.project, change.alias)
        record = DeploymentRecord(
            project=change.project,
            alias=change.alias,
            name=deployment.name or change.deployment_name,
            provider=change.provider,
            version=number,
            model_id=model_id,
            sku=change.sku,
            capacity=change.capacity,
            deployed_at=utc_now(),
            plan_id=self.plan.plan_id,
        )
        self._write(self._state.with_deployment(record))
        return {
            "deployment": record.name,
            "model_id": model_id,
            "sku": change.sku,
            "capacity": change.capacity,
            "previous_version": previous.version if previous else None,
        }

    def _undeploy(self, change: UndeployChange) -> dict[str, Any]:
        api = self._deployments(self.providers(change.provider), change)
        existed = api.delete_deployment(change.deployment_name)
        return {"deployment": change.deployment_name, "deleted": existed}

    def _promote(self, change: PromoteChange) -> dict[str, Any] | None:
        number = change.version
        model_id = self._model_to_serve(change)
        if model_id is None:
            return None
        name = change.alias
        alias = AliasRecord(
            project=change.project,
            name=name,
            version=number,
            model_id=model_id,
            moved_at=utc_now(),
            plan_id=self.plan.plan_id,
        )
        previous = self._state.alias(change.project, name)
        self._write(self._state.with_alias(alias))
        return {
            "version": number,
            "model_id": model_id,
            "previous_version": previous.version if previous else None,
        }

    def _cancel(self, change: CancelChange) -> dict[str, Any]:
        version = self._version(change)
        provider = self.providers(version.provider)
        if version.job_id is None:
            raise _StepFailed(f"{change.address} has no job to cancel")
        job = provider.retrieve_job(version.job_id)
        if not job.terminal:
            job = provider.cancel_job(version.job_id)
        succeeded = job.status == "succeeded"  # it finished before the cancel arrived
        updated = dataclasses.replace(
            version,
            status="succeeded" if succeeded else "cancelled",
            model_id=job.fine_tuned_model if succeeded else None,
        )
        self._write(self._state.with_version(updated))
        return {"job_id": version.job_id, "status": job.status}

    def _retire(self, change: RetireChange) -> dict[str, Any]:
        version = self._version(change)
        model_id = version.model_id or change.model_id
        if model_id:
            try:
                self.providers(version.provider).delete_model(str(model_id))
            except ProviderAPIError as error:
                if error.status != 404:  # already gone is what we wanted
                    raise
        updated = dataclasses.replace(version, status="retired")
        self._write(self._state.with_version(updated))
        return {"model_id": model_id}

    def _forget(self, change: ResourceChange) -> dict[str, Any]:
        record = self._state.find(change.address)
        if record is None:
            return {"forgotten": change.address}
        self._write(self._state.without(change.address))
        return {"forgotten": change.address, "record": record.to_dict()}

    def _record_drift(self, change: DriftChange) -> dict[str, Any]:
        record = self._state.find(change.address)
        if record is None:
            return {"recorded": "already gone"}
        if change.status is None or not isinstance(record, VersionRecord):
            self._write(self._state.without(change.address))
            return {"recorded": "removed"}
        updated = dataclasses.replace(record, status=change.status, model_id=change.model_id)
        self._write(self._state.with_version(updated))
        return {"recorded": dict(change.after or {})}


def _build_record(record: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return dict(record) if record else None


def shortfall(result: Mapping[str, Any]) -> str:
    """One failed gate as `grader: value vs threshold` (`full_valid_loss: 1.31 vs <= 1.2`)."""
    name = str(result.get("name", "gate"))
    observed, threshold, op = result.get("observed"), result.get("threshold"), result.get("op")
    if isinstance(observed, int | float) and isinstance(threshold, int | float) and op:
        return f"{name}: {format_number(observed)} vs {op} {format_number(threshold)}"
    return str(result.get("message") or name)  # not measured: the message says why


def apply_plan(
    plan: Plan,
    store: StateStore,
    providers: Callable[[str], Provider],
    desired: Mapping[str, DesiredProject],
    options: ApplyOptions,
    events: EventSink = ignore,
) -> ApplyResult:
    """Take the state lock, then run `plan` (refused when stale): a saved plan's path."""
    with store.lock(
        options.operation, options.who, timeout_s=options.lock_timeout_s, events=events
    ):
        return apply_locked(plan, store, providers, desired, options, events)


def apply_locked(
    plan: Plan,
    store: StateStore,
    providers: Callable[[str], Provider],
    desired: Mapping[str, DesiredProject],
    options: ApplyOptions,
    events: EventSink = ignore,
) -> ApplyResult:
    """Run `plan` under a state lock the caller already holds (it planned under it, so
    nobody can have changed the state since); still refused when stale."""
    return Executor(plan, store, providers, desired, options, events).run()
