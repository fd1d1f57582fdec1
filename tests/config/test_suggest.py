from __future__ import annotations

from ftctl.config.suggest import closest, did_you_mean


def test_closest_ignores_case_and_refuses_far_matches() -> None:
    keys = ["baseModel", "provider", "suffix", "data"]
    assert closest("basemodel", keys) == "baseModel"
    assert closest("baseModle", keys) == "baseModel"
    assert closest("zzzz", keys) is None


def test_did_you_mean_is_empty_without_a_suggestion() -> None:
    assert did_you_mean("dedup", ["dedupe", "nearDedupe"]) == "did you mean 'dedupe'?"
    assert did_you_mean("qqq", ["dedupe"]) == ""
