"""Lineage and model cards from a real SQLite state and its audit log."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftctl.errors import StateError
from ftctl.lineage.card import model_card
from ftctl.lineage.graph import lineage_of
from ftctl.state.model import AliasRecord, AuditEntry, DatasetRecord, VersionRecord
from ftctl.state.sqlite import SqliteStateStore

SHA_OLD, SHA_NEW, SHA_VALID = "1" * 64, "2" * 64, "3" * 64


def version(number: int, **changes: object) -> VersionRecord:
    fields: dict[str, object] = {
        "project": "bot",
        "number": number,
        "fingerprint": f"fp{number}",
        "fingerprint_inputs": {},
        "provider": "local",
        "base_model": "local-tiny",
        "method": "supervised",
        "hyperparameters": {"n_epochs": 3},
        "seed": 7,
        "train_sha256": SHA_OLD,
        "validation_sha256": None,
        "train_file_id": "file-old",
        "validation_file_id": None,
        "job_id": f"ftjob-{number}",
        "model_id": f"ft:local-tiny:local:bot:{number}",
        "status": "succeeded",
        "metrics": {"full_valid_loss": 0.81},
        "git_commit": f"c0ffee{number}",
        "plan_id": f"plan-{number}",
        "created_at": "2026-11-25T10:00:00Z",
        "finished_at": "2026-11-25T10:05:00Z",
    }
    fields.update(changes)
    return VersionRecord(**fields)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> SqliteStateStore:
    """v1 on the base model with old data; v2 continues v1's model on new data, gated and
    promoted to prod; the train dataset record now holds the new data."""
    store = SqliteStateStore(tmp_path / "state.db")
    v2 = version(
        2,
        base_model="ft:local-tiny:local:bot:1",
        train_sha256=SHA_NEW,
        validation_sha256=SHA_VALID,
        train_file_id="file-new",
        validation_file_id="file-valid",
        gates={
            "passed": True,
            "results": [
                {
                    "name": "full_valid_loss",
                    "passed": True,
                    "message": "full_valid_loss 0.81 <= 1.2  pass",
                }
            ],
        },
    )
    snapshot = (
        store.read()
        .with_version(version(1))
        .with_version(v2)
        .with_dataset(DatasetRecord("bot", "train", SHA_NEW, "local", "file-new", 120, 4000, "t"))
        .with_dataset(
            DatasetRecord("bot", "validation", SHA_VALID, "local", "file-valid", 12, 400, "t")
        )
        .with_alias(
            AliasRecord(
                "bot", "prod", 2, "ft:local-tiny:local:bot:2", "2026-11-25T11:00:00Z", "plan-2"
            )
        )
    )
    store.write(snapshot)
    for entry in [
        AuditEntry.new(
            who="alice",
            operation="apply",
            address="dataset.bot.train",
            action="upload",
            detail={"sha256": SHA_OLD, "examples": 100, "tokens": 3000},
        ),
        AuditEntry.new(
            who="alice",
            operation="apply",
            address="alias.bot.prod",
            action="promote",
            plan_id="plan-1",
            detail={"version": 1},
        ),
        AuditEntry.new(
            who="bob",
            operation="apply",
            address="alias.bot.prod",
            action="promote",
            plan_id="plan-2",
            git_commit="c0ffee2",
            detail={"version": 2},
        ),
    ]:
        store.append_audit(entry)
    return store


def test_lineage_of_prod_traces_commit_data_settings_and_promotion(store: SqliteStateStore) -> None:
    found = lineage_of(store.read(), store.audit("bot"), "bot")
    v = found.version
    assert (found.alias, v.number, v.model_id, v.job_id) == (
        "prod",
        2,
        "ft:local-tiny:local:bot:2",
        "ftjob-2",
    )
    assert v.git_commit == "c0ffee2" and v.seed == 7 and dict(v.hyperparameters) == {"n_epochs": 3}
    assert [(d.split, d.sha256, d.examples) for d in v.datasets] == [
        ("train", SHA_NEW, 120),
        ("validation", SHA_VALID, 12),
    ]
    assert [(p.alias, p.who, p.plan_id) for p in v.promotions] == [("prod", "bob", "plan-2")]
    # The base chain runs through v1 back to the provider's base model.
    assert v.base_chain() == [
        "ft:local-tiny:local:bot:2",
        "ft:local-tiny:local:bot:1",
        "local-tiny",
    ]
    assert v.parent is not None and v.parent.number == 1
    # v1's train data was replaced since; its size comes from the upload's audit entry.
    assert [(d.sha256, d.examples) for d in v.parent.datasets] == [(SHA_OLD, 100)]
    assert [p.who for p in v.parent.promotions] == ["alice"]


def test_lineage_by_version_number_and_json(store: SqliteStateStore) -> None:
    found = lineage_of(store.read(), store.audit("bot"), "bot", "1")
    data = found.to_dict()
    assert data["alias"] is None and data["version"]["version"] == 1
    assert data["base_chain"] == ["ft:local-tiny:local:bot:1", "local-tiny"]


def test_unknown_alias_project_and_version_are_clear_errors(store: SqliteStateStore) -> None:
    snapshot, audit = store.read(), store.audit()
    with pytest.raises(StateError, match=r"no alias 'staging' \(aliases: prod\)"):
        lineage_of(snapshot, audit, "bot", "staging")
    with pytest.raises(StateError, match="'nobody' is not in the state"):
        lineage_of(snapshot, audit, "nobody")
    with pytest.raises(StateError, match=r"no version 9 in the state \(versions: 1, 2\)"):
        lineage_of(snapshot, audit, "bot", "9")


def test_model_card_has_the_facts_a_reviewer_needs(store: SqliteStateStore) -> None:
    card = model_card(lineage_of(store.read(), store.audit("bot"), "bot"))
    assert card.startswith("# Model card: bot / prod\n")
    for fact in [
        "`ft:local-tiny:local:bot:2`",
        "`c0ffee2`",
        f"| train | `{SHA_NEW}` | 120 | 4,000 |",
        "| full_valid_loss | 0.81 |",
        "Decision: **passed**",
        "- full_valid_loss 0.81 <= 1.2  pass",
        "`prod` on ",
        "by bob (plan `plan-2`) at commit `c0ffee2`",
        "`ft:local-tiny:local:bot:2` → `ft:local-tiny:local:bot:1` → `local-tiny`",
    ]:
        assert fact in card, fact
