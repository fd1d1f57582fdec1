"""The per-row work of a build (`ftctl.datasets.row_work`) on worker processes, one per usable
CPU (`ftctl.datasets.worker_count`).

Parsing, transforming, canonicalising, counting, checking and signing a row is Python
that holds the GIL, so threads do not help; processes do. Workers are not
`multiprocessing`'s: those re-import the caller's main module (a user's script without an
`if __name__ == "__main__"` guard would run again) or fork a process that may have
threads. On Linux they are forked from a fork server that started once
(`ftctl.datasets.worker_fork`); elsewhere each is a plain subprocess (`python -m
ftctl.datasets.row_pool`). A worker reads requests on one pipe and answers on another, one
at a time: 8 bytes of length, then a pickle (the parent's own, from a process it started;
`ftctl.datasets.worker_pipe`). A request is `(job, rows)` (the rows of a file as one
`LineBlock`, cut into lines by the worker; or a list of lines or inline rows), the answer
its results packed (`row_block.pack`: records as bytes). A worker looks its rows up in the
example cache first (a read connection of its own) and works only on the others; it
keeps a `RowWorker` per plan it has seen, so its encoding and refusal matcher are loaded
once. Up to `DEPTH` batches wait for each worker or are being worked on, so that it starts
the next as soon as it has answered one. Each worker's requests are written, and its answers
read, by two threads of the build's own: a request and an answer each larger than the pipe
then never wait on each other, and a worker never waits for the build to read an answer
(one of 512 rows is ~1.5 MB, more than the pipe holds; read in the order sent by the main
thread, a 50k build's second worker spent ~2 s of its ~6 blocked writing, the CPUs ~15%
idle). Batches come back in the order they were sent.

`LocalPool` does the same work in this process (small builds: no worker start-up).
"""

from __future__ import annotations

import contextlib
import marshal
import os
import queue
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NamedTuple, Protocol

from ftctl.datasets.canonical import canonical_line
from ftctl.datasets.example_cache import ExampleCache, content_keys
from ftctl.datasets.line_block import LineBlock
from ftctl.datasets.line_index import PreviousLines
from ftctl.datasets.minhash_compiled import load as load_minhash
from ftctl.datasets.row_block import Layout, Packed, pack
from ftctl.datasets.row_work import (
    DIGEST_FIELD,
    RESULT_FIELDS,
    RowPlan,
    RowResult,
    RowWorker,
    with_line,
)
from ftctl.datasets.tokenizers import get_encoding
from ftctl.datasets.worker_fork import (
    MINHASH,
    MINHASH_COMPILE,
    ForkedWorker,
    ForkedWorkers,
    fork_available,
)
from ftctl.datasets.worker_pipe import receive, send, widen, worker_env


@dataclass(frozen=True)
class Job:
    """What a batch of rows is worked on with: the split's plan, and where the results of
    earlier builds are (the example cache and the namespace of this plan's keys)."""

    plan: RowPlan
    namespace: str
    cache: Path | None
    previous: tuple[Path, ...] = ()  # split objects of the last build (`line_index`)


# A batch's rows: raw JSONL lines (or a block of them), or inline rows already parsed.
Rows = Sequence[bytes | dict[str, Any]] | LineBlock
# A batch's results packed (`row_block.pack`), the rows reused, the keys of those not
# marked used today, every row's key (in order). The results computed are not sent for the
# example cache: the build keeps them in its row snapshot, which gives the cache those it
# leaves out (`row_reuse.RowReuse.left_behind`, `stream.StreamBuild._keep_left_out`).
_Values = tuple[Packed, int, list[bytes], list[bytes]]


_Worker = subprocess.Popen[bytes] | ForkedWorker  # a worker process, started or forked


class Answer(NamedTuple):
    results: Packed  # the rows' results, in order (`RowBlock.unpacked`)
    reused: int  # rows whose result came from the cache
    stale: list[bytes]  # keys of reused results to mark used today (`ExampleCache.mark_used`)
    keys: list[bytes]  # each row's key (`example_cache.content_keys`), for the build's snapshot


class RowPool(Protocol):
    lost: str | None  # why worker processes were given up (the rest done in process)

    @property
    def full(self) -> bool: ...
    @property
    def ready(self) -> bool:
        """A result can be collected without waiting."""

    def submit(self, tag: Any, job: Job, rows: Rows) -> None:
        """Queue `rows` (raw JSONL lines or a block of them, or inline rows already parsed)."""

    def pending(self) -> bool: ...
    def collect(self) -> tuple[Any, Answer]: ...
    def release(self) -> None:
        """No batch will come: let the workers end (`close` waits for them)."""

    def close(self) -> None: ...


class _Workbench:
    """A process's workers by plan and caches by file, each made once."""

    def __init__(self) -> None:
        self._workers: dict[RowPlan, RowWorker] = {}
        self._layouts: dict[RowPlan, Layout] = {}
        self._caches: dict[Path, ExampleCache] = {}
        self._previous: dict[tuple[Path, ...], PreviousLines] = {}

    def work(self, job: Job, rows: Rows) -> Answer:
        """Each row's result: from the cache where an earlier build computed it (its canonical
        line, not kept there, copied from the last build's output or made again), else
        computed."""
        return Answer(*self.work_values(job, rows))

    def work_values(self, job: Job, rows: Rows) -> _Values:
        """`work`, as a worker sends it: the results packed (`row_block.pack`)."""
        if isinstance(rows, LineBlock):
            rows = rows.lines()  # cut here, on this process's core
        worker = self._workers.get(job.plan)
        if worker is None:
            worker = self._workers[job.plan] = RowWorker(job.plan)
        keys = content_keys(
            job.namespace, (raw if isinstance(raw, bytes) else canonical_line(raw) for raw in rows)
        )
        layout = self._layouts.get(job.plan)
        if layout is None:
            layout = self._layouts[job.plan] = Layout(job.plan)
        found: list[tuple[Any, ...] | None] = [None] * len(rows)
        stale: list[bytes] = []
        if job.cache is not None:
            store = self._caches.get(job.cache)
            if store is None:
                store = self._caches[job.cache] = ExampleCache(job.cache)
            stored = store.get_many("rows", keys, stale)
            for i, key in enumerate(keys):
                value = stored.get(key)
                if value is not None:
                    found[i] = _cached_result(value, layout)
        reused = sum(1 for cached in found if cached is not None)
        computed = iter(worker.run([r for r, f in zip(rows, found, strict=True) if f is None]))
        lines = iter(self._lines(job, worker, rows, found))
        results = [
            next(computed) if cached is None else RowResult._make(with_line(cached, next(lines)))
            for cached in found
        ]
        return pack(layout, results), reused, stale, keys

    def _lines(
        self,
        job: Job,
        worker: RowWorker,
        rows: Sequence[bytes | dict[str, Any]],
        found: Sequence[tuple[Any, ...] | None],
    ) -> list[bytes]:
        """The canonical lines of the cached rows (those `found`), in order: copied from the
        last build's objects where they are there, else made again; b"" for a row without
        one (not an example, or left out by a transform)."""
        cached = [(i, result) for i, result in enumerate(found) if result is not None]
        lines = [b""] * len(cached)
        wanted = [n for n, (_i, result) in enumerate(cached) if result[DIGEST_FIELD]]
        copied: list[bytes | None] = [None] * len(wanted)
        if job.previous and wanted:
            previous = self._previous.get(job.previous)
            if previous is None:
                previous = self._previous[job.previous] = PreviousLines(job.previous)
            copied = previous.lines([cached[n][1][DIGEST_FIELD] for n in wanted])
        missing: list[int] = []
        for n, line in zip(wanted, copied, strict=True):
            if line is None:
                missing.append(n)
            else:
                lines[n] = line
        made = worker.lines([rows[cached[n][0]] for n in missing])
        for n, line in zip(missing, made, strict=True):
            lines[n] = line
        return lines

    def close(self) -> None:
        for store in self._caches.values():
            store.close()
        self._caches.clear()
        self._workers.clear()
        for previous in self._previous.values():
            previous.close()
        self._previous.clear()


class LocalPool:
    """`RowPool` in this process: each batch is done when submitted."""

    def __init__(self) -> None:
        self.bench = _Workbench()
        self._done: deque[tuple[Any, Answer]] = deque()
        self.lost: str | None = None

    @property
    def full(self) -> bool:
        return False

    @property
    def ready(self) -> bool:
        return bool(self._done)

    def submit(self, tag: Any, job: Job, rows: Rows) -> None:
        self._done.append((tag, self.bench.work(job, rows)))

    def pending(self) -> bool:
        return bool(self._done)

    def collect(self) -> tuple[Any, Answer]:
        return self._done.popleft()

    def release(self) -> None:
        pass

    def close(self) -> None:
        self.bench.close()


class ProcessPool:
    """`RowPool` on worker processes.

    A worker that stops (killed for memory, say) or fails does not fail the build: the pool
    stops its workers and does the batches still owed, and all later ones, in this process
    (`lost` says why; the build reports it). Slower, never different: a row's result is a
    function of its bytes and plan alone. An error in the row work itself is then raised
    here, with its own traceback.
    """

    DEPTH = 2  # batches a worker has to do or is doing (its answers may wait beyond these)

    def __init__(
        self,
        workers: int,
        encodings: Sequence[str] = (),
        forked: ForkedWorkers | None = None,
        minhash: str | None = None,
    ) -> None:
        """`encodings`: the tiktoken encodings the rows will be counted with, loaded before
        the first batch arrives (once, by the fork server, where workers are forked), with
        the compiled MinHash loop if `minhash` says so (`MINHASH` or `MINHASH_COMPILE`: for a
        build that will sign many rows). `forked`: those workers, already started
        (`worker_prestart`)."""
        self.workers = workers
        self.prestarted = forked is not None
        preloaded = [*encodings, minhash] if minhash else list(encodings)
        if forked is None and fork_available():
            forked = ForkedWorkers(workers, preloaded, worker_env())
        self._forked: ForkedWorkers | None = forked
        self._processes: list[_Worker]
        if forked is not None:
            self._processes = list(forked.workers)
        else:
            env = worker_env()
            self._processes = [
                subprocess.Popen(
                    [sys.executable, "-m", "ftctl.datasets.row_pool", *preloaded],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    env=env,
                )
                for _ in range(workers)
            ]
        for process in self._processes:
            widen(process)
        self._outboxes: list[queue.SimpleQueue[tuple[Job, Rows] | None]] = [
            queue.SimpleQueue() for _ in range(workers)
        ]
        # Each worker's answers as they come (or the error that ended its pipe), in order.
        self._inboxes: list[queue.SimpleQueue[Any]] = [queue.SimpleQueue() for _ in range(workers)]
        self._senders = _per_worker(_send_all, "ftctl-row-worker", self._processes, self._outboxes)
        self._readers = _per_worker(
            _receive_all, "ftctl-row-answers", self._processes, self._inboxes
        )
        # Per worker: batches sent and not yet collected (their answers may be in its inbox).
        self._in_flight = [0] * workers
        # Batches in order: (worker, or None: to be done in this process; tag, job, rows).
        self._busy: deque[tuple[int | None, Any, Job, Rows]] = deque()
        self._local: _Workbench | None = None
        self._closed = False
        self._released = False  # the workers were told no batch will come
        self._used = False  # a batch was submitted
        self.lost: str | None = None  # why the workers were given up, if they were

    def _unanswered(self, worker: int) -> int:
        """Batches the worker has to do or is doing (sent, not answered yet)."""
        return self._in_flight[worker] - self._inboxes[worker].qsize()

    @property
    def full(self) -> bool:
        if self._local is not None:
            return False
        # Answers wait in the inboxes while the main thread waits for an older one: at most
        # 2 * DEPTH batches more than DEPTH per worker (~1.5 MB an answer; with 12 workers,
        # whose answers the main thread is the slowest to use, 6 MB more, not 36).
        if sum(self._in_flight) >= self.DEPTH * (self.workers + 2):
            return True
        return all(self._unanswered(w) >= self.DEPTH for w in range(self.workers))

    @property
    def ready(self) -> bool:
        return self._local is not None and bool(self._busy)

    def submit(self, tag: Any, job: Job, rows: Rows) -> None:
        batch = rows if isinstance(rows, LineBlock) else list(rows)  # kept: see `_give_up`
        self._used = True
        if self._local is not None:
            self._busy.append((None, tag, job, batch))
            return
        # To the worker with the least to do, not the fewest answers uncollected: answers are
        # collected in order, so a worker that shares a core with this process (and is
        # slower) would hold the others' answers uncollected, and they would wait idle
        # (measured: one of two workers idle 1.3 s of a 6.5 s build).
        worker = min(range(self.workers), key=lambda w: (self._unanswered(w), self._in_flight[w]))
        self._in_flight[worker] += 1
        self._outboxes[worker].put((job, batch))
        self._busy.append((worker, tag, job, batch))

    def pending(self) -> bool:
        return bool(self._busy)

    def collect(self) -> tuple[Any, Answer]:
        worker, tag, job, rows = self._busy.popleft()
        if worker is not None and self._local is None:
            answer = self._inboxes[worker].get()
            if not isinstance(answer, BaseException):
                self._in_flight[worker] -= 1
                return tag, Answer(*answer)
            self._give_up(worker, str(answer))
        assert self._local is not None
        return tag, self._local.work(job, rows)

    def _give_up(self, worker: int, error: str) -> None:
        """Stop the workers; what is owed and what comes is done in this process."""
        if self._local is not None:
            return
        try:
            code: int | None = self._processes[worker].wait(timeout=1)
        except subprocess.TimeoutExpired:
            code = None  # still running: it answered with an error
        if code is None:
            self.lost = error
        elif code < 0:
            self.lost = f"killed by signal {-code}"
        else:
            self.lost = f"exit code {code}"
        # The others may be writing answers nobody will read: stopped, not waited for.
        self._kill_all()
        self.close()
        self._local = _Workbench()

    def release(self) -> None:
        """Close the workers' stdin (they exit) without waiting for them: the build goes
        on to its checks meanwhile (~15 ms a build waited here), `close` reaps them."""
        if not self._released and self._used and not self._busy:
            self._released = True
            for outbox in self._outboxes:
                outbox.put(None)  # the sender closes the worker's stdin: it exits

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if not self._used or any(worker is not None for worker, *_ in self._busy):
                # Never given a batch (the build was found unchanged): nothing to wait for.
                # Left with answers owed (an error in the build): the workers may be
                # blocked writing them, so they are stopped rather than waited for.
                self._kill_all()
            if not self._released:
                for outbox in self._outboxes:
                    outbox.put(None)  # the sender closes the worker's stdin: it exits
            for sender in self._senders:
                sender.join(timeout=5)
            for process, reader in zip(self._processes, self._readers, strict=True):
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        process.wait(timeout=5)
                reader.join(timeout=5)  # the worker is gone: its pipe has ended
                if process.stdout is not None:
                    process.stdout.close()
            if self._forked is not None:
                self._forked.close()
        if self._local is not None:
            self._local.close()

    def _kill_all(self) -> None:
        if self._forked is not None:
            self._forked.kill_all()  # the server and its workers: one process group
            return
        for process in self._processes:
            with contextlib.suppress(OSError):
                process.kill()


def _per_worker(
    target: Callable[[_Worker, Any], None],
    name: str,
    processes: Sequence[_Worker],
    queues: Sequence[queue.SimpleQueue[Any]],
) -> list[threading.Thread]:
    """A thread per worker running `target(process, its queue)`, started."""
    threads = [
        threading.Thread(target=target, args=(process, box), name=f"{name}-{n}", daemon=True)
        for n, (process, box) in enumerate(zip(processes, queues, strict=True))
    ]
    for thread in threads:
        thread.start()
    return threads


def _send_all(process: _Worker, outbox: queue.SimpleQueue[tuple[Job, Rows] | None]) -> None:
    """A worker's requests, written as they come; None closes its stdin. A write that fails
    (the worker is gone) ends the thread: the build finds out reading its answer."""
    stdin = process.stdin
    assert stdin is not None
    try:
        while (request := outbox.get()) is not None:
            send(stdin, request)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            stdin.close()


def _receive_all(process: _Worker, inbox: queue.SimpleQueue[Any]) -> None:
    """A worker's answers, read as soon as it writes them; the error that ends its pipe
    (EOFError: the worker stopped) comes last."""
    stdout = process.stdout
    assert stdout is not None
    while True:
        try:
            inbox.put(receive(stdout, "data build worker"))
        except Exception as error:  # EOFError, OSError, a closed pipe, a damaged pickle
            inbox.put(error)
            return


def _cached_result(value: bytes, layout: Layout) -> tuple[Any, ...] | None:
    """A row's result from its example cache value: a whole result (a tuple of its fields,
    no line), or a plain row's record with its system prompt (what a row snapshot held:
    `row_reuse.RowReuse.left_behind`); None for anything else (an old or damaged value:
    a miss). marshal, not pickle: the cache is in the workspace, where a commit can plant
    one, and loading a pickle can run any code."""
    try:
        cached = marshal.loads(value)
    except Exception:
        return None
    if type(cached) is not tuple:
        return None
    if len(cached) == RESULT_FIELDS:
        return cached
    if (
        len(cached) == 2
        and type(cached[0]) is bytes
        and (cached[1] is None or type(cached[1]) is str)
    ):
        return layout.result(cached[0], cached[1])
    return None


def preload(names: Sequence[str]) -> None:
    """Load the tiktoken encodings `names` now, before any batch (a bad name fails later,
    where rows are counted with it), and the compiled MinHash loop if `MINHASH` (or
    `MINHASH_COMPILE`) is one: first, so that the pages its loading holds for a moment are
    let go before the encoding (~110 MB) is there (`minhash_compiled`)."""
    if MINHASH_COMPILE in names or MINHASH in names:
        load_minhash(compile_it=MINHASH_COMPILE in names)
    for name in names:
        if name not in (MINHASH, MINHASH_COMPILE):
            with contextlib.suppress(Exception):
                get_encoding(name)


def serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """A worker: answer each request until `stdin` ends."""
    bench = _Workbench()
    try:
        while True:
            try:
                job, rows = receive(stdin)
            except EOFError:
                return
            try:
                answer: Any = bench.work_values(job, rows)
            except Exception as error:  # the build does the batch itself (`ProcessPool`)
                answer = RuntimeError(f"data build worker failed: {error!r}")
            try:
                send(stdout, answer)
            except BrokenPipeError:  # the build is gone (killed, say): no one to answer
                return
    finally:
        bench.close()


if __name__ == "__main__":
    preload(sys.argv[1:])
    serve(sys.stdin.buffer, sys.stdout.buffer)
    with contextlib.suppress(BrokenPipeError):
        sys.stdout.flush()
    # Everything is answered and the caches are closed: skip the interpreter's teardown
    # (freeing the encoding alone takes ~0.08 s), which the build would wait for.
    os._exit(0)
