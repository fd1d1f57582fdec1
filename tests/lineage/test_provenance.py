"""Provenance statements from a state without a git repository or a server: versions
recorded before build records existed, failed gates, and job metadata within limits."""

from __future__ import annotations

import pytest

from ftctl.lineage.graph import lineage_of
from ftctl.lineage.provenance import provenance_statement
from ftctl.lineage.provenance import test_result_statement as gate_statement
from ftctl.providers.base import fit_metadata
from ftctl.state.sqlite import SqliteStateStore

from .intoto import validator
from .test_lineage import store

__all__ = ["store"]


def test_a_version_without_a_build_record_still_gives_valid_statements(
    store: SqliteStateStore,
) -> None:
    found = lineage_of(store.read(), store.audit(), "bot")
    statement = provenance_statement(found.version, store.audit(), ftctl_version="0.0.0")
    validator("slsa-provenance-v1").validate(statement)
    deps = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    # v2 was trained on v1's model: the base model names v1 by its fingerprint.
    assert deps[-1]["annotations"]["address"] == "version.bot.1"
    assert deps[-1]["digest"] == {"ftctlTrainingFingerprint": "fp1"}
    tested = gate_statement(found.version)
    assert tested is not None
    validator("intoto-test-result-v0.1").validate(tested)
    assert tested["predicate"]["result"] == "PASSED"
    assert tested["predicate"]["passedTests"] == ["full_valid_loss 0.81 <= 1.2  pass"]


def test_failed_gates_are_a_failed_test_result(store: SqliteStateStore) -> None:
    version = lineage_of(store.read(), store.audit(), "bot").version
    failing = {
        "passed": False,
        "results": [
            {"name": "full_valid_loss", "passed": False, "message": "loss 3.1 <= 1.2  FAIL"},
            {"name": "pass_rate", "passed": True, "message": "pass rate 0.95 >= 0.9  pass"},
        ],
    }
    tested = gate_statement(_with_gates(version, failing))
    assert tested is not None
    validator("intoto-test-result-v0.1").validate(tested)
    assert tested["predicate"]["result"] == "FAILED"
    assert tested["predicate"]["failedTests"] == ["loss 3.1 <= 1.2  FAIL"]
    assert gate_statement(_with_gates(version, None)) is None


def _with_gates(version: object, gates: object) -> object:
    import dataclasses

    return dataclasses.replace(version, gates=gates)  # type: ignore[type-var]


def test_job_metadata_stays_within_openai_limits() -> None:
    required = {f"ftctl_k{i}": "v" for i in range(3)}
    optional: dict[str, str | None] = {f"ftctl_o{i}": "x" for i in range(20)}
    optional["ftctl_o0"] = "y" * 513  # too long: left out rather than refused by the provider
    optional["ftctl_o1"] = None
    fitted = fit_metadata(required, optional)
    assert len(fitted) == 16 and "ftctl_o0" not in fitted and "ftctl_o1" not in fitted
    assert all(len(k) <= 64 and len(v) <= 512 for k, v in fitted.items())
    with pytest.raises(ValueError, match="limits"):
        fit_metadata({"ftctl_project": "p" * 600}, {})
