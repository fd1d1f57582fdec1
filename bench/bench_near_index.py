#!/usr/bin/env python3
"""Benchmark the compact near-duplicate index against the dict-based `NearIndex` it replaced
(tests/datasets/reference_near.py).

Makes N synthetic texts (random words; 2% near-duplicates of an earlier text, 1% exact
copies, a few without words), signs them once (`sign_texts`, not timed), then runs the
dedupe of `near_duplicates_in_order` (with --keep-all: its ratio counting) over the
signatures both ways:

- NearIndex: `nearest_signed` + `add_signed` per text, texts in a Python list;
- BandIndex: `band_hashes` + `query_insert_in_order` per chunk, texts in a `TextSpill`;

and the leakage shape (index 90%, query the other 10%): `build_index` + `nearest_signed`
against `insert` + `query`. Prints items/s (medians of --repeat alternating pairs, without
tracemalloc) and the bytes per item that the index holds once built and at its peak (a
second pass under tracemalloc, which numpy reports its arrays to), and checks that both
give the same answers.

Usage: bench/bench_near_index.py [--items 200000] [--chunk 2048] [--threshold 0.9]
       [--num-perm 128] [--keep-all] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ftctl.datasets.near_index import BandIndex, TextSpill, band_hashes
from ftctl.datasets.similarity import Match

# The dict-based index the compact one replaced lives with the tests, as their reference.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "datasets"))
from reference_near import NearIndex, band_index_in_chunks, dedupe_signed, sign_texts


def make_texts(n: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocabulary = [
        "".join(rng.choice(letters) for _ in range(rng.randint(2, 9))) for _ in range(20000)
    ]
    texts: list[str] = []
    for _ in range(n):
        roll = rng.random()
        if texts and roll < 0.02:
            words = rng.choice(texts).split()
            if words:
                words[rng.randrange(len(words))] = rng.choice(vocabulary)
            texts.append(" ".join(words))
        elif texts and roll < 0.03:
            texts.append(rng.choice(texts))
        elif roll < 0.031:
            texts.append("!!!")
        else:
            texts.append(" ".join(rng.choice(vocabulary) for _ in range(rng.randint(20, 80))))
    return texts


def measure(
    run: Callable[[], tuple[list[Match | None], object]],
) -> tuple[float, list[Match | None]]:
    gc.collect()
    started = time.perf_counter()
    result, _ = run()
    return time.perf_counter() - started, result


def memory(run: Callable[[], tuple[list[Match | None], object]]) -> tuple[int, int]:
    """(bytes still held by the index once built, answers freed; peak bytes during it)."""
    gc.collect()
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    result, index = run()
    del result
    gc.collect()
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del index
    return held - before, peak - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200000)
    parser.add_argument("--chunk", type=int, default=2048)
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--num-perm", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=3, help="alternating pairs timed")
    parser.add_argument("--keep-all", action="store_true", help="index every text (a ratio)")
    args = parser.parse_args()
    n, threshold, num_perm = args.items, args.threshold, args.num_perm

    started = time.perf_counter()
    texts = make_texts(n)
    _, signatures = sign_texts(texts, num_perm)
    print(f"{n} texts made and signed in {time.perf_counter() - started:.1f} s (not timed below)")

    with tempfile.TemporaryDirectory() as tmp:
        spill_dir = Path(tmp)

        def ours() -> tuple[list[Match | None], object]:
            spill = TextSpill(spill_dir)
            result, index = band_index_in_chunks(
                texts, signatures, threshold, num_perm, args.chunk, spill, keep_all=args.keep_all
            )
            return result, (index, spill)

        def theirs() -> tuple[list[Match | None], object]:
            return dedupe_signed(texts, signatures, threshold, num_perm, keep_all=args.keep_all)

        # Alternating pairs (A B A B ...), medians: other work on the machine hits both.
        times_theirs: list[float] = []
        times_ours: list[float] = []
        for _ in range(args.repeat):
            elapsed, expected = measure(theirs)
            times_theirs.append(elapsed)
            elapsed, got = measure(ours)
            times_ours.append(elapsed)
            assert got == expected, "BandIndex and NearIndex disagree"
        t_theirs, t_ours = statistics.median(times_theirs), statistics.median(times_ours)
        found = sum(m is not None for m in expected)
        held_theirs, peak_theirs = memory(theirs)
        held_ours, peak_ours = memory(ours)

        # Leakage shape: index 90%, query the rest.
        cut = n * 9 // 10
        old_texts = texts[:cut]

        def leak_theirs() -> list[Match | None]:
            index = NearIndex(threshold, num_perm, old_texts.__getitem__)
            for i, s in enumerate(signatures[:cut]):
                index.add_signed(i, s)
            return [
                index.nearest_signed(s, lambda j=j: texts[cut + j])  # type: ignore[misc]
                for j, s in enumerate(signatures[cut:])
            ]

        def leak_ours() -> list[Match | None]:
            with TextSpill(spill_dir) as spill:
                index = BandIndex(threshold, num_perm, spill.__getitem__)
                for start in range(0, cut, args.chunk):
                    end = min(cut, start + args.chunk)
                    spill.add_many(texts[start:end])
                    hashes, signed = band_hashes(signatures[start:end], num_perm, threshold)
                    index.insert(np.arange(start, end, dtype=np.int64), hashes, signed)
                hashes, signed = band_hashes(signatures[cut:], num_perm, threshold)
                return index.query(hashes, signed, lambda j: texts[cut + j])

        leak_times_theirs: list[float] = []
        leak_times_ours: list[float] = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            leaks_expected = leak_theirs()
            leak_times_theirs.append(time.perf_counter() - started)
            started = time.perf_counter()
            leaks_got = leak_ours()
            leak_times_ours.append(time.perf_counter() - started)
            assert leaks_got == leaks_expected, "leakage answers differ"
        t_leak_theirs = statistics.median(leak_times_theirs)
        t_leak_ours = statistics.median(leak_times_ours)

    bands = BandIndex(threshold, num_perm, str).bands
    print(
        f"threshold {threshold}, num_perm {num_perm} ({bands} bands), chunk {args.chunk}, "
        f"keep_all {args.keep_all}; items/s: medians of {args.repeat} alternating pairs"
    )
    print(f"dedupe: {found} near/exact duplicates found, same answers both ways")
    print()
    print("| dedupe of N texts | items/s | index bytes/item held | peak bytes/item |")
    print("|---|---|---|---|")
    print(
        f"| NearIndex (dicts, texts in memory) | {n / t_theirs:,.0f} | "
        f"{held_theirs / n:,.0f} | {peak_theirs / n:,.0f} |"
    )
    print(
        f"| BandIndex + TextSpill | {n / t_ours:,.0f} | {held_ours / n:,.0f} | "
        f"{peak_ours / n:,.0f} |"
    )
    print()
    print(
        f"leakage ({cut} indexed, {n - cut} queried): NearIndex {n / t_leak_theirs:,.0f} items/s, "
        f"BandIndex {n / t_leak_ours:,.0f} items/s, same answers"
    )


if __name__ == "__main__":
    main()
