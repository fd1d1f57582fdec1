"""The one place where errors become messages and exit codes."""

from __future__ import annotations

import json
import sys
import traceback
from typing import NoReturn

import click

from ftctl.errors import FtctlError

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


def fail(error: BaseException, *, json_output: bool, debug: bool) -> NoReturn:
    """Report `error` on stderr (or as JSON on stdout) and exit with its code."""
    if isinstance(error, KeyboardInterrupt):
        click.echo("Interrupted.", err=True)
        sys.exit(EXIT_INTERRUPTED)
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
