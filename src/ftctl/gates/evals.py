"""Run an eval: ask the candidate (and a baseline) every test prompt, grade, count.

Rates, all over the examples evaluated:
- pass rate: examples whose counting graders all pass (with only a refusal grader, an
  example passes when it is not a refusal);
- refusal rate: answers the refusal phrases match (whether or not a refusal grader is set);
- win rate vs the baseline: a win (candidate passes, baseline fails) counts 1, a tie
  (both pass or both fail) counts 1/2, a loss 0. So 0.5 means "as good as the baseline",
  and a candidate that passes everything the baseline passes never scores below 0.5.

The model is reached through a plain `complete` callable so that any provider can back
it; it is called once per example and model, with the eval's max_tokens, temperature and
seed. Errors from it propagate (an `FtctlError` as is, anything else as a `GateError`
naming the example): a gate cannot be decided on a partial eval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Protocol

from ftctl.catalog.models import accepts_parameter
from ftctl.config.models import EvalGate
from ftctl.errors import Diagnostic, FtctlError, GateError
from ftctl.events import Event, EventSink, ignore
from ftctl.gates.examples import EvalExample, Message
from ftctl.gates.graders import Grade, Grader, RefusalCheck, build_graders
from ftctl.gates.results import format_number
from ftctl.text.refusals import DEFAULT_REFUSAL_PHRASES, is_refusal

Outcome = Literal["win", "tie", "loss"]
_MAX_LISTED = 20  # diagnostics listed when many examples share one problem


class CompleteFn(Protocol):
    """One chat completion: the text of the assistant's answer.

    Called with keyword arguments, e.g. `complete(model="ft:...", messages=[...],
    max_tokens=256, temperature=0.0, seed=0)`.
    """

    def __call__(
        self,
        *,
        model: str,
        messages: list[Message],
        max_tokens: int,
        temperature: float | None,
        seed: int | None,
    ) -> str: ...


@dataclass(frozen=True)
class Answer:
    """One model's answer to one example and how it was graded."""

    text: str
    passed: bool
    refusal: bool
    grades: list[Grade]

    @property
    def reasons(self) -> list[str]:
        """Why it failed: the reasons of the failing counting grades."""
        return [f"{g.grader}: {g.reason}" for g in self.grades if not g.passed]


@dataclass(frozen=True)
class EvalRow:
    index: int
    line: int
    reference: str | None
    candidate: Answer
    baseline: Answer | None = None
    outcome: Outcome | None = None  # vs the baseline, when there is one


@dataclass(frozen=True)
class EvalCounts:
    examples: int
    passed: int
    failed: int
    refusals: int
    baseline_passed: int | None = None
    baseline_refusals: int | None = None
    wins: int | None = None
    ties: int | None = None
    losses: int | None = None


@dataclass(frozen=True)
class EvalReport:
    """The result of one eval run; `to_dict()` is JSON-serialisable and lossless enough to show."""

    dataset: str  # the config's dataset name: "test" or "validation"
    source: str  # where the examples came from
    model: str
    baseline: str | None
    graders: list[str]
    pass_rate: float
    refusal_rate: float
    counts: EvalCounts
    rows: list[EvalRow] = field(default_factory=list)
    baseline_pass_rate: float | None = None
    baseline_refusal_rate: float | None = None
    win_rate: float | None = None
    # Why no baseline was run although the gate names one (e.g. alias prod not set yet).
    baseline_skipped: str | None = None

    @property
    def failed_rows(self) -> list[EvalRow]:
        return [r for r in self.rows if not r.candidate.passed]

    def summary(self) -> str:
        c = self.counts
        text = f"{self.dataset} pass rate {format_number(self.pass_rate)} ({c.passed}/{c.examples})"
        if self.win_rate is not None:
            text += (
                f", win rate vs {self.baseline} {format_number(self.win_rate)} "
                f"({c.wins} won, {c.ties} tied, {c.losses} lost)"
            )
        if c.refusals:
            text += f", {c.refusals} refusal(s)"
        return text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _call(
    complete: CompleteFn,
    model: str,
    example: EvalExample,
    max_tokens: int,
    temperature: float,
    seed: int | None,
) -> str:
    # Send only what the model accepts: a reasoning model refuses any `temperature`.
    try:
        answer = complete(
            model=model,
            messages=[dict(m) for m in example.prompt],
            max_tokens=max_tokens,
            temperature=temperature if accepts_parameter(model, "temperature") else None,
            seed=seed if accepts_parameter(model, "seed") else None,
        )
    except FtctlError:
        raise
    except Exception as exc:  # a provider bug or network failure, reported with its example
        raise GateError(
            f"eval call to {model} failed on example {example.index + 1}: {exc}",
            [Diagnostic(example.source, example.line, None, "error", "", str(exc))],
        ) from exc
    if not isinstance(answer, str):
        raise GateError(f"eval call to {model} returned {type(answer).__name__}, not text")
    return answer


def _grade(
    answer: str, example: EvalExample, graders: Sequence[Grader], phrases: Sequence[str]
) -> Answer:
    grades = [g.grade(answer, example) for g in graders]
    counting = [grade for grade, g in zip(grades, graders, strict=True) if g.counts]
    refusal = is_refusal(answer, phrases)
    passed = all(g.passed for g in counting) if counting else not refusal
    return Answer(answer, passed, refusal, grades)


def _outcome(candidate: Answer, baseline: Answer) -> Outcome:
    if candidate.passed == baseline.passed:
        return "tie"
    return "win" if candidate.passed else "loss"


def _check_references(examples: Sequence[EvalExample], graders: Sequence[Grader]) -> None:
    problems = []
    for example in examples:
        for grader in graders:
            problem = grader.reference_problem(example.reference)
            if problem is not None:
                problems.append(
                    Diagnostic(example.source, example.line, None, "error", grader.name, problem)
                )
    if problems:
        raise GateError(
            f"{len(problems)} example(s) of {examples[0].source} cannot be graded"
            + (f" (the first {_MAX_LISTED} are listed)" if len(problems) > _MAX_LISTED else ""),
            problems[:_MAX_LISTED],
        )


def _refusal_phrases(graders: Sequence[Grader]) -> tuple[str, ...]:
    for grader in graders:
        if isinstance(grader, RefusalCheck):
            return grader.phrases
    return DEFAULT_REFUSAL_PHRASES


def run_eval(
    examples: Sequence[EvalExample],
    graders: Sequence[Grader],
    complete: CompleteFn,
    model: str,
    *,
    baseline: str | None = None,
    baseline_skipped: str | None = None,
    dataset: str = "test",
    max_tokens: int = 256,
    temperature: float = 0.0,
    seed: int | None = 0,
    sink: EventSink = ignore,
) -> EvalReport:
    """Evaluate `model` (and `baseline`, a resolved model id, if given) on `examples`."""
    if not examples:
        raise GateError(f"the {dataset} eval set has no examples")
    if not graders:
        raise GateError("an eval needs at least one grader")
    _check_references(examples, graders)
    phrases = _refusal_phrases(graders)
    models = [model] if baseline is None else [model, baseline]
    total = len(examples) * len(models)
    task = f"eval:{dataset}:{model}"
    sink(Event("step", f"Evaluating {model} on {len(examples)} {dataset} examples", task=task))

    rows: list[EvalRow] = []
    done = 0
    for example in examples:
        answers: list[Answer] = []
        for name in models:
            text = _call(complete, name, example, max_tokens, temperature, seed)
            answers.append(_grade(text, example, graders, phrases))
            done += 1
            sink(Event("progress", f"Evaluating {model}", task=task, completed=done, total=total))
        candidate = answers[0]
        other = answers[1] if baseline is not None else None
        outcome = _outcome(candidate, other) if other is not None else None
        rows.append(
            EvalRow(example.index, example.line, example.reference, candidate, other, outcome)
        )

    report = _report(rows, examples[0].source, dataset, model, baseline, graders, baseline_skipped)
    sink(Event("info", report.summary(), task=task, data={"pass_rate": report.pass_rate}))
    return report


def _report(
    rows: list[EvalRow],
    source: str,
    dataset: str,
    model: str,
    baseline: str | None,
    graders: Sequence[Grader],
    baseline_skipped: str | None,
) -> EvalReport:
    n = len(rows)
    passed = sum(r.candidate.passed for r in rows)
    refusals = sum(r.candidate.refusal for r in rows)
    counts = EvalCounts(examples=n, passed=passed, failed=n - passed, refusals=refusals)
    report = EvalReport(
        dataset=dataset,
        source=source,
        model=model,
        baseline=baseline,
        graders=[g.name for g in graders],
        pass_rate=passed / n,
        refusal_rate=refusals / n,
        counts=counts,
        rows=rows,
        baseline_skipped=baseline_skipped if baseline is None else None,
    )
    if baseline is None:
        return report
    base_answers = [r.baseline for r in rows if r.baseline is not None]
    base_passed = sum(a.passed for a in base_answers)
    base_refusals = sum(a.refusal for a in base_answers)
    wins = sum(r.outcome == "win" for r in rows)
    ties = sum(r.outcome == "tie" for r in rows)
    losses = n - wins - ties
    return replace(
        report,
        counts=replace(
            counts,
            baseline_passed=base_passed,
            baseline_refusals=base_refusals,
            wins=wins,
            ties=ties,
            losses=losses,
        ),
        baseline_pass_rate=base_passed / n,
        baseline_refusal_rate=base_refusals / n,
        win_rate=(wins + ties / 2) / n,
    )


def run_eval_gate(
    gate: EvalGate,
    examples: Sequence[EvalExample],
    project_dir: Path,
    complete: CompleteFn,
    model: str,
    *,
    baseline: str | None = None,
    baseline_skipped: str | None = None,
    refusal_phrases: Sequence[str] | None = None,
    seed: int | None = 0,
    sink: EventSink = ignore,
) -> EvalReport:
    """Run the eval a project's `gates.evals` declares (graders, limit, sampling settings).

    `baseline` is the model id `gate.baseline` resolves to (the caller knows aliases and
    the base model); `refusal_phrases` are the data policy's, if it overrides them.
    """
    graders = build_graders(gate.graders, project_dir, refusal_phrases=refusal_phrases)
    chosen = list(examples[: gate.limit] if gate.limit is not None else examples)
    return run_eval(
        chosen,
        graders,
        complete,
        model,
        baseline=baseline,
        baseline_skipped=baseline_skipped,
        dataset=gate.dataset,
        max_tokens=gate.max_tokens,
        temperature=gate.temperature,
        seed=seed,
        sink=sink,
    )
