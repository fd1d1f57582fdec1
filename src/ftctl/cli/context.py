"""What every command gets from the global options."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ftctl.cli.progress import LineProgress
from ftctl.events import Event, EventSink

if TYPE_CHECKING:
    from rich.console import Console


@dataclass
class AppContext:
    workspace_dir: Path
    json_output: bool = False
    color: bool = True
    debug: bool = False
    # Warnings already printed (on stderr), so that each is said once.
    warned: set[str] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        if os.environ.get("NO_COLOR"):  # https://no-color.org: any non-empty value
            self.color = False

    # Made when first printed to: a command that prints only JSON (`--json`) never imports
    # rich (~15 ms of every such command's start, before it does anything).
    @cached_property
    def console(self) -> Console:
        return self._console(stderr=False)

    @cached_property
    def err_console(self) -> Console:
        return self._console(stderr=True)

    def _console(self, *, stderr: bool) -> Console:
        from rich.console import Console

        if self.color:
            return Console(stderr=stderr, highlight=False, soft_wrap=True)
        # rich's `no_color` alone drops colours but keeps bold and dim; without a colour
        # system it writes no escape codes at all.
        return Console(
            stderr=stderr, highlight=False, soft_wrap=True, no_color=True, color_system=None
        )

    @property
    def interactive(self) -> bool:
        """True when a person is at a terminal (progress bars and prompts make sense)."""
        return not self.json_output and sys.stderr.isatty()

    def event_sink(self) -> EventSink:
        """A sink that prints warnings and steps to stderr; quiet in --json mode."""

        def sink(event: Event) -> None:
            if self.json_output or event.kind == "progress":
                return
            if event.kind == "warning":
                self.warn(event.message)
                return
            self.err_console.print(event.message, style="dim", markup=False)

        return sink

    def progress_lines(self) -> EventSink:
        """Progress as lines on stderr, a heartbeat at least once a minute (`LineProgress`),
        other events as `event_sink` prints them: for logs, where a live display cannot be."""
        return LineProgress(lambda text: click.echo(text, err=True), self.event_sink())

    def warn(self, message: str) -> None:
        """`Warning: message` on stderr (never stdout), once per message."""
        if self.json_output or message in self.warned:
            return
        self.warned.add(message)
        self.err_console.print(f"Warning: {message}", style="yellow", markup=False)


pass_app = click.make_pass_decorator(AppContext)
