"""Provenance a supply-chain tool reads: in-toto Statements (v1) about a version's model.

Two statements, from the state and the audit log alone (pure functions, no I/O):

- SLSA Provenance v1 (`https://slsa.dev/provenance/v1`): the model and the uploaded
  dataset files are the subjects; `buildDefinition.externalParameters` holds the project
  file, the git commit and the dirty flag (plus the training settings written in that
  file); `resolvedDependencies` the data sources (path with SHA-256 and git blob id, or
  git revision resolved to commit and blob), the project file and the base model (a
  fine-tuned base links to its own version's fingerprint); `runDetails` the provider as
  builder, the job id as invocation, start and finish times, and as byproducts the audit
  entries that made the version, each named by its hash in the audit chain (who and when
  in their annotations).
- in-toto Test Result v0.1 (`https://in-toto.io/attestation/test-result/v0.1`): the gate
  decision, one test per gate.

A provider's model has no bytes to hash (the weights stay on the provider), so the model
subject's digest is the training fingerprint under the name `ftctlTrainingFingerprint`:
the DigestSet spec allows a non-cryptographic-artifact identifier when immutability holds
otherwise, and a fine-tuned model id never changes what it names. Statements are not
signed (a DSSE envelope can wrap them later).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ftctl.lineage.graph import VersionLineage
from ftctl.state.model import AuditEntry

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
SLSA_PROVENANCE = "https://slsa.dev/provenance/v1"
TEST_RESULT = "https://in-toto.io/attestation/test-result/v0.1"
BUILD_TYPE = "urn:ftctl:buildtype:fine-tune:v1"
FINGERPRINT_DIGEST = "ftctlTrainingFingerprint"
# A full git object id (SHA-1 or SHA-256), as the gitCommit digest requires.
_GIT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def builder_id(provider: str) -> str:
    return f"urn:ftctl:provider:{provider}"


def model_subject(v: VersionLineage) -> dict[str, Any]:
    return {
        "name": v.model_id or f"{v.address} (no model yet)",
        "digest": {FINGERPRINT_DIGEST: v.fingerprint},
        "annotations": {"address": v.address, "provider": v.provider, "jobId": v.job_id},
    }


def provenance_statement(
    v: VersionLineage,
    audit: Sequence[AuditEntry],
    *,
    ftctl_version: str,
    builder_ids: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The SLSA Provenance v1 statement of version `v`."""
    build = dict(v.build or {})
    subjects = [model_subject(v)]
    for d in v.datasets:
        annotations: dict[str, Any] = {"split": d.split, "fileId": d.file_id}
        if d.examples is not None:
            annotations["examples"] = d.examples
        if d.tokens is not None:
            annotations["tokens"] = d.tokens
        subjects.append(
            {
                "name": f"ftctl-{d.sha256}.jsonl",
                "digest": {"sha256": d.sha256},
                "mediaType": "application/jsonl",
                "annotations": annotations,
            }
        )
    external: dict[str, Any] = {
        "project": v.project,
        "configFile": build.get("config_file"),
        "gitCommit": build.get("git_commit", v.git_commit),
        "gitDirty": build.get("git_dirty"),
        "baseModel": v.base_model,
        "method": v.method,
        "hyperparameters": dict(v.hyperparameters),
        "seed": v.seed,
    }
    run_details: dict[str, Any] = {
        "builder": {
            "id": (builder_ids or {}).get(v.provider, builder_id(v.provider)),
            "version": {"ftctl": ftctl_version},
        },
        "metadata": _metadata(v),
    }
    byproducts = _audit_byproducts(v, audit)
    if byproducts:
        run_details["byproducts"] = byproducts
    predicate = {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {k: x for k, x in external.items() if x is not None},
            "internalParameters": _internal(v, build),
            "resolvedDependencies": _dependencies(v, build),
        },
        "runDetails": run_details,
    }
    return {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": SLSA_PROVENANCE,
        "predicate": predicate,
    }


def test_result_statement(v: VersionLineage) -> dict[str, Any] | None:
    """The gate decision as an in-toto Test Result statement; None when gates never ran."""
    if v.gates is None:
        return None
    passed: list[str] = []
    failed: list[str] = []
    for result in v.gates.get("results") or []:
        if not isinstance(result, Mapping):
            continue
        name = str(result.get("message") or result.get("name") or "gate")
        (passed if result.get("passed") else failed).append(name)
    ok = bool(v.gates.get("passed"))
    build = dict(v.build or {})
    configuration: list[dict[str, Any]] = []
    if build.get("config_file") and build.get("config_sha256"):
        configuration.append(_config_descriptor(build))
    else:
        # No recorded project file (a version from before build records): the gate
        # configuration the decision was made under stands in for it.
        configuration.append(
            {
                "name": f"{v.address} gates",
                "digest": {FINGERPRINT_DIGEST: v.fingerprint},
                "annotations": {"gates": dict(v.gates.get("config") or {})},
            }
        )
    return {
        "_type": STATEMENT_TYPE,
        "subject": [model_subject(v)],
        "predicateType": TEST_RESULT,
        "predicate": {
            "result": "PASSED" if ok and not failed else "FAILED",
            "configuration": configuration,
            "passedTests": passed,
            "warnedTests": [],
            "failedTests": failed,
        },
    }


def _metadata(v: VersionLineage) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if v.job_id:
        out["invocationId"] = v.job_id
    if v.created_at:
        out["startedOn"] = v.created_at
    if v.finished_at:
        out["finishedOn"] = v.finished_at
    return out


def _internal(v: VersionLineage, build: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"fingerprint": v.fingerprint}
    if v.plan_id:
        out["planId"] = v.plan_id
    if build.get("who"):
        out["appliedBy"] = build["who"]
    return out


def _config_descriptor(build: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": str(build["config_file"]),
        "digest": {"sha256": build["config_sha256"], "gitBlob": build["config_git_blob"]},
        "mediaType": "application/yaml",
    }


def _dependencies(v: VersionLineage, build: Mapping[str, Any]) -> list[dict[str, Any]]:
    deps: list[dict[str, Any]] = []
    if build.get("config_file") and build.get("config_sha256"):
        deps.append(_config_descriptor(build))
    commit = build.get("git_commit", v.git_commit)
    if commit and _GIT_ID.fullmatch(str(commit)):
        deps.append(
            {
                "name": "workspace repository",
                "digest": {"gitCommit": commit},
                "annotations": {"dirty": build.get("git_dirty")},
            }
        )
    sources = build.get("sources") or {}
    for split in sorted(sources):
        for source in sources[split]:
            descriptor = _source_descriptor(split, source)
            if descriptor is not None:
                deps.append(descriptor)
    deps.append(_base_model(v))
    return deps


def _source_descriptor(split: str, source: Mapping[str, Any]) -> dict[str, Any] | None:
    kind = source.get("kind")
    if kind == "path":
        return {
            "name": str(source["path"]),
            "digest": {"sha256": source["sha256"], "gitBlob": source["git_blob"]},
            "annotations": {"split": split, "kind": "path"},
        }
    if kind == "git":
        digest = {
            k: source[key]
            for k, key in (("sha256", "sha256"), ("gitBlob", "git_blob"))
            if source.get(key)
        }
        annotations = {
            "split": split,
            "kind": "git",
            "rev": source.get("rev"),
            "gitCommit": source.get("commit"),
        }
        name = f"{source.get('repo_path') or source.get('path')}@{source.get('rev')}"
        if not digest:  # unresolved: still named, by a URI of what the config says
            return {"name": name, "uri": f"urn:ftctl:git:{source.get('rev')}:{source.get('path')}"}
        return {"name": name, "digest": digest, "annotations": annotations}
    if kind == "inline":
        return None  # inline rows are part of the project file, which is a dependency
    return None


def _base_model(v: VersionLineage) -> dict[str, Any]:
    descriptor: dict[str, Any] = {
        "name": v.base_model,
        "uri": f"urn:ftctl:model:{v.provider}:{v.base_model}",
        "annotations": {"role": "base model"},
    }
    if v.parent is not None:
        descriptor["digest"] = {FINGERPRINT_DIGEST: v.parent.fingerprint}
        descriptor["annotations"]["address"] = v.parent.address
    return descriptor


def _audit_byproducts(v: VersionLineage, audit: Sequence[AuditEntry]) -> list[dict[str, Any]]:
    """The audit entries that made this version, named by their place in the hash chain."""
    out: list[dict[str, Any]] = []
    for entry in audit:
        if entry.address != v.address or entry.entry_hash is None:
            continue
        out.append(
            {
                "name": f"audit #{entry.seq} {entry.operation}: {entry.action} {entry.address}",
                "digest": {"sha256": entry.entry_hash},
                "annotations": {"who": entry.who, "at": entry.at, "action": entry.action},
            }
        )
    return out
