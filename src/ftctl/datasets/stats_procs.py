"""`data stats` on several processes: worker processes share out the file's chunks.

Parsing and checking examples is Python and holds the GIL, so with threads one core runs
all of it while the others tokenize, and the threads get in each other's way (GIL
hand-overs, the main thread tokenizing what the helpers have not reached): on 50,000
examples and two cores, 5.8-6.2 CPU-s with a tokenizing thread against 4.5-4.8 for two
processes that each do everything for half of the chunks. Here a worker process per core
parses, checks and tokenizes whole chunks on its one thread (`_Analyzer.analyze`), and this
process only hands out chunks and merges the results (it needs no encoding). "Per core": per
CPU the process may use, at most `MAX_PROCESSES` (`ftctl.datasets.worker_count`).

The file is cut into a grid that every process finds by itself: chunk `k` starts at the
first line that starts at or after `k * chunk_bytes` (chunk 0 at 0: the lines `compute_stats`
reads first, so the format is detected on the same lines). A thread per worker sends its
worker the next free chunk number (`_Claims`) each time the worker returns a result, two in
flight so that a worker never waits for work. Results are merged in chunk order
(`_Totals.merge`), line numbers made absolute from the chunks' line counts, so the report
is the one a single pass gives. Duplicates and system prompts are compared by Python's
`hash`, salted per process: the workers get one seed (`PYTHONHASHSEED`, random per run).

Workers are plain subprocesses (`python -m ftctl.datasets.stats_procs FILE ENCODING`), as
in `ftctl.datasets.row_pool` (not `multiprocessing`: it re-imports the caller's main module or
forks a process that has threads). A worker loads the encoding, reads `(format, chunk_bytes)`
then chunk numbers from stdin, and writes `(k, lines, end, ChunkResult)`
pickles to stdout, each after 8 bytes of length; the pickles are this process's own, from a
process it started. If a worker fails, `compute_split` returns None and `compute_stats`
does the file in one process. `prestart` starts the workers before the caller has imported
numpy and tiktoken itself (`ftctl data stats --no-cache` does).
"""

from __future__ import annotations

import contextlib
import gc
import os
import queue
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from ftctl.datasets.jobs import Job, JobQueue
from ftctl.datasets.worker_count import data_workers
from ftctl.datasets.worker_pipe import receive, send, worker_env
from ftctl.errors import DataError
from ftctl.events import Event, EventSink, ignore

if TYPE_CHECKING:  # numpy and tiktoken load after the workers have started (`prestart`)
    from ftctl.catalog.models import ModelInfo
    from ftctl.datasets.formats import Format
    from ftctl.datasets.stats import ChunkResult
    from ftctl.datasets.stats_report import StatsReport

IN_FLIGHT = 2  # chunks handed to a worker ahead of its results
# From this size on, `compute_stats` uses worker processes: starting one costs about
# 0.25 CPU-s (Python, imports, the encoding), worth it from a few MB of work on.
SPLIT_MIN_BYTES = 24 * 1024 * 1024
MAX_PROCESSES = 4


def default_processes() -> int:
    return data_workers(MAX_PROCESSES)


# --- the chunk grid ------------------------------------------------------------------


def chunk_count(size: int, chunk_bytes: int) -> int:
    return max(1, -(-size // chunk_bytes))


def chunk_start(handle: IO[bytes], k: int, chunk_bytes: int, size: int) -> int:
    """Where chunk `k` starts: the first line starting at or after `k * chunk_bytes`."""
    offset = k * chunk_bytes
    if offset <= 0:
        return 0
    if offset >= size:
        return size
    handle.seek(offset - 1)
    handle.readline()
    return min(handle.tell(), size)


def read_chunk(
    handle: IO[bytes], k: int, chunk_bytes: int, size: int
) -> tuple[list[tuple[int, bytes]], int, int]:
    """Chunk `k`'s non-blank lines, numbered from 1 at the chunk's start and without their
    line ends (as `iter_line_chunks` gives them), its number of lines, blank ones included,
    and the file offset where it ends."""
    from ftctl.datasets.line_block import numbered_lines, split_lines  # numpy: see the module

    start = chunk_start(handle, k, chunk_bytes, size)
    end = chunk_start(handle, k + 1, chunk_bytes, size)
    handle.seek(start)
    found = split_lines(handle.read(end - start), 1)
    return numbered_lines(found), found.total, end


# --- messages between the processes --------------------------------------------------


# --- this process's side -------------------------------------------------------------


class _Claims:
    """The chunk numbers not yet handed out, taken by any thread."""

    def __init__(self, chunks: int) -> None:
        self._next = 0
        self._chunks = chunks
        self._lock = threading.Lock()

    def take(self) -> int | None:
        with self._lock:
            if self._next >= self._chunks:
                return None
            self._next += 1
            return self._next - 1


# What a worker's thread puts in the inbox: (k, lines, end, result), or (k, 0, 0, None)
# for a chunk handed out that its worker did not return (it failed).
_Delivery = tuple[int, int, int, "ChunkResult | None"]


class _Worker:
    """One worker process and the thread that feeds it chunk numbers and takes its results."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self._outstanding: list[int] = []
        self._process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
        )
        self._thread = threading.Thread(target=self._serve, name="ftctl-stats-worker", daemon=True)

    def start(
        self, config: tuple[str | None, int], claims: _Claims, inbox: queue.SimpleQueue[_Delivery]
    ) -> None:
        """Send the worker its (format, chunk size) and start handing it chunks."""
        self._claims = claims
        self._inbox = inbox
        try:
            assert self._process.stdin is not None
            send(self._process.stdin, config)
        except OSError:
            pass  # it failed: `_serve` finds out
        self._thread.start()

    def _assign(self) -> None:
        k = self._claims.take()
        if k is None:
            return
        self._outstanding.append(k)
        assert self._process.stdin is not None
        send(self._process.stdin, k)

    def _serve(self) -> None:
        stdout = self._process.stdout
        assert stdout is not None
        try:
            for _ in range(IN_FLIGHT):
                self._assign()
            while self._outstanding:
                k, lines, end, result = receive(stdout, "stats worker")
                self._outstanding.remove(k)
                self._inbox.put((k, lines, end, result))
                self._assign()
        except Exception:  # a failed worker: `compute_split` gives up
            pass
        finally:
            for k in self._outstanding:
                self._inbox.put((k, 0, 0, None))
            self._outstanding.clear()
            self.close()

    def close(self) -> None:
        try:
            if self._process.stdin is not None:
                self._process.stdin.close()  # the worker ends when its input does
        except OSError:
            pass
        if self._process.poll() is None:
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def stop(self) -> None:
        """End the worker now (all its results are in, or there was an error)."""
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        if self._thread.ident is not None:  # started (a worker started ahead may not be)
            self._thread.join(timeout=5)


# Workers started ahead by `prestart`, by (file, encoding): taken by `compute_split`.
_prestarted: dict[tuple[str, str], list[_Worker]] = {}


def _spawn(path: Path, encoding: str, processes: int) -> list[_Worker]:
    env = worker_env()
    # One seed for all workers: `hash` of a string is then the same in each of them.
    env["PYTHONHASHSEED"] = str(1 + secrets.randbelow(2**32 - 1))
    argv = [sys.executable, "-m", "ftctl.datasets.stats_procs", str(path), encoding]
    return [_Worker(argv, env) for _ in range(max(1, processes))]


def prestart(path: Path, encoding: str, processes: int | None = None) -> None:
    """Start the worker processes that `compute_stats(path)` will use, now, so that they
    import and load `encoding` while the caller imports the rest (numpy, tiktoken, the
    checks). Does nothing for a file too small to share out, or a single core. Workers
    nobody takes end with this process (their input closes)."""
    processes = processes or default_processes()
    try:
        big = os.path.getsize(path) >= SPLIT_MIN_BYTES and not os.path.isdir(path)
    except OSError:
        return
    if processes > 1 and big:
        with contextlib.suppress(OSError):  # `compute_stats` will find out
            _prestarted[(str(path), encoding)] = _spawn(path, encoding, processes)


def _workers_for(path: Path, encoding: str, processes: int) -> list[_Worker]:
    workers = _prestarted.pop((str(path), encoding), [])
    if len(workers) == processes:
        return workers
    for worker in workers:
        worker.stop()
    return _spawn(path, encoding, processes)


class _Merge:
    """Chunk results merged in chunk order, whichever process delivered them first."""

    def __init__(self) -> None:
        from ftctl.datasets import stats

        self.totals = stats._Totals()
        self.parts: dict[str, list[Any]] = {name: [] for name in stats._PARTS}
        self.next = 0
        self.line_offset = 0
        self.bytes_done = 0
        self._waiting: dict[int, tuple[int, int, ChunkResult]] = {}

    def add(self, k: int, lines: int, end: int, result: ChunkResult) -> None:
        self._waiting[k] = (lines, end, result)
        while self.next in self._waiting:
            lines, end, result = self._waiting.pop(self.next)
            self.totals.merge(result.totals, self.line_offset)
            for name in self.parts:
                array = result.arrays[name]
                self.parts[name].append(array + self.line_offset if name == "line_no" else array)
            self.line_offset += lines
            self.bytes_done = end
            self.next += 1


def compute_split(
    path: Path,
    model: ModelInfo,
    size: int,
    *,
    processes: int,
    n_epochs: int | Literal["auto"] = "auto",
    fmt: Format | None = None,
    sink: EventSink = ignore,
    sha256: str | None = None,
) -> StatsReport | None:
    """`compute_stats` on `processes` worker processes (an OpenAI encoding only); None if
    a worker failed."""
    from ftctl.datasets import stats

    try:
        workers = _workers_for(path, model.encoding, processes)
    except OSError:  # no Python to start (an embedded interpreter?): one process, then
        return None
    chunk_bytes = stats.CHUNK_BYTES
    chunks = chunk_count(size, chunk_bytes)
    claims = _Claims(chunks)
    inbox: queue.SimpleQueue[_Delivery] = queue.SimpleQueue()
    merge = _Merge()
    try:
        if fmt is None:  # detected here, on chunk 0, while the workers load their encoding
            with open(path, "rb") as handle:
                fmt = stats.format_of_lines(read_chunk(handle, 0, chunk_bytes, size)[0])
        for worker in workers:
            worker.start((fmt, chunk_bytes), claims, inbox)
        with JobQueue(1) as hasher:
            hashing = Job.finished(sha256) if sha256 else hasher.submit(stats.sha256_file, path)
            while merge.next < chunks:
                k, lines, end, result = inbox.get()
                if result is None:
                    return None
                merge.add(k, lines, end, result)
                _progress(sink, path, merge, size)
            digest = hasher.result(hashing)
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror or error}") from error
    finally:
        for worker in workers:
            worker.stop()
    return stats.report(path, digest, size, model, n_epochs, merge.totals, merge.parts, fmt)


def _progress(sink: EventSink, path: Path, merge: _Merge, size: int) -> None:
    sink(
        Event(
            "progress",
            f"Analysing {path.name}",
            task="data-stats",
            completed=merge.bytes_done,
            total=size,
        )
    )


# --- a worker process ----------------------------------------------------------------


def _chunk_numbers(stream: IO[bytes]) -> Iterator[int]:
    while True:
        try:
            k = receive(stream, "stats worker")
        except EOFError:
            return
        yield int(k)


def main(argv: list[str]) -> int:
    from ftctl.datasets import stats
    from ftctl.datasets.tokenizers import get_encoding

    path, encoding = argv
    gc.disable()
    enc = get_encoding(encoding)  # while the parent gets ready
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    try:
        fmt, chunk_bytes = receive(stdin, "stats worker")
    except EOFError:
        return 0  # started ahead, not needed after all
    size = os.path.getsize(path)
    with JobQueue(0) as inline, open(path, "rb") as handle:
        if fmt is None:
            fmt = stats.format_of_lines(read_chunk(handle, 0, chunk_bytes, size)[0])
        analyzer = stats._Analyzer(enc, fmt, inline, 1)
        for k in _chunk_numbers(stdin):
            lines, count, end = read_chunk(handle, k, chunk_bytes, size)
            send(stdout, (k, count, end, analyzer.analyze(lines)))
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    # Everything is written: skip the interpreter's teardown (freeing the encoding alone
    # takes 0.08 s), which would compete with the parent's last chunks for a core.
    os._exit(code)
