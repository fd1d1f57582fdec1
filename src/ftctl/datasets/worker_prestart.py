"""Start a data build's workers with the command, before the build engine is imported.

`ftctl data build` spends ~0.3 s importing the build engine and loading the project before
it knows that it wants workers, and the fork server then spends ~0.36 s importing the row
work and loading the encoding before the first batch is answered (`worker_fork`). When the
workspace's last build used workers, they are wanted again: the command starts the fork
server first thing (this module imports only the standard library), from a hint that build
left (`<workspace>/.ftctl/cache/datasets/workers.json`: how many workers, which encodings),
and the two starts overlap. Measured on two cores, paired with the code before, a rebuild
after a 1% edit: 2.10 -> 1.93 s at 50,000 examples, 6.77 -> 6.32 s at 200,000 (medians).

A workspace's first build (no dataset cache: a fresh clone, a CI job) has no hint, and its
command's imports leave the other cores idle: it starts a server for as many workers as the
CPUs allow, which imports the row work and the compiled MinHash loop, then waits for the
build to tell it the encodings (`worker_fork.WAIT`). Cold 50k builds, paired: 7.43 -> 7.13 s.

The `ftctl` program starts them before it imports its command line (`ftctl.cli.launch`:
~0.06 s of click, rich and the command's module), when its arguments name `data build` or
`plan` (`start_early`); the command keeps them if it runs for the workspace they were started
for. A rebuild's first batch then no longer waits for them: after a 1% edit, paired with the
code before, 0.962 -> 0.922 s at 50,000 examples, 2.718 -> 2.624 s at 200,000 (medians).

`ftctl plan` starts them the same way (`started_early`), for the first of its data builds
that wants them: a plan after a 1% edit of the 50k file 1.86 -> 1.76 s, a first plan 8.55 ->
8.27 s (paired).

The build adopts the started server only when it wants exactly what the hint said (the
worker count and encodings it works out itself); otherwise, or when it wants no workers
(an unchanged build, small data, a failure), the server is killed unused. A hint is only
ever a guess: a damaged or planted one (the cache is in the workspace) is read as numbers
and names, bounded, and at worst starts a server that is killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from ftctl.datasets.cache_paths import atomic_write, cache_root
from ftctl.datasets.worker_count import BUILD_WORKERS_MOST, usable_cpus, workers_from_env
from ftctl.datasets.worker_fork import MINHASH, WAIT, ForkedWorkers, fork_available
from ftctl.datasets.worker_pipe import worker_env
from ftctl.errors import ConfigError

HINT_NAME = "workers.json"
_MOST_WORKERS = 64  # a hint asking for more is not followed (worker_count caps builds lower)
_ENCODING_NAME = re.compile(r"[a-z0-9_]{1,40}")


def hint_path(root: Path) -> Path:
    return root / HINT_NAME


def read_hint(root: Path) -> tuple[int, tuple[str, ...]] | None:
    """(workers, encodings) of the last build that used workers, if a sane hint says so."""
    try:
        found = json.loads(hint_path(root).read_bytes())
        count, encodings = found["workers"], tuple(found["encodings"])
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if type(count) is not int or not 2 <= count <= min(_MOST_WORKERS, os.cpu_count() or 1):
        return None
    if len(encodings) > 4 or not all(
        isinstance(name, str) and _ENCODING_NAME.fullmatch(name) for name in encodings
    ):
        return None
    return count, encodings


def write_hint(root: Path, workers: int, encodings: Sequence[str]) -> None:
    """Record what this build's workers were (unless the hint already says it)."""
    if read_hint(root) == (workers, tuple(encodings)):
        return
    data = json.dumps({"workers": workers, "encodings": list(encodings)}).encode()
    with contextlib.suppress(OSError):  # a read-only checkout builds without a hint
        atomic_write(hint_path(root), data)


def drop_hint(root: Path) -> None:
    """This build used no workers: the next starts none early."""
    with contextlib.suppress(OSError):
        hint_path(root).unlink(missing_ok=True)


class Prestarted:
    """A fork server started from a hint, until a build takes it or it is discarded.

    `encodings` None: started for a workspace's first build (no hint, no cache: `prestart`),
    before the build knows its model's encoding. That server loads the row work and the
    compiled MinHash loop (a first build works every row), then waits; the build that takes
    it tells it the encodings, and it forks the workers once they are loaded."""

    def __init__(
        self, workers: int, encodings: tuple[str, ...] | None, share: bool = False
    ) -> None:
        """`share`: the server may be this process forked (`ForkedServer`)."""
        self.workers = workers
        self.encodings = encodings
        names = (MINHASH, WAIT) if encodings is None else encodings
        self._forked: ForkedWorkers | None = ForkedWorkers(workers, names, worker_env(), share)

    def take(
        self, workers: int, encodings: Sequence[str], minhash: str | None = None
    ) -> ForkedWorkers | None:
        """The started workers, if they are what the build wants; else killed, and None.
        (`minhash`: how a server that waits loads the compiled MinHash loop, `ProcessPool`.)"""
        forked, self._forked = self._forked, None
        if forked is None:
            return None
        if self.encodings is None and workers == self.workers:
            forked.go([*encodings, minhash] if minhash else encodings)
            return forked
        if (workers, tuple(encodings)) == (self.workers, self.encodings):
            return forked
        forked.discard()
        return None

    def discard(self) -> None:
        """Kill the server and its workers if no build took them."""
        forked, self._forked = self._forked, None
        if forked is not None:
            forked.discard()


_early: Prestarted | None = None  # `started_early`'s workers, until a build takes them
_early_root: Path | None = None  # the workspace they were started for


def start_early(workspace_root: Path, share: bool = False) -> None:
    """`prestart` before the command line is parsed (`ftctl.cli.launch`), for the workspace
    it names: `started_early` keeps these workers when the command runs for that workspace,
    and `discard_early` stops them when it never runs (a usage error, `--help`). `share`:
    the command has opened nothing yet, and its server may be this process forked
    (`worker_fork.ForkedServer`)."""
    global _early, _early_root
    discard_early()
    _early, _early_root = prestart(workspace_root, share), workspace_root


def discard_early() -> None:
    """Stop the workers started early that no build took."""
    early = take_early()
    if early is not None:
        early.discard()


@contextlib.contextmanager
def started_early(workspace_root: Path) -> Iterator[None]:
    """`prestart` for a command that builds data (`ftctl data build`, `ftctl plan`): the
    workers wait here for the first build that wants them (`take_early`), and are stopped at
    the end if none did. Those `start_early` started for this workspace are kept."""
    if _early is None or _early_root != workspace_root:
        start_early(workspace_root)
    try:
        yield
    finally:
        discard_early()


def take_early() -> Prestarted | None:
    """The workers `started_early` started, once (None when there are none)."""
    global _early, _early_root
    early, _early, _early_root = _early, None, None
    return early


def prestart(workspace_root: Path, share: bool = False) -> Prestarted | None:
    """Start the workers the workspace's last build used, if it used any; for its first
    build (no dataset cache yet: a fresh clone, a CI job), as many as the CPUs allow.

    A first build starts its server while this command imports the build engine, on a core
    that is otherwise idle then; if the data turns out too small for workers, the server is
    stopped unused. Later builds without a hint (their last one used no workers) start none.
    `share`: the server may be this process forked (`Prestarted`).
    """
    if not fork_available():
        return None
    root = cache_root(workspace_root)
    hint: tuple[int, tuple[str, ...] | None] | None = read_hint(root)
    try:
        asked = workers_from_env()
    except ConfigError:
        return None  # the build says what is wrong with it, before it starts anything
    if hint is None:
        if root.exists():
            return None
        count = asked if asked is not None else min(usable_cpus(), BUILD_WORKERS_MOST)
        hint = (count, None) if count >= 2 else None
    if hint is None or (asked is not None and asked != hint[0]):
        return None  # FTCTL_DATA_WORKERS asks for another number: not what the hint says
    try:
        return Prestarted(*hint, share)
    except OSError:
        return None
