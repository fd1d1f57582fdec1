from __future__ import annotations

from ftctl.gates.refusals import DEFAULT_REFUSAL_PHRASES, is_refusal


def test_typical_refusals_are_recognised_whatever_the_case_and_apostrophes() -> None:
    assert is_refusal("I'm sorry, but I can't help with that request.")
    assert is_refusal("I\u2019M SORRY, BUT I CANNOT do this.")  # curly apostrophe, shouting
    assert is_refusal("As an AI language model,\n  I do not have opinions.")


def test_apologetic_but_helpful_answers_are_not_refusals() -> None:
    assert not is_refusal("I'm sorry about the delay! Your order ships on Monday.")
    assert not is_refusal('{"category": "account", "priority": "high"}')
    assert not is_refusal("")


def test_custom_phrases_replace_the_defaults() -> None:
    assert is_refusal("Nope, not doing that.", ["not doing that"])
    assert not is_refusal("I'm sorry, but I can't help with that.", ["not doing that"])
    assert not is_refusal("anything", ["", "   "])  # empty phrases never match everything


def test_default_phrases_are_a_tuple_of_distinct_phrases() -> None:
    assert isinstance(DEFAULT_REFUSAL_PHRASES, tuple)
    assert len(set(DEFAULT_REFUSAL_PHRASES)) == len(DEFAULT_REFUSAL_PHRASES)
