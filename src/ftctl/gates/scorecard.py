"""The result of `ftctl eval`: a version's gates checked without promoting, as a value.

`Scorecard.to_dict()` is the stable JSON document (docs/eval-json.md); the terminal text
and the Markdown report (`ftctl.render.evalreport`) are views of the same value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ftctl.gates.evals import Answer, EvalReport, EvalRow
from ftctl.gates.results import GateDecision

EVAL_FORMAT_VERSION = 1


@dataclass(frozen=True)
class LossPoint:
    step: int
    train_loss: float | None = None
    valid_loss: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "train_loss": self.train_loss, "valid_loss": self.valid_loss}


@dataclass(frozen=True)
class GraderScore:
    """The share of examples one grader passed, for the candidate and the baseline."""

    grader: str
    candidate: float
    baseline: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"grader": self.grader, "candidate": self.candidate, "baseline": self.baseline}


@dataclass(frozen=True)
class Scorecard:
    project: str
    version: int
    model: str
    baseline_name: str | None  # `base`, `alias:prod` or a model id, as asked
    decision: GateDecision
    report: EvalReport | None
    loss_curve: tuple[LossPoint, ...] = ()
    calls: int = 0  # model calls made for this run
    cached: int = 0  # answers taken from the eval cache instead
    metrics: dict[str, float] = field(default_factory=dict)
    prompts: tuple[str, ...] = ()  # each example's last user message, by row index

    def prompt(self, row: EvalRow) -> str:
        return self.prompts[row.index] if row.index < len(self.prompts) else ""

    @property
    def passed(self) -> bool:
        return self.decision.passed

    def grader_scores(self) -> list[GraderScore]:
        if self.report is None or not self.report.rows:
            return []
        rows = self.report.rows
        scores = []
        for index, name in enumerate(self.report.graders):
            candidate = _share([r.candidate for r in rows], index)
            baselines = [r.baseline for r in rows if r.baseline is not None]
            baseline = _share(baselines, index) if len(baselines) == len(rows) else None
            scores.append(GraderScore(name, candidate, baseline))
        return scores

    def samples(self, limit: int | None = None) -> list[EvalRow]:
        """The rows worst first: losses to the baseline, then failures, then the rest."""
        if self.report is None:
            return []
        rank = {"loss": 0, None: 1, "tie": 2, "win": 3}
        ordered = sorted(
            self.report.rows,
            key=lambda r: (
                r.candidate.passed,
                rank.get(r.outcome, 1),
                -len(r.candidate.reasons),
                r.index,
            ),
        )
        return ordered if limit is None else ordered[:limit]

    def to_dict(self) -> dict[str, Any]:
        report = self.report
        return {
            "format_version": EVAL_FORMAT_VERSION,
            "project": self.project,
            "version": self.version,
            "model": self.model,
            "baseline": None
            if report is None or self.baseline_name is None
            else {
                "name": self.baseline_name,
                "model": report.baseline,
                "skipped": report.baseline_skipped,
            },
            "passed": self.passed,
            "gates": [r.to_dict() for r in self.decision.results],
            "metrics": dict(sorted(self.metrics.items())),
            "eval": None if report is None else _eval_dict(report, self),
            "loss_curve": [p.to_dict() for p in self.loss_curve],
            "cache": {"calls": self.calls, "cached": self.cached},
        }


def _share(answers: Sequence[Answer | None], index: int) -> float:
    graded = [a.grades[index].passed for a in answers if a is not None and index < len(a.grades)]
    return sum(graded) / len(graded) if graded else 0.0


def _answer_dict(answer: Answer | None) -> dict[str, Any] | None:
    if answer is None:
        return None
    return {
        "text": answer.text,
        "passed": answer.passed,
        "refusal": answer.refusal,
        "reasons": answer.reasons,
    }


def _eval_dict(report: EvalReport, card: Scorecard) -> dict[str, Any]:
    counts = report.counts
    return {
        "dataset": report.dataset,
        "examples": counts.examples,
        "graders": list(report.graders),
        "pass_rate": report.pass_rate,
        "baseline_pass_rate": report.baseline_pass_rate,
        "win_rate": report.win_rate,
        "refusal_rate": report.refusal_rate,
        "counts": {
            "passed": counts.passed,
            "failed": counts.failed,
            "refusals": counts.refusals,
            "wins": counts.wins,
            "ties": counts.ties,
            "losses": counts.losses,
        },
        "per_grader": [s.to_dict() for s in card.grader_scores()],
        "samples": [
            {
                "line": row.line,
                "prompt": card.prompt(row),
                "reference": row.reference,
                "candidate": _answer_dict(row.candidate),
                "baseline": _answer_dict(row.baseline),
                "outcome": row.outcome,
            }
            for row in card.samples()
        ],
    }
