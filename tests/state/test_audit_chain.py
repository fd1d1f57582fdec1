"""The hash-chained audit log in a real SQLite file: appends chain, and an edit, a removal
or a reordering made around the append-only triggers (as someone with the database file
can) is found by `verify_chain` and named."""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path

import pytest

from ftctl.state.audit_chain import verify_chain
from ftctl.state.migrations import MIGRATIONS, _statements
from ftctl.state.model import AuditEntry
from ftctl.state.sqlite import SqliteStateStore


def promote(n: int, metric: float = 0.5) -> AuditEntry:
    return AuditEntry.new(
        who=f"user{n}",
        operation="apply",
        address=f"alias.bot.v{n}",
        action="promote",
        plan_id=f"plan-{n}",
        detail={"version": n, "metrics": {"loss": metric}, "big": 2**60, "nan": float("nan")},
    )


@pytest.fixture
def store(tmp_path: Path) -> SqliteStateStore:
    store = SqliteStateStore(tmp_path / "state.db")
    for n in range(1, 6):
        store.append_audit(promote(n, metric=n / 3))
    return store


def tamper(store: SqliteStateStore, *sql: str) -> None:
    """What someone with the database file can do: drop the triggers, then edit."""
    conn = sqlite3.connect(store.path, isolation_level=None)
    conn.execute("DROP TRIGGER IF EXISTS audit_no_update")
    conn.execute("DROP TRIGGER IF EXISTS audit_no_delete")
    for statement in sql:
        conn.execute(statement)
    conn.close()


def verify(store: SqliteStateStore) -> tuple[str | None, int | None, str]:
    report = verify_chain(store.audit(), store.audit_head())
    problem = report.problem
    return (
        (problem.kind, problem.to_dict()["seq"], problem.message) if problem else (None, None, "")
    )


def test_appends_form_a_chain_that_verifies(store: SqliteStateStore) -> None:
    entries = store.audit()
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash is None
    assert all(b.prev_hash == a.entry_hash for a, b in itertools.pairwise(entries))
    report = verify_chain(entries, store.audit_head())
    assert report.ok and report.head == f"5:{entries[-1].entry_hash}"
    # The triggers still refuse an ordinary edit.
    conn = sqlite3.connect(store.path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE audit SET who = 'mallory' WHERE seq = 2")


def test_an_edited_entry_is_named(store: SqliteStateStore) -> None:
    tamper(store, "UPDATE audit SET who = 'mallory' WHERE seq = 3")
    kind, seq, message = verify(store)
    assert (kind, seq) == ("edited", 3)
    assert "entry #3" in message and "alias.bot.v3" in message and "edited" in message


def test_an_edited_detail_is_named(store: SqliteStateStore) -> None:
    tamper(store, """UPDATE audit SET detail = replace(detail, '"version": 2', '"version": 9')""")
    assert verify(store)[:2] == ("edited", 2)


def test_a_removed_entry_is_named(store: SqliteStateStore) -> None:
    tamper(store, "DELETE FROM audit WHERE seq = 2")
    kind, seq, message = verify(store)
    assert (kind, seq) == ("removed", 3)
    assert message.startswith("entry #2 was removed")


def test_reordered_entries_are_named(store: SqliteStateStore) -> None:
    # Swap entries 2 and 3 by rewriting their rows under each other's ids.
    columns = (
        "at, who, operation, address, project, action, plan_id, git_commit, detail, seq, "
        "prev_hash, entry_hash"
    )
    tamper(
        store,
        "CREATE TEMP TABLE moved AS SELECT * FROM audit WHERE seq IN (2, 3)",
        "DELETE FROM audit WHERE seq IN (2, 3)",
        f"INSERT INTO audit (id, {columns}) SELECT 5 - id, {columns} FROM moved",
    )
    assert [e.seq for e in store.audit()] == [1, 3, 2, 4, 5]
    kind, seq, message = verify(store)
    assert (kind, seq) == ("reordered", 3)
    assert "out of order" in message


def test_removing_the_newest_entries_is_seen_through_the_head(store: SqliteStateStore) -> None:
    tamper(store, "DELETE FROM audit WHERE seq >= 4")
    kind, _, message = verify(store)
    assert kind == "truncated" and "#4 to #5 are missing" in message


def test_an_entry_slipped_in_without_a_hash_is_named(store: SqliteStateStore) -> None:
    tamper(
        store,
        "INSERT INTO audit (at, who, operation, address, project, action, detail) "
        "VALUES ('2026-01-01T00:00:00Z', 'mallory', 'apply', 'alias.bot.prod', 'bot', "
        "'promote', '{}')",
    )
    assert verify(store)[0] == "unchained"


def test_an_existing_log_is_migrated_and_the_chain_says_where_it_starts(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for version, script in enumerate(MIGRATIONS[:3], start=1):
        for statement in _statements(script):
            conn.execute(statement)
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(version),),
        )
    for n in (1, 2):
        conn.execute(
            "INSERT INTO audit (at, who, operation, address, project, action, detail) "
            "VALUES (?, 'alice', 'apply', ?, 'bot', 'promote', '{}')",
            (f"2026-01-0{n}T00:00:00Z", f"alias.bot.v{n}"),
        )
    conn.close()

    store = SqliteStateStore(path)
    store.append_audit(promote(3))
    entries = store.audit()
    assert [(e.seq, e.action) for e in entries] == [
        (None, "promote"),
        (None, "promote"),
        (1, "chain-start"),
        (2, "promote"),
    ]
    genesis = entries[2]
    assert genesis.operation == "migrate" and genesis.detail["legacy_entries"] == 2
    assert "the hash chain starts here" in genesis.detail["note"]
    report = verify_chain(entries, store.audit_head())
    assert report.ok and report.legacy == 2
    assert report.started_at is not None and report.started_at.id == genesis.id
    assert "starts at the migration" in report.notes[0]

    # The entries from before the chain are sealed from the migration on.
    tamper(store, "UPDATE audit SET who = 'mallory' WHERE id = 1")
    assert verify(store)[0] == "legacy-edited"
