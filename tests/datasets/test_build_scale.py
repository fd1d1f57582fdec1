"""The fast paths of `ftctl data build` give what the plain, one-at-a-time ones give.

Token counts are batched on threads, MinHash signatures are computed with numpy instead of
datasketch objects, LSH buckets are ftctl's own, and the canonical bytes are streamed to
the cache: none of that may change a byte, a count or a near-duplicate decision.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from datasketch import MinHash, MinHashLSH

from ftctl.datasets import minhash_compiled, similarity
from ftctl.datasets.build import build_project
from ftctl.datasets.canonical import canonical_json, canonical_line
from ftctl.datasets.counting import count_example
from ftctl.datasets.near_index import BandIndex, band_hashes
from ftctl.datasets.tokenizers import get_encoding
from ftctl.errors import DataError

from . import build_helpers as h

# Texts that stress word splitting and lower-casing: Greek final sigma, dotted capital I
# (lower-cases to two code points), ligatures, combining marks, CJK, digits, underscores.
TRICKY = [
    "ΟΔΟΣ ΣΟΦΟΣ Σ ΑΣ ΣΑΣ'Σ Σ.Σ",
    "İstanbul İİ straße ǅemal ﬁne ŉ ẞ Ω K Å",
    "x\u0307y a\u00adb c\u200dd Ⅻ ⅻ ① ²³ snake_case 2024-07-18",
    "Hello, wörld! 東京 タワー café naïve",
    "",
    "!!! ???",
    "one",
    "one two three",
    "One two three FOUR",
    "a lone \ud800 surrogate (valid in JSON) between words",
]


def _reference_shingles(text: str) -> set[bytes]:
    """The documented definition: lower-cased `\\w+` words, 3 at a time, UTF-8."""
    words = [w.lower() for w in re.findall(r"\w+", text)]
    if not words:
        return set()
    if len(words) <= 3:
        return {" ".join(words).encode("utf-8")}
    return {" ".join(words[i : i + 3]).encode("utf-8") for i in range(len(words) - 2)}


def _texts() -> list[str]:
    rng = random.Random(5)
    alphabet = "aAΣσςΟİıSsẞßʰ \u0307\u0300'-.\u00ad\u00a0\ud800東Ⅻ①_9Z\t,éÜ\u212a\u03c2"
    random_texts = [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(300)
    ]
    # Without a capital sigma most texts take the byte-table path (each other character
    # made itself, its lower case or a space), not the regex.
    no_sigma = alphabet.replace("Σ", "").replace("İ", "")
    random_texts += [
        "".join(rng.choice(no_sigma) for _ in range(rng.randint(0, 40))) for _ in range(300)
    ]
    prose = [h.sentence(seed, words=rng.randint(1, 60)) for seed in range(200)]
    return TRICKY + random_texts + prose


def test_shingles_follow_the_documented_word_rules() -> None:
    for text in _texts():
        assert similarity.shingles(text) == _reference_shingles(text), text


@pytest.mark.parametrize("num_perm", [16, 128])
def test_signatures_equal_datasketch_minhash(num_perm: int) -> None:
    for text in _texts():
        grams = _reference_shingles(text)
        ours = similarity.compute_signature(text, num_perm)
        if not grams:
            assert ours is None
            continue
        theirs = MinHash(num_perm=num_perm, seed=1, hashfunc=zlib.crc32, scheme="affine32")
        theirs.update_batch(list(grams))
        assert ours is not None
        assert ours.dtype == theirs.hashvalues.dtype
        assert np.array_equal(ours, theirs.hashvalues), text


@pytest.mark.parametrize("num_perm", [1, 16, 128, 311, 700])
def test_permutations_are_datasketchs_numbers_drawn_by_numpy(num_perm: int) -> None:
    # datasketch draws (a, b) from np.random.RandomState(1); ftctl draws the same numbers
    # with Python's Mersenne Twister. 311 and 700 make the 624-word state turn over
    # between `a` and `b` and more than once.
    similarity._permutations.pop(num_perm, None)
    a, b = similarity._affine32_permutations(num_perm)
    generator = np.random.RandomState(1)
    expected_a = generator.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2)
    expected_a += np.uint32(1)
    expected_b = generator.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    assert a.dtype == b.dtype == np.uint32
    assert np.array_equal(a, expected_a)
    assert np.array_equal(b, expected_b)


@pytest.mark.parametrize("num_perm", [16, 128])
def test_the_compiled_loop_signs_as_datasketch_does(num_perm: int) -> None:
    assert minhash_compiled.load(), "numba could not load the compiled MinHash loop"
    texts = [*_texts(), " ".join(h.sentence(seed, words=40) for seed in range(60))]
    # What the workers call: by the loop, once it is loaded.
    signed = minhash_compiled.sign_many([(text, None) for text in texts], num_perm)
    for text, (whole, alone) in zip(texts, signed, strict=True):
        grams = _reference_shingles(text)
        if not grams:
            assert whole is None and alone is None, text
            continue
        theirs = MinHash(num_perm=num_perm, seed=1, hashfunc=zlib.crc32, scheme="affine32")
        theirs.update_batch(list(grams))
        assert whole is not None and alone is not None
        assert np.array_equal(whole, theirs.hashvalues), text
        assert np.array_equal(alone, theirs.hashvalues), text


def test_a_process_that_signs_many_texts_moves_to_the_compiled_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(minhash_compiled, "_kernel", None)
    monkeypatch.setattr(minhash_compiled, "_signed_texts", 0)
    monkeypatch.setattr(minhash_compiled, "COMPILED_AFTER", 250)
    texts = [h.sentence(seed, words=3 + seed % 30) for seed in range(200)]
    expected = [similarity.compute_signature(text, 128) for text in texts]
    for round_no in range(2):  # 200 texts with numpy, then 200 more with the compiled loop
        signed = minhash_compiled.sign_many([(text, None) for text in texts], 128)
        assert all(_equal(whole, e) for (whole, _), e in zip(signed, expected, strict=True))
        if round_no == 0:
            assert minhash_compiled._kernel is None, "loaded before COMPILED_AFTER texts"
    assert minhash_compiled._kernel, "not loaded after COMPILED_AFTER texts"


def test_the_compiled_loop_is_compiled_only_where_it_may_be(tmp_path: Path) -> None:
    """Loading without compiling finds nothing in an empty cache (and compiles nothing);
    a load that may compile fills the cache, from which the next process loads it."""
    script = """
import sys
from ftctl.datasets import minhash_compiled as m
if sys.argv[1] == "cached-only":
    assert m.load(compile_it=False) is False and m._uncompiled
    from ftctl.datasets import minhash_kernel as k
    assert not k.sign_items.overloads  # nothing compiled
    assert m.sign_many([("a b c d", None)] * 3, 16)[0][0] is not None  # numpy
    assert m.load() and k.sign_items.stats.cache_misses  # compiled now
else:
    from ftctl.datasets import minhash_kernel as k
    assert m.load(compile_it=False) and k.sign_items.stats.cache_hits
"""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    for step in ("cached-only", "from the cache"):
        done = subprocess.run(
            [sys.executable, "-c", script, step], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/smaps")
def test_loading_the_compiled_loop_leaves_little_of_llvm_resident() -> None:
    """numba maps LLVM's ~180 MB library and loading leaves ~80 MB of its code resident;
    those pages are let go (a worker's memory, the issue's 250 MB), and the loop still runs."""
    script = """
import re
from ftctl.datasets import minhash_compiled as m
assert m.load()
resident = 0
library = False
for line in open("/proc/self/smaps"):
    if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
        library = line.rstrip().endswith(m._LIBRARY)
    elif library and line.startswith("Rss:"):
        resident += int(line.split()[1])
assert resident > 0, "the library is not mapped: named otherwise?"
print(resident)
assert m.sign_many([("one two three four", None)], 16)[0][0] is not None
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) < 40_000, f"{done.stdout.strip()} KB of LLVM resident"


def _equal(a: Any, b: Any) -> bool:
    return a is not None and b is not None and np.array_equal(a, b)


def test_a_long_text_is_signed_in_blocks_with_the_same_result() -> None:
    text = " ".join(h.sentence(seed, words=40) for seed in range(400))  # > 4096 shingles
    grams = _reference_shingles(text)
    theirs = MinHash(num_perm=64, seed=1, hashfunc=zlib.crc32, scheme="affine32")
    theirs.update_batch(list(grams))
    ours = similarity.compute_signature(text, 64)
    assert ours is not None and np.array_equal(ours, theirs.hashvalues)


def test_the_known_lsh_bands_are_the_ones_datasketch_chooses() -> None:
    for (threshold, num_perm), params in list(similarity._lsh_params.items()):
        lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=similarity.LSH_WEIGHTS)
        assert (lsh.b, lsh.r) == params


def test_near_duplicate_candidates_are_the_ones_datasketch_lsh_finds() -> None:
    # Short texts over a tiny vocabulary collide in LSH bands often: many candidates.
    rng = random.Random(11)
    words = ["refund", "order", "parcel", "late", "card"]
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(3, 9))) for _ in range(400)]
    lsh = MinHashLSH(threshold=0.5, num_perm=64, weights=similarity.LSH_WEIGHTS)
    index = BandIndex(0.5, 64, texts.__getitem__)
    for key, text in enumerate(texts):
        grams = _reference_shingles(text)
        minhash = MinHash(num_perm=64, seed=1, hashfunc=zlib.crc32, scheme="affine32")
        minhash.update_batch(list(grams))
        expected = None
        for candidate in sorted(lsh.query(minhash)):
            score = similarity.jaccard(grams, _reference_shingles(texts[candidate]))
            if score >= 0.5:
                expected = similarity.Match(candidate, score)
                break
        signature = similarity.compute_signature(text, 64)
        hashes, signed = band_hashes([None if signature is None else signature.tobytes()], 64, 0.5)
        assert index.query(hashes, signed, lambda _j, text=text: text) == [expected]  # type: ignore[misc]
        lsh.insert(key, minhash)
        index.insert(np.array([key]), hashes, signed)


DATA = """
train:
  sources:
    - path: data/train.jsonl
      weight: 2
    - path: data/extra.jsonl
      weight: 0.5
  transforms:
    - systemPrompt: {text: "You are Acme support.", mode: ensure}
    - dedupe: {}
    - nearDedupe: {threshold: 0.8}
    - maxTokens: {limit: 60, action: truncate}
validation: {split: {fraction: 0.25, seed: 3}}
test:
  sources: [{path: data/test.jsonl}]
"""


def _rows() -> dict[str, list[Any]]:
    train: list[Any] = h.examples(0, 60, system=None) + h.examples(0, 5, system=None)
    train.append(h.chat("Straße ΟΔΟΣ 東京 " + h.sentence(7), "Ja, ΣΟΦΟΣ. " + h.sentence(8)))
    long_answer = " ".join(h.sentence(seed) for seed in range(900, 910)) + "."
    train.append(h.chat("A long one?", long_answer))
    near = h.example(3)
    near["messages"][-1]["content"] += " Thanks"  # a near-duplicate of example 3
    train.append(near)
    return {
        "data/train.jsonl": train,
        "data/extra.jsonl": h.examples(200, 40),
        "data/test.jsonl": [*h.examples(500, 12), h.example(10)],
    }


def test_batched_counts_and_streamed_bytes_equal_one_at_a_time(tmp_path: Path) -> None:
    h.write_workspace(
        tmp_path, h.project_yaml(DATA, policy="minExamples: 10\nleakage: warn"), _rows()
    )
    project, workspace = h.load(tmp_path)
    built = build_project(project, workspace)
    encoding = get_encoding("o200k_base")
    assert set(built.splits) == {"train", "validation", "test"}
    for split in built.splits.values():
        data = split.path.read_bytes()
        rows = [json.loads(line) for line in data.decode("utf-8").splitlines()]
        # The bytes are the canonical line of each row, and the file is what the sha names.
        assert hashlib.sha256(data).hexdigest() == split.sha256
        assert data == b"".join(canonical_line(row) for row in rows)
        assert split.examples == len(rows)
        counts = [count_example(row, "chat", encoding) for row in rows]
        assert split.tokens == sum(c.total for c in counts)
        assert split.trained_tokens == sum(c.trained for c in counts)
        origins = split.path.with_name(f"{split.sha256}.origins.jsonl").read_text("utf-8")
        assert len(origins.splitlines()) == len(rows)
        for line in origins.splitlines():
            file, number = json.loads(line)
            assert canonical_json([file, number]) == line
    train = built.report["splits"]["train"]
    names = [t["name"] for t in train["transforms"]]
    assert names == ["systemPrompt", "dedupe", "nearDedupe", "maxTokens"]
    assert {t["name"]: t["dropped"] for t in train["transforms"]}["dedupe"] == 5
    assert {t["name"]: t["dropped"] for t in train["transforms"]}["nearDedupe"] == 1
    assert {t["name"]: t["changed"] for t in train["transforms"]}["maxTokens"] >= 1
    assert train["weights"]["rows_after"] > train["weights"]["rows_before"]  # weight 2 repeats
    assert built.report["leakage"]["count"] >= 1  # test's copy of example 10


def test_a_failing_build_leaves_no_staged_file(tmp_path: Path) -> None:
    h.write_workspace(
        tmp_path,
        h.project_yaml(DATA, policy="minExamples: {value: 100000, level: error}"),
        _rows(),
    )
    project, workspace = h.load(tmp_path)
    with pytest.raises(DataError):
        build_project(project, workspace)
    objects = tmp_path / ".ftctl" / "cache" / "datasets" / "objects"
    assert not objects.exists() or list(objects.iterdir()) == []


def test_leakage_is_not_searched_when_its_check_is_off(tmp_path: Path) -> None:
    policy = "minExamples: 10\nleakage: off"
    h.write_workspace(tmp_path, h.project_yaml(DATA, policy=policy), _rows())
    project, workspace = h.load(tmp_path)
    built = build_project(project, workspace)
    assert built.report["leakage"] == {"checked": False, "count": 0, "examples": []}
    assert not any(d.field == "policy.leakage" for d in built.diagnostics)
