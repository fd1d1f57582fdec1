"""A plan too big for one GitHub comment: numbered parts, each under the limit and balanced."""

from __future__ import annotations

import re
from pathlib import Path

import plan_factories as f

from ftctl.render.comment import GITHUB_COMMENT_LIMIT, comment_parts, marker
from ftctl.render.markdown import render_plan_markdown

FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")


def assert_balanced(part: str) -> None:
    """Every fence closes, and every <details> closes, in order, outside fences."""
    fence: str | None = None
    details = 0
    for line in part.splitlines():
        match = FENCE.match(line)
        if fence is not None:
            if match and match.group(1).startswith(fence) and not line.strip()[len(fence) :]:
                fence = None
            continue
        if match:
            fence = match.group(1)
        elif line.strip().startswith("<details"):
            details += 1
        elif line.strip().startswith("</details>"):
            details -= 1
            assert details >= 0, "a </details> closes nothing"
    assert fence is None, "a code fence is left open"
    assert details == 0, "a <details> block is left open"


def huge_plan_markdown() -> str:
    projects = [f.project(f"project-{i:03d}", train=f"t{i}") for i in range(400)]
    return render_plan_markdown(f.plan(projects, f.state(serial=0)))


def test_a_huge_plan_splits_into_balanced_parts_under_the_limit_summary_first() -> None:
    text = huge_plan_markdown()
    assert len(text) > 3 * GITHUB_COMMENT_LIMIT
    parts = comment_parts(text, "acme")
    assert len(parts) >= 4
    for number, part in enumerate(parts, start=1):
        assert len(part) < GITHUB_COMMENT_LIMIT
        assert part.splitlines()[0] == marker("acme", number)
        assert f"part {number} of {len(parts)}" in part
        assert_balanced(part)
    first = parts[0]
    assert "| Project | Upload | Train |" in first
    assert "**Plan: 800 to upload, 400 to train, 400 to promote, 0 to retire.**" in first
    # Nothing lost: every project's details block is in some part, once.
    joined = "".join(parts)
    for i in (0, 199, 399):
        assert joined.count(f"<summary><code>project-{i:03d}</code>") == 1


def test_one_block_bigger_than_a_comment_is_cut_inside_and_reopened() -> None:
    lines = [f"  + line {i:05d} " + "x" * 40 for i in range(4000)]
    text = "\n".join(
        [
            "### ftctl plan",
            "",
            "**Plan: 1 to train.**",
            "",
            "<details>",
            "<summary><code>big</code>: 1 change</summary>",
            "",
            "```text",
            *lines,
            "```",
            "",
            "</details>",
        ]
    )
    parts = comment_parts(text, "acme")
    assert len(parts) >= 3
    for part in parts:
        assert len(part) < GITHUB_COMMENT_LIMIT
        assert_balanced(part)
    assert "**Plan: 1 to train.**" in parts[0]
    assert "<summary><code>big</code>: 1 change (continued)</summary>" in parts[1]
    body = "\n".join(parts)
    assert all(body.count(line) == 1 for line in (lines[0], lines[2000], lines[-1]))


def test_a_small_plan_is_one_part_with_its_marker_and_no_numbering() -> None:
    text = render_plan_markdown(f.plan([f.project()], f.state(serial=0)))
    (part,) = comment_parts(text, "acme")
    assert part == marker("acme", 1) + "\n" + text


def test_the_comment_puts_the_summary_then_what_was_not_checked_and_evals_before_details() -> None:
    from ftctl.render.comment import EvalLine, compose_comment

    plan = f.plan([f.project("alpha"), f.project("beta", train="b")], f.state(serial=0))
    text = compose_comment(
        render_plan_markdown(plan),
        evals=[EvalLine("alpha", 3, False, "test pass rate 0.5; failed: test pass rate", "apply")],
        not_checked=["Provider 'openai' was not refreshed: no API key"],
        appendices=["### ftctl diff\n\nbody"],
    )
    order = [
        text.index("**Plan: 4 to upload"),
        text.index("#### Not checked"),
        text.index(
            "| `alpha` | 3 | **failed** | test pass rate 0.5; failed: test pass rate | apply |"
        ),
        text.index("<details>"),
        text.index("### ftctl diff"),
    ]
    assert order == sorted(order)
    assert_balanced(text)


def test_the_workflows_recognise_the_marker_ftctl_writes() -> None:
    """The posting script (in the example workflow and in action.yml) finds our comments
    by the first line with `part=N -->` cut off: that must still match the marker."""
    root = Path(__file__).resolve().parents[2]
    first = marker("acme-ml", 12)
    prefix = re.sub(r"part=\d+ -->$", "part=", first)
    assert prefix == "<!-- ftctl:comment workspace=acme-ml part=" and first.startswith(prefix)
    assert int(first[len(prefix) :].split(" ")[0]) == 12
    for path in (root / "action.yml", root / "examples/github/workflows/ftctl-plan.yml"):
        text = path.read_text()
        assert r'.replace(/part=\d+ -->$/, "part=")' in text, path
        assert 'c.user.login === "github-actions[bot]"' in text, path
