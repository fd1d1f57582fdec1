"""The `ftctl` command: global options, command registration, the error handler."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Any, NoReturn

import click

from ftctl import __version__
from ftctl.cli.argv import normalise
from ftctl.cli.context import AppContext
from ftctl.cli.errors import EXIT_ERROR, fail
from ftctl.cli.launch import ENV_WORKSPACE, find_workspace

# Commands that read data and never start a training process (`plan` and `apply` may start
# the local server, whose trainers inherit the environment).
_NO_BLAS_THREADS = frozenset({"data", "validate"})


class FtctlGroup(click.Group):
    """Runs every command under the one error handler; loads commands on first use.

    Usage errors exit 1 like every other error (click's default, 2, is what
    `--detailed-exitcode` means by "changes": a typo in CI must not pass as a plan).
    """

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, normalise(args), parent, **extra)
        except click.UsageError as error:
            raise as_error(error) from None

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name in _NO_BLAS_THREADS:
            # Before numpy is imported (commands load on first use): OpenBLAS starts a thread
            # per CPU that spins ~0.1 s at start. Data commands never use BLAS, and on two
            # CPUs that spin took ~50 ms of a data build's start from the worker processes
            # starting beside it (a 50k rebuild: 1.32 -> 1.28 s). Only commands that start
            # no training: the variable is inherited, and torch trains with OpenBLAS on some
            # platforms (aarch64). A value the user sets is kept.
            os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            from ftctl.config.suggest import did_you_mean

            hint = did_you_mean(name, self.list_commands(ctx))
            ctx.fail(f"No such command '{name}'." + (f" {hint.capitalize()}" if hint else ""))
        return super().resolve_command(ctx, args)

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
        except click.UsageError as error:
            raise as_error(error) from None
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
    envvar=ENV_WORKSPACE,
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


def as_error(error: click.UsageError) -> click.UsageError:
    """`error`, exiting 1 (Terraform's code for every error) instead of click's 2."""
    error.exit_code = EXIT_ERROR  # type: ignore[misc]  # click reads it from the instance
    return error


@cli.command()
@click.pass_context
def version(ctx: click.Context) -> None:
    """Print the ftctl version."""
    app = ctx.find_object(AppContext)
    if app is not None and app.json_output:
        click.echo(json.dumps({"ftctl_version": __version__}))
    else:
        click.echo(f"ftctl {__version__}")


# Other commands are registered in `ftctl.cli.commands` and loaded by `FtctlGroup`.


def main() -> None:
    """The command line (`python -m ftctl` and the `ftctl` script run it from `launch`)."""
    try:
        cli.main(prog_name="ftctl")
        code = 0
    except KeyboardInterrupt:
        code = 130
    except SystemExit as done:
        if done.code is not None and not isinstance(done.code, int):
            raise  # a message to print: Python's own exit prints it
        code = done.code or 0
    early = sys.modules.get("ftctl.datasets.worker_prestart")
    if early is not None:  # workers `launch` started for a command that did not take them
        early.discard_early()
    _leave(code)


def _leave(code: int) -> NoReturn:
    """Exit with `code`, without the interpreter's teardown when nothing else runs.

    Freeing every module and array at exit took ~45 ms after a data build, time a user or
    CI waits for nothing: the command's files are closed, its worker processes stopped and
    its output is flushed here. With another thread still running (whatever it is doing),
    Python exits as usual and waits for it."""
    if threading.active_count() > 1:
        sys.exit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe, say: Python's exit reports it as usual
        sys.exit(code)
    os._exit(code)
