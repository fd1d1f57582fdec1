"""The one place where errors become messages and exit codes."""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import NoReturn

import click

from ftctl.errors import FtctlError

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for `cmd | head`


def fail(error: BaseException, *, json_output: bool, debug: bool) -> NoReturn:
    """Report `error` on stderr (or as JSON on stdout) and exit with its code."""
    if isinstance(error, KeyboardInterrupt):
        click.echo("Interrupted.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    if isinstance(error, BrokenPipeError):
        # The reader (`| head`) went away: say nothing, and keep Python's exit-time
        # flush of stdout from raising again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(EXIT_BROKEN_PIPE)
    if debug:
        traceback.print_exception(error)
    if isinstance(error, FtctlError):
        code = error.exit_code
        if json_output:
            payload = {
                "error": {
                    "type": type(error).__name__,
                    "message": error.message,
                    "diagnostics": [d.to_dict() for d in error.diagnostics],
                }
            }
            click.echo(json.dumps(payload, indent=2))
        else:
            click.echo(f"Error: {error}", err=True)
        sys.exit(code)
    click.echo(f"Internal error: {type(error).__name__}: {error}", err=True)
    if not debug:
        click.echo("Run again with --debug for the traceback.", err=True)
    sys.exit(EXIT_ERROR)
