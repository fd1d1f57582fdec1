"""The list of command modules. Each module exposes click commands; add yours here.

Commands load lazily: `ftctl plan` imports `ftctl.cli.plan_cmd` and nothing else, so a
command pays only for its own imports (`ftctl --help` imports every command module, which
is why command modules import their heavy dependencies inside the functions using them).
Register a command with one line in `COMMANDS`: its name, module and attribute.
"""

from __future__ import annotations

import importlib

import click

# command name -> (module, attribute of the click command or group in it)
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("ftctl.cli.init_cmd", "init"),
    "validate": ("ftctl.cli.validate_cmd", "validate"),
    "schema": ("ftctl.cli.schema_cmd", "schema"),
    "server": ("ftctl.cli.server_cmd", "server"),
    "state": ("ftctl.cli.state_cmd", "state"),
    "force-unlock": ("ftctl.cli.state_cmd", "force_unlock"),
    "import": ("ftctl.cli.import_cmd", "import_"),
    "lineage": ("ftctl.cli.lineage_cmd", "lineage"),
    "provenance": ("ftctl.cli.provenance_cmd", "provenance"),
    "history": ("ftctl.cli.history_cmd", "history"),
    "data": ("ftctl.cli.data_cmd", "data"),
    "plan": ("ftctl.cli.plan_cmd", "plan"),
    "apply": ("ftctl.cli.apply_cmd", "apply"),
    "show": ("ftctl.cli.show_cmd", "show"),
    "output": ("ftctl.cli.output_cmd", "output"),
    "destroy": ("ftctl.cli.destroy_cmd", "destroy"),
    "diff": ("ftctl.cli.diff_cmd", "diff"),
    "eval": ("ftctl.cli.eval_cmd", "eval_"),
    "comment": ("ftctl.cli.comment_cmd", "comment"),
    "export": ("ftctl.cli.export_cmd", "export"),
    "promote": ("ftctl.cli.promote_cmd", "promote"),
    "events": ("ftctl.cli.events_cmd", "events"),
}


def load_command(name: str) -> click.Command | None:
    """The command registered as `name` (importing its module now), or None."""
    entry = COMMANDS.get(name)
    if entry is None:
        return None
    module, attribute = entry
    command = getattr(importlib.import_module(module), attribute)
    if not isinstance(command, click.Command):
        raise TypeError(f"{module}.{attribute} is not a click command")
    return command


def all_commands() -> list[click.Command]:
    """Every registered command (imports every command module)."""
    return [command for name in COMMANDS if (command := load_command(name)) is not None]
