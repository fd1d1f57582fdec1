"""Workspace defaults under a project's own settings (`defaults.policy` in ftctl.yaml).

A project states only what differs from its workspace, field by field: every policy
check the project writes replaces the workspace's check whole (what it leaves out of
that check comes from the model's defaults, as anywhere else), and every check it leaves
out comes from the workspace. "Writes" is pydantic's `model_fields_set`: values filled
in by the model's defaults do not count.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

from ftctl.config.models import FineTuneProject, Workspace

M = TypeVar("M", bound=BaseModel)


def overlay(base: M, override: M) -> M:
    """`base` with the fields `override` sets explicitly taken from `override`.

    The result's `model_fields_set` is the union of both, so overlaying it again (on the
    same base) changes nothing.
    """
    updates: dict[str, Any] = {name: getattr(override, name) for name in override.model_fields_set}
    return base.model_copy(update=updates)


def with_workspace_defaults(project: FineTuneProject, workspace: Workspace) -> FineTuneProject:
    """`project` with its effective policy: `defaults.policy` overlaid by its own."""
    defaults = workspace.defaults.policy
    if defaults is None:
        return project
    policy = overlay(defaults, project.spec.policy)
    spec = project.spec.model_copy(update={"policy": policy})
    return project.model_copy(update={"spec": spec})
