"""Workspace defaults under a project's own settings (`defaults.policy` in ftctl.yaml).

A project states only what differs from its workspace: the keys it writes win, every
key it leaves out comes from the workspace default, and a key written in both that is
itself a mapping (`maxRefusalRatio: {value, level}`) is merged the same way, so that a
project writing `maxRefusalRatio: 0.3` keeps the workspace's `level` for that check.
"Written" is pydantic's `model_fields_set`: defaults filled in by the model do not count.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

from ftctl.config.models import FineTuneProject, Workspace

M = TypeVar("M", bound=BaseModel)


def overlay(base: M, override: M) -> M:
    """`override`'s explicitly set fields over `base`, recursing into models set in both.

    Lists and scalars are replaced whole. The result's `model_fields_set` is the union of
    both, so overlaying it again (on the same base) changes nothing.
    """
    updates: dict[str, Any] = {}
    for name in override.model_fields_set:
        mine = getattr(override, name)
        theirs = getattr(base, name)
        if (
            isinstance(mine, BaseModel)
            and type(mine) is type(theirs)
            and name in base.model_fields_set
        ):
            updates[name] = overlay(theirs, mine)
        else:
            updates[name] = mine
    return base.model_copy(update=updates)


def with_workspace_defaults(project: FineTuneProject, workspace: Workspace) -> FineTuneProject:
    """`project` with its effective policy: `defaults.policy` overlaid by its own."""
    defaults = workspace.defaults.policy
    if defaults is None:
        return project
    policy = overlay(defaults, project.spec.policy)
    spec = project.spec.model_copy(update={"policy": policy})
    return project.model_copy(update={"spec": spec})
