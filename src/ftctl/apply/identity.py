"""Who is applying, and from which commit: stamped on jobs and the audit log."""

from __future__ import annotations

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
    """The same identity locks and `ftctl import` record (see `ftctl.state.identity`)."""
    from ftctl.state.identity import current_user

    return current_user(root)
