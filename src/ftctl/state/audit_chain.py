"""The audit log as a hash chain, and its verification.

Each chained entry stores `seq` (its position in the chain, from 1), `prev_hash` (the
`entry_hash` of the entry before it; None for the first) and `entry_hash`: the SHA-256
of the RFC 8785 canonical JSON of its own content together with `seq` and `prev_hash`.
Editing an entry changes its hash; removing or reordering entries breaks a `prev_hash`
link or the run of `seq`. The store also keeps the chain's head (`seq:hash`) in its
meta table, so removing the newest entries is seen too.

Logs written before the chain existed are migrated: the migration appends a `chain-start`
entry (operation `migrate`) whose detail says how many older entries there were and
seals them with one digest over their canonical JSON, so the older entries are covered
from the migration on (not before it: nothing proves what they were before).

Only someone who rewrites the whole chain after the edit (and the head) escapes this;
signing or publishing the head elsewhere is what would stop that.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rfc8785

from ftctl.errors import StateError
from ftctl.state.model import AuditEntry

GENESIS_OPERATION = "migrate"
GENESIS_ACTION = "chain-start"
HEAD_KEY = "audit_head"

# The integer range JSON numbers hold exactly (RFC 8785 refuses integers beyond it).
_SAFE_INT = 2**53 - 1


def jcs_value(value: Any) -> Any:
    """`value` as RFC 8785 can serialise it: non-finite floats and integers beyond
    2^53 (which JSON numbers cannot hold exactly) become strings, tuples lists."""
    if isinstance(value, Mapping):
        return {str(k): jcs_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jcs_value(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value if -_SAFE_INT <= value <= _SAFE_INT else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    return str(value)


def canonical_json(value: Any) -> bytes:
    """RFC 8785 (JSON Canonicalization Scheme) bytes of `value`."""
    return rfc8785.dumps(jcs_value(value))


def stored_detail(detail: Mapping[str, Any]) -> dict[str, Any]:
    """`detail` as the store returns it (a JSON round trip): what is hashed."""
    loaded: dict[str, Any] = json.loads(json.dumps(dict(detail), sort_keys=True))
    return loaded


def entry_content(entry: AuditEntry, seq: int, prev_hash: str | None) -> dict[str, Any]:
    """What an entry's hash covers: everything but the store's row id and the hash itself."""
    return {
        "seq": seq,
        "prev_hash": prev_hash,
        "at": entry.at,
        "who": entry.who,
        "operation": entry.operation,
        "address": entry.address,
        "action": entry.action,
        "plan_id": entry.plan_id,
        "git_commit": entry.git_commit,
        "detail": stored_detail(entry.detail),
    }


def entry_hash(entry: AuditEntry, seq: int, prev_hash: str | None) -> str:
    return hashlib.sha256(canonical_json(entry_content(entry, seq, prev_hash))).hexdigest()


def legacy_seal(entries: Iterable[AuditEntry]) -> str:
    """One SHA-256 over the canonical JSON of entries older than the chain (row ids included:
    their order is what there is to seal)."""
    return hashlib.sha256(
        canonical_json([{"id": e.id, **entry_content(e, 0, None)} for e in entries])
    ).hexdigest()


def genesis_entry(legacy: Sequence[AuditEntry], at: str) -> AuditEntry:
    """The entry that starts the chain in a log migrated from before it."""
    return AuditEntry(
        id=0,
        at=at,
        who="ftctl",
        operation=GENESIS_OPERATION,
        address="",
        action=GENESIS_ACTION,
        detail={
            "note": (
                f"the hash chain starts here: the {len(legacy)} earlier entries were written "
                "before ftctl chained its audit log; they are sealed by legacy_sha256 as they "
                "were at this migration, and nothing proves what they were before it"
            ),
            "legacy_entries": len(legacy),
            "legacy_last_id": legacy[-1].id if legacy else None,
            "legacy_sha256": legacy_seal(legacy),
        },
    )


def read_export(path: Path) -> list[AuditEntry]:
    """The entries of a `ftctl state audit --jsonl` export; StateError naming the file,
    line and field of the first one that is not an entry."""
    entries: list[AuditEntry] = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise StateError(f"cannot read audit export {path}: {error}") from error
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            raise StateError(f"{path}:{number}: not JSON ({error.msg})") from error
        if not isinstance(data, dict):
            raise StateError(f"{path}:{number}: expected an audit entry object")
        for name, kinds in _EXPORT_FIELDS.items():
            if not isinstance(data.get(name), kinds):
                raise StateError(
                    f"{path}:{number}: field {name!r} is missing or has the wrong type"
                )
        entries.append(AuditEntry.from_dict(data))
    return sorted(entries, key=lambda e: e.id)


# What every exported entry must hold (the rest may be null).
_EXPORT_FIELDS: dict[str, type | tuple[type, ...]] = {
    "id": int,
    "at": str,
    "who": str,
    "operation": str,
    "address": str,
    "action": str,
    "detail": dict,
}


def format_head(seq: int, digest: str) -> str:
    return f"{seq}:{digest}"


def parse_head(text: str | None) -> tuple[int, str] | None:
    if not text or ":" not in text:
        return None
    seq, _, digest = text.partition(":")
    return (int(seq), digest) if seq.isdigit() else None


# --------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class ChainProblem:
    """The first place the chain does not hold."""

    kind: str  # edited | removed | reordered | legacy-edited | truncated | unchained
    entry: AuditEntry | None  # the entry where it shows (None: past the end)
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.entry.id if self.entry else None,
            "seq": self.entry.seq if self.entry else None,
            "message": self.message,
        }


@dataclass(frozen=True)
class ChainReport:
    entries: int  # all entries read
    chained: int  # entries carrying a hash
    legacy: int  # entries from before the chain started
    started_at: AuditEntry | None  # the migration's chain-start entry, if any
    head: str | None  # the last good `seq:hash`
    problem: ChainProblem | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.problem is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.ok,
            "entries": self.entries,
            "chained": self.chained,
            "legacy": self.legacy,
            "chain_started_at": (
                {"id": self.started_at.id, "seq": self.started_at.seq, "at": self.started_at.at}
                if self.started_at
                else None
            ),
            "head": self.head,
            "problem": self.problem.to_dict() if self.problem else None,
            "notes": list(self.notes),
        }


def describe(entry: AuditEntry) -> str:
    seq = f"#{entry.seq} " if entry.seq is not None else ""
    what = f"{entry.operation}: {entry.action} {entry.address or '-'}"
    return f"entry {seq}(id {entry.id}, {entry.at}, {what})"


def verify_chain(entries: Sequence[AuditEntry], head: str | None) -> ChainReport:
    """Check the whole log (oldest first, by row id) against its hashes and `head`.

    Names the first entry that was edited, removed or reordered: an entry whose content
    no longer gives its hash was edited; a link to the previous entry that does not hold
    means an entry is missing there (its `seq` jumps ahead) or in the wrong place.
    """
    legacy = [e for e in entries if e.entry_hash is None]
    chained = [e for e in entries if e.entry_hash is not None]
    genesis = next(
        (e for e in chained if e.action == GENESIS_ACTION and e.operation == GENESIS_OPERATION),
        None,
    )

    def report(problem: ChainProblem | None, last: str | None, *notes: str) -> ChainReport:
        return ChainReport(len(entries), len(chained), len(legacy), genesis, last, problem, notes)

    # An unchained entry after the chain started was slipped in without going through ftctl.
    if chained and legacy and legacy[-1].id > chained[0].id:
        intruder = next(e for e in legacy if e.id > chained[0].id)
        return report(
            ChainProblem(
                "unchained",
                intruder,
                f"{describe(intruder)} has no hash but comes after the chain started: it was "
                "added outside ftctl",
            ),
            None,
        )
    by_hash = {e.entry_hash: e for e in chained}
    prev: AuditEntry | None = None
    for entry in chained:
        assert entry.seq is not None and entry.entry_hash is not None
        expected_seq = 1 if prev is None else (prev.seq or 0) + 1
        expected_prev = None if prev is None else prev.entry_hash
        if entry_hash(entry, entry.seq, entry.prev_hash) != entry.entry_hash:
            return report(
                ChainProblem(
                    "edited",
                    entry,
                    f"{describe(entry)} was edited: its content no longer matches its hash",
                ),
                _head(prev),
            )
        if entry.seq != expected_seq or entry.prev_hash != expected_prev:
            return report(_broken_link(entry, prev, expected_seq, by_hash), _head(prev))
        prev = entry
    if genesis is not None:
        sealed = genesis.detail.get("legacy_sha256")
        if sealed is not None and legacy_seal(legacy) != sealed:
            first = legacy[0] if legacy else None
            return report(
                ChainProblem(
                    "legacy-edited",
                    first,
                    f"the {genesis.detail.get('legacy_entries')} entries from before the chain "
                    f"started (at {describe(genesis)}) were changed since the migration sealed "
                    f"them; {len(legacy)} are there now",
                ),
                _head(prev),
            )
    recorded = parse_head(head)
    last = _head(prev)
    if recorded is not None and (prev is None or (prev.seq, prev.entry_hash) != recorded):
        seq, digest = recorded
        missing_from = (prev.seq or 0) + 1 if prev is not None else 1
        if prev is not None and prev.seq is not None and prev.seq > seq:
            return report(None, last, f"the chain continues past the recorded head #{seq}")
        return report(
            ChainProblem(
                "truncated",
                None,
                f"the newest entries were removed: the chain ends at #{missing_from - 1} but "
                f"the recorded head is entry #{seq} ({digest[:12]}…); entries "
                f"#{missing_from} to #{seq} are missing",
            ),
            last,
        )
    notes: list[str] = []
    if genesis is not None:
        notes.append(
            f"the chain starts at the migration, {describe(genesis)}; the "
            f"{genesis.detail.get('legacy_entries')} entries before it are covered by its seal "
            "from then on, not before"
        )
    return report(None, last, *notes)


def _head(entry: AuditEntry | None) -> str | None:
    if entry is None or entry.seq is None or entry.entry_hash is None:
        return None
    return format_head(entry.seq, entry.entry_hash)


def _broken_link(
    entry: AuditEntry,
    prev: AuditEntry | None,
    expected_seq: int,
    by_hash: Mapping[str | None, AuditEntry],
) -> ChainProblem:
    assert entry.seq is not None
    after = f"after {describe(prev)}" if prev is not None else "at the start of the chain"
    points_at = by_hash.get(entry.prev_hash) if entry.prev_hash else None
    if entry.seq > expected_seq and (points_at is None or points_at is prev):
        missing = (
            f"#{expected_seq}"
            if entry.seq == expected_seq + 1
            else f"#{expected_seq} to #{entry.seq - 1}"
        )
        return ChainProblem(
            "removed",
            entry,
            f"entry {missing} was removed: {describe(entry)} follows {after.removeprefix('after ')}"
            if prev is not None
            else f"entry {missing} was removed: the chain starts at {describe(entry)}",
        )
    return ChainProblem(
        "reordered",
        entry,
        f"{describe(entry)} is out of order: it is #{entry.seq} of the chain but stands "
        f"{after} (expected #{expected_seq} there)",
    )
