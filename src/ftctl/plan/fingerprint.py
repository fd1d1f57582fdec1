"""The training fingerprint: what decides a model's weights, hashed.

Two configurations with the same fingerprint train the same model, so ftctl never pays
for the second one; a different fingerprint means a new version (a new paid job), never
an in-place edit. Everything else about a project (owner, labels, gates, alias policy,
lifecycle) changes without retraining because it is not part of these inputs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Present only when `--replace` asked for a new version of an unchanged configuration.
REPLACE_KEY = "replace"


@dataclass(frozen=True)
class FieldChange:
    """One fingerprint field that differs between two versions (`hyperparameters.n_epochs`)."""

    path: str
    before: Any
    after: Any

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "before": self.before, "after": self.after}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FieldChange:
        return cls(path=str(data["path"]), before=data.get("before"), after=data.get("after"))


def fingerprint_inputs(
    *,
    provider: str,
    base_model: str,
    method: str,
    hyperparameters: Mapping[str, Any],
    seed: int | None,
    train_sha256: str,
    validation_sha256: str | None,
    replace_nonce: str | None = None,
    grader: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The canonical dict a fingerprint hashes.

    Hyperparameters keep their explicit values; "auto" stays "auto" (the provider decides,
    and the same rule on the same data gives the same value). Unset ones (None) are left
    out so that adding an optional field to ftctl does not change every fingerprint.
    """
    inputs: dict[str, Any] = {
        "provider": provider,
        "base_model": base_model,
        "method": method,
        "hyperparameters": {k: v for k, v in sorted(hyperparameters.items()) if v is not None},
        "seed": seed,
        "data": {"train": train_sha256, "validation": validation_sha256},
    }
    if grader is not None:  # reinforcement: the grader decides the reward, so the weights
        inputs["grader"] = dict(grader)
    if replace_nonce is not None:
        inputs[REPLACE_KEY] = replace_nonce
    return inputs


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def fingerprint(inputs: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of `inputs`."""
    return hashlib.sha256(canonical_json(inputs).encode("utf-8")).hexdigest()


def config_fingerprint(inputs: Mapping[str, Any]) -> str:
    """The fingerprint of the configuration alone: a `--replace` nonce left out.

    A replaced version has its own fingerprint (so its job is distinct on the provider)
    but still matches the configuration that made it.
    """
    return fingerprint({k: v for k, v in inputs.items() if k != REPLACE_KEY})


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping) and value:
        out: dict[str, Any] = {}
        for key in sorted(value):
            out.update(_flatten(value[key], f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): value}


def changed_fields(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[FieldChange]:
    """The leaf fields that differ, sorted by path (`data.train`, `hyperparameters.n_epochs`)."""
    before, after = _flatten(old), _flatten(new)
    changes = []
    for path in sorted(set(before) | set(after)):
        if before.get(path) != after.get(path) or (path in before) != (path in after):
            changes.append(FieldChange(path, before.get(path), after.get(path)))
    return changes
