"""The one error hierarchy of ftctl.

Core code raises these; only `ftctl.cli` turns them into messages and exit codes
(see `ftctl.cli.errors`). Every error that comes from bad user input carries
`Diagnostic`s naming the file, line, column and field so that the user can fix it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem in one place: rendered as `file:line:column: severity: field: message`."""

    file: str
    line: int | None = None
    column: int | None = None
    severity: Severity = "error"
    field: str = ""
    message: str = ""
    hint: str = dataclasses.field(default="", compare=False)

    def sort_key(self) -> tuple[str, int, int, str, str, str]:
        """File, then position (a diagnostic without a line sorts first), then field."""
        return (
            self.file,
            self.line or 0,
            self.column or 0,
            self.severity,
            self.field,
            self.message,
        )

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        subject = f"{self.field}: " if self.field else ""
        text = f"{where}: {self.severity}: {subject}{self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "severity": self.severity,
            "field": self.field,
            "message": self.message,
            "hint": self.hint,
        }


class FtctlError(Exception):
    """Base of every error ftctl reports to a user. Exit code 1 unless a child says otherwise."""

    exit_code: int = 1

    def __init__(self, message: str, diagnostics: Sequence[Diagnostic] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.diagnostics: tuple[Diagnostic, ...] = tuple(diagnostics)

    def __str__(self) -> str:
        if not self.diagnostics:
            return self.message
        lines = [str(d) for d in self.diagnostics]
        return "\n".join([self.message, *lines]) if self.message else "\n".join(lines)


class ConfigError(FtctlError):
    """The workspace or a project file is malformed or violates the schema."""

    @classmethod
    def from_diagnostics(cls, diagnostics: Iterable[Diagnostic]) -> ConfigError:
        diags = sorted(set(diagnostics), key=Diagnostic.sort_key)
        errors = sum(1 for d in diags if d.severity == "error")
        return cls(f"{errors} error(s) in configuration", diags)


class DataError(FtctlError):
    """Training data cannot be read, parsed or fails a policy check set to `error`."""


class TokenizerError(FtctlError):
    """A tokenizer encoding cannot be loaded (offline files missing or corrupt)."""


class ProviderError(FtctlError):
    """A provider (OpenAI, a compatible endpoint, the local server) refused or failed a call."""


class TrainingNotAvailableError(ProviderError):
    """The provider no longer accepts fine-tuning jobs (OpenAI's `training_not_available`)."""


class ProviderAPIError(ProviderError):
    """The provider answered a call with an HTTP error (status and error code kept)."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class ProviderUnreachableError(ProviderError):
    """The provider could not be reached (connection refused or dropped, timeout): often
    temporary, so a long wait keeps polling through it for a while."""


class CredentialsError(ProviderError):
    """An API key the configuration names is not set in the environment."""


class StateError(FtctlError):
    """The state store is unreadable, of an unknown schema, or a write lost a race."""


class StateLockedError(StateError):
    """Another operation holds the state lock."""


class PlanError(FtctlError):
    """A plan cannot be built or a saved plan cannot be read."""


class StalePlanError(PlanError):
    """A saved plan no longer matches the state or the data it was made from."""


class GateError(FtctlError):
    """An eval gate is misconfigured or its eval run failed."""


class ServerError(FtctlError):
    """The local fine-tuning server could not be started or reached."""


class UserAbort(FtctlError):
    """The user declined a confirmation prompt."""
