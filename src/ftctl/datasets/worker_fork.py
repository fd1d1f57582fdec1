"""Data build workers forked from one process that started once (Linux).

A worker costs ~0.36 CPU-s before its first row: the interpreter and imports (~0.13 s) and
the tiktoken encoding (~0.23 s). Started one by one (`python -m ftctl.datasets.row_pool`),
N workers paid it N times, on the cores the build was waiting for: on two cores a rebuild's
two workers spent 0.7 of its 3.7 CPU-s starting. Here one process, the fork server, starts
once, imports the row work and loads the encodings, then forks the N workers, which begin
with all of it loaded (the encoding's memory shared, copy-on-write).

The server is a process with a single thread (BLAS libraries told to start none): forking
it is safe, where forking the build's own process once it runs threads (progress display,
BLAS) is not. It is a fresh interpreter, or, when the command starts it first thing
(`ftctl.cli.launch`) while still alone, the command itself forked (`ForkedServer`). The
build makes each worker's two pipes (requests in, answers out) and passes them to the server
at its start (`pass_fds`); each worker keeps only its own (a worker holding another's answer
pipe would hide that worker's end from the build). The server reports on its stdout (the
forked one: on a pipe of its own) a line per worker forked (`pid I PID`) and per worker
ended (`exit I CODE`, `subprocess`'s returncode convention), and exits when all workers
have. Workers and server share a process group of their own: a Ctrl-C at the
terminal reaches the build, which stops them (`ForkedWorkers.kill_all`).

Where there is no `os.fork` or it is not safe to use (macOS, whose system libraries may not
survive it; Windows), workers start one by one as before (`row_pool.ProcessPool`).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from typing import IO

SERVER_MODULE = "ftctl.datasets.worker_fork"
# Among the names the server loads before it forks (`row_pool.preload`): the compiled
# MinHash loop if it was compiled before (`MINHASH`), or even if it must be compiled now
# (`MINHASH_COMPILE`); and, for a server started before the build knows its encodings, wait
# for them on stdin (a line of names; none at all: stop without forking).
MINHASH = "+minhash"
MINHASH_COMPILE = "+minhash-compile"
WAIT = "+wait"
# Told to start no threads of their own in the server (numpy's OpenBLAS would start one per
# CPU at import): it must have only one thread when it forks. Row work uses no BLAS.
_OPENBLAS = "OPENBLAS_NUM_THREADS"
_SINGLE_THREADED = (_OPENBLAS, "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def fork_available() -> bool:
    return sys.platform.startswith("linux") and hasattr(os, "fork")


class _Reports:
    """The server's report lines, read as they come (with a timeout: `select`)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._fd = stream.fileno()
        self._stream = stream
        self._buffer = b""
        self._closed = False
        self.pids: dict[int, int] = {}
        self.codes: dict[int, int] = {}

    def read(self, timeout: float | None) -> bool:
        """Read what the server has reported within `timeout` seconds (None: wait for one
        line); False when there is nothing (more) to read."""
        if self._closed:
            return False
        ready, _, _ = select.select([self._fd], [], [], timeout)
        if not ready:
            return False
        data = os.read(self._fd, 4096)
        if not data:
            self._closed = True
            return False
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            kind, index, value = line.split()
            (self.pids if kind == b"pid" else self.codes)[int(index)] = int(value)
        return True

    def wait(self, index: int, codes: bool, timeout: float | None) -> int | None:
        """Worker `index`'s pid (or exit code), once reported; None if not within `timeout`."""
        found = self.codes if codes else self.pids
        deadline = None if timeout is None else time.monotonic() + timeout
        while index not in found:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not self.read(left) and (self._closed or (left is not None and left <= 0)):
                break
        return found.get(index)

    def close(self) -> None:
        self._closed = True
        self._stream.close()


class ForkedWorker:
    """One forked worker, as much of `subprocess.Popen` as `row_pool.ProcessPool` uses:
    `stdin` (its requests), `stdout` (its answers), `kill`, `wait`, `returncode`."""

    def __init__(self, index: int, reports: _Reports, stdin: IO[bytes], stdout: IO[bytes]):
        self.index = index
        self._reports = reports
        self.stdin: IO[bytes] | None = stdin
        self.stdout: IO[bytes] | None = stdout

    @property
    def returncode(self) -> int | None:
        return self._reports.codes.get(self.index)

    def kill(self) -> None:
        pid = self._reports.wait(self.index, codes=False, timeout=None)  # once forked
        self._reports.read(0)  # an exit already reported: its pid may be another's by now
        if pid is not None and self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        code = self._reports.wait(self.index, codes=True, timeout=timeout)
        if code is None:
            raise subprocess.TimeoutExpired(SERVER_MODULE, timeout or 0.0)
        return code


class ForkedWorkers:
    """The fork server and the workers it forked (see the module's doc)."""

    def __init__(
        self, count: int, names: Sequence[str], env: dict[str, str], share: bool = False
    ) -> None:
        """`names`: what the server loads before it forks (`row_pool.preload`); with `WAIT`
        among them, it loads the rest, then waits for `go`. `share`: the server is this
        process forked, with numpy imported, when it can be (`ForkedServer`)."""
        requests = [os.pipe() for _ in range(count)]
        answers = [os.pipe() for _ in range(count)]
        theirs = [
            fd
            for (read, _), (_, write) in zip(requests, answers, strict=True)
            for fd in (read, write)
        ]
        try:
            self.server: subprocess.Popen[bytes] | ForkedServer = (
                ForkedServer(theirs, names)
                if share and alone_with_numpy()
                else subprocess.Popen(
                    [sys.executable, "-m", SERVER_MODULE, ",".join(map(str, theirs)), *names],
                    stdin=subprocess.PIPE if WAIT in names else subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    env={**env, **dict.fromkeys(_SINGLE_THREADED, "1")},
                    pass_fds=theirs,
                    process_group=0,
                )
            )
        except BaseException:
            for fd in (*theirs, *(w for _, w in requests), *(r for r, _ in answers)):
                os.close(fd)
            raise
        for fd in theirs:
            os.close(fd)
        assert self.server.stdout is not None
        self._reports = _Reports(self.server.stdout)
        self.workers = [
            ForkedWorker(
                index,
                self._reports,
                open(request_write, "wb"),  # noqa: SIM115 (closed by the pool)
                open(answer_read, "rb"),  # noqa: SIM115
            )
            for index, ((_, request_write), (answer_read, _)) in enumerate(
                zip(requests, answers, strict=True)
            )
        ]

    def go(self, names: Sequence[str]) -> None:
        """Tell a server that waits (`WAIT`) what else to load before it forks (encodings,
        `MINHASH_COMPILE`)."""
        assert self.server.stdin is not None
        with contextlib.suppress(OSError):  # a server gone: its workers' pipes say so
            self.server.stdin.write(" ".join(names).encode() + b"\n")
            self.server.stdin.close()

    def kill_all(self) -> None:
        """Stop the server and every worker (one process group)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.server.pid, signal.SIGKILL)

    def discard(self) -> None:
        """Stop them all unused, close their pipes, reap the server."""
        self.kill_all()
        for worker in self.workers:
            for stream in (worker.stdin, worker.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        self.close()

    def close(self) -> None:
        """Reap the server (it exits once its workers have; stopped after 5 s)."""
        try:
            self.server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill_all()
            self.server.wait()
        self._reports.close()


# --------------------------------------------------------------------------- forked here


def alone_with_numpy() -> bool:
    """This process has numpy imported and still runs a single thread, as a server forked
    from it must (`ForkedServer`). numpy is imported here if it is not yet, with OpenBLAS
    told to start no thread unless the user says otherwise (its threads start at import);
    the variable is put back after the import, so that no process started later (a local
    server that trains) inherits it."""
    if not fork_available() or _threads() != 1:
        return False
    if "numpy" not in sys.modules:
        told = os.environ.get(_OPENBLAS)
        if told is None:
            os.environ[_OPENBLAS] = "1"
        try:
            import numpy  # noqa: F401  (the server and its workers begin with it)
        finally:
            if told is None:
                os.environ.pop(_OPENBLAS, None)
    return _threads() == 1


def _threads() -> int:
    """The threads this process runs, any library's (0 when it cannot be told)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0


class ForkedServer:
    """The fork server as a fork of this process: as much of `subprocess.Popen` as
    `ForkedWorkers` uses (`pid`, `stdin`, `stdout`, `wait`).

    A fresh interpreter spent ~0.1 CPU-s starting and importing numpy before the server's
    own work (the row work's modules and the encoding, ~0.25 s), on the core a rebuild's
    first rows are then waiting for. The command imports numpy anyway: forked from it right
    after that, while it runs a single thread (`alone_with_numpy`), the server begins with
    it. Paired with the fresh interpreter on two cores, a 50k rebuild after a 1% edit used
    0.07-0.18 CPU-s less (4-9%); its wall time moved by -0.7% to -4.6% (three runs of 12
    pairs: the CPU saved was not on the critical path, bench/README.md).

    Only the command's start does this (`ftctl.cli.launch`), when it has opened nothing
    but its standard streams: the child closes every other file descriptor but its own
    pipes and the workers' (as `subprocess.Popen(close_fds=True, pass_fds=...)` did; no
    object of the command's owns one yet, so none can be closed twice), reads its stdin
    from /dev/null and writes its stdout to the command's stderr, in a process group of its
    own (`process_group=0`)."""

    def __init__(self, fds: Sequence[int], names: Sequence[str]) -> None:
        """`fds`: the workers' ends of their pipes, as `serve` takes them."""
        told_read, told_write = os.pipe() if WAIT in names else (-1, -1)
        report_read, report_write = os.pipe()
        try:
            self.pid = os.fork()
        except BaseException:
            for fd in (told_read, told_write, report_read, report_write):
                if fd >= 0:
                    os.close(fd)
            raise
        if self.pid == 0:
            _serve_forked(fds, names, told_read, report_write)
        with contextlib.suppress(OSError):  # as the child does: its group exists on return
            os.setpgid(self.pid, self.pid)
        os.close(report_write)
        if told_read >= 0:
            os.close(told_read)
        self.returncode: int | None = None
        self.stdin = open(told_write, "wb") if told_write >= 0 else None  # noqa: SIM115
        self.stdout = open(report_read, "rb")  # noqa: SIM115 (closed by `_Reports`)

    def wait(self, timeout: float | None = None) -> int:
        """Its exit code once it has exited (`subprocess.TimeoutExpired` after `timeout`
        seconds; polled as `Popen.wait` polls, from 0.5 ms up to 50 ms apart)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.0005
        while self.returncode is None:
            pid, status = os.waitpid(self.pid, 0 if deadline is None else os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
                break
            assert deadline is not None
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(SERVER_MODULE, timeout or 0.0)
            time.sleep(min(delay, left))
            delay = min(delay * 2, 0.05)
        return self.returncode


def _serve_forked(fds: Sequence[int], names: Sequence[str], told: int, report: int) -> None:
    """The child of `ForkedServer`: the server, then an exit that runs nothing of the
    command it was forked from (no teardown, none of its buffered output written twice).
    It holds none of the command's ends of the pipes: a worker would never see its end of
    file, nor the build the end of the reports."""
    code = 1
    try:
        os.setpgid(0, 0)
        keep = {0, 1, 2, told, report, *fds}
        for name in os.listdir("/proc/self/fd"):  # the list is made before any is closed
            if int(name) not in keep:
                with contextlib.suppress(OSError):
                    os.close(int(name))
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        os.dup2(2, 1)
        os.environ.update(dict.fromkeys(_SINGLE_THREADED, "1"))
        with (
            open(report, "wb") as reports,
            open(told, "rb") if told >= 0 else contextlib.nullcontext() as told_by,
        ):
            serve(fds, names, told_by, reports)
        code = 0
    except BaseException:
        with contextlib.suppress(BaseException):
            traceback.print_exc()
    finally:
        os._exit(code)


# --------------------------------------------------------------------------- the server


def serve(
    fds: Sequence[int],
    names: Sequence[str],
    told_by: IO[bytes] | None = None,
    report: IO[bytes] | None = None,
) -> None:
    """Load once (`names`: `ForkedWorkers`), fork a worker per (request, answer) pair of
    `fds`, report, reap. What else to load comes on `told_by` (`WAIT`), reports go to
    `report` (stdin and stdout unless given)."""
    from ftctl.datasets import row_pool

    row_pool.preload([name for name in names if name != WAIT])
    if WAIT in names:
        told = (told_by or sys.stdin.buffer).readline()
        if not told.endswith(b"\n"):
            return  # the build did not want them
        row_pool.preload(told.decode("ascii", "replace").split())
    report = report or sys.stdout.buffer
    pairs = list(zip(fds[0::2], fds[1::2], strict=True))
    workers: dict[int, int] = {}
    for index, (request, answer) in enumerate(pairs):
        pid = os.fork()
        if pid == 0:
            _worker(request, answer, [fd for pair in pairs[index + 1 :] for fd in pair])
        os.close(request)
        os.close(answer)
        workers[pid] = index
        _report(report, b"pid %d %d\n" % (index, pid))
    while workers:
        pid, status = os.wait()
        index = workers.pop(pid, -1)
        if index >= 0:
            _report(report, b"exit %d %d\n" % (index, os.waitstatus_to_exitcode(status)))


def _report(report: IO[bytes], line: bytes) -> None:
    """A report line; none when the build is gone (its workers then end on their own)."""
    with contextlib.suppress(BrokenPipeError):
        report.write(line)
        report.flush()


def _worker(request: int, answer: int, others: Sequence[int]) -> None:
    """In the forked child: close the pipes of the workers still to fork (`others`) and the
    server's reports (stdout becomes stderr), answer requests until they end, exit without
    the interpreter's teardown."""
    code = 0
    try:
        for fd in others:
            os.close(fd)
        os.dup2(2, 1)
        from ftctl.datasets import row_pool

        with open(request, "rb") as requests, open(answer, "wb") as answers:
            row_pool.serve(requests, answers)
    except BrokenPipeError:
        pass  # the build is gone (killed, say): no one to answer, nothing to say
    except BaseException:  # a worker that fails is the build's to report (EOF, exit code)
        traceback.print_exc()
        code = 1
    finally:
        os._exit(code)


if __name__ == "__main__":
    serve([int(fd) for fd in sys.argv[1].split(",")], sys.argv[2:])
    os._exit(0)
