"""Refresh: read-only observation of the providers.

What the observation means (drift) is decided by the planner, in `ftctl.plan.drift`,
and recorded by applying a plan's `record-drift` changes (`plan --refresh-only`).
"""

from ftctl.refresh.observe import Observation, refresh

__all__ = ["Observation", "refresh"]
