"""Secrets in training data: API keys, tokens and private keys.

Uses detect-secrets' token-format detectors (the ones that recognise a credential by its
shape: AWS, OpenAI, GitHub, Slack, Stripe, private key headers, JWTs ...) on each example's
text. Left out on purpose: the high-entropy string and keyword detectors, which fire on
ordinary prose ("password: reset it from the login page"), hashes and base64 images, and the
public-IP detector (an address is not a credential). A few key shapes detect-secrets does
not know (Anthropic, Google, Hugging Face) are added as regexes.

The secret itself is never returned, only its type: findings end up in logs and reports.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from detect_secrets.plugins.base import RegexBasedDetector

_EXTRA: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("Anthropic API Key", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{32,}")),
    ("OpenAI Project Key", re.compile(r"\bsk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,}")),
    ("Google API Key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("Hugging Face Token", re.compile(r"\bhf_[A-Za-z0-9]{34,}\b")),
)


_CANDIDATE_RUN = 16
_CANDIDATE = re.compile(rf"\S{{{_CANDIDATE_RUN},}}|PRIVATE KEY|PuTTY-User-Key")


# Every byte to "x" but the ASCII characters `str.split()` splits at (to " "): a run of
# `_CANDIDATE_RUN` "x" in the translated UTF-8 bytes is where a long word may be.
_ASCII_SPACE = frozenset(b"\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f ")
_RUN_TABLE = bytes(ord(" ") if b in _ASCII_SPACE else ord("x") for b in range(256))
_RUN = b"x" * _CANDIDATE_RUN


def _may_hold_secret(text: str) -> bool:
    """Whether `_CANDIDATE` matches somewhere in `text`, many times faster than the regex.

    `str.split()` splits at exactly the characters `\\s` matches (both use Unicode
    whitespace), so a run of `_CANDIDATE_RUN` non-space characters is a word that long.
    First, in C: the UTF-8 bytes with every byte but ASCII whitespace made "x". On ASCII
    text that is exact; otherwise a character is one byte or more and non-ASCII spaces count
    as "x", so a long word always shows as a long run there (and a long run is confirmed
    with `str.split()`).
    """
    if "PRIVATE KEY" in text or "PuTTY-User-Key" in text:
        return True
    if _RUN not in text.encode("utf-8", "surrogatepass").translate(_RUN_TABLE):
        return False
    return text.isascii() or any(len(word) >= _CANDIDATE_RUN for word in text.split())


@lru_cache(maxsize=1)
def _detectors() -> tuple[RegexBasedDetector, ...]:
    # Imported on first use: detect-secrets brings `requests` along (about 0.1 s of
    # start-up), which commands that never scan data (a cached build, `plan`) skip.
    from detect_secrets.plugins.aws import AWSKeyDetector
    from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
    from detect_secrets.plugins.basic_auth import BasicAuthDetector
    from detect_secrets.plugins.discord import DiscordBotTokenDetector
    from detect_secrets.plugins.github_token import GitHubTokenDetector
    from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
    from detect_secrets.plugins.jwt import JwtTokenDetector
    from detect_secrets.plugins.mailchimp import MailchimpDetector
    from detect_secrets.plugins.npm import NpmDetector
    from detect_secrets.plugins.openai import OpenAIDetector
    from detect_secrets.plugins.private_key import PrivateKeyDetector
    from detect_secrets.plugins.pypi_token import PypiTokenDetector
    from detect_secrets.plugins.sendgrid import SendGridDetector
    from detect_secrets.plugins.slack import SlackDetector
    from detect_secrets.plugins.square_oauth import SquareOAuthDetector
    from detect_secrets.plugins.stripe import StripeDetector
    from detect_secrets.plugins.telegram_token import TelegramBotTokenDetector
    from detect_secrets.plugins.twilio import TwilioKeyDetector

    classes = (
        AWSKeyDetector,
        AzureStorageKeyDetector,
        BasicAuthDetector,
        DiscordBotTokenDetector,
        GitHubTokenDetector,
        GitLabTokenDetector,
        JwtTokenDetector,
        MailchimpDetector,
        NpmDetector,
        OpenAIDetector,
        PrivateKeyDetector,
        PypiTokenDetector,
        SendGridDetector,
        SlackDetector,
        SquareOAuthDetector,
        StripeDetector,
        TelegramBotTokenDetector,
        TwilioKeyDetector,
    )
    return tuple(cls() for cls in classes)


def _strings(value: Any) -> list[str]:
    """Every string in an example, keys excluded."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def find_secret_types(text: str) -> list[str]:
    """The kinds of secret found in `text`, sorted, each once."""
    found: set[str] = set()
    for detector in _detectors():
        for _match in detector.analyze_string(text):
            found.add(str(detector.secret_type))
            break
    for name, pattern in _EXTRA:
        if pattern.search(text):
            found.add(name)
    return sorted(found)


def secrets_in_example(example: dict[str, Any]) -> list[str]:
    """The kinds of secret in any string of the example (tool arguments included).

    Only lines that could hold a credential are scanned: every shape detected here has a
    run of at least `_CANDIDATE_RUN` characters without whitespace (a key, a token, a
    `scheme://user:pass@host` URL, an `AccountKey=...` assignment) or is a private key
    header. Ordinary prose has few such lines, which makes the scan several times faster.
    """
    return secrets_in_strings(_strings(example))


def secrets_in_strings(strings: list[str]) -> list[str]:
    """`secrets_in_example` for the strings of an example, found by the caller."""
    # Joined by newlines (whitespace): no run and no key header can span two strings.
    if not _may_hold_secret("\n".join(strings)):
        return []  # most examples: no candidate line at all
    lines = [line for text in strings for line in text.splitlines() if _CANDIDATE.search(line)]
    if not lines:
        return []
    # One scan per example: lines are joined by newlines (every detector matches within a
    # line, so joining cannot create a match that spans two of them).
    return find_secret_types("\n".join(lines))
