"""`ftctl provenance PROJECT [ALIAS|VERSION]`: in-toto statements (SLSA Provenance v1 and
the gate results as a Test Result) for the model behind an alias or a version."""

from __future__ import annotations

import json

import click

from ftctl import __version__
from ftctl.cli.context import AppContext, pass_app
from ftctl.cli.lineage_cmd import find_lineage
from ftctl.cli.state_cmd import wants_json
from ftctl.lineage.provenance import provenance_statement, test_result_statement


@click.command("provenance")
@click.argument("target", metavar="PROJECT|MODEL_ID")
@click.argument("alias", required=False)
@click.option(
    "--json",
    "json_flag",
    is_flag=True,
    help='Print {"statements": [...]} indented instead of one statement per line.',
)
@pass_app
def provenance(app: AppContext, target: str, alias: str | None, json_flag: bool) -> None:
    """Print the in-toto Statement v1 with an SLSA Provenance v1 predicate for PROJECT's
    ALIAS (default: prod), version number, or a model id, then (when gates ran) a second
    statement with the gate results (in-toto test-result predicate).

    Output is JSON Lines, one statement per line, as in-toto bundles hold them. The
    statements are not signed.
    """
    found = find_lineage(app, target, alias)
    version = found.lineage.version
    statements = [provenance_statement(version, found.audit, ftctl_version=__version__)]
    tested = test_result_statement(version)
    if tested is not None:
        statements.append(tested)
    if wants_json(app, json_flag):
        click.echo(json.dumps({"statements": statements}, indent=2))
        return
    for statement in statements:
        click.echo(json.dumps(statement, separators=(",", ":"), sort_keys=True))
