"""Text of an example and near-duplicate search (MinHash + LSH, datasketch).

Near-duplicates are pairs whose word 3-shingle sets have an estimated Jaccard similarity
of at least the threshold. MinHash uses datasketch's fixed seed and SHA-1 based hashing,
so results are the same on every machine. datasketch is imported on first use: it pulls in
scipy, about a second of start-up that commands which never compare texts should not pay. Shared by the `nearDedupe` transform, the
near-duplicate policy check and leakage detection between splits.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datasketch import MinHash

SHINGLE_WORDS = 3
LSH_WEIGHTS = (0.05, 0.95)  # (false positive, false negative) weights for the band choice
_WORD = re.compile(r"\w+", re.UNICODE)


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


def example_text(example: dict[str, Any]) -> str:
    """The text of an example compared for near-duplicates: the prompt and every answer."""
    parts = [prompt_text(example)]
    parts.extend(content_text(m.get("content")) for m in answers_of(example))
    return "\n".join(p for p in parts if p)


# --------------------------------------------------------------------------- MinHash


def shingles(text: str) -> set[bytes]:
    """Lower-cased word 3-shingles; a text of fewer words is one shingle."""
    words = [w.lower() for w in _WORD.findall(text)]
    if not words:
        return set()
    if len(words) <= SHINGLE_WORDS:
        return {" ".join(words).encode("utf-8")}
    return {
        " ".join(words[i : i + SHINGLE_WORDS]).encode("utf-8")
        for i in range(len(words) - SHINGLE_WORDS + 1)
    }


# Signatures computed during one build, by (num_perm, text): the nearDedupe transform and
# the near-duplicate check hash the same texts; `reuse_signatures()` scopes the memo.
_memo: ContextVar[dict[tuple[int, str], MinHash | None] | None] = ContextVar(
    "ftctl_minhash_memo", default=None
)
_permutations: dict[int, Any] = {}


@contextmanager
def reuse_signatures() -> Iterator[None]:
    """Within this block, a text's MinHash is computed once."""
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)


def _new_minhash(num_perm: int) -> MinHash:
    """An empty MinHash: datasketch 2's affine32 scheme, seed 1, CRC-32 of each shingle.

    CRC-32 instead of datasketch's default SHA-1 (4x faster; datasketch mixes every input
    hash with the murmur3 finalizer before permuting it). The permutations are made once
    per `num_perm` and shared, not regenerated for every text.
    """
    from datasketch import MinHash

    shared = _permutations.get(num_perm)
    signature = MinHash(
        num_perm=num_perm,
        seed=1,
        hashfunc=zlib.crc32,
        scheme="affine32",
        permutations=shared,
    )
    if shared is None:
        _permutations[num_perm] = signature.permutations
    return signature


def minhash(text: str, num_perm: int) -> MinHash | None:
    """The MinHash of a text, or None for a text without words (never near anything)."""
    memo = _memo.get()
    if memo is not None and (num_perm, text) in memo:
        return memo[(num_perm, text)]
    grams = shingles(text)
    signature = None
    if grams:
        signature = _new_minhash(num_perm)
        signature.update_batch(list(grams))  # any order: a signature is a minimum
    if memo is not None:
        memo[(num_perm, text)] = signature
    return signature


# LSH band parameters by (threshold, num_perm): datasketch finds them by numerical
# integration, about half a second each time; they depend on nothing else.
_lsh_params: dict[tuple[float, int], tuple[int, int]] = {}


def _new_lsh(threshold: float, num_perm: int) -> Any:
    from datasketch import MinHashLSH

    params = _lsh_params.get((threshold, num_perm))
    if params is not None:
        return MinHashLSH(num_perm=num_perm, params=params)
    try:
        # Weighted towards recall: a missed pair is a duplicate or a leak not reported,
        # while an extra candidate only costs one signature comparison.
        lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=LSH_WEIGHTS)
    except ValueError:
        # Thresholds near 1 make datasketch pick a single band, which it refuses. Two
        # bands still find every pair that similar (they share whole signatures), and
        # every candidate is checked against the threshold anyway.
        lsh = MinHashLSH(num_perm=num_perm, params=(2, num_perm // 2))
    _lsh_params[(threshold, num_perm)] = (int(lsh.b), int(lsh.r))
    return lsh


def jaccard(a: set[bytes], b: set[bytes]) -> float:
    """The exact Jaccard similarity of two shingle sets (0 when both are empty)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


@dataclass(frozen=True)
class Match:
    key: int
    similarity: float  # exact Jaccard of the two texts' shingles


class NearIndex:
    """Texts inserted so far, queried for ones at least `threshold` similar.

    MinHash LSH finds the candidates; each candidate is then checked with the exact Jaccard
    similarity of the shingle sets, so the decision has no estimation noise and a pair is
    near exactly when its similarity reaches the threshold (LSH may still, rarely, miss a
    pair close to the threshold; it is tuned towards recall, see `LSH_WEIGHTS`).
    """

    def __init__(self, threshold: float, num_perm: int) -> None:
        self.threshold = threshold
        self.num_perm = num_perm
        self._lsh = _new_lsh(threshold, num_perm)
        self._texts: dict[int, str] = {}

    def add(self, key: int, text: str) -> None:
        signature = minhash(text, self.num_perm)
        if signature is None or key in self._texts:
            return
        self._lsh.insert(key, signature)
        self._texts[key] = text

    def nearest(self, text: str) -> Match | None:
        """The smallest key whose text is at least `threshold` similar, or None."""
        signature = minhash(text, self.num_perm)
        if signature is None or not self._texts:
            return None
        grams = shingles(text)
        for key in sorted(self._lsh.query(signature)):
            similarity = jaccard(grams, shingles(self._texts[key]))
            if similarity >= self.threshold:
                return Match(int(key), similarity)
        return None


def near_duplicates_in_order(
    texts: Sequence[str], threshold: float, num_perm: int, *, keep_all: bool
) -> list[Match | None]:
    """For each text, an earlier near-duplicate of it (its index), or None.

    With `keep_all=False` a text found to be a near-duplicate is not itself indexed (what a
    dedupe does: later texts are compared with the kept ones only); with `keep_all=True`
    every text is indexed (what a ratio counts).
    """
    index = NearIndex(threshold, num_perm)
    result: list[Match | None] = []
    for i, text in enumerate(texts):
        match = index.nearest(text)
        result.append(match)
        if match is None or keep_all:
            index.add(i, text)
    return result


def build_index(texts: Iterable[str], threshold: float, num_perm: int) -> NearIndex:
    index = NearIndex(threshold, num_perm)
    for i, text in enumerate(texts):
        index.add(i, text)
    return index
