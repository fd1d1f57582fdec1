"""A build's main process finds a chunk's lines with numpy (`line_block.split_lines`); they
must be the lines the JSONL rules give (blank lines skipped, terminators stripped), with the
same numbers and offsets, also when a file is read in many small chunks."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import random
from pathlib import Path
from typing import Any

import git
import numpy as np
import pytest

from ftctl.datasets import build, stream
from ftctl.datasets.jsonl import iter_line_chunks
from ftctl.datasets.line_block import split_lines
from ftctl.datasets.stats_procs import read_chunk

from . import build_helpers as h


def _reference(data: bytes, first_line: int, offset: int) -> list[tuple[int, int, bytes]]:
    """The rule as the build applied it before: `readlines` (lines end at \\n only), each
    line stripped of its terminator, blank ones skipped."""
    out = []
    for number, raw in enumerate(io.BytesIO(data).readlines(), first_line):
        stripped = raw.rstrip(b"\r\n")
        if stripped.strip():
            out.append((number, offset, stripped))
        offset += len(raw)
    return out


@pytest.mark.parametrize("seed", range(200))
def test_lines_found_with_numpy_are_the_jsonl_rules_lines(seed: int) -> None:
    rng = random.Random(seed)
    alphabet = [b"a", b"{", b'"', b" ", b"\t", b"\r", b"\n", b"\n", b"\x0b", b"\x0c", "é".encode()]
    data = b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120)))
    block, numbers, offsets, total = split_lines(data, 7, 1000)
    found = list(zip(numbers, offsets, block.lines(), strict=True))
    assert found == _reference(data, 7, 1000)
    assert total == len(io.BytesIO(data).readlines())
    # What a rebuild keys its rows by, without copying them; a row it sends on, copied.
    starts, ends = block.bounds()
    assert [block.data[s:e] for s, e in zip(starts, ends, strict=True)] == block.lines()
    assert [block.line(i) for i in range(len(block))] == block.lines()
    # What a worker receives: a part, pickled, cut into the same lines.
    for first in range(0, len(block), 3):
        part = pickle.loads(pickle.dumps(block.part(first, first + 3)))
        assert part.lines() == block.lines()[first : first + 3]


@pytest.mark.parametrize("seed", range(30))
def test_long_lines_found_with_bytes_find_are_the_jsonl_rules_lines(seed: int) -> None:
    """Lines of training examples (KBs) are found with `bytes.find`, short ones with numpy
    (`_line_ends` chooses by the first 64 KB): the same lines either way."""
    from ftctl.datasets import line_block

    rng = random.Random(seed)
    pieces = []
    for _ in range(rng.randint(1, 60)):
        kind = rng.random()
        if kind < 0.1:
            pieces.append(rng.choice([b"\n", b"  \t\n", b"\r\n", b"\x0b\n"]))  # blank lines
        else:
            body = bytes(rng.choice(b'{}"a b\t\r') for _ in range(rng.randint(600, 3000)))
            pieces.append(body + rng.choice([b"\n", b"\r\n"]))
    data = b"".join(pieces)
    if rng.random() < 0.5:
        data = data.rstrip(b"\n")  # the last line without its terminator
    if not data:
        return
    block, numbers, offsets, total = split_lines(data, 3, 50)
    assert list(zip(numbers, offsets, block.lines(), strict=True)) == _reference(data, 3, 50)
    assert total == len(io.BytesIO(data).readlines())
    # Both ways of finding the line ends agree, on long lines and on short ones.
    for sample in (data, data.replace(b"a", b"\n")):
        for size in (len(sample), len(sample) * 2 // 3):  # a chunk is `data[:size]`
            raw = np.frombuffer(sample, dtype=np.uint8, count=size)
            expected = np.flatnonzero(raw == 10).tolist()
            assert line_block._line_ends(sample, raw, size).tolist() == expected


@pytest.mark.parametrize("seed", range(40))
def test_every_reader_of_jsonl_files_finds_the_same_lines(seed: int, tmp_path: Path) -> None:
    """`data stats` (in process, and its workers' chunks) and `read_jsonl` read with the
    build's rule, however the file is cut into chunks."""
    rng = random.Random(seed)
    alphabet = [b"a", b"{", b" ", b"\t", b"\r", b"\n", b"\n", b"\x0b", b"\x0c", "é".encode()]
    data = b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 400)))
    path = tmp_path / "rows.jsonl"
    path.write_bytes(data)
    expected = [(number, line) for number, _offset, line in _reference(data, 1, 0)]
    chunk_bytes = rng.randint(1, 50)

    hashed = hashlib.sha256()
    chunks = list(iter_line_chunks(path, chunk_bytes=chunk_bytes, hasher=hashed))
    assert [line for chunk in chunks for line in chunk.lines] == expected
    assert hashed.digest() == hashlib.sha256(data).digest()
    assert [c.bytes_read for c in chunks][-1:] == ([len(data)] if data else [])

    # A stats worker reads chunk k from where chunk k-1 ended; lines numbered per chunk.
    found: list[tuple[int, bytes]] = []
    first_line, k, end = 1, 0, 0
    with path.open("rb") as handle:
        while end < len(data):
            lines, count, end = read_chunk(handle, k, chunk_bytes, len(data))
            found += [(first_line + number - 1, line) for number, line in lines]
            first_line, k = first_line + count, k + 1
    assert found == expected


def _messy_file(count: int) -> tuple[list[dict[str, Any]], bytes]:
    """`count` chat rows, and a file of them with every kind of line ending, blank and
    whitespace-only lines between rows, and no newline at the end."""
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Question {i}?"},
                {"role": "assistant", "content": f"Answer {i}."},
            ]
        }
        for i in range(count)
    ]
    enders = [b"\n", b"\r\n", b"\n\n", b"\n  \t \n", b"\r\r\n", b"\n\x0c\n"]
    texts = [json.dumps(r).encode() for r in rows]
    data = b"".join(t + enders[i % len(enders)] for i, t in enumerate(texts[:-1])) + texts[-1]
    return rows, data


@pytest.mark.parametrize("workers", [False, True], ids=["in-process", "worker-processes"])
def test_crlf_blank_lines_and_small_chunks_give_the_lines_and_origins_of_a_plain_file(
    tmp_path: Path, workers: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows, data = _messy_file(40)
    expected_lines = [n for n, _o, _l in _reference(data, 1, 0)]

    plain = tmp_path / "plain"
    h.write_workspace(
        plain,
        h.project_yaml("train:\n  sources: [{path: data/train.jsonl}]\n"),
        {"data/train.jsonl": rows},
    )
    messy = tmp_path / "messy"
    project = h.write_workspace(
        messy, h.project_yaml("train:\n  sources: [{path: data/train.jsonl}]\n"), {}
    )
    (project / "data").mkdir()
    (project / "data" / "train.jsonl").write_bytes(data)

    monkeypatch.setattr(stream, "CHUNK_BYTES", 150)  # lines cut across many reads
    monkeypatch.setattr(stream, "BATCH_ROWS", 4)
    if workers:
        monkeypatch.setattr(build, "POOL_MIN_BYTES", 0)
        monkeypatch.setenv("FTCTL_DATA_WORKERS", "2")
    built_plain = build.build_project(*h.load(plain))
    built_messy = build.build_project(*h.load(messy))
    assert built_messy.splits["train"].sha256 == built_plain.splits["train"].sha256
    origins = h.built_origins(built_messy)
    assert origins == [f"projects/demo/data/train.jsonl:{n}" for n in expected_lines]


def test_a_messy_file_from_a_git_revision_gives_the_lines_of_the_file(tmp_path: Path) -> None:
    rows, data = _messy_file(12)
    source = 'train:\n  sources: [{git: {rev: "v1", path: data/train.jsonl}}]\n'
    project = h.write_workspace(tmp_path, h.project_yaml(source), {})
    (project / "data").mkdir()
    (project / "data" / "train.jsonl").write_bytes(data)
    repo = git.Repo.init(tmp_path)
    with repo.config_writer() as config:
        config.set_value("user", "name", "Test")
        config.set_value("user", "email", "test@example.com")
    repo.index.add(["ftctl.yaml", "projects/demo/project.yaml", "projects/demo/data/train.jsonl"])
    repo.index.commit("messy data")
    repo.create_tag("v1")
    (project / "data" / "train.jsonl").write_bytes(b"")  # the revision's bytes are what count

    built = build.build_project(*h.load(tmp_path))
    assert h.built_rows(built) == rows
    assert h.built_origins(built) == [
        f"projects/demo/data/train.jsonl@v1:{n}" for n, _o, _l in _reference(data, 1, 0)
    ]


def test_origins_written_as_a_block_are_those_written_a_row_at_a_time() -> None:
    """A batch's origin lines (`[file, line]` of each row of a split's `.origins.jsonl`)
    are made in one join where its rows come from one file with line numbers; the same
    bytes as one a row, for rows of several files and inline rows without a line."""
    table = stream.RowTable()
    plain = table.add_file("projects/demo/data/train.jsonl", b"")
    other = table.add_file('projects/démo/data/"odd" name.jsonl', b"")
    rows = table.add_rows(plain, [3, 4, 7, 10_000], [0, 10, 20, 30], 0)
    rows += table.add_rows(other, [1, 2], [0, 5], 0)
    rows += table.add_rows(plain, [None, 5], [0, 40], 0)
    for chosen in (rows[:4], rows[1:3], rows[4:6], rows[2:6], rows, rows[6:], []):
        at = np.array(chosen, dtype=np.int64)
        assert table.origin_block(at) == b"".join(table.origin_lines(chosen))
    assert table.origin_block(np.array(rows[:2])) == (
        b'["projects/demo/data/train.jsonl",3]\n["projects/demo/data/train.jsonl",4]\n'
    )
