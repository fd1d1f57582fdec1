#!/usr/bin/env python3
"""Where one `ftctl data build` spends its main thread's time, and what it holds per row.

Runs the build in this process (workers as usual) with some functions of the build wrapped
to add up their wall time, then prints those sums and the sizes of the per-row structures
at the end of the pass (the split columns, `dedupe`'s dict, `nearDedupe`'s index, the row
table) and the process's peak RSS after the pass and at the end. A profiling aid, not a
benchmark: run `bench_build.py` for figures to compare.

Usage: bench/build_phases.py WORKSPACE PROJECT
(e.g. a workspace that bench_build.py would write; edit a line between two runs to see a
rebuild, or remove WORKSPACE/.ftctl/cache for a cold build)
"""

from __future__ import annotations

import contextlib
import functools
import io
import resource
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

START = time.perf_counter()

import ftctl.datasets.build as build  # noqa: E402
import ftctl.datasets.near_index as near_index  # noqa: E402
import ftctl.datasets.row_pool as row_pool  # noqa: E402
import ftctl.datasets.stream as stream  # noqa: E402

labels: list[str] = []  # in the order they are printed
spent: dict[str, float] = defaultdict(float)
calls: dict[str, int] = defaultdict(int)
chains: list[Any] = []
passes: list[Any] = []
after_pass: list[float] = []  # peak RSS in MB when the pass ended


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3  # KB on Linux


def timed(owner: Any, name: str, label: str) -> None:
    original: Callable[..., Any] = getattr(owner, name)
    labels.append(label)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[label] += time.perf_counter() - began
            calls[label] += 1

    setattr(owner, name, wrapper)


def watch_structures() -> None:
    chain_run = stream._Chain.run
    build_run = stream.StreamBuild.run

    def run_chain(self: Any, rows: Any, results: Any) -> Any:
        if not any(c is self for c in chains):
            chains.append(self)
        return chain_run(self, rows, results)

    def run_build(self: Any) -> Any:
        out = build_run(self)
        after_pass.append(_peak_mb())
        passes.append(out)
        return out

    stream._Chain.run = run_chain  # type: ignore[method-assign]
    stream.StreamBuild.run = run_build  # type: ignore[method-assign]


def report_structures() -> None:
    for chain in chains:
        for i, seen in enumerate(chain.seen):
            if len(seen):
                print(f"  {chain.split} step {i} dedupe digests: {seen.nbytes / 1e6:.1f} MB")
        for i, index in enumerate(chain.near):
            if index is not None:
                print(f"  {chain.split} step {i} nearDedupe index: {index.nbytes / 1e6:.1f} MB")
    if not passes:
        return
    streamed = passes[0]
    table = streamed.table
    arrays = (table._file, table._line, table._offset, table._plan)
    print(f"  row table: {sum(len(a) * a.itemsize for a in arrays) / 1e6:.1f} MB")
    for name, columns in streamed.columns.items():
        size = sum(
            len(getattr(columns, f)) * getattr(columns, f).itemsize
            for f in (
                "row",
                "copies",
                "total",
                "trained",
                "refusal",
                "system",
                "prompt_present",
                "prompt_signed",
                "text_signed",
            )
        )
        for f in ("digests", "prompts", "diversity", "prompt_bands", "text_bands"):
            store = getattr(columns, f)
            size += 0 if store is None else len(store.data)
        rows = max(1, len(columns))
        print(f"  columns of {name}: {size / 1e6:.1f} MB ({size / rows:.0f} B a row)")


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    workspace, project = sys.argv[1:]
    timed(build, "_source_digests", "hashing the sources")
    timed(stream.StreamBuild, "run", "the pass")
    timed(stream, "split_lines", "  finding lines")
    timed(row_pool.ProcessPool, "collect", "  waiting for and unpickling answers")
    timed(stream.StreamBuild, "_process", "  deciding in order and writing")
    timed(
        near_index.BandIndex,
        "query_insert_in_order",
        "    BandIndex (nearDedupe; the last call: the near-duplicate check)",
    )
    timed(stream.StreamBuild, "_append", "    appending to the splits")
    timed(build, "_check", "the whole-set checks")
    timed(build, "_finish", "recording the result")
    watch_structures()
    from ftctl.cli.main import main as cli

    sys.argv = ["ftctl", "--workspace", workspace, "--json", "data", "build", project]
    before = time.perf_counter()
    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):
        cli()  # its JSON result is not what this shows
    total = time.perf_counter() - START
    print(f"{total:.3f} s in all; {before - START:.3f} s of imports before the CLI ran")
    for label in labels:
        print(f"{spent[label]:7.3f} s {calls[label]:6d} calls  {label}")
    print("per-row structures at the end of the pass:")
    report_structures()
    for peak in after_pass:
        print(f"peak RSS after the pass: {peak:.0f} MB")
    print(f"peak RSS at the end: {_peak_mb():.0f} MB")


if __name__ == "__main__":
    main()
