"""The per-row work of a build (`ftctl.datasets.row_work`) on one worker process per core.

Parsing, transforming, canonicalising, counting, checking and signing a row is Python
that holds the GIL, so threads do not help; processes do. Workers are plain subprocesses
(`python -m ftctl.datasets.row_pool`), for the reasons given in `ftctl.datasets.signer`
(whose framing they share): a request is `(plan, rows)`, the answer the list of
`RowResult`s. Each worker keeps a `RowWorker` per plan it has seen, so its encoding and
refusal matcher are loaded once. At most one batch is in flight per worker, so neither side
blocks writing while the other does; batches come back in the order they were sent.

`LocalPool` does the same work in this process (small builds: no worker start-up).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from ftctl.datasets.row_work import RowPlan, RowResult, RowWorker
from ftctl.datasets.signer import _read, _write


class RowPool(Protocol):
    @property
    def full(self) -> bool: ...
    @property
    def ready(self) -> bool:
        """A result can be collected without waiting."""

    def submit(
        self, tag: Any, plan: RowPlan, rows: Sequence[bytes | dict[str, Any]], full: Sequence[bool]
    ) -> None:
        """Queue `rows`: a full `RowResult` for each row whose `full` flag is set, else its
        canonical line only (bytes; b"" when it does not reach the end)."""

    def pending(self) -> bool: ...
    def collect(self) -> tuple[Any, list[RowResult | bytes]]: ...
    def close(self) -> None: ...


def work(
    worker: RowWorker, rows: Sequence[bytes | dict[str, Any]], full: Sequence[bool]
) -> list[RowResult | bytes]:
    """Full results for the rows flagged `full`, canonical lines for the others."""
    whole = worker.run([r for r, f in zip(rows, full, strict=True) if f])
    lines = worker.lines([r for r, f in zip(rows, full, strict=True) if not f])
    made, remade = iter(whole), iter(lines)
    return [next(made) if flag else next(remade) for flag in full]


class LocalPool:
    """`RowPool` in this process: each batch is done when submitted."""

    def __init__(self) -> None:
        self._workers: dict[RowPlan, RowWorker] = {}
        self._done: deque[tuple[Any, list[RowResult | bytes]]] = deque()

    def worker(self, plan: RowPlan) -> RowWorker:
        found = self._workers.get(plan)
        if found is None:
            found = self._workers[plan] = RowWorker(plan)
        return found

    @property
    def full(self) -> bool:
        return False

    @property
    def ready(self) -> bool:
        return bool(self._done)

    def submit(
        self, tag: Any, plan: RowPlan, rows: Sequence[bytes | dict[str, Any]], full: Sequence[bool]
    ) -> None:
        self._done.append((tag, work(self.worker(plan), rows, full)))

    def pending(self) -> bool:
        return bool(self._done)

    def collect(self) -> tuple[Any, list[RowResult | bytes]]:
        return self._done.popleft()

    def close(self) -> None:
        self._workers.clear()


class ProcessPool:
    """`RowPool` on worker processes."""

    def __init__(self, workers: int) -> None:
        import ftctl

        env = dict(os.environ)
        package_root = str(Path(ftctl.__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (package_root, env.get("PYTHONPATH", "")) if p
        )
        self._processes = [
            subprocess.Popen(
                [sys.executable, "-m", "ftctl.datasets.row_pool"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
            )
            for _ in range(workers)
        ]
        self._free = deque(range(workers))
        self._busy: deque[tuple[int, Any]] = deque()

    @property
    def full(self) -> bool:
        return not self._free

    @property
    def ready(self) -> bool:
        return False

    def submit(
        self, tag: Any, plan: RowPlan, rows: Sequence[bytes | dict[str, Any]], full: Sequence[bool]
    ) -> None:
        worker = self._free.popleft()
        stdin = self._processes[worker].stdin
        assert stdin is not None
        _write(stdin, (plan, list(rows), list(full)))
        self._busy.append((worker, tag))

    def pending(self) -> bool:
        return bool(self._busy)

    def collect(self) -> tuple[Any, list[RowResult | bytes]]:
        worker, tag = self._busy.popleft()
        stdout = self._processes[worker].stdout
        assert stdout is not None
        answer = _read(stdout)
        self._free.append(worker)
        if isinstance(answer, BaseException):
            raise answer
        return tag, [v if isinstance(v, bytes) else RowResult(*v) for v in answer]

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
    """A worker: answer each request until stdin closes."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    local = LocalPool()
    while True:
        try:
            plan, rows, full = _read(stdin)
        except EOFError:
            return
        try:
            # Plain tuples: a NamedTuple pickles by class name, slower and larger.
            answer: Any = [
                r if isinstance(r, bytes) else tuple(r)
                for r in work(local.worker(plan), rows, full)
            ]
        except Exception as error:  # raised again in the build, with its traceback text
            answer = RuntimeError(f"data build worker failed: {error!r}")
        _write(stdout, answer)


if __name__ == "__main__":
    main()
