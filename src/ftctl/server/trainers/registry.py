"""The trainers a server runs, and which one serves a model.

Built-in trainers are listed in `BUILTIN` as "module:factory" and imported only when a
registry is built, so a trainer with heavy dependencies (torch) costs nothing until it is
used; a factory that raises `TrainerUnavailable` (its dependencies are not installed) is
left out. Adding a trainer: a folder under `trainers/` and one line in `BUILTIN`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator

from ftctl.server.trainers.base import Trainer

# In order of precedence: the first trainer that serves a model trains it.
BUILTIN: tuple[str, ...] = (
    "ftctl.server.trainers.numpy_lm.trainer:NumpyTrainer",
    "ftctl.server.trainers.hf.trainer:HfTrainer",
)


class TrainerUnavailable(Exception):
    """Raised by a trainer factory whose dependencies are missing (the trainer is skipped)."""


class TrainerRegistry:
    """An ordered set of trainers; `for_model` picks the first that serves a model."""

    def __init__(self, trainers: Iterable[Trainer], unavailable: Iterable[str] = ()) -> None:
        self._trainers = list(trainers)
        # Why the trainers whose dependencies are missing were left out (for error messages).
        self.unavailable: tuple[str, ...] = tuple(unavailable)
        names = [trainer.name for trainer in self._trainers]
        if len(set(names)) != len(names):
            raise ValueError(f"two trainers share a name: {names}")

    def __iter__(self) -> Iterator[Trainer]:
        return iter(self._trainers)

    def for_model(self, model: str) -> Trainer | None:
        """The trainer whose base model `model` is; None when no trainer serves it."""
        return next((trainer for trainer in self._trainers if trainer.serves(model)), None)

    def base_models(self) -> list[str]:
        """The base models to list, in trainer order (a model listed twice: first wins)."""
        return list(dict.fromkeys(m for trainer in self._trainers for m in trainer.base_models))


def load_factory(spec: str) -> Trainer:
    """The trainer made by the factory at "module:attribute"."""
    module_name, _, attribute = spec.partition(":")
    factory = getattr(importlib.import_module(module_name), attribute)
    trainer: Trainer = factory()
    return trainer


def default_registry(specs: Iterable[str] = BUILTIN) -> TrainerRegistry:
    """The built-in trainers whose dependencies are installed."""
    trainers: list[Trainer] = []
    unavailable: list[str] = []
    for spec in specs:
        try:
            trainers.append(load_factory(spec))
        except TrainerUnavailable as reason:
            unavailable.append(str(reason))
    return TrainerRegistry(trainers, unavailable)
