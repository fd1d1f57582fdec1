"""`ftctl state rm`: forget resources (the provider is not touched), and the state reads
the state commands share.

`state rm` builds a plan of `forget` changes that the executor carries out under the
state lock, so the executor stays the only writer of state and audit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ftctl.apply.executor import ApplyOptions, apply_locked
from ftctl.apply.identity import who
from ftctl.config.loader import LoadedWorkspace, read_workspace
from ftctl.errors import ConfigError, FtctlError, StateError
from ftctl.events import EventSink, ignore
from ftctl.ops.prepare import direct_plan, quiet_steps
from ftctl.plan.changes import ForgetChange
from ftctl.plan.reasons import Reason, ReasonCode
from ftctl.providers.base import Provider
from ftctl.state.holder import holder_is_alive
from ftctl.state.model import Address, AliasRecord, AuditEntry, StateSnapshot
from ftctl.state.store import StateStore, open_state


def workspace_config(root: Path) -> LoadedWorkspace:
    """The workspace from ftctl.yaml alone: broken project files do not block state commands."""
    report = read_workspace(root)
    if report.workspace is None:
        own = [d for d in report.diagnostics if d.file.endswith("ftctl.yaml")]
        raise ConfigError.from_diagnostics(own or report.diagnostics)
    return report.workspace


def state_store(root: Path) -> StateStore:
    return open_state(workspace_config(root))


@dataclass(frozen=True)
class Forgotten:
    removed: tuple[str, ...]
    dangling: tuple[AliasRecord, ...]  # aliases left pointing at a forgotten version


def forget(
    root: Path, addresses: Sequence[str], *, lock_timeout: float, events: EventSink = ignore
) -> Forgotten:
    """Remove `addresses` from the state; all of them or (any unknown) none."""
    parsed = list(dict.fromkeys(Address.parse(a) for a in addresses))
    store = state_store(root)
    if not store.exists():  # nothing to forget: fail without creating a state
        raise StateError(missing(str(parsed[0]), []))
    identity = who(root)
    with store.lock("state rm", identity, timeout_s=lock_timeout, events=events):
        snapshot = store.read()
        for addr in parsed:
            if snapshot.find(addr) is None:
                raise StateError(missing(str(addr), snapshot.addresses()))
        why = Reason.of(ReasonCode.STATE_RM)
        changes = [ForgetChange(address=str(a), project=a.project, reason=why) for a in parsed]
        result = apply_locked(
            direct_plan(snapshot, changes),
            store,
            _no_provider,
            {},
            ApplyOptions(who=identity, operation="state rm"),
            quiet_steps(events),
        )
    if result.failed:
        raise FtctlError("; ".join(message for _, message in result.failed))
    assert result.snapshot is not None
    return Forgotten(tuple(str(a) for a in parsed), tuple(dangling_aliases(result.snapshot)))


def force_unlock(
    root: Path, lock_id: str, *, force: bool = False, confirm: Callable[[], None] = lambda: None
) -> None:
    """Remove a lock left by an ftctl that crashed, and say so in the audit log (the lock
    is not part of the state: nothing else is written). A lock whose holder still runs on
    this machine is refused unless `force`; otherwise `confirm` is asked first (it raises
    UserAbort to keep the lock)."""
    store = state_store(root)
    if not store.exists():
        raise StateError(f"no lock with id {lock_id!r}; the state is not locked")
    held = store.current_lock()
    if held is not None and held.id == lock_id and not force:
        if holder_is_alive(held.host, held.pid, held.pid_started):
            raise StateError(
                f"refusing to remove {held.describe()}: that process is still running. "
                f"Let it finish or stop it; `ftctl force-unlock -force {lock_id}` removes "
                "the lock anyway"
            )
        confirm()
    store.force_unlock(lock_id)
    store.append_audit(
        AuditEntry.new(
            who=who(root),
            operation="force-unlock",
            address="",
            action="unlock",
            detail={"lock_id": lock_id},
        )
    )


def _no_provider(name: str) -> Provider:
    raise StateError(f"`state rm` touches no provider (asked for {name!r})")


def dangling_aliases(snapshot: StateSnapshot) -> list[AliasRecord]:
    present = {(v.project, v.number) for v in snapshot.versions}
    return [a for a in snapshot.aliases if (a.project, a.version) not in present]


def missing(address: str, known: list[str]) -> str:
    shown = ", ".join(known[:10]) + (", ..." if len(known) > 10 else "") if known else "none"
    return f"no resource at {address} in the state (addresses: {shown})"
