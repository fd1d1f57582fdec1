"""Operations: the use cases the CLI calls (plan under the lock, apply, import, state rm, destroy).

Orchestration lives here: loading config, building datasets, opening providers and state,
refreshing; `ftctl.plan` stays pure values and functions.
"""
