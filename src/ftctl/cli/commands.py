"""The list of command modules. Each module exposes click commands; add yours here."""

from __future__ import annotations

import click


def all_commands() -> list[click.Command]:
    # Imported here so that `ftctl --help` stays quick and modules stay independent.
    commands: list[click.Command] = []
    return commands
