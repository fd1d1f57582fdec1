"""An `x-request-id` header on every response, as OpenAI sends (clients log it to report
a problem). Outermost middleware, so injected faults and errors carry one too."""

from __future__ import annotations

import secrets

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = b"x-request-id"
SCOPE_KEY = "ftctl.request_id"


def request_id() -> str:
    return f"req_{secrets.token_hex(16)}"


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        value = request_id().encode()
        # For the 500 handler, which answers from outside every middleware (Starlette's
        # ServerErrorMiddleware) and so must add the header itself.
        scope[SCOPE_KEY] = value.decode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER]
                message = {**message, "headers": [*headers, (HEADER, value)]}
            await send(message)

        await self.app(scope, receive, send_with_id)
