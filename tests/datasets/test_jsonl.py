"""The streaming JSONL reader: values, line numbers, and precise errors for broken lines."""

from __future__ import annotations

from pathlib import Path

from ftctl.datasets.jsonl import LineError, iter_line_chunks, read_jsonl


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "data.jsonl"
    path.write_bytes(data)
    return path


def test_values_and_line_numbers_skip_blank_lines(tmp_path: Path) -> None:
    path = write(tmp_path, b'{"a": 1}\n\n   \n[2]\r\n"x"\n{"b": null}')
    assert list(read_jsonl(path)) == [(1, {"a": 1}), (4, [2]), (5, "x"), (6, {"b": None})]


def test_invalid_json_names_the_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, b'{"a": 1}\n{"a": 1,}\n{"a": 2}\n')
    rows = list(read_jsonl(path))
    assert rows[0] == (1, {"a": 1}) and rows[2] == (3, {"a": 2})
    line_no, error = rows[1]
    assert line_no == 2 and isinstance(error, LineError)
    assert error.category == "invalid_json"
    assert error.column == 9 and "column 9" in error.message


def test_invalid_utf8_names_the_byte(tmp_path: Path) -> None:
    path = write(tmp_path, b'{"a": 1}\n{"text": "caf\xe9"}\n')
    (_, ok), (line_no, error) = read_jsonl(path)
    assert ok == {"a": 1}
    assert line_no == 2 and isinstance(error, LineError)
    assert error.category == "invalid_utf8" and error.column == 14


def test_nan_bom_and_trailing_garbage_are_invalid_json(tmp_path: Path) -> None:
    path = write(tmp_path, b'\xef\xbb\xbf{"a": 1}\n{"a": NaN}\n{"a": 1} x\n')
    errors = [value for _, value in read_jsonl(path)]
    assert all(isinstance(e, LineError) and e.category == "invalid_json" for e in errors)
    assert "byte-order mark" in errors[0].message  # type: ignore[union-attr]
    assert "NaN" in errors[1].message  # type: ignore[union-attr]


def test_chunks_cover_every_line_and_byte(tmp_path: Path) -> None:
    lines = [f'{{"i": {i}, "pad": "{"x" * (i % 50)}"}}\n'.encode() for i in range(500)]
    path = write(tmp_path, b"".join(lines))
    chunks = list(iter_line_chunks(path, chunk_bytes=1000))
    assert len(chunks) > 5
    numbers = [n for chunk in chunks for n, _ in chunk.lines]
    assert numbers == list(range(1, 501))
    assert chunks[-1].bytes_read == path.stat().st_size
    assert [raw + b"\n" for chunk in chunks for _, raw in chunk.lines] == lines
