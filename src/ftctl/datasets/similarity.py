"""Text of an example and near-duplicate search (MinHash + LSH).

Near-duplicates are pairs whose word 3-shingle sets have a Jaccard similarity of at least
the threshold: MinHash LSH proposes candidates, the exact Jaccard of the shingle sets
decides. The signatures are datasketch 2's `MinHash(seed=1, hashfunc=zlib.crc32,
scheme="affine32")` computed with numpy directly (the same values, tested against
datasketch; several times faster, no per-text object), and the LSH buckets are bands of
the signature as datasketch's `MinHashLSH` makes them, so the candidates are the same.
datasketch itself is imported only to choose the band count for an unusual
(threshold, numPerm): it pulls in scipy, about a second of start-up. Shared by the
`nearDedupe` transform, the near-duplicate policy check and leakage detection between splits.
"""

from __future__ import annotations

import hashlib
import os
import re
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, overload

import numpy as np
import numpy.typing as npt

from ftctl.datasets.example_cache import ExampleCache, content_key

if TYPE_CHECKING:
    from ftctl.datasets.signer import SignerPool

SHINGLE_WORDS = 3
LSH_WEIGHTS = (0.05, 0.95)  # (false positive, false negative) weights for the band choice
_WORD = re.compile(r"\w+", re.UNICODE)
# On ASCII text `\w` matches exactly [A-Za-z0-9_], as this bytes pattern does.
_ASCII_WORD = re.compile(rb"\w+")
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


def example_text(example: dict[str, Any]) -> str:
    """The text of an example compared for near-duplicates: the prompt and every answer."""
    parts = [prompt_text(example)]
    parts.extend(content_text(m.get("content")) for m in answers_of(example))
    return "\n".join(p for p in parts if p)


# --------------------------------------------------------------------------- MinHash


def _words(text: str) -> list[bytes]:
    """The lower-cased words of `text`, UTF-8 encoded (what shingles are made of)."""
    if text.isascii():
        # Lower-casing the whole text first is the same on ASCII, and finds bytes directly.
        return _ASCII_WORD.findall(text.lower().encode("ascii"))
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
    """datasketch 2's affine32 permutations for seed 1: (a odd, b), uint32 each."""
    found = _permutations.get(num_perm)
    if found is None:
        generator = np.random.RandomState(1)
        a = generator.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2)
        a += np.uint32(1)
        b = generator.randint(0, 1 << 32, num_perm, dtype=np.uint32)
        found = _permutations[num_perm] = (a, b)
    return found


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


def compute_pair(
    first: str, rest: str | None, num_perm: int
) -> tuple[Signature | None, Signature | None]:
    """The signatures of `first + "\\n" + rest` (of `first` when `rest` is None) and of `first`.

    "\\n" separates words, so the words of the whole are those of `first` and then those of
    `rest`, and the shingles of `first` (more than 3 words) are the first ones of the whole:
    its signature is the minimum over a prefix of the same hashed rows. An example's text and
    its prompt (the text's first part, see `example_text`) are signed from one pass.
    """
    head = _words(first)
    words = head if rest is None else head + _words(rest)
    if not words:
        return None, None
    hashes = np.array(list(map(zlib.crc32, _shingle_bytes(words))), dtype=np.uint32)
    mixed = _fmix32(hashes)
    a, b = _affine32_permutations(num_perm)
    k, n = len(head), len(words)
    prefix = k - (SHINGLE_WORDS - 1) if k >= SHINGLE_WORDS and n > SHINGLE_WORDS else 0
    whole: Signature | None = None
    part: Signature | None = None
    for start in range(0, mixed.size, _BLOCK):
        block = mixed[start : start + _BLOCK, None] * a + b
        low = block.min(axis=0)
        whole = low if whole is None else np.minimum(whole, low)
        if start < prefix:
            low = block[: prefix - start].min(axis=0)
            part = low if part is None else np.minimum(part, low)
    if k == 0:
        return whole, None
    if prefix == 0:  # `first` is one shingle of its own (or all of the text)
        part = whole if k == n else compute_signature(first, num_perm)
    return whole, part


_PAIR_BLOCK = 2048  # shingles per numpy block of `sign_pairs` (x num_perm x 4 bytes)


def sign_pairs(
    items: Sequence[tuple[str, str | None]], num_perm: int
) -> list[tuple[Signature | None, Signature | None]]:
    """`[compute_pair(first, rest, num_perm) for first, rest in items]`, the same values,
    with the hashing of many items done in a few numpy operations instead of a few per item."""
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
            map(zlib.crc32, (x for group in shingled for x in group)), dtype=np.uint32, count=size
        )
        matrix = _fmix32(hashes)[:, None] * a + b
        cuts: list[int] = []
        for _item, start, prefix, _end, _whole in block:
            cuts.append(start)
            if prefix:
                cuts.append(start + prefix)
        lows = np.minimum.reduceat(matrix, np.array(cuts, dtype=np.intp), axis=0)
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


# Signatures computed during one build, by (num_perm, digest of the text): the nearDedupe
# transform and the near-duplicate check hash the same texts; `reuse_signatures()` scopes
# the memo. Keyed by a 16-byte digest, not the text, so the memo does not keep every text
# alive; a value is the signature's bytes (num_perm * 4), or None for a text without words.
_memo: ContextVar[dict[tuple[int, bytes], bytes | None] | None] = ContextVar(
    "ftctl_minhash_memo", default=None
)
# Signatures kept between builds (`ftctl.datasets.example_cache`), when the build has one.
_store: ContextVar[ExampleCache | None] = ContextVar("ftctl_minhash_store", default=None)
# The digest of an example's text, by (id of the example, the function making the text).
_digests: ContextVar[
    dict[tuple[int, Callable[[dict[str, Any]], str]], tuple[Any, bytes]] | None
] = ContextVar("ftctl_text_digests", default=None)
SIGNATURE_VERSION = 1  # of `compute_signature`'s values: part of the stored keys
PREFETCH_CHUNK = 2048  # texts looked up and signed together
POOL_MIN_TEXTS = 4000  # fewer texts than this are signed in this process (no worker start)


@contextmanager
def reuse_signatures(store: ExampleCache | None = None) -> Iterator[None]:
    """Within this block, a text's MinHash is computed once (and, with a `store`, looked up
    there first and kept there for the next build)."""
    token = _memo.set({})
    store_token = _store.set(store)
    digests_token = _digests.set({})
    try:
        yield
    finally:
        _memo.reset(token)
        _store.reset(store_token)
        _digests.reset(digests_token)


def _text_digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def signature_of(text: str, num_perm: int) -> Signature | None:
    """`compute_signature`, memoized inside `reuse_signatures()`."""
    memo = _memo.get()
    if memo is None:
        return compute_signature(text, num_perm)
    key = (num_perm, _text_digest(text))
    if key in memo:
        raw = memo[key]
        return None if raw is None else np.frombuffer(raw, dtype=np.uint32)
    signature = compute_signature(text, num_perm)
    memo[key] = None if signature is None else signature.tobytes()
    return signature


Item = tuple[str, "str | None"]  # (first, rest): see `compute_pair`


def sign_many(items: Sequence[Item], num_perm: int) -> list[tuple[bytes | None, bytes | None]]:
    """`compute_pair` of each item, as bytes (None: no words); what a worker process runs."""
    out: list[tuple[bytes | None, bytes | None]] = []
    for first, rest in items:
        whole, part = compute_pair(first, rest, num_perm)
        out.append(
            (
                None if whole is None else whole.tobytes(),
                None if part is None else (whole.tobytes() if part is whole else part.tobytes()),
            )
        )
    return out


def prefetch_signatures(texts: Sequence[str], num_perm: int) -> None:
    """Put the signatures of `texts` into this build's memo before they are compared."""
    if _memo.get() is not None:
        sign_texts(texts, num_perm)


def sign_texts(texts: Sequence[str], num_perm: int) -> tuple[list[bytes], list[bytes | None]]:
    """The 16-byte digest and the MinHash signature (bytes; None: no words) of each text,
    each text made (read from `texts`) once.

    Each signature is taken from this build's memo, else from the store of earlier builds,
    else computed: on one worker process per core when there are many
    (`ftctl.datasets.signer`: the shingling is Python, which holds the GIL, so threads would
    not help), here otherwise. Texts are handled `PREFETCH_CHUNK` at a time, so that they
    are never all held.
    """
    memo = _memo.get()
    if memo is None:
        memo = {}  # outside a build: for this call only
    store = _store.get()
    digests: list[bytes] = []
    namespace = f"minhash/{SIGNATURE_VERSION}/{num_perm}"
    workers = max(1, os.cpu_count() or 1)
    pool: SignerPool | None = None
    use_pool = workers > 1 and len(texts) >= POOL_MIN_TEXTS

    def settle(
        keys: list[tuple[tuple[int, bytes], tuple[int, bytes] | None]],
        values: Sequence[tuple[bytes | None, bytes | None]],
    ) -> None:
        stored: list[tuple[bytes, bytes]] = []
        for (key, prompt_key), (value, prompt_value) in zip(keys, values, strict=True):
            memo[key] = value
            stored.append((content_key(namespace, key[1]), b"" if value is None else value))
            if prompt_key is not None and prompt_key not in memo:
                memo[prompt_key] = prompt_value
                stored.append(
                    (
                        content_key(namespace, prompt_key[1]),
                        b"" if prompt_value is None else prompt_value,
                    )
                )
        if store is not None:
            store.put_many("minhash", stored)

    def collect_one() -> None:
        assert pool is not None
        keys, values = pool.collect()
        settle(keys, values)

    def item(i: int) -> tuple[Item, tuple[int, bytes] | None]:
        """What to sign for text `i`, and the memo key of its prompt when signed with it."""
        if lazy is None or lazy.text_of is not example_text or known is None:
            return (texts[i], None), None
        example = lazy.examples[i]
        text, prompt = texts[i], prompt_text(example)
        if not prompt or not (text == prompt or text.startswith(prompt + "\n")):
            return (text, None), None
        ident = (id(example), prompt_text)
        prompt_digest = _text_digest(prompt)
        known[ident] = (example, prompt_digest)
        rest = text[len(prompt) + 1 :] if len(text) > len(prompt) else None
        return (prompt, rest), (num_perm, prompt_digest)

    # The texts of examples (`LazyTexts`) are known by the example: a text made once in a
    # build is not made again to find its digest (the memo holds the example, so that its
    # id is not reused; examples are never changed in place, transforms make new ones).
    lazy = texts if isinstance(texts, LazyTexts) else None
    known = _digests.get() if lazy is not None else None
    try:
        for start in range(0, len(texts), PREFETCH_CHUNK):
            wanted: dict[tuple[int, bytes], int] = {}
            for i in range(start, min(len(texts), start + PREFETCH_CHUNK)):
                if lazy is not None and known is not None:
                    example = lazy.examples[i]
                    ident = (id(example), lazy.text_of)
                    entry = known.get(ident)
                    if entry is not None and entry[0] is example:
                        digest = entry[1]
                    else:
                        digest = _text_digest(texts[i])
                        known[ident] = (example, digest)
                else:
                    digest = _text_digest(texts[i])
                digests.append(digest)
                key = (num_perm, digest)
                if key not in memo and key not in wanted:
                    wanted[key] = i
            if store is not None and wanted:
                stored_keys = {key: content_key(namespace, key[1]) for key in wanted}
                stored = store.get_many("minhash", list(stored_keys.values()))
                for key, stored_key in stored_keys.items():
                    raw = stored.get(stored_key)
                    if raw is not None:
                        memo[key] = raw or None
                        del wanted[key]
            if not wanted:
                continue
            if use_pool and pool is None:
                from ftctl.datasets.signer import SignerPool

                pool = SignerPool(workers)
            made = [item(i) for i in wanted.values()]
            batch = [m[0] for m in made]
            tags = [(key, m[1]) for key, m in zip(wanted, made, strict=True)]
            if pool is None:
                settle(tags, sign_many(batch, num_perm))
                continue
            if pool.full:
                collect_one()
            pool.submit(tags, batch, num_perm)
        while pool is not None and pool.pending():
            collect_one()
    finally:
        if pool is not None:
            pool.close()
    return digests, [memo[(num_perm, digest)] for digest in digests]


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


class NearIndex:
    """Texts inserted so far, queried for ones at least `threshold` similar.

    MinHash LSH finds the candidates (texts that share a whole band of the signature);
    each candidate is then checked with the exact Jaccard similarity of the shingle sets,
    so the decision has no estimation noise and a pair is near exactly when its similarity
    reaches the threshold (LSH may still, rarely, miss a pair close to the threshold; it is
    tuned towards recall, see `LSH_WEIGHTS`).
    """

    def __init__(
        self, threshold: float, num_perm: int, lookup: Callable[[int], str] | None = None
    ) -> None:
        """`lookup(key)`, when given, gives back the text added under `key`, so that the
        index need not hold every text (only candidates are looked up, to be verified)."""
        self.threshold = threshold
        self.num_perm = num_perm
        bands, rows = lsh_params(threshold, num_perm)
        self._bands = [(i * rows * 4, (i + 1) * rows * 4) for i in range(bands)]
        # A bucket holds one key (most do) or a list of them: a list per bucket would cost
        # about 650 bytes more per text (9 bands by default).
        self._tables: list[dict[bytes, int | list[int]]] = [{} for _ in range(bands)]
        self._lookup = lookup
        self._texts: dict[int, str] = {}
        self._keys: set[int] = set()

    def _text(self, key: int) -> str:
        return self._texts[key] if self._lookup is None else self._lookup(key)

    def _band_keys(self, raw: bytes) -> list[bytes]:
        return [raw[start:end] for start, end in self._bands]

    def add(self, key: int, text: str) -> None:
        signature = signature_of(text, self.num_perm)
        self.add_signed(key, None if signature is None else signature.tobytes())
        if signature is not None and self._lookup is None:
            self._texts[key] = text

    def add_signed(self, key: int, signature: bytes | None) -> None:
        """Index `key` by its text's signature (`sign_texts`); its text is `lookup(key)`."""
        if signature is None or key in self._keys:
            return
        for table, band in zip(self._tables, self._band_keys(signature), strict=True):
            bucket = table.get(band)
            if bucket is None:
                table[band] = key
            elif isinstance(bucket, int):
                table[band] = [bucket, key]
            else:
                bucket.append(key)
        self._keys.add(key)

    def nearest(self, text: str) -> Match | None:
        """The smallest key whose text is at least `threshold` similar, or None."""
        if not self._keys:
            return None
        signature = signature_of(text, self.num_perm)
        return self.nearest_signed(None if signature is None else signature.tobytes(), lambda: text)

    def nearest_signed(self, signature: bytes | None, text: Callable[[], str]) -> Match | None:
        """`nearest` for a text known by its signature; `text()` is made only to verify a
        candidate."""
        if not self._keys or signature is None:
            return None
        candidates: set[int] = set()
        for table, band in zip(self._tables, self._band_keys(signature), strict=True):
            bucket = table.get(band)
            if isinstance(bucket, int):
                candidates.add(bucket)
            elif bucket is not None:
                candidates.update(bucket)
        if not candidates:
            return None
        grams = shingles(text())
        for key in sorted(candidates):
            similarity = jaccard(grams, shingles(self._text(key)))
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
    _, signatures = sign_texts(texts, num_perm)  # each text made once; again for candidates
    index = NearIndex(threshold, num_perm, texts.__getitem__)
    result: list[Match | None] = []
    for i, signature in enumerate(signatures):
        match = index.nearest_signed(signature, lambda i=i: texts[i])  # type: ignore[misc]
        result.append(match)
        if match is None or keep_all:
            index.add_signed(i, signature)
    return result


def build_index(
    texts: Sequence[str], threshold: float, num_perm: int, signatures: Sequence[bytes | None]
) -> NearIndex:
    """An index of `texts` by their signatures (`sign_texts(texts, num_perm)[1]`)."""
    index = NearIndex(threshold, num_perm, texts.__getitem__)
    for i, signature in enumerate(signatures):
        index.add_signed(i, signature)
    return index


class LazyTexts(Sequence[str]):
    """The texts of some examples, made when asked for (by `text_of`), never all held."""

    def __init__(
        self, examples: Sequence[dict[str, Any]], text_of: Callable[[dict[str, Any]], str]
    ) -> None:
        self.examples = examples
        self.text_of = text_of

    def __len__(self) -> int:
        return len(self.examples)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        if isinstance(index, slice):
            return [self.text_of(e) for e in self.examples[index]]
        return self.text_of(self.examples[index])
