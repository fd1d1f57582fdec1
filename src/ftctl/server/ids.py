"""Object ids shaped like OpenAI's: a type prefix and a random base62 tail."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
_TAIL_LENGTH = 24


def new_id(prefix: str) -> str:
    """`prefix-` followed by 24 random base62 characters, e.g. `file-3fQ...`."""
    tail = "".join(secrets.choice(_ALPHABET) for _ in range(_TAIL_LENGTH))
    return f"{prefix}-{tail}"


def file_id() -> str:
    return new_id("file")


def job_id() -> str:
    return new_id("ftjob")


def event_id() -> str:
    return new_id("ftevent")


def checkpoint_id() -> str:
    return new_id("ftckpt")


def permission_id() -> str:
    # OpenAI's look like `cp_zc4Q7MP6XxulcVzj4MZdwsAB`.
    return new_id("cp").replace("-", "_", 1)


def completion_id() -> str:
    return new_id("chatcmpl")


def job_tail(job: str) -> str:
    """The random part of a job id, used as the last segment of its model name."""
    return job.split("-", 1)[1] if "-" in job else job
