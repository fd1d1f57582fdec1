"""Jobs run by helper threads and by whoever waits for a result (`JobQueue`).

Used to tokenize on every core: tiktoken releases the GIL while it encodes, so helper
threads encode while the main thread parses and checks; a thread that needs a result runs
queued jobs itself rather than block, so no extra thread competes for the cores.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

_T = TypeVar("_T")


def _ran() -> Any:
    raise RuntimeError("job already run")


class Job(Generic[_T]):
    """A call to run on any thread; `JobQueue.result` gives its value (or raises its error)."""

    __slots__ = ("_call", "done", "error", "value")

    def __init__(self, call: Callable[[], _T]) -> None:
        self._call = call
        self.done = threading.Event()
        self.value: _T | None = None
        self.error: BaseException | None = None

    @classmethod
    def finished(cls, value: _T) -> Job[_T]:
        job = cls(lambda: value)
        job.run()
        return job

    def run(self) -> None:
        try:
            self.value = self._call()
        except BaseException as error:  # handed to the thread asking for the result
            self.error = error
        finally:
            self._call = _ran  # drop the arguments (a chunk's joined texts) now
            self.done.set()


class JobQueue:
    """Jobs run by `helpers` threads and by whoever waits for a result.

    A thread that needs a result takes queued jobs and runs them itself rather than block:
    with one helper per spare core, every core keeps working (the main thread parses or
    tokenizes, the helpers tokenize) and no extra thread competes for the cores.
    """

    def __init__(self, helpers: int) -> None:
        self._queue: deque[Job[Any]] = deque()
        self._ready = threading.Condition()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._serve, name=f"ftctl-tokens-{i}", daemon=True)
            for i in range(max(0, helpers))
        ]
        for thread in self._threads:
            thread.start()

    def __enter__(self) -> JobQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        with self._ready:
            self._closed = True
            self._queue.clear()  # after an error: nobody wants those results
            self._ready.notify_all()
        for thread in self._threads:
            thread.join()

    def submit(self, fn: Callable[..., _T], *args: Any) -> Job[_T]:
        job: Job[_T] = Job(lambda: fn(*args))
        with self._ready:
            self._queue.append(job)
            self._ready.notify()
        return job

    def result(self, job: Job[_T]) -> _T:
        while not job.done.is_set():
            with self._ready:
                other = self._queue.popleft() if self._queue else None
            if other is None:
                job.done.wait()
            else:
                other.run()
        if job.error is not None:
            raise job.error
        return job.value  # type: ignore[return-value]  # set when no error

    def _serve(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._closed:
                    self._ready.wait()
                if self._closed:
                    return
                job = self._queue.popleft()
            job.run()
