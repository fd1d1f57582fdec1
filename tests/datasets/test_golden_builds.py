"""Built bytes, their SHA-256, every finding and the report are what the build before the
one-pass engine produced for the same inputs (recorded in data/build_golden.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from . import golden_builds as g


@pytest.mark.parametrize("name", sorted(g.SCENARIOS))
def test_the_build_output_is_unchanged(tmp_path: Path, name: str) -> None:
    expected = json.loads(g.GOLDEN.read_text(encoding="utf-8"))[name]
    assert g.build_scenario(tmp_path, name) == expected
