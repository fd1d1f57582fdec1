"""Text of an example and near-duplicate search (MinHash + LSH).

Near-duplicates are pairs whose word 3-shingle sets have a Jaccard similarity of at least
the threshold: MinHash LSH proposes candidates, the exact Jaccard of the shingle sets
decides. The signatures are datasketch 2's `MinHash(seed=1, hashfunc=zlib.crc32,
scheme="affine32")` computed with numpy directly (the same values, tested against
datasketch; several times faster, no per-text object; `sign_pairs` signs many texts in a
few numpy operations), and the LSH buckets are bands of the signature as datasketch's
`MinHashLSH` makes them (`lsh_params`; the index itself is `ftctl.datasets.near_index`).
datasketch itself is imported only to choose the band count for an unusual
(threshold, numPerm): it pulls in scipy, about a second of start-up. Shared by the
`nearDedupe` transform, the near-duplicate policy check and leakage detection between splits.
"""

from __future__ import annotations

import itertools
import random
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

SHINGLE_WORDS = 3
SIGNATURE_VERSION = 1  # of the signatures' values: part of the cached results' keys
LSH_WEIGHTS = (0.05, 0.95)  # (false positive, false negative) weights for the band choice
_WORD = re.compile(r"\w+", re.UNICODE)
Signature = npt.NDArray[np.uint32]


# --------------------------------------------------------------------------- example text


def messages_of(example: dict[str, Any]) -> list[dict[str, Any]]:
    """The conversation of a chat/tools/RFT example or of a DPO example's input."""
    messages = example.get("messages")
    if messages is None and isinstance(example.get("input"), dict):
        messages = example["input"].get("messages")
    if not isinstance(messages, list):
        return []
    return [m for m in messages if isinstance(m, dict)]


def content_text(content: Any) -> str:
    """The text of a message's content: a string, or the text parts of a part list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        ]
        return "\n".join(texts)
    return ""


def answers_of(example: dict[str, Any]) -> list[dict[str, Any]]:
    """The assistant messages of an example (DPO: its preferred output)."""
    answers = [m for m in messages_of(example) if m.get("role") == "assistant"]
    preferred = example.get("preferred_output")
    if isinstance(preferred, list):
        answers.extend(m for m in preferred if isinstance(m, dict))
    return answers


# Instructions shared by design across examples: left out of comparisons, or a long system
# prompt would make every pair of short examples look alike.
_SHARED_ROLES = frozenset({"assistant", "system", "developer"})


def prompt_text(example: dict[str, Any]) -> str:
    """What the model is asked: the user (and tool) messages, `role: text` per line.

    System and developer messages are left out: they are the same in most examples.
    """
    lines = [
        f"{m.get('role', '')}: {content_text(m.get('content'))}"
        for m in messages_of(example)
        if m.get("role") not in _SHARED_ROLES
    ]
    if not lines:
        # Rows not (yet) in chat form: compare what they hold.
        for key in ("prompt", "input"):
            if isinstance(example.get(key), str):
                lines.append(example[key])
    return "\n".join(lines)


def user_prompt_text(example: dict[str, Any]) -> str:
    """The user messages only (what varies between examples, unlike the system prompt)."""
    return "\n".join(
        content_text(m.get("content")) for m in messages_of(example) if m.get("role") == "user"
    )


def normalized_prompt(example: dict[str, Any]) -> str:
    """The user prompt as `minPromptDiversity` compares it: lower case, each run of
    whitespace one space, none at either end (`" ".join(text.lower().split())`)."""
    text = user_prompt_text(example)
    # Most prompts hold no whitespace but single spaces and the newlines between messages:
    # then the result is the lower case with those newlines made spaces, without the split
    # making a string per word (4.1 against 6.7 µs for a 600-character prompt; the build
    # makes one per row). `isprintable` is False for every whitespace character but the
    # space (each is a separator or a control character), and no character lower-cases to
    # whitespace: both hold for every code point (tests/datasets/test_similarity.py).
    flat = text.replace("\n", " ")
    if (
        flat.isprintable()
        and "  " not in flat
        and not flat.startswith(" ")
        and not flat.endswith(" ")
    ):
        return flat.lower()
    return " ".join(text.lower().split())


def example_text(example: dict[str, Any], prompt: str | None = None) -> str:
    """The text of an example compared for near-duplicates: the prompt and every answer
    (`prompt`: its `prompt_text`, when the caller has it already). A non-empty prompt is
    its start: `prompt + "\n" + answers_text(example)`, or the prompt alone."""
    return "\n".join(
        p for p in (prompt_text(example) if prompt is None else prompt, answers_text(example)) if p
    )


def answers_text(example: dict[str, Any]) -> str:
    """The answers of an example as `example_text` ends with them, one after another."""
    return "\n".join(p for p in (content_text(m.get("content")) for m in answers_of(example)) if p)


# --------------------------------------------------------------------------- MinHash


def _word_bytes_table() -> bytes:
    """ASCII letters lower-cased, digits and `_` kept, other ASCII bytes made spaces; bytes
    from 0x80 (UTF-8 beyond ASCII) kept."""
    table = bytearray(b" " * 128 + bytes(range(128, 256)))
    for byte in b"abcdefghijklmnopqrstuvwxyz0123456789_":
        table[byte] = byte
    for byte in b"ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        table[byte] = byte + 32
    return bytes(table)


_WORD_BYTES = _word_bytes_table()
_ASCII_BYTES = bytes(range(128))
_SLOW = b"\0"  # a character that only the regex can split and lower-case right


def _words(text: str) -> list[bytes]:
    """The lower-cased words (`\\w+`) of `text`, UTF-8 encoded (what shingles are made of)."""
    return _word_bytes(text).split()


def _word_bytes(text: str) -> bytes:
    """The lower-cased words (`\\w+`) of `text`, UTF-8 encoded, separated by runs of
    spaces (no word holds a space or another ASCII byte that `bytes.split` splits at).

    On ASCII `\\w` is exactly [A-Za-z0-9_], so a byte table splits the text at every other
    ASCII byte and lower-cases it: the regex over the text costs ~5x as much. Each other
    character is first made what it stands for in the words, as UTF-8: itself (a word
    character that lower-cases to itself: é, ü, 東), its lower case (Ü), or a space (not a
    word character: a non-breaking space, a combining mark, a lone surrogate). UTF-8 is
    self-synchronising, so replacing a character's bytes cannot touch another's."""
    data = text.encode("utf-8", "surrogatepass")
    if not text.isascii():
        others = data.translate(None, _ASCII_BYTES).decode("utf-8", "surrogatepass")
        # Most texts' other characters are all word characters that are their own lower
        # case (é, ü, 東): nothing to replace, and no set of them to make (~1.5 of ~4 µs).
        # Beyond ASCII, `\w` is `isalnum`; `lower()` leaves a string as it is only when it
        # changes none of its characters.
        if others.isalnum() and others.lower() == others:
            return data.translate(_WORD_BYTES)
        for char in set(others):
            becomes = _non_ascii_char(char)
            if becomes is None:
                continue
            if becomes is _SLOW:
                return b" ".join(_unicode_words(text))
            data = data.replace(char.encode("utf-8", "surrogatepass"), becomes)
    return data.translate(_WORD_BYTES)


_non_ascii_chars: dict[str, bytes | None] = {}


def _non_ascii_char(char: str) -> bytes | None:
    """What a non-ASCII character becomes in the words: None (itself), a space, its lower
    case, or `_SLOW` (remembered per character)."""
    if char in _non_ascii_chars:
        return _non_ascii_chars[char]
    becomes: bytes | None
    if _WORD.fullmatch(char) is None:
        becomes = b" "
    elif char.lower() == char:
        becomes = None
    else:
        lower = char.lower()
        # Capital sigma lower-cases by its neighbours; a lower case that is not itself
        # plain (lower-cases again, holds a separator) would be changed once more.
        plain = all(
            (c.isascii() and (c.isalnum() or c == "_")) or _non_ascii_char(c) is None for c in lower
        )
        becomes = lower.encode("utf-8") if plain and char != "\u03a3" else _SLOW
    if len(_non_ascii_chars) >= 1 << 16:
        _non_ascii_chars.clear()
    _non_ascii_chars[char] = becomes
    return becomes


def _unicode_words(text: str) -> list[bytes]:
    words = _WORD.findall(text)
    if not words:
        return []
    # Lower-cased and encoded in one call each: NUL is neither cased nor case-ignorable, so
    # each word lowers as it would alone (Greek final sigma included), and no word holds it.
    return "\0".join(words).lower().encode("utf-8").split(b"\0")


def _shingle_bytes(words: list[bytes]) -> list[bytes]:
    if len(words) <= SHINGLE_WORDS:
        return [b" ".join(words)]
    return list(map(b" ".join, zip(*(words[i:] for i in range(SHINGLE_WORDS)), strict=False)))


def shingles(text: str) -> set[bytes]:
    """Lower-cased word 3-shingles; a text of fewer words is one shingle."""
    words = _words(text)
    if not words:
        return set()
    return set(_shingle_bytes(words))


_permutations: dict[int, tuple[Signature, Signature]] = {}
_BLOCK = 4096  # shingles per numpy block: bounds the (shingles x num_perm) matrix


def _affine32_permutations(num_perm: int) -> tuple[Signature, Signature]:
    """datasketch 2's affine32 permutations for seed 1: (a odd, b), uint32 each.

    datasketch draws them from `np.random.RandomState(1)`: `a` as `randint(0, 2**31)` times
    2 plus 1, then `b` as `randint(0, 2**32)`. For these bounds, as uint32, numpy takes each
    number from one 32-bit output of its Mersenne Twister (masked to 31 bits for `a`, whole
    for `b`), so the same outputs of Python's own Mersenne Twister, in the state numpy's
    seeding gives it, are the same numbers (a test compares them with numpy's). Importing
    `numpy.random` took ~15 ms in every worker process that signed a row."""
    found = _permutations.get(num_perm)
    if found is None:
        twister = _numpy_seeded_twister(1)
        draws = [twister.getrandbits(32) for _ in range(2 * num_perm)]
        a = np.array(draws[:num_perm], dtype=np.uint32) & np.uint32(0x7FFFFFFF)
        a *= np.uint32(2)
        a += np.uint32(1)
        b = np.array(draws[num_perm:], dtype=np.uint32)
        found = _permutations[num_perm] = (a, b)
    return found


def _numpy_seeded_twister(seed: int) -> random.Random:
    """A Mersenne Twister in the state `np.random.RandomState(seed)` starts in: the
    reference `init_genrand(seed)`, which numpy's legacy seeding of an integer uses (Python's
    `random.seed` mixes its seed in differently)."""
    state = [seed & 0xFFFFFFFF]
    for i in range(1, 624):
        last = state[-1]
        state.append((1812433253 * (last ^ (last >> 30)) + i) & 0xFFFFFFFF)
    twister = random.Random()
    twister.setstate((3, (*state, 624), None))  # 624: the next draw regenerates the state
    return twister


def _fmix32(values: Signature) -> Signature:
    """The MurmurHash3 32-bit finalizer (datasketch's pre-mix of each input hash)."""
    values = values ^ (values >> np.uint32(16))
    values = values * np.uint32(0x85EBCA6B)
    values = values ^ (values >> np.uint32(13))
    values = values * np.uint32(0xC2B2AE35)
    return values ^ (values >> np.uint32(16))


def compute_signature(text: str, num_perm: int) -> Signature | None:
    """The MinHash signature of a text's shingles, or None for a text without words.

    Equals `datasketch.MinHash(num_perm, seed=1, hashfunc=zlib.crc32, scheme="affine32")`
    updated with `shingles(text)`: min over shingles of `a * fmix32(crc32(s)) + b` mod 2^32.
    A repeated shingle cannot change a minimum, so the shingles need not be made unique.
    """
    words = _words(text)
    if not words:
        return None
    hashes = np.array(list(map(zlib.crc32, _shingle_bytes(words))), dtype=np.uint32)
    mixed = _fmix32(hashes)
    a, b = _affine32_permutations(num_perm)
    signature: Signature | None = None
    for start in range(0, mixed.size, _BLOCK):
        block = (mixed[start : start + _BLOCK, None] * a + b).min(axis=0)
        signature = block if signature is None else np.minimum(signature, block)
    return signature


_PAIR_BLOCK = 4096  # shingles per numpy block of `sign_pairs` (x num_perm x 4 bytes)


def sign_pairs(
    items: Sequence[tuple[str, str | None]], num_perm: int
) -> list[tuple[Signature | None, Signature | None]]:
    """For each item (first, rest): the signatures of `first + "\\n" + rest` (of `first` when
    `rest` is None) and of `first` alone, each equal to `compute_signature`'s
    (`minhash_compiled` signs the same with a compiled loop).

    "\\n" separates words, so the words of the whole are those of `first` and then those of
    `rest`, and the shingles of `first` (more than 3 words) are the first ones of the whole:
    its signature is the minimum over a prefix of the same hashed rows (an example's text and
    its prompt are signed in one pass). The hashing of many items is done in a few numpy
    operations instead of a few per item."""
    out: list[tuple[Signature | None, Signature | None]] = [(None, None)] * len(items)
    a, b = _affine32_permutations(num_perm)
    block: list[tuple[int, int, int, int, int]] = []  # (item, start, prefix, end, k==n)
    shingled: list[list[bytes]] = []
    size = 0

    def flush() -> None:
        nonlocal size
        if not block:
            return
        hashes = np.fromiter(
            map(zlib.crc32, itertools.chain.from_iterable(shingled)), dtype=np.uint32, count=size
        )
        # Permutations by shingles (not shingles by permutations): each item's minimum is
        # then over a contiguous run of each row, several times faster to reduce.
        matrix = a[:, None] * _fmix32(hashes)[None, :]
        matrix += b[:, None]
        cuts: list[int] = []
        for _item, start, prefix, _end, _whole in block:
            cuts.append(start)
            if prefix:
                cuts.append(start + prefix)
        lows = np.ascontiguousarray(
            np.minimum.reduceat(matrix, np.array(cuts, dtype=np.intp), axis=1).T
        )
        at = 0
        for item, _start, prefix, _end, whole_prompt in block:
            if prefix:
                part, tail = lows[at], lows[at + 1]
                out[item] = (np.minimum(part, tail), part)
                at += 2
            else:
                low = lows[at]
                out[item] = (low, low if whole_prompt == 1 else None)
                at += 1
        block.clear()
        shingled.clear()
        size = 0

    fallback: list[int] = []
    for item, (first, rest) in enumerate(items):
        head = _words(first)
        words = head if rest is None else head + _words(rest)
        if not words:
            continue
        group = _shingle_bytes(words)
        k, n, m = len(head), len(words), len(group)
        prefix = k - (SHINGLE_WORDS - 1) if k >= SHINGLE_WORDS and n > SHINGLE_WORDS else 0
        if prefix >= m:  # the prompt is all of the text
            prefix = 0
        if k == 0:
            marker = 2  # no prompt words: no part
        elif prefix == 0 and k != n:
            marker = 3  # the prompt is one shingle of its own: signed on its own below
            fallback.append(item)
        else:
            marker = 1 if prefix == 0 else 0
        block.append((item, size, prefix, size + m, marker))
        shingled.append(group)
        size += m
        if size >= _PAIR_BLOCK:
            flush()
    flush()
    for item in fallback:
        out[item] = (out[item][0], compute_signature(items[item][0], num_perm))
    return out


# LSH band parameters (bands, rows per band) by (threshold, num_perm), as datasketch's
# MinHashLSH chooses them with `LSH_WEIGHTS` (numerical integration, about half a second,
# plus scipy's import). The defaults are known (a test checks them against datasketch).
_lsh_params: dict[tuple[float, int], tuple[int, int]] = {(0.9, 128): (9, 14)}


def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    params = _lsh_params.get((threshold, num_perm))
    if params is not None:
        return params
    from datasketch import MinHashLSH

    try:
        # Weighted towards recall: a missed pair is a duplicate or a leak not reported,
        # while an extra candidate only costs one signature comparison.
        lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=LSH_WEIGHTS)
        params = (int(lsh.b), int(lsh.r))
    except ValueError:
        # Thresholds near 1 make datasketch pick a single band, which it refuses. Two
        # bands still find every pair that similar (they share whole signatures), and
        # every candidate is checked against the threshold anyway.
        params = (2, num_perm // 2)
    _lsh_params[(threshold, num_perm)] = params
    return params


def jaccard(a: set[bytes], b: set[bytes]) -> float:
    """The exact Jaccard similarity of two shingle sets (0 when both are empty)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


@dataclass(frozen=True)
class Match:
    key: int
    similarity: float  # exact Jaccard of the two texts' shingles
