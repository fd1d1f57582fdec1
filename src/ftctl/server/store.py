"""Durable state of the local server: SQLite (WAL) for records, plain files for bytes.

Everything the API shows (files, jobs, events, checkpoints, models) lives here, so a
server restarted on the same data directory loses nothing. One connection serialised by
a lock: every operation is short, and SQLite is the only writer.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftctl.config.local_server import SERVER_DATABASE
from ftctl.server import ids

ORGANIZATION_ID = "org-local"
SCHEMA_VERSION = 1

TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
ACTIVE_STATUSES = frozenset({"validating_files", "queued", "running"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    purpose TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    status TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    job_id TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_job ON events (job_id, seq);
CREATE TABLE IF NOT EXISTS checkpoints (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    job_id TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    model_name TEXT UNIQUE NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS step_metrics (
    job_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (job_id, step)
);
CREATE TABLE IF NOT EXISTS checkpoint_permissions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    checkpoint TEXT NOT NULL,
    project_id TEXT NOT NULL,
    doc TEXT NOT NULL,
    UNIQUE (checkpoint, project_id)
);
CREATE TABLE IF NOT EXISTS models (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    doc TEXT NOT NULL
);
"""


def now() -> int:
    return int(time.time())


@dataclass(frozen=True)
class FileRecord:
    id: str
    filename: str
    purpose: str
    bytes: int
    created_at: int
    status: str = "processed"
    status_details: str | None = None
    expires_at: int | None = None  # from `expires_after`; gone from then on

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": self.bytes,
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": self.status,
            "status_details": self.status_details,
            "expires_at": self.expires_at,
        }


@dataclass(frozen=True)
class JobRecord:
    id: str
    created_at: int
    model: str
    base_model: str
    training_file: str
    validation_file: str | None
    status: str
    method: dict[str, Any]
    hyperparameters: dict[str, Any]
    seed: int
    suffix: str | None = None
    metadata: dict[str, str] | None = None
    error: dict[str, Any] | None = None
    fine_tuned_model: str | None = None
    finished_at: int | None = None
    trained_tokens: int | None = None
    result_files: tuple[str, ...] = ()

    def to_api(self, estimated_finish: int | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "fine_tuning.job",
            "created_at": self.created_at,
            "error": self.error,
            "fine_tuned_model": self.fine_tuned_model,
            "finished_at": self.finished_at,
            "hyperparameters": self.hyperparameters,
            "model": self.model,
            "organization_id": ORGANIZATION_ID,
            "result_files": list(self.result_files),
            "seed": self.seed,
            "status": self.status,
            "trained_tokens": self.trained_tokens,
            "training_file": self.training_file,
            "validation_file": self.validation_file,
            "estimated_finish": estimated_finish if self.status == "running" else None,
            "integrations": [],
            "metadata": self.metadata,
            "method": self.method,
            "user_provided_suffix": self.suffix,
        }

    def to_doc(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_doc(cls, doc: str) -> JobRecord:
        values = json.loads(doc)
        values["result_files"] = tuple(values.get("result_files") or ())
        return cls(**values)


@dataclass(frozen=True)
class EventRecord:
    id: str
    job_id: str
    created_at: int
    level: str
    message: str
    type: str = "message"
    data: dict[str, Any] | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "fine_tuning.job.event",
            "created_at": self.created_at,
            "level": self.level,
            "message": self.message,
            "type": self.type,
            "data": self.data if self.data is not None else {},
        }


@dataclass(frozen=True)
class CheckpointRecord:
    id: str
    job_id: str
    created_at: int
    epoch: int
    step_number: int
    metrics: dict[str, float]
    fine_tuned_model_checkpoint: str
    weights_path: str

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "fine_tuning.job.checkpoint",
            "created_at": self.created_at,
            "fine_tuned_model_checkpoint": self.fine_tuned_model_checkpoint,
            "fine_tuning_job_id": self.job_id,
            "metrics": {"step": self.step_number, **self.metrics},
            "step_number": self.step_number,
        }


@dataclass(frozen=True)
class PermissionRecord:
    """A project allowed to use a fine-tuned model checkpoint (OpenAI's checkpoint.permission)."""

    id: str
    checkpoint: str
    project_id: str
    created_at: int

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "checkpoint.permission",
            "created_at": self.created_at,
            "project_id": self.project_id,
        }


@dataclass(frozen=True)
class ModelRecord:
    id: str
    created: int
    owned_by: str
    job_id: str | None = None
    weights_path: str | None = None
    base_model: str | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "model",
            "created": self.created,
            "owned_by": self.owned_by,
        }


@dataclass(frozen=True)
class Page:
    """One page of a cursor-paginated list, newest first unless asked otherwise."""

    items: Sequence[Any]
    has_more: bool

    def to_api(self) -> dict[str, Any]:
        data = [item.to_api() for item in self.items]
        return {
            "object": "list",
            "data": data,
            "has_more": self.has_more,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }


DATABASE = SERVER_DATABASE  # `ftctl.config.local_server.has_data` looks for it


@dataclass
class Store:
    """The server's state under `data_dir` (state.sqlite3, files/, weights/)."""

    data_dir: Path
    # Seconds since the epoch; tests pass their own to see files expire.
    clock: Callable[[], float] = time.time
    _conn: sqlite3.Connection = field(init=False)
    _lock: threading.RLock = field(init=False, default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.files_dir.mkdir(exist_ok=True)
        self.weights_dir.mkdir(exist_ok=True)
        self._conn = sqlite3.connect(
            self.data_dir / DATABASE, check_same_thread=False, isolation_level=None
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._conn.executescript(_SCHEMA)
        self._conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
            (str(SCHEMA_VERSION),),
        )

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"

    @property
    def weights_dir(self) -> Path:
        return self.data_dir / "weights"

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._conn.execute(sql, params).fetchall())

    def now(self) -> int:
        return int(self.clock())

    # --- files -----------------------------------------------------------------------

    def add_file(self, record: FileRecord, content: bytes) -> None:
        path = self.file_path(record.id)
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(content)
        os.replace(temporary, path)
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO files (id, purpose, doc) VALUES (?, ?, ?)",
                (record.id, record.purpose, json.dumps(dataclasses.asdict(record))),
            )

    def file_path(self, file_id: str) -> Path:
        return self.files_dir / file_id

    def get_file(self, file_id: str) -> FileRecord | None:
        self.delete_expired_files()
        rows = self._query("SELECT doc FROM files WHERE id = ?", (file_id,))
        return FileRecord(**json.loads(rows[0][0])) if rows else None

    def delete_expired_files(self) -> None:
        """Delete the files whose `expires_at` has passed (checked on every file read, so
        an expired file is never shown, whether or not anything ran in between)."""
        moment = self.now()
        with self._transaction() as conn:
            rows = conn.execute(
                "SELECT id FROM files WHERE json_extract(doc, '$.expires_at') <= ?", (moment,)
            ).fetchall()
            conn.executemany("DELETE FROM files WHERE id = ?", rows)
        for (file_id,) in rows:
            self.file_path(file_id).unlink(missing_ok=True)

    def read_file(self, file_id: str) -> bytes | None:
        if self.get_file(file_id) is None:
            return None
        try:
            return self.file_path(file_id).read_bytes()
        except FileNotFoundError:
            return None

    def list_files(self, *, purpose: str | None, after: str | None, limit: int, order: str) -> Page:
        self.delete_expired_files()
        descending = order != "asc"
        clauses, params = [], []
        if purpose:
            clauses.append("purpose = ?")
            params.append(purpose)
        if after:
            comparison = "<" if descending else ">"
            clauses.append(f"seq {comparison} (SELECT seq FROM files WHERE id = ?)")
            params.append(after)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        direction = "DESC" if descending else "ASC"
        rows = self._query(
            f"SELECT doc FROM files {where} ORDER BY seq {direction} LIMIT ?",
            [*params, limit + 1],
        )
        records = [FileRecord(**json.loads(row[0])) for row in rows]
        return Page(records[:limit], len(records) > limit)

    def delete_file(self, file_id: str) -> bool:
        with self._transaction() as conn:
            deleted = conn.execute("DELETE FROM files WHERE id = ?", (file_id,)).rowcount > 0
        if deleted:
            self.file_path(file_id).unlink(missing_ok=True)
        return deleted

    # --- jobs ------------------------------------------------------------------------

    def add_job(self, job: JobRecord) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO jobs (id, status, doc) VALUES (?, ?, ?)",
                (job.id, job.status, job.to_doc()),
            )

    def get_job(self, job_id: str) -> JobRecord | None:
        rows = self._query("SELECT doc FROM jobs WHERE id = ?", (job_id,))
        return JobRecord.from_doc(rows[0][0]) if rows else None

    def jobs_newest_first(self, *, before: str | None = None) -> list[JobRecord]:
        """All jobs, newest first; with `before`, only those created before that job."""
        if before:
            rows = self._query(
                "SELECT doc FROM jobs WHERE seq < (SELECT seq FROM jobs WHERE id = ?) "
                "ORDER BY seq DESC",
                (before,),
            )
        else:
            rows = self._query("SELECT doc FROM jobs ORDER BY seq DESC")
        return [JobRecord.from_doc(row[0]) for row in rows]

    def iter_jobs_newest_first(
        self, *, before: str | None = None, batch: int = 200
    ) -> Iterator[JobRecord]:
        """`jobs_newest_first`, read `batch` rows at a time: a listing page stops reading
        once it has its jobs, instead of loading every older job for every page."""
        cursor: int | None = None
        if before:
            found = self._query("SELECT seq FROM jobs WHERE id = ?", (before,))
            if not found:
                return
            cursor = int(found[0][0])
        while True:
            if cursor is None:
                rows = self._query("SELECT seq, doc FROM jobs ORDER BY seq DESC LIMIT ?", (batch,))
            else:
                rows = self._query(
                    "SELECT seq, doc FROM jobs WHERE seq < ? ORDER BY seq DESC LIMIT ?",
                    (cursor, batch),
                )
            for _, doc in rows:
                yield JobRecord.from_doc(doc)
            if len(rows) < batch:
                return
            cursor = int(rows[-1][0])

    def jobs_with_status(self, statuses: Sequence[str]) -> list[JobRecord]:
        """Jobs in any of `statuses`, oldest first (the order they are worked on)."""
        marks = ",".join("?" for _ in statuses)
        rows = self._query(
            f"SELECT doc FROM jobs WHERE status IN ({marks}) ORDER BY seq ASC", list(statuses)
        )
        return [JobRecord.from_doc(row[0]) for row in rows]

    def update_job(
        self, job_id: str, *, only_from: Sequence[str] | None = None, **changes: Any
    ) -> JobRecord | None:
        """Apply `changes` to a job, atomically; None when it is missing or its status is
        not one of `only_from` (so concurrent cancel/finish cannot overwrite each other)."""
        with self._transaction() as conn:
            rows = conn.execute("SELECT doc FROM jobs WHERE id = ?", (job_id,)).fetchall()
            if not rows:
                return None
            job = JobRecord.from_doc(rows[0][0])
            if only_from is not None and job.status not in only_from:
                return None
            if "result_files" in changes:
                changes["result_files"] = tuple(changes["result_files"])
            updated = dataclasses.replace(job, **changes)
            conn.execute(
                "UPDATE jobs SET status = ?, doc = ? WHERE id = ?",
                (updated.status, updated.to_doc(), job_id),
            )
            return updated

    # --- events ----------------------------------------------------------------------

    def add_event(
        self,
        job_id: str,
        message: str,
        *,
        level: str = "info",
        type: str = "message",
        data: dict[str, Any] | None = None,
    ) -> EventRecord:
        event = EventRecord(ids.event_id(), job_id, now(), level, message, type, data)
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO events (id, job_id, doc) VALUES (?, ?, ?)",
                (event.id, job_id, json.dumps(dataclasses.asdict(event))),
            )
        return event

    def list_events(self, job_id: str, *, after: str | None, limit: int) -> Page:
        return self._newest_first_page("events", EventRecord, job_id, after, limit)

    def _newest_first_page(
        self, table: str, record: type[Any], job_id: str, after: str | None, limit: int
    ) -> Page:
        params: list[Any] = [job_id]
        cursor = ""
        if after:
            cursor = f"AND seq < (SELECT seq FROM {table} WHERE id = ?)"
            params.append(after)
        rows = self._query(
            f"SELECT doc FROM {table} WHERE job_id = ? {cursor} ORDER BY seq DESC LIMIT ?",
            [*params, limit + 1],
        )
        records = [record(**json.loads(row[0])) for row in rows]
        return Page(records[:limit], len(records) > limit)

    # --- step metrics and checkpoints --------------------------------------------------

    def record_step(self, job_id: str, step: int, metrics: dict[str, Any]) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO step_metrics (job_id, step, doc) VALUES (?, ?, ?)",
                (job_id, step, json.dumps(metrics)),
            )

    def step_metrics(self, job_id: str) -> list[dict[str, Any]]:
        rows = self._query(
            "SELECT doc FROM step_metrics WHERE job_id = ? ORDER BY step ASC", (job_id,)
        )
        return [json.loads(row[0]) for row in rows]

    def add_checkpoint(self, checkpoint: CheckpointRecord) -> None:
        with self._transaction() as conn:
            # A resumed job redoes an epoch whose checkpoint may already exist: replace it.
            conn.execute(
                "DELETE FROM checkpoints WHERE job_id = ? AND epoch = ?",
                (checkpoint.job_id, checkpoint.epoch),
            )
            conn.execute(
                "INSERT INTO checkpoints (id, job_id, epoch, model_name, doc) VALUES (?, ?, ?, ?, ?)",
                (
                    checkpoint.id,
                    checkpoint.job_id,
                    checkpoint.epoch,
                    checkpoint.fine_tuned_model_checkpoint,
                    json.dumps(dataclasses.asdict(checkpoint)),
                ),
            )

    def drop_old_checkpoints(self, job_id: str, *, keep: int) -> list[CheckpointRecord]:
        """Forget all but the job's `keep` latest epoch checkpoints (and their permissions).

        Returns the forgotten records, so that the caller removes their weights.
        """
        with self._transaction() as conn:
            rows = conn.execute(
                "SELECT doc FROM checkpoints WHERE job_id = ? ORDER BY epoch DESC LIMIT -1 OFFSET ?",
                (job_id, keep),
            ).fetchall()
            dropped = [CheckpointRecord(**json.loads(row[0])) for row in rows]
            for record in dropped:
                conn.execute("DELETE FROM checkpoints WHERE id = ?", (record.id,))
                conn.execute(
                    "DELETE FROM checkpoint_permissions WHERE checkpoint = ?",
                    (record.fine_tuned_model_checkpoint,),
                )
        return dropped

    def list_checkpoints(self, job_id: str, *, after: str | None, limit: int) -> Page:
        return self._newest_first_page("checkpoints", CheckpointRecord, job_id, after, limit)

    def last_checkpoint(self, job_id: str) -> CheckpointRecord | None:
        rows = self._query(
            "SELECT doc FROM checkpoints WHERE job_id = ? ORDER BY epoch DESC LIMIT 1", (job_id,)
        )
        return CheckpointRecord(**json.loads(rows[0][0])) if rows else None

    def checkpoint_by_model(self, model_name: str) -> CheckpointRecord | None:
        rows = self._query("SELECT doc FROM checkpoints WHERE model_name = ?", (model_name,))
        return CheckpointRecord(**json.loads(rows[0][0])) if rows else None

    # --- checkpoint permissions ---------------------------------------------------------

    def add_permissions(
        self, checkpoint: str, project_ids: Sequence[str]
    ) -> list[PermissionRecord]:
        """A permission per project (an existing one is kept, not duplicated), in order."""
        made: list[PermissionRecord] = []
        with self._transaction() as conn:
            for project_id in dict.fromkeys(project_ids):
                rows = conn.execute(
                    "SELECT doc FROM checkpoint_permissions WHERE checkpoint = ? AND project_id = ?",
                    (checkpoint, project_id),
                ).fetchall()
                if rows:
                    made.append(PermissionRecord(**json.loads(rows[0][0])))
                    continue
                record = PermissionRecord(ids.permission_id(), checkpoint, project_id, self.now())
                conn.execute(
                    "INSERT INTO checkpoint_permissions (id, checkpoint, project_id, doc) "
                    "VALUES (?, ?, ?, ?)",
                    (record.id, checkpoint, project_id, json.dumps(dataclasses.asdict(record))),
                )
                made.append(record)
        return made

    def list_permissions(
        self,
        checkpoint: str,
        *,
        project_id: str | None,
        after: str | None,
        limit: int,
        descending: bool,
    ) -> Page:
        clauses, params = ["checkpoint = ?"], [checkpoint]
        if project_id is not None:
            clauses.append("project_id = ?")
            params.append(project_id)
        if after:
            comparison = "<" if descending else ">"
            clauses.append(
                f"seq {comparison} (SELECT seq FROM checkpoint_permissions WHERE id = ?)"
            )
            params.append(after)
        rows = self._query(
            f"SELECT doc FROM checkpoint_permissions WHERE {' AND '.join(clauses)} "
            f"ORDER BY seq {'DESC' if descending else 'ASC'} LIMIT ?",
            [*params, limit + 1],
        )
        records = [PermissionRecord(**json.loads(row[0])) for row in rows]
        return Page(records[:limit], len(records) > limit)

    def delete_permission(self, checkpoint: str, permission_id: str) -> bool:
        with self._transaction() as conn:
            deleted = conn.execute(
                "DELETE FROM checkpoint_permissions WHERE checkpoint = ? AND id = ?",
                (checkpoint, permission_id),
            ).rowcount
        return deleted > 0

    # --- models ----------------------------------------------------------------------

    def add_model(self, model: ModelRecord) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO models (id, deleted, doc) VALUES (?, 0, ?)",
                (model.id, json.dumps(dataclasses.asdict(model))),
            )

    def get_model(self, model_id: str) -> ModelRecord | None:
        rows = self._query("SELECT doc FROM models WHERE id = ? AND deleted = 0", (model_id,))
        return ModelRecord(**json.loads(rows[0][0])) if rows else None

    def list_models(self) -> list[ModelRecord]:
        rows = self._query("SELECT doc FROM models WHERE deleted = 0 ORDER BY seq ASC")
        return [ModelRecord(**json.loads(row[0])) for row in rows]

    def delete_model(self, model_id: str) -> bool:
        with self._transaction() as conn:
            return (
                conn.execute(
                    "UPDATE models SET deleted = 1 WHERE id = ? AND deleted = 0", (model_id,)
                ).rowcount
                > 0
            )
