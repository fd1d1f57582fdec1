"""Who is running ftctl, for locks and the audit log."""

from __future__ import annotations

import getpass
import os
import socket

USER_ENV = "FTCTL_USER"


def current_user() -> str:
    """`$FTCTL_USER` when set (CI names itself), else `user@host`."""
    named = os.environ.get(USER_ENV, "").strip()
    if named:
        return named
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}"
