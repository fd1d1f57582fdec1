"""The PostgreSQL state store against a real PostgreSQL server (skipped without one)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from ftctl.config.loader import load_workspace
from ftctl.errors import StateError, StateLockedError
from ftctl.state.model import AliasRecord, AuditEntry
from ftctl.state.postgres import PostgresStateStore
from ftctl.state.store import open_state

HOLD_LOCK = textwrap.dedent(
    """
    import sys
    from ftctl.state.postgres import PostgresStateStore
    store = PostgresStateStore(sys.argv[1], sys.argv[2])
    with store.lock(operation="apply", who="alice@ci", ttl_s=float(sys.argv[3])) as info:
        print(info.id, flush=True)
        sys.stdin.readline()
    """
)


@pytest.fixture
def schema() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


def test_lineage_cas_and_audit(postgres_dsn: str, schema: str) -> None:
    a = PostgresStateStore(postgres_dsn, schema, workspace_name="team")
    b = PostgresStateStore(postgres_dsn, schema)
    seen_by_a, seen_by_b = a.read(), b.read()
    assert seen_by_a == seen_by_b and seen_by_a.workspace_id.startswith("team.")
    alias = AliasRecord("bot", "prod", 1, "ft:m1", "2026-11-26T00:00:00Z")
    written = a.write(seen_by_a.with_alias(alias))
    with pytest.raises(StateError, match="state changed since read"):
        b.write(seen_by_b)
    assert b.read() == written

    a.append_audit(
        AuditEntry.new(
            who="alice",
            operation="apply",
            address="alias.bot.prod",
            action="promote",
            detail={"version": 1},
        )
    )
    [entry] = b.audit("bot")
    assert (entry.who, entry.detail) == ("alice", {"version": 1})
    import psycopg

    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        for statement in (
            "UPDATE {}.audit SET who = 'mallory'",
            "DELETE FROM {}.audit",
            "TRUNCATE {}.audit",
        ):
            with pytest.raises(psycopg.Error, match="append-only"):
                conn.execute(statement.format(schema))  # type: ignore[arg-type]
    assert [e.who for e in a.audit()] == ["alice"]


def test_lock_contention_expiry_and_force_unlock(postgres_dsn: str, schema: str) -> None:
    store = PostgresStateStore(postgres_dsn, schema)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, postgres_dsn, schema, "0.5"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        lock_id = holder.stdout.readline().strip()
        time.sleep(1.0)  # past the ttl: the live holder's heartbeat keeps the lock
        with pytest.raises(StateLockedError, match=f"lock {lock_id} held by alice@ci for 'apply'"):
            store.lock("plan", "bob").__enter__()
    finally:
        holder.kill()
        holder.wait(timeout=30)
    with store.lock("apply", "bob", timeout_s=30) as taken:  # the dead holder's lock expires
        assert taken.who == "bob"
    stuck = store.lock("apply", "carol")
    held = stuck.__enter__()
    store.force_unlock(held.id)
    with store.lock("apply", "dave"):
        pass
    with pytest.raises(StateError, match="the state is not locked"):
        store.force_unlock(held.id)


def test_open_state_reads_the_dsn_from_the_environment(
    postgres_dsn: str, schema: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ftctl.yaml").write_text(
        "apiVersion: ftctl/v1\nkind: Workspace\nmetadata: {name: acme}\n"
        f"state: {{backend: postgres, dsnEnv: FTCTL_TEST_DSN, schemaName: {schema}}}\n"
    )
    workspace = load_workspace(tmp_path)
    monkeypatch.delenv("FTCTL_TEST_DSN", raising=False)
    with pytest.raises(StateError, match="FTCTL_TEST_DSN is not set"):
        open_state(workspace)
    monkeypatch.setenv("FTCTL_TEST_DSN", postgres_dsn)
    store = open_state(workspace)
    assert store.read().workspace_id.startswith("acme.")
    assert not (tmp_path / ".ftctl").exists()


def test_audit_chain_migration_and_tamper_detection(postgres_dsn: str, schema: str) -> None:
    """A schema at version 3 with entries is migrated (the chain starts there); later
    appends chain; an edit made with the triggers disabled is named by verify_chain."""
    import psycopg

    from ftctl.state import postgres
    from ftctl.state.audit_chain import verify_chain

    with psycopg.connect(postgres_dsn, autocommit=True) as conn, conn.transaction():
        conn.execute(f'CREATE SCHEMA "{schema}"')  # type: ignore[arg-type]
        conn.execute(f'SET LOCAL search_path TO "{schema}"')  # type: ignore[arg-type]
        for statements in postgres.MIGRATIONS[:3]:
            for statement in statements:
                conn.execute(statement)  # type: ignore[arg-type]
        conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '3')")
        conn.execute(
            "INSERT INTO audit (at, who, operation, address, project, action, detail) "
            "VALUES ('2026-01-01T00:00:00Z', 'alice', 'apply', 'alias.bot.prod', 'bot', "
            "'promote', '{}')"
        )
    store = PostgresStateStore(postgres_dsn, schema)
    for n in (1, 2):
        store.append_audit(
            AuditEntry.new(who="bob", operation="apply", address=f"version.bot.{n}", action="wait")
        )
    entries = store.audit()
    assert [(e.seq, e.action) for e in entries] == [
        (None, "promote"),
        (1, "chain-start"),
        (2, "wait"),
        (3, "wait"),
    ]
    assert verify_chain(entries, store.audit_head()).ok
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f'ALTER TABLE "{schema}".audit DISABLE TRIGGER USER')  # type: ignore[arg-type]
        conn.execute(f"UPDATE \"{schema}\".audit SET who = 'mallory' WHERE seq = 2")  # type: ignore[arg-type]
    problem = verify_chain(store.audit(), store.audit_head()).problem
    assert problem is not None and (problem.kind, problem.to_dict()["seq"]) == ("edited", 2)
