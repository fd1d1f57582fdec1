"""The example PR comment in docs/examples/pr-comment.md, rendered from plain values.

A plan that trains a new version of an OpenAI project (its data changed, its epochs
changed), the latest eval of that project, and a provider that was not refreshed.
Regenerate after an intended change: `FTCTL_UPDATE_GOLDEN=1 pytest tests/render`.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import plan_factories as f

from ftctl.plan.desired import ContentDiff
from ftctl.render.comment import EvalLine, comment_parts, compose_comment
from ftctl.render.markdown import render_plan_markdown

GOLDEN = Path(__file__).resolve().parents[2] / "docs" / "examples" / "pr-comment.md"
UPDATE = bool(os.environ.get("FTCTL_UPDATE_GOLDEN"))


def example_comment() -> str:
    kw = dict(base_model="gpt-4o-mini-2024-07-18", provider="openai", openai=True, cost=2.47)
    old = f.project("support-triage", **kw)  # type: ignore[arg-type]
    gates = {
        "metrics": [{"metric": "full_valid_loss", "max": 1.2}],
        "evals": {
            "baseline": "alias:prod",
            "graders": [{"type": "refusal", "max": 0.05}],
            "pass": {"minPassRate": 0.9, "minWinRate": 0.5},
        },
    }
    new = f.project("support-triage", n_epochs=2, train="train-v2", gates=gates, **kw)  # type: ignore[arg-type]
    train = dataclasses.replace(
        new.splits["train"], content_diff=ContentDiff(f.sha("train-v1"), added=41, removed=3)
    )
    new = dataclasses.replace(new, splits={**new.splits, "train": train})
    snapshot = f.state((f.version_of(old, 3),), (f.alias(old.name, 3),), f.datasets_of(old))
    plan = f.plan([new], snapshot)
    text = compose_comment(
        render_plan_markdown(plan),
        evals=[
            EvalLine(
                "support-triage",
                3,
                True,
                "test pass rate 0.92, win rate 0.61",
                "apply",
            )
        ],
        not_checked=[
            "Provider 'openai' was not refreshed: no API key for provider 'openai': "
            "environment variable OPENAI_API_KEY is not set"
        ],
        appendices=[],
    )
    (part,) = comment_parts(text, "acme-ml")
    return part


def test_the_example_pr_comment_in_the_docs_is_what_ftctl_renders() -> None:
    text = example_comment()
    if UPDATE:
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")
    assert text.startswith("<!-- ftctl:comment workspace=acme-ml part=1 -->\n### ftctl plan")
