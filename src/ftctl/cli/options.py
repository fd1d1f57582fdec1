"""Option types and options shared by several commands."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import click

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")

F = TypeVar("F", bound=Callable[..., Any])


def parse_duration(text: str) -> float:
    """`0s`, `30s`, `5m`, `1h`, `250ms` or plain seconds -> seconds."""
    match = _DURATION.match(text)
    if not match:
        raise click.BadParameter(f"{text!r} is not a duration like 0s, 30s, 5m or 1h")
    value, unit = float(match.group(1)), match.group(2) or "s"
    return value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


def _duration_callback(_ctx: click.Context, _param: click.Parameter, value: str) -> float:
    return parse_duration(value)


def lock_timeout_option(command: F) -> F:
    """`--lock-timeout`: how long to wait for the state lock, the same on every command."""
    return click.option(
        "--lock-timeout",
        default="0s",
        callback=_duration_callback,
        show_default=True,
        help="How long to wait for the state lock (e.g. 30s, 5m).",
    )(command)
