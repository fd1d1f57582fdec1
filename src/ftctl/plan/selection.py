"""Check what a plan is asked to cover (project names, `--target`, `--replace`) before
planning, so that a typo is an error with a "did you mean" instead of a silent
"No changes".

Pure: the caller passes the project names the configuration declares and those the
state records (a project removed from the YAML can still be destroyed).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ftctl.config.suggest import closest, did_you_mean
from ftctl.errors import PlanError
from ftctl.plan.changes import PlanOptions

KINDS = ("dataset", "version", "alias")
SPLITS = ("train", "validation", "test")
_FORMS = "dataset.<project>[.<split>], version.<project>[.<n>] or alias.<project>[.<name>]"


def unknown_project_message(
    name: str, configured: Iterable[str], recorded: Iterable[str] = ()
) -> str:
    """`no project 'x' in the configuration: did you mean 'y'? (projects: ...)`."""
    declared = sorted(set(configured))
    state_only = sorted(set(recorded) - set(declared))
    hint = did_you_mean(name, [*declared, *state_only])
    listed = f"projects: {', '.join(declared)}" if declared else "the workspace has no projects"
    if state_only:
        listed += f"; only in the state: {', '.join(state_only)}"
    return f"no project {name!r} in the configuration or the state: " + (
        f"{hint} ({listed})" if hint else listed
    )


def check_selection(
    options: PlanOptions, configured: Sequence[str], recorded: Sequence[str]
) -> None:
    """Raise PlanError for an unknown project or a malformed or unknown address."""
    known = set(configured) | set(recorded)
    for name in options.projects:
        if name not in known:
            raise PlanError(unknown_project_message(name, configured, recorded))
    for flag, addresses in (("--target", options.targets), ("--replace", options.replace)):
        for address in addresses:
            _check_address(flag, address, configured, recorded)


def _check_address(
    flag: str, address: str, configured: Sequence[str], recorded: Sequence[str]
) -> None:
    parts = address.split(".")
    kind = parts[0]
    if kind not in KINDS or len(parts) not in (2, 3) or not all(parts):
        meant: str | None = None
        if len(parts) == 1 and address in {*configured, *recorded}:
            meant = f"version.{address}"
        elif kind not in KINDS and len(parts) > 1 and (close := closest(kind, KINDS)):
            meant = ".".join((close, *parts[1:]))
        hint = f": did you mean '{meant}'?" if meant else ""
        raise PlanError(f"{flag} {address}: not a resource address{hint} (expected {_FORMS})")
    project = parts[1]
    if project not in {*configured, *recorded}:
        unknown = unknown_project_message(project, configured, recorded)
        raise PlanError(f"{flag} {address}: {unknown}")
    if len(parts) == 3:
        key = parts[2]
        if kind == "version" and not (key.isdigit() and int(key) >= 1):
            raise PlanError(f"{flag} {address}: a version number is a positive integer")
        if kind == "dataset" and key not in SPLITS:
            hint = did_you_mean(key, SPLITS)
            raise PlanError(
                f"{flag} {address}: no split {key!r}"
                + (f": {hint}" if hint else "")
                + f" (splits: {', '.join(SPLITS)})"
            )
