"""The state store interface: read, compare-and-swap write, lock, audit.

`open_state(workspace)` opens the backend `ftctl.yaml` names (SQLite at
`.ftctl/state.db` by default). Core code depends only on the `StateStore` protocol.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ftctl.errors import StateError
from ftctl.events import EventSink, ignore
from ftctl.state.model import DEFAULT_LOCK_TTL_S, AuditEntry, LockInfo, StateSnapshot

if TYPE_CHECKING:
    from ftctl.config.loader import LoadedWorkspace

__all__ = ["LockInfo", "StateStore", "open_state"]


@runtime_checkable
class StateStore(Protocol):
    """Where ftctl records what it created. Every write is atomic."""

    def exists(self) -> bool:
        """True once a state has been recorded. Read-only commands check this first so
        that inspecting a workspace never creates a state (`read` would)."""
        ...

    def read(self) -> StateSnapshot:
        """The current snapshot. On first use: an empty snapshot at serial 0 whose new
        lineage (and workspace id) is persisted, so later reads return the same lineage."""
        ...

    def write(self, snapshot: StateSnapshot) -> StateSnapshot:
        """Compare-and-swap: store `snapshot` only if the stored serial still equals
        `snapshot.serial` (and the lineage matches); return it with serial + 1.
        Raises StateError("state changed since read ...") otherwise."""
        ...

    def lock(
        self,
        operation: str,
        who: str,
        timeout_s: float = 0,
        ttl_s: float = DEFAULT_LOCK_TTL_S,
        events: EventSink = ignore,
    ) -> AbstractContextManager[LockInfo]:
        """Hold the state lock for the `with` block (renewed every ttl/3 while held).
        Waits up to `timeout_s` for a held lock. A stale lock (expired, or its holder
        died on this host) is taken over, with a warning event naming it. Raises
        StateLockedError naming the holder's id, who, when and operation."""
        ...

    def current_lock(self) -> LockInfo | None:
        """The lock held now (expired ones included: they show until taken over)."""
        ...

    def force_unlock(self, lock_id: str) -> None:
        """Remove the lock with this id (StateError if no such lock is held)."""
        ...

    def append_audit(self, entry: AuditEntry) -> None:
        """Append one entry as the next link of the audit hash chain (its id, seq and
        hashes are assigned by the store). There is no update/delete."""
        ...

    def audit(self, project: str | None = None) -> list[AuditEntry]:
        """Audit entries, oldest first; only those of `project` when given."""
        ...

    def audit_head(self) -> str | None:
        """The newest chained entry as `seq:hash`, as recorded beside the log (None while the
        log is empty): what `ftctl.state.audit_chain.verify_chain` checks the end against."""
        ...


def open_state(workspace: LoadedWorkspace) -> StateStore:
    """The store `ftctl.yaml` configures: SQLite at `workspace.root / state.path` (the
    default) or PostgreSQL (DSN from the environment variable `dsnEnv`)."""
    backend = workspace.model.state
    if backend.backend == "sqlite":
        from ftctl.state.sqlite import SqliteStateStore

        return SqliteStateStore(
            workspace.root / backend.path, workspace_name=workspace.model.metadata.name
        )
    if backend.backend == "postgres":
        from ftctl.state.postgres import PostgresStateStore

        if not os.environ.get(backend.dsn_env, "").strip() and workspace.source_map is not None:
            raise StateError(
                f"no connection string for the PostgreSQL state: environment variable "
                f"{backend.dsn_env} is not set",
                [
                    workspace.source_map.diagnostic(
                        ("state", "dsnEnv"),
                        f"environment variable {backend.dsn_env} is not set",
                        hint=f"export {backend.dsn_env} with the DSN, or change dsnEnv",
                        at_value=True,
                    )
                ],
            )
        return PostgresStateStore.from_env(
            backend.dsn_env, backend.schema_name, workspace.model.metadata.name
        )
    raise StateError(f"unknown state backend {backend.backend!r} in {workspace.path}")
