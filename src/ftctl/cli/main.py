"""The `ftctl` command: global options, command registration, the error handler."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from ftctl import __version__
from ftctl.cli.context import AppContext
from ftctl.cli.errors import fail


class FtctlGroup(click.Group):
    """Runs every command under the one error handler; loads commands on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from ftctl.cli.commands import COMMANDS

        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None:
            from ftctl.cli.commands import load_command

            command = load_command(cmd_name)
            if command is not None:
                self.add_command(command, cmd_name)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except (Exception, KeyboardInterrupt) as error:
            app = ctx.find_object(AppContext)
            fail(
                error,
                json_output=bool(app and app.json_output),
                debug=bool(app and app.debug),
            )


@click.group(cls=FtctlGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--workspace",
    "-w",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    envvar="FTCTL_WORKSPACE",
    help="Workspace directory (holds ftctl.yaml). Default: the nearest one upwards.",
)
@click.option("--json", "json_output", is_flag=True, help="Machine-readable output on stdout.")
@click.option("--no-color", is_flag=True, envvar="NO_COLOR", help="Plain output without colors.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(__version__, "--version", prog_name="ftctl")
@click.pass_context
def cli(
    ctx: click.Context, workspace: Path | None, json_output: bool, no_color: bool, debug: bool
) -> None:
    """ftctl: plan and apply fine-tuned models declared in YAML."""
    ctx.obj = AppContext(
        workspace_dir=(workspace or find_workspace(Path.cwd())).resolve(),
        json_output=json_output,
        color=not no_color,
        debug=debug or bool(os.environ.get("FTCTL_DEBUG")),
    )


def find_workspace(start: Path) -> Path:
    """The nearest directory upwards holding ftctl.yaml, or `start` itself."""
    for candidate in (start, *start.parents):
        if (candidate / "ftctl.yaml").is_file():
            return candidate
    return start


@cli.command()
def version() -> None:
    """Print the ftctl version."""
    click.echo(f"ftctl {__version__}")


# Other commands are registered in `ftctl.cli.commands` and loaded by `FtctlGroup`.


def main() -> None:
    try:
        cli.main(prog_name="ftctl")
    except KeyboardInterrupt:
        sys.exit(130)
