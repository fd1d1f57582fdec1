"""What every route of the server shares: its settings, store, worker, trainers, models."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ftctl.server.faults import FaultSpec
from ftctl.server.store import Store
from ftctl.server.trainers.base import ChatModel
from ftctl.server.trainers.registry import TrainerRegistry
from ftctl.server.worker import JobWorker

_MODEL_CACHE_SIZE = 8


@dataclass(frozen=True)
class ServerSettings:
    data_dir: Path
    api_key: str | None = None
    workers: int = 1
    faults: FaultSpec = field(default_factory=FaultSpec)
    # Answer job creation like OpenAI does for organisations past its fine-tuning cut-off.
    training_cutoff: bool = False
    # Seconds since the epoch, for file expiry (tests pass their own to see files expire).
    clock: Callable[[], float] = time.time


class ModelCache:
    """Models loaded for generation, by model name (a few, least recently used evicted)."""

    def __init__(self, size: int = _MODEL_CACHE_SIZE) -> None:
        self._size = size
        self._items: OrderedDict[str, ChatModel] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, load: Callable[[], ChatModel]) -> ChatModel:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        model = load()
        with self._lock:
            self._items[key] = model
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return model

    def forget(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)


@dataclass
class ServerState:
    settings: ServerSettings
    store: Store
    trainers: TrainerRegistry
    worker: JobWorker
    models: ModelCache
