"""A dataset cache that the workspace's git repository tracks is refused.

The cache (`.ftctl/cache/datasets`) decides what a build outputs without working on all of
its data again: a build's result found by the hash of its sources (`builds/`), a row's
result by its bytes (`examples.sqlite`), unchanged lines copied from earlier objects. It
is trusted to be what this machine's builds wrote. One committed to the repository is not:
a pull request could commit a cache that makes `ftctl plan` in CI reuse a result or an
object its data does not give, and `apply` upload that. So a build whose cache holds files
that git tracks stops with an error before it reads anything, saying how to untrack them.

Checked with `git ls-files` (a few ms), and only where the cache directory exists (a fresh
checkout without a committed cache has none). No git, or not a repository: nothing to check.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def committed_files(workspace_root: Path, cache: Path) -> list[str]:
    """The files under `cache` that the git repository of `workspace_root` tracks, relative
    to the workspace (empty when it is not in a repository)."""
    if not cache.is_dir():
        return []
    try:
        found = subprocess.run(
            ["git", "-C", str(workspace_root), "ls-files", "-z", "--", str(cache)],
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    if found.returncode != 0:
        return []
    return [name for name in found.stdout.decode("utf-8", "replace").split("\0") if name]
