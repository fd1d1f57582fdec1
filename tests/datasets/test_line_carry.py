"""A rebuild takes the keys of the lines it finds unchanged from the last build's copy of
the file (`line_carry`): whatever the edit, the build equals a cold one, only the lines that
differ from the copy are hashed, and a copy that is not as it was written is not used."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from ftctl.datasets import line_carry, row_reuse

from . import build_helpers as h
from .test_example_cache import DATA, POLICY, _cold, _outcome, _rows

Lines = list[str]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The workspace of test_example_cache.py: both dedupe transforms, a derived split."""
    workspace = tmp_path / "ws"
    h.write_workspace(workspace, h.project_yaml(DATA, POLICY), {"data/train.jsonl": _rows()})
    return workspace


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The lines a rebuild hashed to key them (those it did not take from the copy), per
    call: the real hashing, counted."""
    calls: list[int] = []
    real = line_carry.content_keys_in

    def counting(namespace: str, data: bytes, starts: list[int], ends: list[int]) -> list[bytes]:
        calls.append(len(starts))
        return real(namespace, data, starts, ends)

    monkeypatch.setattr(line_carry, "content_keys_in", counting)
    monkeypatch.setattr(row_reuse, "content_keys_in", counting)
    return calls


def _train(root: Path) -> Path:
    return root / "projects" / "demo" / "data" / "train.jsonl"


def _edit(root: Path, change: Callable[[Lines], Lines], newline: str = "\n") -> None:
    path = _train(root)
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_bytes("".join(line + newline for line in change(lines)).encode("utf-8"))


def _carried(root: Path) -> list[Path]:
    return sorted((root / ".ftctl/cache/datasets" / line_carry.CARRY_DIR).iterdir())


def _longer(lines: Lines) -> Lines:
    row = json.loads(lines[10])
    row["messages"][-1]["content"] += " And one more thing."
    return [*lines[:10], json.dumps(row), *lines[11:]]


def _same_length(lines: Lines) -> Lines:
    # Two letters of an answer swapped: the line keeps its length, not its bytes.
    line = lines[20]
    at = line.rindex('."')
    return [*lines[:20], line[: at - 2] + line[at - 1] + line[at - 2] + line[at:], *lines[21:]]


def _inserted(lines: Lines) -> Lines:
    new = [json.dumps(h.example(5000 + n)) for n in range(3)]
    return [*lines[:30], *new, *lines[30:]]


def _removed(lines: Lines) -> Lines:
    return [*lines[:40], *lines[47:]]


def _moved(lines: Lines) -> Lines:
    return [*lines[50:70], *lines[:50], *lines[70:]]


def _blank_lines(lines: Lines) -> Lines:
    return [*lines[:12], "", "   ", *lines[12:]]


EDITS: dict[str, tuple[Callable[[Lines], Lines], int]] = {
    # the edit, and the most lines hashed again (the changed ones, and those compared out of
    # step before the copy is found again)
    "a-line-made-longer": (_longer, 1),
    "an-edit-that-keeps-the-length": (_same_length, 1),
    "lines-added": (_inserted, 3 + line_carry._LOST_AFTER),
    "lines-removed": (_removed, line_carry._LOST_AFTER),
    "a-block-moved": (_moved, 3 * line_carry._LOST_AFTER),
    "blank-lines-added": (_blank_lines, 0),
}


@pytest.mark.parametrize("edit", EDITS, ids=list(EDITS))
def test_a_rebuild_keys_only_the_lines_the_copy_does_not_hold(
    root: Path, tmp_path: Path, hashed: list[int], edit: str
) -> None:
    change, most = EDITS[edit]
    _outcome(root)
    assert [p.suffix for p in _carried(root)] == [".copy", ".keys"]
    assert _carried(root)[0].read_bytes() == _train(root).read_bytes()  # the bytes read
    _edit(root, change)
    hashed.clear()
    again, messages = _outcome(root)
    assert again == _cold(root, tmp_path)
    assert sum(hashed) <= most
    assert (sum(hashed) == 0) == (most == 0)
    read = [line for line in _train(root).read_text(encoding="utf-8").splitlines() if line.strip()]
    assert h.reused(messages)[1] == len(read)


def test_lines_ended_by_crlf_are_not_the_copys_lines_ended_by_lf(
    root: Path, tmp_path: Path, hashed: list[int]
) -> None:
    """The key leaves a line's `\\r` out, the comparison does not: every line differs from
    the copy's, and is hashed (to the same keys, so the rows are still taken from the
    snapshot)."""
    _outcome(root)
    _edit(root, lambda lines: lines, newline="\r\n")
    hashed.clear()
    again, messages = _outcome(root)
    assert again == _cold(root, tmp_path)
    assert sum(hashed) == len(_rows())
    assert h.reused(messages) == (len(_rows()), len(_rows()))


def test_a_copy_changed_since_it_was_written_is_not_used(
    root: Path, tmp_path: Path, hashed: list[int]
) -> None:
    _outcome(root)
    copy = _carried(root)[0]
    # Line 11 of the copy made what the edit below makes it: were the copy trusted, line 11
    # would be given the key of the line it had (and that row's results).
    _edit(root, _longer)
    copy.write_bytes(_train(root).read_bytes())
    hashed.clear()
    again, _ = _outcome(root)
    assert again == _cold(root, tmp_path)
    assert sum(hashed) == len(_rows())  # every line hashed: no key taken from the copy


def test_damaged_keys_are_not_used(root: Path, tmp_path: Path, hashed: list[int]) -> None:
    _outcome(root)
    keys = _carried(root)[1]
    data = bytearray(keys.read_bytes())
    data[-100] ^= 1  # a key's byte
    keys.write_bytes(bytes(data))
    _edit(root, _longer)
    hashed.clear()
    again, _ = _outcome(root)
    assert again == _cold(root, tmp_path)
    assert sum(hashed) == len(_rows())


def test_a_copy_gone_stale_is_dropped_and_made_again(
    root: Path, tmp_path: Path, hashed: list[int]
) -> None:
    """A rebuild does not write the copy again; once most lines differ from it, it is
    dropped, and the next build keeps a new one."""
    _outcome(root)
    first = _carried(root)[0].stat()
    _edit(root, _longer)
    _outcome(root)
    assert _carried(root)[0].stat().st_mtime_ns == first.st_mtime_ns  # not written again

    _edit(root, lambda lines: [json.dumps(h.example(7000 + n)) for n in range(len(lines))])
    _outcome(root)
    assert _carried(root) == []  # nearly nothing was in the copy
    _edit(root, _longer)
    _outcome(root)  # reads the file, with no copy to use: keeps a new one
    assert _carried(root)[0].read_bytes() == _train(root).read_bytes()
    _edit(root, _inserted)
    hashed.clear()
    again, _ = _outcome(root)
    assert again == _cold(root, tmp_path)
    assert sum(hashed) <= 3 + line_carry._LOST_AFTER


def test_a_limited_source_keeps_no_copy(tmp_path: Path) -> None:
    limited = "train:\n  sources:\n    - path: data/train.jsonl\n      limit: 20\n"
    h.write_workspace(tmp_path, h.project_yaml(limited), {"data/train.jsonl": h.examples(0, 30)})
    _outcome(tmp_path)
    folder = tmp_path / ".ftctl/cache/datasets" / line_carry.CARRY_DIR
    assert not folder.exists() or not list(folder.iterdir())


def test_a_copy_keyed_for_another_policy_is_replaced(
    root: Path, tmp_path: Path, hashed: list[int]
) -> None:
    """The rows' keys hold the checks they were worked with: after a policy change the
    copy's keys are of no use, every line is hashed, and the build keeps a new copy in
    place of the old one, which the next rebuild uses."""
    _outcome(root)
    keys = _carried(root)[1]
    before = keys.read_bytes()
    project = root / "projects" / "demo" / "project.yaml"
    project.write_text(
        project.read_text(encoding="utf-8").replace("secrets: warn", "secrets: off"),
        encoding="utf-8",
    )
    hashed.clear()
    _outcome(root)
    assert sum(hashed) == len(_rows())
    assert [p.name for p in _carried(root)] == [keys.with_suffix(".copy").name, keys.name]
    assert keys.read_bytes() != before
    _edit(root, _longer)
    hashed.clear()
    again, _ = _outcome(root)
    assert again == _cold(root, tmp_path)
    assert sum(hashed) == 1
