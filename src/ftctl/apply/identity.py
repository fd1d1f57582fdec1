"""Who is applying, and from which commit: stamped on jobs and the audit log."""

from __future__ import annotations

import getpass
import os
from pathlib import Path


def git_commit(root: Path) -> str | None:
    """The HEAD commit of the git repository holding `root`, or None outside a repo."""
    try:
        import git

        repo = git.Repo(root, search_parent_directories=True)
        return str(repo.head.commit.hexsha)
    except Exception:  # not a repo, no commit yet, git missing: provenance is then unknown
        return None


def who(root: Path) -> str:
    """$USER, else the git config user (name <email>), else the login name."""
    user = os.environ.get("USER") or os.environ.get("USERNAME")
    if user:
        return user
    try:
        import git

        reader = git.Repo(root, search_parent_directories=True).config_reader()
        name = str(reader.get_value("user", "name", ""))
        email = str(reader.get_value("user", "email", ""))
        if name:
            return f"{name} <{email}>" if email else name
    except Exception:  # no repo or no git config: fall back to the login name
        pass
    try:
        return getpass.getuser()
    except Exception:  # no login name in containers without a passwd entry
        return "unknown"
