""" "Did you mean" suggestions for misspelt keys, values and names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate most like `word`, or None when nothing is close enough.

    Case is ignored when comparing so that `basemodel` still finds `baseModel`.
    """
    by_folded: dict[str, str] = {}
    for candidate in candidates:
        by_folded.setdefault(candidate.casefold(), candidate)
    matches = difflib.get_close_matches(word.casefold(), list(by_folded), n=1, cutoff=0.6)
    return by_folded[matches[0]] if matches else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A hint such as "did you mean 'baseModel'?", or "" when nothing is close."""
    match = closest(word, candidates)
    return f"did you mean '{match}'?" if match is not None and match != word else ""
