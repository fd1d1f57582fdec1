"""The local fine-tuning server: an OpenAI-compatible HTTP API over the store and worker.

Shapes, status codes and error bodies follow OpenAI's API as the installed openai SDK
reads them (files, fine_tuning.jobs with events and checkpoints, models, chat
completions), so the same client code talks to OpenAI and to this server. The routes live
in `routers/` (one module per resource); training and generation go through the trainers
in `trainers/` (the `Trainer` seam).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from ftctl import __version__
from ftctl.server import schemas
from ftctl.server.auth import BearerAuthMiddleware
from ftctl.server.errors import install_error_handlers
from ftctl.server.faults import FaultMiddleware
from ftctl.server.request_id import RequestIdMiddleware
from ftctl.server.routers import chat, checkpoints, files, jobs, models
from ftctl.server.state import ModelCache, ServerSettings, ServerState
from ftctl.server.store import Store
from ftctl.server.trainers.registry import TrainerRegistry, default_registry
from ftctl.server.worker import JobWorker

__all__ = ["ServerSettings", "ServerState", "create_app"]


def create_app(settings: ServerSettings, trainers: TrainerRegistry | None = None) -> FastAPI:
    """The ASGI app; the worker runs between the app's startup and shutdown. `trainers`:
    the built-in ones (`default_registry`) unless given."""
    store = Store(settings.data_dir, clock=settings.clock)
    registry = trainers if trainers is not None else default_registry()
    state = ServerState(
        settings=settings,
        store=store,
        trainers=registry,
        worker=JobWorker(store, registry, n_workers=settings.workers),
        models=ModelCache(),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        state.worker.start()
        try:
            yield
        finally:
            state.worker.stop()
            store.close()

    app = FastAPI(
        title="ftctl local fine-tuning server",
        version=__version__,
        description="An OpenAI-compatible fine-tuning API (files, fine_tuning.jobs, models, "
        "chat completions) backed by local trainers (a small numpy model: local-tiny).",
        lifespan=lifespan,
        # Every error has OpenAI's body; FastAPI's default 422 is never sent (validation
        # problems are 400s), and declaring the ranges keeps it out of the document.
        responses={
            "4XX": {"model": schemas.ErrorResponse, "description": "Invalid request"},
            "5XX": {"model": schemas.ErrorResponse, "description": "Server error"},
        },
    )
    app.state.server = state
    install_error_handlers(app)
    app.add_middleware(BearerAuthMiddleware, api_key=settings.api_key)
    # Added after auth, so outside it: an injected fault happens before authentication, as at
    # a gateway.
    app.add_middleware(FaultMiddleware, spec=settings.faults)
    # Outermost: every response has an id, injected faults and dropped routes included.
    app.add_middleware(RequestIdMiddleware)

    @app.get(
        "/health",
        response_model=schemas.Health,
        tags=["server"],
        summary="Liveness probe (no auth, no faults)",
    )
    def health() -> dict[str, Any]:
        return {"status": "ok", "pid": os.getpid(), "version": __version__}

    routers = [module.router(state) for module in (files, jobs, checkpoints, models, chat)]
    for router in routers:
        app.include_router(router)
    # Every route with its full path, for the `Allow` header of a 405 (FastAPI keeps an
    # included router as one opaque entry of `app.router.routes`).
    app.state.route_table = [*app.router.routes, *(r for router in routers for r in router.routes)]
    return app
