from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftctl.text.refusals import (
    DEFAULT_REFUSAL_PHRASES,
    RefusalMatcher,
    is_refusal,
    refusal_matcher,
)


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


# --------------------------------------------------------------------------- RefusalMatcher
# The fast matcher must give exactly `is_refusal`'s answers: its prefilter only skips
# texts that cannot hold a phrase once normalized.

CUSTOM = ("computer says no", "NOT   doing that", "i\u2019ll pass", "Straße", "\u0149o", "'")
TRICKY: list[tuple[str, Sequence[str]]] = [
    ("", DEFAULT_REFUSAL_PHRASES),
    ("   \n\t ", DEFAULT_REFUSAL_PHRASES),
    ("I'm sorry, but I can't", DEFAULT_REFUSAL_PHRASES),  # the whole text is a phrase
    ("Well... I MUST DECLINE.", DEFAULT_REFUSAL_PHRASES),  # at the end, shouted
    ("Sure! Also, as an AI language model I think so.", DEFAULT_REFUSAL_PHRASES),  # middle
    ("I\u2019m\u00a0sorry,\n\nbut  I\u2018can\u2019t", DEFAULT_REFUSAL_PHRASES),
    ("I\u02bcm sorry, but I cannot", DEFAULT_REFUSAL_PHRASES),  # modifier apostrophe
    ("I'm sorry, butI can't", DEFAULT_REFUSAL_PHRASES),  # words present, phrase not
    ("can't sorry but I'm I", DEFAULT_REFUSAL_PHRASES),  # every word, wrong order
    ("I'M SORRY, BUT I CAN\u2019T \u00e9t\u00e9", DEFAULT_REFUSAL_PHRASES),  # non-ASCII
    ("\u0130'm sorry, but \u0130 can't", DEFAULT_REFUSAL_PHRASES),  # dotted capital I
    ("I'm sorry, but I can't", ["I'm sorry, but I can't", "I'm sorry, but I can't"]),
    ("Computer says no.", CUSTOM),
    ("Not doing that, sorry.", CUSTOM),
    ("I'll pass on this one", CUSTOM),
    ("Die STRASSE ist lang", CUSTOM),  # casefold: Straße -> strasse
    ("\u02bcNO", CUSTOM),  # U+0149 folds to U+02BC n
    ("it\u2019s", CUSTOM),  # the wordless phrase "'" matches any apostrophe
    ("no apostrophe here", ["\u2019"]),
    ("anything", ["", "  "]),
    ("anything", []),
]


@pytest.mark.parametrize(("text", "phrases"), TRICKY)
def test_matcher_agrees_with_is_refusal_on_tricky_texts(text: str, phrases: Sequence[str]) -> None:
    assert RefusalMatcher(phrases)(text) == is_refusal(text, phrases)


def test_matcher_finds_refusals_and_passes_helpful_answers() -> None:
    matcher = RefusalMatcher()
    assert matcher("Hello.\nI\u2019M SORRY,   but I can\u2019t share that.")
    assert not matcher("I'm sorry about the delay! Your order ships on Monday.")
    assert RefusalMatcher(["Straße"])("Die STRASSE ist lang")
    assert RefusalMatcher(["'"])("it\u2019s") and not RefusalMatcher(["'"])("its")


def test_refusal_matcher_is_made_once_per_phrase_list() -> None:
    assert refusal_matcher(("a b",)) is refusal_matcher(("a b",))
    assert refusal_matcher(("a b",))("x A\tB y") and not refusal_matcher(("a c",))("x a b")


# Texts and phrases from pieces that make near misses likely: parts of the default phrases,
# apostrophes of every kind, odd whitespace, and characters whose case folding changes
# their length or lands on an apostrophe-like character.
_PIECES = st.sampled_from(
    [
        *{w for p in DEFAULT_REFUSAL_PHRASES for w in p.split()},
        *DEFAULT_REFUSAL_PHRASES,
        "'",
        "\u2019",
        "\u2018",
        "\u02bc",
        "\u0149",
        " ",
        "  ",
        "\n",
        "\t",
        "\u00a0",
        "\u3000",
        ",",
        ".",
        "ß",
        "SS",
        "ẞ",
        "İ",
        "ı",
        "Σ",
        "ς",
        "ﬁ",
        "K",
        "K",
        "é",
        "É",
    ]
)
_TEXTS = st.lists(_PIECES | st.text(max_size=4), max_size=12).map("".join)
_CASED = st.tuples(_TEXTS, st.sampled_from([str, str.upper, str.lower, str.swapcase])).map(
    lambda pair: pair[1](pair[0])
)
_PHRASES = st.one_of(
    st.just(DEFAULT_REFUSAL_PHRASES),
    st.lists(st.lists(_PIECES, min_size=1, max_size=4).map("".join), max_size=4),
    st.lists(st.text(max_size=6), max_size=3),
    # Short phrases of apostrophes, spaces and letters: some with no word at all.
    st.lists(st.text("'\u2019\u02bc s\u0149I", min_size=1, max_size=3), min_size=1, max_size=2),
)


@settings(max_examples=400, deadline=None)
@given(text=_CASED, phrases=_PHRASES, data=st.data())
def test_matcher_agrees_with_is_refusal(
    text: str, phrases: Sequence[str], data: st.DataObject
) -> None:
    # Half the time plant one of the phrases, re-cased, somewhere in the text.
    if phrases and data.draw(st.booleans()):
        phrase = data.draw(
            st.sampled_from(list(phrases)).flatmap(
                lambda p: st.sampled_from([p, p.upper(), p.lower(), p.swapcase()])
            )
        )
        at = data.draw(st.integers(0, len(text)))
        text = text[:at] + phrase + text[at:]
    assert RefusalMatcher(phrases)(text) == is_refusal(text, phrases)
