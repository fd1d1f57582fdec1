"""MinHash signatures on worker processes: `SignerPool` and the worker's loop (`main`).

Shingling and hashing words is Python, which holds the GIL, so threads do not help; a
worker per core does. Workers are plain subprocesses (`python -m ftctl.datasets.signer`)
rather than `multiprocessing`'s: those re-import the caller's main module (a script
without an `if __name__ == "__main__"` guard would run again) or fork a process that may
have threads. A worker reads requests from stdin and answers on stdout, one at a time:
8 bytes of length, then a pickle: `(num_perm, items)` in (`similarity.sign_many`'s items)
and its list of signature pairs (bytes or None) out. The pickles are the parent's own, from a process it started.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

_HEADER = 8


def _write(stream: IO[bytes], value: Any) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(len(data).to_bytes(_HEADER, "little"))
    stream.write(data)
    stream.flush()


def _read(stream: IO[bytes]) -> Any:
    header = stream.read(_HEADER)
    if len(header) < _HEADER:
        raise EOFError("the signing worker stopped")
    size = int.from_bytes(header, "little")
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("the signing worker stopped")
    return pickle.loads(data)


Result = list[tuple[bytes | None, bytes | None]]


class SignerPool:
    """Worker processes signing batches of texts; at most one batch in flight per worker,
    so that neither side ever blocks writing while the other does."""

    def __init__(self, workers: int) -> None:
        import ftctl

        env = dict(os.environ)
        # The workers import the same ftctl as this process, wherever it was found.
        package_root = str(Path(ftctl.__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (package_root, env.get("PYTHONPATH", "")) if p
        )
        self._processes = [
            subprocess.Popen(
                [sys.executable, "-m", "ftctl.datasets.signer"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
            )
            for _ in range(workers)
        ]
        self._free = deque(range(workers))
        self._busy: deque[tuple[int, Any]] = deque()  # (worker, tag), oldest first

    @property
    def full(self) -> bool:
        return not self._free

    def submit(self, tag: Any, texts: Sequence[tuple[str, str | None]], num_perm: int) -> None:
        """Send a batch to a free worker (check `full` first; `collect` frees one)."""
        worker = self._free.popleft()
        stdin = self._processes[worker].stdin
        assert stdin is not None
        _write(stdin, (num_perm, list(texts)))
        self._busy.append((worker, tag))

    def pending(self) -> bool:
        return bool(self._busy)

    def collect(self) -> tuple[Any, Result]:
        """The oldest batch's tag and signatures (waits for them)."""
        worker, tag = self._busy.popleft()
        stdout = self._processes[worker].stdout
        assert stdout is not None
        result: Result = _read(stdout)
        self._free.append(worker)
        return tag, result

    def close(self) -> None:
        for process in self._processes:
            if process.stdin is not None:
                process.stdin.close()
        for process in self._processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()


def main() -> None:
    """A worker: sign each request until stdin closes."""
    from ftctl.datasets.similarity import sign_many

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            num_perm, items = _read(stdin)
        except EOFError:
            return
        _write(stdout, sign_many(items, num_perm))


if __name__ == "__main__":
    main()
