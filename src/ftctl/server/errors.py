"""OpenAI's error body for every failure: request validation, unknown routes, bugs."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from ftctl.server.request_id import SCOPE_KEY
from ftctl.server.schemas import ApiError, error_body


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_request: Request, error: ApiError) -> JSONResponse:
        return JSONResponse(error.body(), status_code=error.status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
        message, param = _validation_message(error.errors())
        return JSONResponse(error_body(message, param=param), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 404:
            message = f"Invalid URL ({request.method} {request.url.path})"
        elif error.status_code == 405:
            message = f"Method {request.method} not allowed for {request.url.path}"
        else:
            message = str(error.detail)
        headers = dict(error.headers or {})
        if error.status_code == 405:
            # RFC 9110: a 405 lists every method of the resource; Starlette names only the
            # methods of the first route that matched the path (one route per method here).
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return JSONResponse(error_body(message), status_code=error.status_code, headers=headers)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, error: Exception) -> JSONResponse:
        body = error_body(
            f"The server had an error while processing your request: {type(error).__name__}",
            type="server_error",
        )
        known = request.scope.get(SCOPE_KEY)
        headers = {"x-request-id": known} if isinstance(known, str) else None
        return JSONResponse(body, status_code=500, headers=headers)


def not_found(kind: str, object_id: str, param: str) -> ApiError:
    return ApiError(404, f"No such {kind}: '{object_id}'.", param=param)


def model_not_found(model: str) -> ApiError:
    return ApiError(
        404,
        f"The model '{model}' does not exist or you do not have access to it.",
        param="model",
        code="model_not_found",
    )


def _allowed_methods(request: Request) -> list[str]:
    """The methods of all routes whose path matches the request's."""
    methods: set[str] = set()
    for route in getattr(request.app.state, "route_table", request.app.router.routes):
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return sorted(methods)


# pydantic names the member of a union it tried in an error's location (`int`,
# `literal['auto']`, `list[str]`): not a parameter, so left out of `param`.
_UNION_MEMBER = re.compile(r"(int|float|str|bool|bytes|none|[a-z-]+\[.*\])")


def _is_union_member(part: object) -> bool:
    return isinstance(part, str) and _UNION_MEMBER.fullmatch(part) is not None


def _validation_message(errors: Any) -> tuple[str, str | None]:
    """OpenAI-like wording for the first problem pydantic found in a request."""
    if not errors:
        return "Invalid request.", None
    first = errors[0]
    param = _error_param(first)
    kind = first.get("type", "")
    # A value that fits no member of a union fails once per member: name them all.
    reasons = list(dict.fromkeys(e.get("msg", "") for e in errors if _error_param(e) == param))
    should = "Input should be "
    reason = first.get("msg", "invalid value")
    if len(reasons) > 1 and all(r.startswith(should) for r in reasons):
        reason = should + " or ".join(r.removeprefix(should) for r in reasons)
    if param is None and kind != "missing" and kind != "json_invalid":
        # About the body as a whole (not an object, not valid Unicode...): no parameter.
        return f"Invalid request body: {reason}.", None
    if kind == "extra_forbidden":
        return f"Unrecognized request argument supplied: {param}", param
    if kind == "missing" and param is None:
        # The whole body is absent (no parameter to name).
        return "Missing request body: send the parameters as a JSON object.", None
    if kind == "missing":
        return f"Missing required parameter: '{param}'.", param
    if kind == "json_invalid":
        return (
            "We could not parse the JSON body of your request. The body must be valid JSON.",
            None,
        )
    return f"Invalid '{param}': {reason}.", param


def _error_param(error: Any) -> str | None:
    location = [
        str(part)
        for part in error.get("loc", ())
        if part not in ("body", "query", "path") and not _is_union_member(part)
    ]
    return ".".join(location) or None
