"""Bearer-token authentication of the `/v1` API (only when the server has a key)."""

from __future__ import annotations

import hmac

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from ftctl.server.schemas import error_body

PROTECTED_PREFIX = "/v1"


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def auth_failure(authorization: str | None, api_key: str) -> str | None:
    """Why a request is refused (None when its bearer token is the key)."""
    token = bearer_token(authorization)
    if token is None:
        return (
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
        )
    if not hmac.compare_digest(token.encode(), api_key.encode()):
        # Like OpenAI, show only the key's last characters, never the whole key.
        return f"Incorrect API key provided: ...{token[-4:] if len(token) > 8 else ''}."
    return None


class BearerAuthMiddleware:
    """Refuses `/v1` requests without the right `Authorization: Bearer <key>` with a 401."""

    def __init__(self, app: ASGIApp, api_key: str | None) -> None:
        self.app = app
        self.api_key = api_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.api_key or not _protected(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        raw = headers.get(b"authorization")
        problem = auth_failure(raw.decode("latin-1") if raw else None, self.api_key)
        if problem is None:
            await self.app(scope, receive, send)
            return
        body = error_body(problem, code="invalid_api_key")
        await JSONResponse(body, status_code=401)(scope, receive, send)


def _protected(path: str) -> bool:
    return path == PROTECTED_PREFIX or path.startswith(PROTECTED_PREFIX + "/")
