"""OpenBLAS is kept to one thread for the data commands only: what a command sets, the
training processes it may start (the local server's trainers) would inherit."""

from __future__ import annotations

import os

import click
import pytest

from ftctl.cli.main import cli

VARIABLE = "OPENBLAS_NUM_THREADS"


@pytest.fixture
def unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VARIABLE, "restored after the test")  # recorded, then removed
    monkeypatch.delenv(VARIABLE)


@pytest.mark.usefixtures("unset")
@pytest.mark.parametrize("command", ["plan", "apply", "server", "destroy"])
def test_a_command_that_may_start_training_leaves_openblas_alone(command: str) -> None:
    with click.Context(cli) as ctx:
        cli.resolve_command(ctx, [command])
    assert VARIABLE not in os.environ


@pytest.mark.usefixtures("unset")
@pytest.mark.parametrize("command", [["data", "build", "demo"], ["validate"]])
def test_a_data_command_keeps_openblas_to_one_thread(command: list[str]) -> None:
    with click.Context(cli) as ctx:
        cli.resolve_command(ctx, command)
    assert os.environ[VARIABLE] == "1"


def test_a_value_the_user_set_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VARIABLE, "8")
    with click.Context(cli) as ctx:
        cli.resolve_command(ctx, ["data", "stats"])
    assert os.environ[VARIABLE] == "8"
