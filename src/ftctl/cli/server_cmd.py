"""`ftctl server`: run the local OpenAI-compatible fine-tuning server in the foreground."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ftctl.cli.context import AppContext, pass_app
from ftctl.errors import CredentialsError, ServerError


@click.command("server")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="0 = a free port.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where files, jobs and weights live. Default: <workspace>/.ftctl/server.",
)
@click.option(
    "--api-key-env",
    default=None,
    metavar="NAME",
    help="Require `Authorization: Bearer $NAME` on /v1 requests.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Jobs trained at once.",
)
@click.option(
    "--faults",
    default=None,
    envvar="FTCTL_SERVER_FAULTS",
    metavar="SPEC",
    help="Inject faults, e.g. rate=0.1,codes=429:500:503,latency_ms=50,drop=0.02,seed=1"
    " (also: retry_after_ms=N, training_not_available).",
)
@click.option(
    "--training-cutoff",
    is_flag=True,
    help="Refuse new jobs with 403 training_not_available, like OpenAI past its cut-off.",
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
)
@click.option(
    "--stop",
    is_flag=True,
    help="Stop the server running for --data-dir (e.g. one `ftctl apply` started) and exit.",
)
@pass_app
def server(
    app: AppContext,
    host: str,
    port: int,
    data_dir: Path | None,
    api_key_env: str | None,
    workers: int,
    faults: str | None,
    training_cutoff: bool,
    log_level: str,
    stop: bool,
) -> None:
    """Run the local fine-tuning server (OpenAI-compatible API) until interrupted."""
    from ftctl.providers.local_launcher import stop_local_server
    from ftctl.server.app import ServerSettings, create_app
    from ftctl.server.faults import FaultSpec, FaultSpecError
    from ftctl.server.launcher import serve

    directory = (data_dir or app.workspace_dir / ".ftctl" / "server").resolve()
    if stop:
        if stop_local_server(directory):
            click.echo(f"Stopped the ftctl server of {directory}.")
        else:
            click.echo(f"No ftctl server is running for {directory}.")
        return

    api_key = None
    if api_key_env:
        api_key = os.environ.get(api_key_env)
        if not api_key:
            raise CredentialsError(f"--api-key-env names {api_key_env}, which is not set or empty")
    try:
        spec = FaultSpec.parse(faults)
    except FaultSpecError as error:
        raise click.BadParameter(str(error), param_hint="--faults") from error
    settings = ServerSettings(
        data_dir=directory,
        api_key=api_key,
        workers=workers,
        faults=spec,
        training_cutoff=training_cutoff or spec.training_not_available,
    )
    if host not in ("127.0.0.1", "localhost", "::1") and not api_key:
        app.err_console.print(
            f"Warning: listening on {host} without an API key (use --api-key-env).", style="yellow"
        )

    def announce(url: str) -> None:
        click.echo(f"ftctl server listening on {url} (OpenAI base_url {url}/v1)")
        click.echo(f"data directory: {directory}")
        if spec.active:
            click.echo(f"fault injection: {faults}")
        if settings.training_cutoff:
            click.echo("training cut-off: new jobs are refused with 403 training_not_available")

    try:
        serve(
            lambda: create_app(settings),
            directory,
            host=host,
            port=port,
            log_level=log_level,
            api_key_env=api_key_env,
            on_listening=announce,
        )
    except OSError as error:
        raise ServerError(f"the server stopped: {error}") from error
