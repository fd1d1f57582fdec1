"""Argument spellings that Terraform users type, rewritten to the ones click parses.

Two rewrites, applied once before click sees the arguments:

- Terraform's single-dash long flags (`-auto-approve`, `-out=FILE`, `-lock-timeout=30s`)
  become their double-dash forms. Only the names below are rewritten, so a value that
  merely starts with a dash (or a short option such as `-w`) is left alone.
- The output options `--json`, `--no-color` and `--debug` are accepted after the command
  too (`ftctl plan --json`): they move before the command, where the group reads them.

Nothing after a `--` separator is touched.
"""

from __future__ import annotations

from collections.abc import Sequence

# Long flags that Terraform spells with one dash; each is also an ftctl option.
TERRAFORM_FLAGS = frozenset(
    {
        "auto-approve",
        "destroy",
        "detailed-exitcode",
        "force",
        "json",
        "lock-timeout",
        "markdown",
        "no-color",
        "no-wait",
        "out",
        "refresh-only",
        "replace",
        "target",
    }
)
# Options of the `ftctl` group itself that may also follow the command.
HOISTED = frozenset({"--json", "--no-color", "--debug"})
# Group options that take a value (the value is not the command name).
GROUP_VALUE_OPTIONS = frozenset({"--workspace", "-w"})


def double_dash(token: str) -> str:
    """`-auto-approve` -> `--auto-approve`, `-out=plan.json` -> `--out=plan.json`."""
    if not token.startswith("-") or token.startswith("--"):
        return token
    name = token[1:].split("=", 1)[0]
    return "-" + token if name in TERRAFORM_FLAGS else token


def normalise(args: Sequence[str]) -> list[str]:
    """`args` with Terraform spellings rewritten and output options moved before the command."""
    out: list[str] = []
    hoisted: list[str] = []
    command_at: int | None = None
    takes_value = False
    passthrough = False
    for token in args:
        if passthrough:
            out.append(token)
            continue
        if token == "--":
            passthrough = True
            out.append(token)
            continue
        token = double_dash(token)
        if command_at is None:
            if takes_value:
                takes_value = False
            elif token in GROUP_VALUE_OPTIONS:
                takes_value = True
            elif not token.startswith("-"):
                command_at = len(out)
        elif token in HOISTED:
            if token not in hoisted:
                hoisted.append(token)
            continue
        out.append(token)
    if command_at is None or not hoisted:
        return out
    before = [t for t in hoisted if t not in out[:command_at]]
    return [*out[:command_at], *before, *out[command_at:]]
