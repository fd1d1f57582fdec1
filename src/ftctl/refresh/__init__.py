"""Refresh: read-only observation of the providers, drift, and recording what was seen."""

from ftctl.refresh.observe import Drift, Observation, refresh
from ftctl.refresh.record import apply_observation

__all__ = ["Drift", "Observation", "apply_observation", "refresh"]
