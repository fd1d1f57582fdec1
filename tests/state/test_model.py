"""State values: addresses, snapshot edits and their JSON round trip."""

from __future__ import annotations

import json

import pytest

from ftctl.errors import StateError
from ftctl.state.model import (
    Address,
    AliasRecord,
    DatasetRecord,
    StateSnapshot,
    VersionRecord,
)


def version(project: str, number: int, **changes: object) -> VersionRecord:
    fields: dict[str, object] = {
        "project": project,
        "number": number,
        "fingerprint": f"fp-{project}-{number}",
        "fingerprint_inputs": {"base_model": "local-tiny", "seed": 7},
        "provider": "local",
        "base_model": "local-tiny",
        "method": "supervised",
        "hyperparameters": {"n_epochs": 2},
        "seed": 7,
        "train_sha256": "a" * 64,
        "validation_sha256": None,
        "train_file_id": "file-1",
        "validation_file_id": None,
        "job_id": f"ftjob-{project}-{number}",
        "status": "succeeded",
        "metrics": {"full_valid_loss": 0.5},
        "created_at": "2026-11-26T00:00:00Z",
    }
    fields.update(changes)
    return VersionRecord(**fields)  # type: ignore[arg-type]


def test_address_parse_and_errors() -> None:
    addr = Address.parse("version.support-bot.3")
    assert (addr.kind, addr.project, addr.number, str(addr)) == (
        "version",
        "support-bot",
        3,
        "version.support-bot.3",
    )
    with pytest.raises(StateError, match=r"version\.<project>\.<n>"):
        Address.parse("model.support-bot.3")
    with pytest.raises(StateError, match="positive integer"):
        Address.parse("version.support-bot.latest")


def test_edits_replace_by_key_and_keep_order() -> None:
    snap = StateSnapshot.empty("ws")
    snap = snap.with_version(version("b", 2)).with_version(version("b", 1))
    snap = snap.with_version(version("a", 1))
    snap = snap.with_version(version("b", 2, status="failed"))
    assert [v.address for v in snap.versions] == [
        "version.a.1",
        "version.b.1",
        "version.b.2",
    ]
    assert snap.version("b", 2) is not None and snap.version("b", 2).status == "failed"  # type: ignore[union-attr]
    assert snap.next_version_number("b") == 3
    assert snap.next_version_number("new") == 1
    assert snap.version_by_job("ftjob-a-1") == version("a", 1)


def test_without_removes_exactly_one_record_and_refuses_unknown() -> None:
    snap = (
        StateSnapshot.empty("ws")
        .with_version(version("a", 1))
        .with_version(version("a", 2))
        .with_alias(AliasRecord("a", "prod", 2, "ft:m2", "2026-11-26T00:00:00Z"))
    )
    smaller = snap.without("version.a.1")
    assert smaller.addresses() == ["version.a.2", "alias.a.prod"]
    assert snap.addresses() == ["version.a.1", "version.a.2", "alias.a.prod"]
    with pytest.raises(StateError, match=r"no resource at alias\.a\.staging"):
        snap.without("alias.a.staging")


def test_snapshot_json_round_trip() -> None:
    snap = (
        StateSnapshot.empty("ws", lineage="11111111-2222-3333-4444-555555555555")
        .with_dataset(
            DatasetRecord(
                "a", "train", "b" * 64, "local", "file-1", 60, 1200, "2026-11-26T00:00:00Z"
            )
        )
        .with_version(version("a", 1, gates={"passed": True, "results": []}))
        .with_alias(AliasRecord("a", "prod", 1, "ft:m1", "2026-11-26T00:00:00Z", "plan-1"))
    )
    text = json.dumps(snap.to_dict())
    assert StateSnapshot.from_dict(json.loads(text)) == snap


def test_from_dict_names_a_malformed_record() -> None:
    data = StateSnapshot.empty("ws").to_dict()
    data["aliases"] = [{"project": "a"}]
    with pytest.raises(StateError, match="AliasRecord"):
        StateSnapshot.from_dict(data)
