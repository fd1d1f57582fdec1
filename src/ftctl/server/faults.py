"""Fault injection for the local server: errors, latency and dropped connections.

Off by default. A spec such as `rate=0.1,codes=429:500:503,latency_ms=50,drop=0.02,seed=1`
makes a share of `/v1` requests fail the way a flaky provider does, so that clients
(the openai SDK's retries, ftctl's waiting loops) are exercised against them. The flag
`training_not_available` makes job creation answer like OpenAI does for organisations
past its fine-tuning cut-off. Faults are decided before a request is handled, so a
retried request never finds half-done work.
"""

from __future__ import annotations

import asyncio
import random
import threading
from dataclasses import dataclass, field
from typing import Literal

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

FAULTS_ENV = "FTCTL_SERVER_FAULTS"


class FaultSpecError(ValueError):
    """A fault spec string is malformed."""


@dataclass(frozen=True)
class FaultSpec:
    rate: float = 0.0
    codes: tuple[int, ...] = (429, 500, 503)
    latency_ms: int = 0
    drop: float = 0.0
    seed: int | None = None
    # Sent as `retry-after-ms` with injected errors (0 = no header): lets clients back off
    # briefly instead of the SDK's default exponential delay.
    retry_after_ms: int = 0
    training_not_available: bool = False

    @property
    def active(self) -> bool:
        return self.rate > 0 or self.drop > 0 or self.latency_ms > 0

    @classmethod
    def parse(cls, text: str | None) -> FaultSpec:
        """Parse `key=value,...` (empty or None = no faults)."""
        if not text or not text.strip():
            return cls()
        values: dict[str, object] = {}
        for raw in text.split(","):
            item = raw.strip()
            if not item:
                continue
            key, sep, value = item.partition("=")
            key = key.strip()
            value = value.strip()
            try:
                if key == "training_not_available":
                    values[key] = _parse_bool(value) if sep else True
                elif not sep:
                    raise FaultSpecError(f"fault spec item {item!r} needs a value (key=value)")
                elif key in ("rate", "drop"):
                    number = float(value)
                    if not 0.0 <= number <= 1.0:
                        raise FaultSpecError(f"{key} must be between 0 and 1, got {value}")
                    values[key] = number
                elif key == "codes":
                    codes = tuple(int(code) for code in value.split(":") if code)
                    bad = [code for code in codes if not 400 <= code <= 599]
                    if not codes or bad:
                        raise FaultSpecError(
                            f"codes must be HTTP error codes 400-599, got {value!r}"
                        )
                    values[key] = codes
                elif key in ("latency_ms", "retry_after_ms"):
                    number_ms = int(value)
                    if number_ms < 0:
                        raise FaultSpecError(f"{key} must not be negative, got {value}")
                    values[key] = number_ms
                elif key == "seed":
                    values[key] = int(value)
                else:
                    known = "rate, codes, latency_ms, drop, seed, retry_after_ms, training_not_available"
                    raise FaultSpecError(f"unknown fault spec key {key!r} (known: {known})")
            except ValueError as error:
                if isinstance(error, FaultSpecError):
                    raise
                raise FaultSpecError(f"bad value for {key!r} in fault spec: {value!r}") from error
        return cls(**values)  # type: ignore[arg-type]


def _parse_bool(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise FaultSpecError(f"expected true/false, got {value!r}")


FaultKind = Literal["none", "error", "drop"]


@dataclass(frozen=True)
class FaultDecision:
    kind: FaultKind
    status: int = 0
    latency_s: float = 0.0


@dataclass
class FaultInjector:
    """Draws one decision per request from a seeded generator (thread-safe)."""

    spec: FaultSpec
    _random: random.Random = field(init=False)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._random = random.Random(self.spec.seed)

    def decide(self) -> FaultDecision:
        spec = self.spec
        latency = spec.latency_ms / 1000.0
        if not (spec.rate or spec.drop):
            return FaultDecision("none", latency_s=latency)
        with self._lock:
            draw = self._random.random()
            code = self._random.choice(spec.codes) if spec.codes else 500
        if draw < spec.drop:
            return FaultDecision("drop", latency_s=latency)
        if draw < spec.drop + spec.rate:
            return FaultDecision("error", status=code, latency_s=latency)
        return FaultDecision("none", latency_s=latency)


def fault_error_body(status: int) -> dict[str, object]:
    """The error body OpenAI sends for a status it may return under load."""
    if status == 429:
        message, kind, code = (
            "Rate limit reached (injected fault). Please try again shortly.",
            "requests",
            "rate_limit_exceeded",
        )
    elif status >= 500:
        message, kind, code = (
            "The server had an error while processing your request (injected fault).",
            "server_error",
            None,
        )
    else:
        message, kind, code = (f"Injected fault: HTTP {status}.", "invalid_request_error", None)
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class FaultMiddleware:
    """Applies a `FaultSpec` to `/v1` requests before they reach the API."""

    def __init__(self, app: ASGIApp, spec: FaultSpec) -> None:
        self.app = app
        self.spec = spec
        self.injector = FaultInjector(spec)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not self.spec.active or not (path == "/v1" or path.startswith("/v1/")):
            await self.app(scope, receive, send)
            return
        decision = self.injector.decide()
        if decision.latency_s:
            await asyncio.sleep(decision.latency_s)
        if decision.kind == "drop":
            # Promise a body and never send it: the server closes the connection and the
            # client sees a broken response, as with a connection dropped mid-flight.
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")],
                }
            )
            return
        if decision.kind == "error":
            headers = {"x-ftctl-injected-fault": "true"}
            if self.spec.retry_after_ms:
                headers["retry-after-ms"] = str(self.spec.retry_after_ms)
            response = JSONResponse(
                fault_error_body(decision.status), status_code=decision.status, headers=headers
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
