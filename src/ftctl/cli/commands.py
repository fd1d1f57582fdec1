"""The list of command modules. Each module exposes click commands; add yours here."""

from __future__ import annotations

import click


def all_commands() -> list[click.Command]:
    # Imported here so that `ftctl --help` stays quick and modules stay independent.
    commands: list[click.Command] = []
    from ftctl.cli import init_cmd, schema_cmd, validate_cmd

    commands += [init_cmd.init, validate_cmd.validate, schema_cmd.schema]
    from ftctl.cli import server_cmd

    commands.append(server_cmd.server)
    from ftctl.cli import import_cmd, lineage_cmd, state_cmd

    commands += [state_cmd.state, state_cmd.force_unlock, import_cmd.import_, lineage_cmd.lineage]
    from ftctl.cli import data_cmd

    commands.append(data_cmd.data)
    from ftctl.cli import apply_cmd, destroy_cmd, output_cmd, plan_cmd, show_cmd

    commands += [
        plan_cmd.plan,
        apply_cmd.apply,
        show_cmd.show,
        output_cmd.output,
        destroy_cmd.destroy,
    ]
    return commands
