"""The SQLite state store on real files: CAS, locks across processes, audit, migrations."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ftctl.errors import StateError, StateLockedError
from ftctl.events import Event
from ftctl.state.migrations import SCHEMA_VERSION, migrate, schema_version
from ftctl.state.model import AliasRecord, AuditEntry
from ftctl.state.sqlite import SqliteStateStore

HOLD_LOCK = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from ftctl.state.sqlite import SqliteStateStore
    store = SqliteStateStore(Path(sys.argv[1]))
    with store.lock(operation="apply", who="alice@ci-runner", ttl_s=float(sys.argv[2])) as info:
        print(info.id, flush=True)
        sys.stdin.readline()  # hold until the test says so (or kills us)
    print("released", flush=True)
    """
)


@contextmanager
def lock_held_elsewhere(db: Path, ttl_s: float = 3600) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the state lock until its stdin gets a line."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(db), str(ttl_s)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        proc.lock_id = proc.stdout.readline().strip()  # type: ignore[attr-defined]
        assert proc.lock_id, "the helper process did not take the lock"  # type: ignore[attr-defined]
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def test_first_read_creates_a_lineage_that_every_store_sees(tmp_path: Path) -> None:
    db = tmp_path / ".ftctl" / "state.db"
    first = SqliteStateStore(db, workspace_name="acme").read()
    again = SqliteStateStore(db, workspace_name="renamed").read()
    assert first.serial == 0 and first == again
    assert first.workspace_id.startswith("acme.")


def test_write_is_compare_and_swap_across_two_store_instances(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    a, b = SqliteStateStore(db), SqliteStateStore(db)
    seen_by_a, seen_by_b = a.read(), b.read()
    alias = AliasRecord("bot", "prod", 1, "ft:m1", "2026-11-26T00:00:00Z")
    written = a.write(seen_by_a.with_alias(alias))
    assert written.serial == 1
    with pytest.raises(StateError, match="state changed since read"):
        b.write(seen_by_b.with_alias(alias))
    assert b.read() == written  # the loser wrote nothing
    # Re-reading and writing again works, and serials keep counting.
    assert b.write(b.read()).serial == 2


def test_write_refuses_a_snapshot_of_another_lineage(tmp_path: Path) -> None:
    mine = SqliteStateStore(tmp_path / "a.db")
    other = SqliteStateStore(tmp_path / "b.db").read()
    mine.read()
    with pytest.raises(StateError, match="lineage mismatch"):
        mine.write(other)


def test_lock_held_by_another_process_names_who_and_what(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    store = SqliteStateStore(db)
    with lock_held_elsewhere(db) as holder:
        with pytest.raises(StateLockedError) as raised, store.lock(operation="plan", who="bob"):
            pass
        message = str(raised.value)
        assert "alice@ci-runner" in message
        assert "'apply'" in message
        assert holder.lock_id in message  # type: ignore[attr-defined]
        assert f"ftctl force-unlock {holder.lock_id}" in message  # type: ignore[attr-defined]
        # Released by its holder: the lock is free again.
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.stdout is not None and holder.stdout.readline().strip() == "released"
    with store.lock(operation="plan", who="bob") as info:
        assert info.who == "bob"
    assert store.current_lock() is None


def test_lock_waits_for_a_release_within_its_timeout(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    store = SqliteStateStore(db)
    with lock_held_elsewhere(db) as holder:
        assert holder.stdin is not None
        holder.stdin.write("\n")  # the holder releases while we wait
        holder.stdin.flush()
        with store.lock(operation="apply", who="bob", timeout_s=60) as info:
            assert store.current_lock() == info


def test_a_live_holder_keeps_its_lock_past_the_ttl(tmp_path: Path) -> None:
    store = SqliteStateStore(tmp_path / "state.db")
    with store.lock(operation="apply", who="alice", ttl_s=0.2) as held:
        time.sleep(0.5)  # longer than the ttl: the holder's heartbeat renews it
        with pytest.raises(StateLockedError, match="held by alice"):
            store.lock(operation="apply", who="bob").__enter__()
        assert store.current_lock() is not None and store.current_lock().id == held.id  # type: ignore[union-attr]
    assert store.current_lock() is None


def test_a_killed_holders_lock_on_this_host_is_taken_over_at_once(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    store = SqliteStateStore(db)
    with lock_held_elsewhere(db) as holder:  # the default ttl: nowhere near expiry
        held = store.current_lock()
        assert held is not None and held.pid == holder.pid and held.host
        holder.kill()  # SIGKILL: no cleanup, no more heartbeats
        holder.wait(timeout=30)
    dead_id = holder.lock_id  # type: ignore[attr-defined]
    events: list[Event] = []
    with store.lock(operation="apply", who="bob", events=events.append) as taken:
        assert taken.id != dead_id and taken.who == "bob"
    [warning] = [e.message for e in events if e.kind == "warning"]
    assert f"took over a stale state lock: lock {dead_id} held by alice@ci-runner" in warning
    assert f"pid {holder.pid}" in warning and "no longer running" in warning
    with pytest.raises(StateError, match=f"no lock with id '{dead_id}'"):
        store.force_unlock(dead_id)


def test_a_lock_whose_pid_was_reused_is_stale(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    store = SqliteStateStore(db)
    with store.lock(operation="apply", who="alice") as held:
        assert held.pid_started is not None  # Linux: /proc gives the start time
        # The same pid, but a process started at another time: the holder is gone.
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE locks SET pid_started = '1'")
        events: list[Event] = []
        with store.lock(operation="plan", who="bob", events=events.append) as taken:
            assert taken.who == "bob"
        assert "no longer running" in events[0].message


def test_a_dead_holders_lock_on_another_host_expires_and_is_taken_over(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    store = SqliteStateStore(db)
    with lock_held_elsewhere(db, ttl_s=0.2) as holder:
        with sqlite3.connect(db) as conn:  # its pid cannot be checked from here
            conn.execute("UPDATE locks SET host = 'ci-runner-7'")
        holder.kill()  # no more heartbeats
        holder.wait(timeout=30)
    dead_id = holder.lock_id  # type: ignore[attr-defined]
    events: list[Event] = []
    with store.lock(operation="apply", who="bob", timeout_s=30, events=events.append) as taken:
        assert taken.id != dead_id and taken.who == "bob"
    # While it waited it said so, naming the holder; then it took the lock over.
    assert events[0].message.startswith("Acquiring state lock. This may take a few moments...")
    assert f"lock {dead_id}" in events[0].message
    assert "it was not renewed in time" in events[-1].message
    assert f"lock {dead_id}" in events[-1].message


def test_force_unlock_frees_a_lock_held_on_another_host(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    store = SqliteStateStore(db)
    with lock_held_elsewhere(db) as holder:
        with sqlite3.connect(db) as conn:  # as if held by a machine that crashed
            conn.execute("UPDATE locks SET host = 'ci-runner-7'")
        holder.kill()
        holder.wait(timeout=30)
    with pytest.raises(StateLockedError, match=r"pid \d+ on ci-runner-7"):
        store.lock(operation="apply", who="bob").__enter__()
    with pytest.raises(StateError, match="no lock with id 'nope'"):
        store.force_unlock("nope")
    store.force_unlock(holder.lock_id)  # type: ignore[attr-defined]
    with store.lock(operation="apply", who="bob"):
        pass


def test_audit_is_append_only_even_through_sql(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    store = SqliteStateStore(db)
    for address, action in [
        ("version.bot.1", "create"),
        ("alias.bot.prod", "promote"),
        ("version.other.1", "create"),
    ]:
        store.append_audit(
            AuditEntry.new(
                who="alice",
                operation="apply",
                address=address,
                action=action,
                plan_id="plan-1",
                git_commit="abc123",
                detail={"model": "ft:m1"},
            )
        )
    entries = store.audit("bot")
    assert [(e.address, e.action) for e in entries] == [
        ("version.bot.1", "create"),
        ("alias.bot.prod", "promote"),
    ]
    assert entries[0].detail == {"model": "ft:m1"} and entries[0].id < entries[1].id
    assert len(store.audit()) == 3
    with sqlite3.connect(db) as conn:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE audit SET who = 'mallory'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM audit")
    assert [e.who for e in store.audit()] == ["alice"] * 3


def test_a_version_1_database_migrates_and_keeps_its_data(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    conn = sqlite3.connect(db, isolation_level=None)
    assert migrate(conn, target=1) == 1
    conn.execute(
        "INSERT INTO audit (at, who, operation, address, action, detail) "
        "VALUES ('2026-01-01T00:00:00Z', 'old', 'apply', 'alias.legacy-bot.prod', 'promote', '{}')"
    )
    conn.close()

    store = SqliteStateStore(db)
    [entry] = store.audit("legacy-bot")  # the v2 project column was filled from addresses
    assert (entry.who, entry.address) == ("old", "alias.legacy-bot.prod")
    with sqlite3.connect(db) as conn:
        assert schema_version(conn) == SCHEMA_VERSION
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("DELETE FROM audit")


def test_a_database_from_a_newer_ftctl_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    SqliteStateStore(db).read()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StateError, match="newer than this ftctl"):
        SqliteStateStore(db).read()


def test_a_file_that_is_not_sqlite_is_a_state_error(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StateError, match="cannot open state database"):
        SqliteStateStore(db).read()
