"""The server's routes, one module per resource of OpenAI's API (files, fine-tuning jobs,
models, chat completions). Each module's `router(state)` returns its APIRouter."""
