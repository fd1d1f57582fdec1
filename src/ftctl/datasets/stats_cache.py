"""The content-hash cache of `ftctl data stats`: a report per (file bytes, model, epochs,
format, ftctl version), under `$FTCTL_CACHE_DIR/stats/`."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Literal

from ftctl import __version__
from ftctl.catalog.models import ModelInfo
from ftctl.datasets.cache_paths import user_cache_dir
from ftctl.datasets.checks import CHECKS_VERSION
from ftctl.datasets.formats import Format
from ftctl.datasets.stats import compute_stats, sha256_file
from ftctl.datasets.stats_report import FORMAT_VERSION, StatsReport
from ftctl.errors import DataError
from ftctl.events import EventSink, ignore


def default_cache_dir() -> Path | None:
    """`$FTCTL_CACHE_DIR/stats`, else `$XDG_CACHE_HOME/ftctl/stats` (~/.cache/ftctl/stats);
    None without a user cache (`user_cache_dir`)."""
    root = user_cache_dir()
    return None if root is None else root / "stats"


def cache_key(
    digest: str, model: ModelInfo, n_epochs: int | Literal["auto"], fmt: Format | None
) -> str:
    material = json.dumps(
        {
            "sha256": digest,
            "model": model.id,
            # An hf: model's tokenizer (its directory; a hub snapshot's names its commit).
            **({"tokenizer": model.model_dir} if model.model_dir else {}),
            "epochs": n_epochs,
            "format": fmt,
            "ftctl": __version__,
            "format_version": FORMAT_VERSION,
            "checks": CHECKS_VERSION,
        },
        sort_keys=True,
    )
    return hashlib.sha256(material.encode()).hexdigest()


def stats_with_cache(
    path: Path,
    model: ModelInfo,
    *,
    n_epochs: int | Literal["auto"] = "auto",
    fmt: Format | None = None,
    sink: EventSink = ignore,
    cache_dir: Path | None = None,
    use_cache: bool = True,
    workers: int | None = None,
    sha256: str | None = None,
) -> StatsReport:
    """`compute_stats`, answered from the cache when the file's bytes were seen before.

    The key is the SHA-256 of the file's bytes (hashing 100 MB takes ~0.1 s), the model,
    epochs, format and ftctl version; a hit returns the stored report with `cached=True`.
    A cache that cannot be read or written is ignored (the result is then just computed).
    `sha256`: the file's digest when the caller has it already.
    """
    path = Path(path)
    if not use_cache:
        return compute_stats(
            path, model, n_epochs=n_epochs, fmt=fmt, sink=sink, workers=workers, sha256=sha256
        )
    try:
        digest = sha256 or sha256_file(path)
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror or error}") from error
    directory = cache_dir or default_cache_dir()
    if directory is None:  # no user cache: computed, as where the cache cannot be written
        return compute_stats(
            path, model, n_epochs=n_epochs, fmt=fmt, sink=sink, workers=workers, sha256=digest
        )
    entry = directory / f"{cache_key(digest, model, n_epochs, fmt)}.json"
    try:
        stored = StatsReport.from_dict(json.loads(entry.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        stored = None
    if stored is not None:
        return _replace_file(stored, str(path), cached=True)
    report = compute_stats(
        path, model, n_epochs=n_epochs, fmt=fmt, sink=sink, workers=workers, sha256=digest
    )
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tmp = entry.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(report.to_dict()), encoding="utf-8")
        os.replace(tmp, entry)
    except OSError:
        pass  # a read-only cache only costs speed
    return report


def _replace_file(report: StatsReport, file: str, *, cached: bool) -> StatsReport:
    from dataclasses import replace

    return replace(report, file=file, cached=cached)
