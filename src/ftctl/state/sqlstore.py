"""The logic shared by the SQL state stores (SQLite, PostgreSQL).

Snapshots are stored whole, as JSON, one row per serial: the compare-and-swap is
"insert serial + 1 if the newest row is `snapshot.serial`", inside one write transaction
that excludes every other writer. A lock is one row with an expiry that its live holder
keeps pushing forward (a heartbeat thread), so only a dead holder's lock expires and can
be taken over; a holder that died on this host (its pid is gone) is taken over at once.
The audit table is append-only (the database's triggers refuse changes) and hash-chained
(`ftctl.state.audit_chain`), so an edit made around the triggers is detected.
Backends provide connections whose `execute` takes `?` placeholders.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

from ftctl.errors import StateError, StateLockedError
from ftctl.events import Event, EventSink, ignore
from ftctl.state.audit_chain import (
    HEAD_KEY,
    entry_hash,
    format_head,
    genesis_entry,
    stored_detail,
)
from ftctl.state.holder import holder_is_dead, this_process
from ftctl.state.model import (
    DEFAULT_LOCK_TTL_S,
    AuditEntry,
    LockInfo,
    StateSnapshot,
    iso_from_unix,
    utc_now,
)

# Old snapshots kept for inspection and recovery; older ones are pruned on write.
KEEP_SNAPSHOTS = 30
_LOCK_NAME = "state"
_POLL_S = 0.1
_WAIT_HEARTBEAT_S = 50.0  # a line at least once a minute while waiting for the lock
# Renewals of a held lock happen every ttl/3, but not more often than this.
_MIN_RENEW_S = 0.05
# The columns of a lock row, in `LockInfo`'s field order.
_LOCK_COLUMNS = "id, who, operation, created_at, expires_at, host, pid, pid_started"


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> Any: ...


class Connection(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Cursor: ...


class SqlStateStore(ABC):
    """A `StateStore` over SQL tables: meta, snapshots, locks, audit."""

    #: How errors name this store (a file path, a PostgreSQL schema).
    where: str
    workspace_name: str

    @abstractmethod
    def _reader(self) -> AbstractContextManager[Connection]:
        """A connection for reads; database errors become StateError."""

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[Connection]:
        """A write transaction that excludes every other writer; committed on success,
        rolled back on error; database errors become StateError."""

    # ---- snapshot

    def exists(self) -> bool:
        """A database server's state is always there to ask (its tables are made on use)."""
        return True

    def read(self) -> StateSnapshot:
        with self._reader() as conn:
            found = self._current(conn)
        if found is not None:
            return found
        with self._transaction() as conn:
            found = self._current(conn)
            if found is not None:
                return found
            return self._initialise(conn)

    def _initialise(self, conn: Connection) -> StateSnapshot:
        lineage = str(uuid.uuid4())
        # Readable in a provider's dashboard, unique per state: jobs of two states never mix.
        workspace_id = f"{self.workspace_name}.{lineage[:8]}"
        for key, value in (("lineage", lineage), ("workspace_id", workspace_id)):
            conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))
        snapshot = StateSnapshot.empty(workspace_id, lineage)
        self._insert(conn, snapshot)
        return snapshot

    def _current(self, conn: Connection) -> StateSnapshot | None:
        row = conn.execute(
            "SELECT serial, document FROM snapshots ORDER BY serial DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        try:
            data = json.loads(row[1])
        except json.JSONDecodeError as error:
            raise StateError(f"state {self.where}: snapshot {row[0]} is corrupt") from error
        snapshot = StateSnapshot.from_dict(data)
        if snapshot.serial != row[0]:
            raise StateError(f"state {self.where}: snapshot {row[0]} has a wrong serial")
        return snapshot

    def _insert(self, conn: Connection, snapshot: StateSnapshot) -> None:
        conn.execute(
            "INSERT INTO snapshots (serial, document, written_at) VALUES (?, ?, ?)",
            (snapshot.serial, json.dumps(snapshot.to_dict(), sort_keys=True), utc_now()),
        )

    def write(self, snapshot: StateSnapshot) -> StateSnapshot:
        with self._transaction() as conn:
            current = self._current(conn)
            if current is None:
                current = self._initialise(conn)
            if current.lineage != snapshot.lineage:
                raise StateError(
                    f"state lineage mismatch: the store holds lineage {current.lineage}, "
                    f"the snapshot was read from {snapshot.lineage}"
                )
            if current.serial != snapshot.serial:
                raise StateError(
                    f"state changed since read (read at serial {snapshot.serial}, "
                    f"now at {current.serial}); run the command again"
                )
            # Every record kind carried over; the store owns the serial and workspace id.
            written = dataclasses.replace(
                snapshot, serial=snapshot.serial + 1, workspace_id=current.workspace_id
            )
            self._insert(conn, written)
            conn.execute(
                "DELETE FROM snapshots WHERE serial <= ?", (written.serial - KEEP_SNAPSHOTS,)
            )
            return written

    # ---- lock

    def lock(
        self,
        operation: str,
        who: str,
        timeout_s: float = 0,
        ttl_s: float = DEFAULT_LOCK_TTL_S,
        events: EventSink = ignore,
    ) -> AbstractContextManager[LockInfo]:
        return self._locked(operation, who, timeout_s, ttl_s, events)

    @contextmanager
    def _locked(
        self, operation: str, who: str, timeout_s: float, ttl_s: float, events: EventSink
    ) -> Iterator[LockInfo]:
        info = self._acquire(operation, who, timeout_s, ttl_s, events)
        stop = threading.Event()
        heartbeat = threading.Thread(
            target=self._keep_alive,
            args=(info.id, ttl_s, stop),
            name=f"ftctl-state-lock-{info.id}",
            daemon=True,
        )
        heartbeat.start()
        try:
            yield info
        finally:
            stop.set()
            heartbeat.join()
            with self._transaction() as conn:
                conn.execute("DELETE FROM locks WHERE name = ? AND id = ?", (_LOCK_NAME, info.id))

    def _keep_alive(self, lock_id: str, ttl_s: float, stop: threading.Event) -> None:
        """Push the expiry forward while the holder lives (an apply may wait on a job for
        hours): only a holder that died lets its lock expire and be taken over."""
        while not stop.wait(max(ttl_s / 3, _MIN_RENEW_S)):
            now = time.time()
            try:
                with self._transaction() as conn:
                    renewed = conn.execute(
                        "UPDATE locks SET expires_at = ?, expires_unix = ? "
                        "WHERE name = ? AND id = ?",
                        (iso_from_unix(now + ttl_s), now + ttl_s, _LOCK_NAME, lock_id),
                    ).rowcount
            except StateError:
                continue  # busy for a moment: try again at the next beat
            if not renewed:
                return  # force-unlocked (or taken over): nothing left to keep alive

    def _acquire(
        self, operation: str, who: str, timeout_s: float, ttl_s: float, events: EventSink
    ) -> LockInfo:
        start = time.monotonic()
        deadline = start + max(timeout_s, 0.0)
        said: tuple[str, float] | None = None  # (the holder named, when) while waiting
        while True:
            acquired, info, stale = self._try_acquire(operation, who, ttl_s)
            if acquired:
                if stale is not None:
                    events(Event("warning", f"took over a stale state lock: {stale}"))
                return info
            now = time.monotonic()
            if now >= deadline:
                raise StateLockedError(
                    f"the state is locked: {info.describe()}. If no ftctl process is "
                    f"running, remove it with `ftctl force-unlock {info.id}`"
                )
            # Terraform's words while it waits, naming the holder (again when it changes,
            # and at least once a minute, so a long wait is never silent in a CI log).
            if said is None:
                events(
                    Event(
                        "info",
                        "Acquiring state lock. This may take a few moments... "
                        f"(the state is locked: {info.describe()})",
                    )
                )
                said = (info.id, now)
            elif said[0] != info.id or now - said[1] >= _WAIT_HEARTBEAT_S:
                waited = int(now - start)
                events(
                    Event(
                        "info",
                        f"Still waiting for the state lock ({waited}s): {info.describe()}",
                    )
                )
                said = (info.id, now)
            time.sleep(min(_POLL_S, max(deadline - time.monotonic(), 0.0)))

    def _try_acquire(
        self, operation: str, who: str, ttl_s: float
    ) -> tuple[bool, LockInfo, str | None]:
        """(taken, the lock now held, why a previous holder's lock was stale)."""
        with self._transaction() as conn:
            row = conn.execute(
                f"SELECT {_LOCK_COLUMNS}, expires_unix FROM locks WHERE name = ?",
                (_LOCK_NAME,),
            ).fetchone()
            now = time.time()
            stale: str | None = None
            if row is not None:
                held = LockInfo(*row[:-1])
                if holder_is_dead(held.host, held.pid, held.pid_started):
                    stale = f"{held.describe()}; that process is no longer running"
                elif row[-1] > now:
                    return False, held, None
                else:
                    stale = f"{held.describe()}; it was not renewed in time"
            # Free, or held by a dead holder: take it (over).
            me = this_process()
            info = LockInfo(
                id=secrets.token_hex(8),
                who=who,
                operation=operation,
                created_at=iso_from_unix(now),
                expires_at=iso_from_unix(now + ttl_s),
                host=me.host,
                pid=me.pid,
                pid_started=me.started,
            )
            conn.execute(
                f"INSERT INTO locks (name, {_LOCK_COLUMNS}, expires_unix) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                "id = excluded.id, who = excluded.who, operation = excluded.operation, "
                "created_at = excluded.created_at, expires_at = excluded.expires_at, "
                "host = excluded.host, pid = excluded.pid, "
                "pid_started = excluded.pid_started, expires_unix = excluded.expires_unix",
                (
                    _LOCK_NAME,
                    info.id,
                    who,
                    operation,
                    info.created_at,
                    info.expires_at,
                    info.host,
                    info.pid,
                    info.pid_started,
                    now + ttl_s,
                ),
            )
            return True, info, stale

    def current_lock(self) -> LockInfo | None:
        """The lock held now (expired ones included: they show until taken over)."""
        with self._reader() as conn:
            row = conn.execute(
                f"SELECT {_LOCK_COLUMNS} FROM locks WHERE name = ?", (_LOCK_NAME,)
            ).fetchone()
        return LockInfo(*row) if row else None

    def force_unlock(self, lock_id: str) -> None:
        with self._transaction() as conn:
            deleted = conn.execute("DELETE FROM locks WHERE id = ?", (lock_id,)).rowcount
        if not deleted:
            held = self.current_lock()
            now = f"; the state is locked by {held.id}" if held else "; the state is not locked"
            raise StateError(f"no lock with id {lock_id!r}{now}")

    # ---- audit

    def append_audit(self, entry: AuditEntry) -> None:
        """Append `entry` as the next link of the hash chain, and move the chain's head
        (in meta) in the same transaction."""
        with self._transaction() as conn:
            append_chained(conn, entry)

    def audit(self, project: str | None = None) -> list[AuditEntry]:
        query = f"SELECT {_AUDIT_COLUMNS} FROM audit"
        params: tuple[Any, ...] = ()
        if project is not None:
            query += " WHERE project = ?"
            params = (project,)
        with self._reader() as conn:
            rows = conn.execute(query + " ORDER BY id", params).fetchall()
        return [audit_entry(r) for r in rows]

    def audit_head(self) -> str | None:
        with self._reader() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (HEAD_KEY,)).fetchone()
        return str(row[0]) if row else None


_AUDIT_COLUMNS = (
    "id, at, who, operation, address, action, plan_id, git_commit, detail, seq, prev_hash, "
    "entry_hash"
)


def audit_entry(row: Sequence[Any]) -> AuditEntry:
    return AuditEntry(
        id=row[0],
        at=row[1],
        who=row[2],
        operation=row[3],
        address=row[4],
        action=row[5],
        plan_id=row[6],
        git_commit=row[7],
        detail=json.loads(row[8]),
        seq=row[9],
        prev_hash=row[10],
        entry_hash=row[11],
    )


def read_audit(conn: Connection) -> list[AuditEntry]:
    """The whole log, oldest first (used by the migration that starts the chain)."""
    rows = conn.execute(f"SELECT {_AUDIT_COLUMNS} FROM audit ORDER BY id").fetchall()
    return [audit_entry(r) for r in rows]


def append_chained(conn: Connection, entry: AuditEntry) -> None:
    """Insert `entry` after the newest chained entry, inside the caller's write transaction
    (which excludes other writers, so two appends never take the same `seq`)."""
    last = conn.execute(
        "SELECT seq, entry_hash FROM audit WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    seq = int(last[0]) + 1 if last else 1
    prev_hash = str(last[1]) if last else None
    digest = entry_hash(entry, seq, prev_hash)
    conn.execute(
        "INSERT INTO audit (at, who, operation, address, project, action, plan_id, "
        "git_commit, detail, seq, prev_hash, entry_hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            entry.at,
            entry.who,
            entry.operation,
            entry.address,
            entry.project,
            entry.action,
            entry.plan_id,
            entry.git_commit,
            json.dumps(stored_detail(entry.detail), sort_keys=True),
            seq,
            prev_hash,
            digest,
        ),
    )
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (HEAD_KEY, format_head(seq, digest)),
    )


def start_chain(conn: Connection) -> None:
    """The migration step that starts the chain: a log with entries gets a `chain-start`
    entry sealing them (an empty log simply starts with its first entry)."""
    legacy = read_audit(conn)
    if legacy:
        append_chained(conn, genesis_entry(legacy, utc_now()))
