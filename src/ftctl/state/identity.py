"""Who is running ftctl: one answer for locks, the audit log and job metadata."""

from __future__ import annotations

import getpass
import os
import socket
from pathlib import Path

USER_ENV = "FTCTL_USER"


def current_user(root: Path | None = None) -> str:
    """`$FTCTL_USER` when set (CI names itself), else the git user of the workspace repo
    (`name <email>`), else `user@host`."""
    named = os.environ.get(USER_ENV, "").strip()
    if named:
        return named
    if root is not None:
        git_user = _git_user(root)
        if git_user:
            return git_user
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def _git_user(root: Path) -> str | None:
    try:
        import git

        reader = git.Repo(root, search_parent_directories=True).config_reader()
        name = str(reader.get_value("user", "name", ""))
        email = str(reader.get_value("user", "email", ""))
    except Exception:  # not a repo, no git config, git missing: fall back to user@host
        return None
    if not name:
        return None
    return f"{name} <{email}>" if email else name
