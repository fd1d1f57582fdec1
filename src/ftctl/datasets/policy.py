"""The data validation policy: checks over the built splits, each `error | warn | off`.

Defaults (see `ftctl.config.models.Policy`) follow OpenAI's fine-tuning guidance. A check
at level `error` fails the build; `warn` reports; `off` skips. Findings are `Diagnostic`s:

- per-example checks (token limit, system prompt, empty answers, cut-off answers, secrets,
  leakage) point at the example's SOURCE file and line; at most `LISTED_PER_CHECK` of them
  per check are listed, then one summary at the policy field gives the total;
- aggregate checks (minimum examples, refusal, duplicate, near-duplicate ratios, prompt
  diversity, budget) point at the policy field in project.yaml (or in ftctl.yaml when it
  comes from `defaults.policy`), with the observed number and the threshold.

Ratios are computed over the rows of the train split as read (a row repeated by a `weight`
above 1 counts once); counts of examples and tokens over the rows uploaded (repeats too).

The cut-off heuristic (`looks_cut_off`): an answer of at least `CUT_OFF_MIN_WORDS` words
that ends in a letter or digit, or in a connective (`, ; : - – — ( / & +`), as if the text
stopped mid-sentence. Answers ending in terminal punctuation, a closing bracket or quote,
an emoji or a code fence, JSON answers, and short answers (labels, numbers) are not flagged.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ftctl.catalog.models import ModelInfo
from ftctl.config.loader import LoadedProject, LoadedWorkspace
from ftctl.config.models import FlagCheck, Level, Policy, RatioCheck
from ftctl.datasets.checks import (
    CUT_OFF_MIN_WORDS,
    ExampleChecks,
    ExampleFindings,
    answer_problem,
    example_digest,
    looks_cut_off,
)
from ftctl.datasets.cost import CostEstimate
from ftctl.datasets.counting import TokenCount
from ftctl.datasets.formats import Format
from ftctl.datasets.provenance import Record
from ftctl.datasets.similarity import (
    LazyTexts,
    content_text,
    example_text,
    messages_of,
    near_duplicates_in_order,
    user_prompt_text,
)
from ftctl.datasets.splits import Leak, SplitName
from ftctl.errors import Diagnostic, Severity
from ftctl.text.refusals import DEFAULT_REFUSAL_PHRASES

HARD_MIN_EXAMPLES = 10  # OpenAI rejects training files with fewer examples
LISTED_PER_CHECK = 20
NEAR_DUPLICATE_THRESHOLD = 0.9
NEAR_DUPLICATE_NUM_PERM = 128
__all__ = ["CUT_OFF_MIN_WORDS", "answer_problem", "looks_cut_off", "run_policy"]


# --------------------------------------------------------------------------- where


class PolicyLocator:
    """Places aggregate findings at the policy field that set the threshold."""

    def __init__(self, project: LoadedProject, workspace: LoadedWorkspace) -> None:
        self.project = project
        self.workspace = workspace

    def diagnostic(
        self, key: Sequence[str], severity: Severity, message: str, hint: str = ""
    ) -> Diagnostic:
        field_name = "policy." + ".".join(key)
        own = ("spec", "policy", *key)
        project_map = self.project.source_map
        workspace_map = self.workspace.source_map
        inherited = ("defaults", "policy", *key)
        if (
            project_map.resolve(own) != own
            and workspace_map is not None
            and workspace_map.resolve(inherited) == inherited
        ):
            line, column = workspace_map.locate(inherited)
            file = workspace_map.display
        else:
            line, column = project_map.locate(own)
            file = project_map.display
        return Diagnostic(
            file=file,
            line=line,
            column=column,
            severity=severity,
            field=field_name,
            message=message,
            hint=hint,
        )


# --------------------------------------------------------------------------- inputs, results


@dataclass(frozen=True)
class PolicyInput:
    policy: Policy
    fmt: Format
    model: ModelInfo
    splits: Mapping[SplitName, Sequence[Record]]
    counts: Mapping[SplitName, Sequence[TokenCount]]
    cost: CostEstimate
    leaks: Sequence[Leak]
    near_threshold: float = NEAR_DUPLICATE_THRESHOLD
    near_num_perm: int = NEAR_DUPLICATE_NUM_PERM

    @cached_property
    def findings(self) -> dict[SplitName, list[ExampleFindings]]:
        """The per-example checks (`ftctl.datasets.checks`) of each split's rows as read,
        each example examined once for every check that is on."""
        policy = self.policy
        refusal = policy.max_refusal_ratio
        checks = ExampleChecks(
            self.fmt,
            phrases=refusal.phrases if refusal.phrases is not None else DEFAULT_REFUSAL_PHRASES,
            refusals=refusal.level != "off",
            empty=policy.empty_answers.level != "off",
            cut_off=policy.truncated_answers.level != "off",
            secrets=policy.secrets.level != "off",
        )
        return {
            split: [checks.examine(r.example) for r in _unique_rows(records)]
            for split, records in self.splits.items()
        }


@dataclass
class CheckResult:
    """One check's outcome, for the report."""

    key: str
    level: str
    threshold: float | int | str | None
    observed: float | int | None
    findings: int = 0

    @property
    def passed(self) -> bool:
        return self.findings == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.key,
            "level": self.level,
            "threshold": self.threshold,
            "observed": self.observed,
            "findings": self.findings,
            "passed": self.passed,
        }


@dataclass
class PolicyOutcome:
    diagnostics: list[Diagnostic] = field(default_factory=list)
    results: list[CheckResult] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(d.severity == "error" for d in self.diagnostics)


def severity_of(level: Level) -> Severity:
    return "error" if level == "error" else "warning"


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _unique_rows(records: Sequence[Record]) -> list[Record]:
    """The rows as read: repeats made by a weight above 1 left out."""
    return [r for r in records if r.copy == 0]


def _where(records: Sequence[Record], limit: int = 5) -> str:
    shown = ", ".join(str(r.origin) for r in records[:limit])
    more = f" and {len(records) - limit} more" if len(records) > limit else ""
    return f"e.g. {shown}{more}" if shown else ""


# --------------------------------------------------------------------------- run


def run_policy(data: PolicyInput, locator: PolicyLocator) -> PolicyOutcome:
    outcome = PolicyOutcome()
    for check in _CHECKS:
        check(data, locator, outcome)
    return outcome


class _PerExample:
    """Collects per-example findings of one check, listing the first few."""

    def __init__(self, key: str, level: Level, outcome: PolicyOutcome) -> None:
        self.key = key
        self.severity = severity_of(level)
        self.outcome = outcome
        self.count = 0

    def add(self, record: Record, message: str) -> None:
        self.count += 1
        if self.count <= LISTED_PER_CHECK:
            self.outcome.diagnostics.append(
                Diagnostic(
                    file=record.origin.file,
                    line=record.origin.line,
                    severity=self.severity,
                    field=f"policy.{self.key}",
                    message=message,
                )
            )

    def close(self, locator: PolicyLocator, summary: str) -> None:
        if self.count > LISTED_PER_CHECK:
            self.outcome.diagnostics.append(
                locator.diagnostic(
                    (self.key,),
                    self.severity,
                    f"{summary}: {self.count} examples in all ({LISTED_PER_CHECK} listed above)",
                )
            )


def _check_min_examples(data: PolicyInput, locator: PolicyLocator, out: PolicyOutcome) -> None:
    check = data.policy.min_examples
    n = len(data.splits.get("train", ()))
    result = CheckResult("minExamples", check.level, check.value, n)
    out.results.append(result)
    if n < HARD_MIN_EXAMPLES:
        result.findings = 1
        out.diagnostics.append(
            locator.diagnostic(
                ("minExamples",),
                "error",
                f"the train split has {n} examples; fine-tuning needs at least "
                f"{HARD_MIN_EXAMPLES}"
                + (f" (recommended: {check.value})" if check.value > HARD_MIN_EXAMPLES else ""),
            )
        )
    elif check.level != "off" and n < check.value:
        result.findings = 1
        out.diagnostics.append(
            locator.diagnostic(
                ("minExamples",),
                severity_of(check.level),
                f"the train split has {n} examples, fewer than minExamples {check.value}",
                hint="OpenAI sees clear improvements from 50 to 100 well-made examples",
            )
        )


def _check_max_tokens(data: PolicyInput, locator: PolicyLocator, out: PolicyOutcome) -> None:
    check = data.policy.max_tokens_per_example
    limit = data.model.max_tokens_per_example if check.value == "auto" else check.value
    result = CheckResult("maxTokensPerExample", check.level, limit, None)
    out.results.append(result)
    largest = 0
    findings = _PerExample("maxTokensPerExample", check.level, out)
    for split in ("train", "validation"):
        for record, count in zip(
            data.splits.get(split, ()), data.counts.get(split, ()), strict=True
        ):
            largest = max(largest, count.total)
            if check.level != "off" and record.copy == 0 and count.total > limit:
                findings.add(
                    record,
                    f"example has {count.total} tokens, more than the limit of {limit}"
                    f" ({data.model.id}); tokens beyond it are cut off in training",
                )
    result.observed = largest
    result.findings = findings.count
    findings.close(locator, f"examples above {limit} tokens")


def _check_train_ratio(
    key: str,
    check: RatioCheck,
    data: PolicyInput,
    locator: PolicyLocator,
    out: PolicyOutcome,
    flag: Callable[[list[Record]], list[Record]],
    what: str,
    fix: str | None = None,
) -> None:
    """A `max…Ratio` check: the share of train rows that `flag` picks out, at most the value.

    `what` completes "N of M train …"; `fix` names the transform that removes such rows.
    """
    rows = _unique_rows(data.splits.get("train", ()))
    result = CheckResult(key, check.level, check.value, None)
    out.results.append(result)
    if check.level == "off" or not rows:
        return
    flagged = flag(rows)
    ratio = _ratio(len(flagged), len(rows))
    result.observed = ratio
    if ratio > check.value:
        result.findings = len(flagged)
        hint = _where(flagged)
        if fix is not None:
            hint = (hint + f"; add a `{fix}` transform").lstrip("; ")
        out.diagnostics.append(
            locator.diagnostic(
                (key,),
                severity_of(check.level),
                f"{len(flagged)} of {len(rows)} train {what} ({ratio:.1%}), "
                f"more than {key} {check.value:.1%}",
                hint=hint,
            )
        )


def _check_refusals(data: PolicyInput, locator: PolicyLocator, out: PolicyOutcome) -> None:
    check = data.policy.max_refusal_ratio

    def refusals(rows: list[Record]) -> list[Record]:
        found = data.findings.get("train", [])
        return [r for r, f in zip(rows, found, strict=True) if f.refusal]

    what = "answers are refusals"
    _check_train_ratio("maxRefusalRatio", check, data, locator, out, refusals, what)


def _exact_duplicates(rows: list[Record]) -> list[Record]:
    """The rows whose canonical bytes an earlier row already has."""
    seen: set[bytes] = set()
    duplicates: list[Record] = []
    for record in rows:
        digest = example_digest(record.canonical)
        if digest in seen:
            duplicates.append(record)
        seen.add(digest)
    return duplicates


def _check_duplicates(data: PolicyInput, locator: PolicyLocator, out: PolicyOutcome) -> None:
    check = data.policy.max_duplicate_ratio
    what = "examples are exact duplicates of an earlier one"
    _check_train_ratio(
        "maxDuplicateRatio", check, data, locator, out, _exact_duplicates, what, fix="dedupe"
    )


def _check_near_duplicates(data: PolicyInput, locator: PolicyLocator, out: PolicyOutcome) -> None:
    check = data.policy.max_near_duplicate_ratio

    def near_duplicates(rows: list[Record]) -> list[Record]:
        # Made when indexed or verified, not held all at once (that was ~3.4 KB a row).
        texts = LazyTexts([r.example for r in rows], example_text)
        matches = near_duplicates_in_order(
            texts, data.near_threshold, data.near_num_perm, keep_all=True
        )
        return [
            record
            for record, match in zip(rows, matches, strict=True)
            if match is not None and rows[match.key].canonical != record.canonical
        ]

    what = f"examples are near-duplicates (similarity >= {data.near_threshold}) of an earlier one"
    _check_train_ratio(
        "maxNearDuplicateRatio", check, data, locator, out, near_duplicates, what, fix="nearDedupe"
    )


def system_prompt_of(example: dict[str, Any]) -> str | None:
    for message in messages_of(example):
        if message.get("role") == "system":
            return content_text(message.get("content"))
    return None


def _check_system_prompt(data: PolicyInput, locator: PolicyLocator, out: PolicyOutcome) -> None:
    check = data.policy.require_system_prompt
    result = CheckResult("requireSystemPrompt", check.level, check.mode, None)
    out.results.append(result)
    if check.level == "off" or check.mode == "off":
        return
    train_prompts = Counter(
        system_prompt_of(r.example) for r in _unique_rows(data.splits.get("train", ()))
    )
    result.observed = len(train_prompts)
    # What every example should carry: `expected` when given; in `consistent` mode else the
    # most common prompt of train (ties: a prompt before none, then by text).
    compare = check.expected is not None or check.mode == "consistent"
    target = check.expected
    if target is None and train_prompts:
        target = max(train_prompts, key=lambda p: (train_prompts[p], p is not None, p or ""))
    what = "the expected one" if check.expected is not None else "the most common one"
    findings = _PerExample("requireSystemPrompt", check.level, out)
    for split, records in data.splits.items():
        for record in _unique_rows(records):
            prompt = system_prompt_of(record.example)
            if prompt == target and not (prompt is None and check.mode == "required"):
                continue
            if prompt is None and (check.mode == "required" or compare):
                findings.add(record, f"{split} example has no system prompt")
            elif compare and target is None:
                findings.add(
                    record,
                    f"{split} example has a system prompt {_short(str(prompt))}, "
                    "most examples have none",
                )
            elif compare:
                findings.add(
                    record,
                    f"{split} example's system prompt {_short(str(prompt))} differs from "
                    f"{what} {_short(str(target))}",
                )
    result.findings = findings.count
    findings.close(locator, "examples with a missing or different system prompt")


def _short(text: str, width: int = 40) -> str:
    flat = " ".join(text.split())
    return json.dumps(flat if len(flat) <= width else flat[: width - 1] + "…", ensure_ascii=False)


def _check_each_row(
    key: str,
    check: FlagCheck,
    data: PolicyInput,
    locator: PolicyLocator,
    out: PolicyOutcome,
    problem: Callable[[SplitName, Record, ExampleFindings], str | None],
    summary: str,
    applies: bool = True,
) -> None:
    """A flag check run on every row as read, of every split: `problem` says what is wrong
    with one (None: nothing); the count of findings is also what the report observes."""
    result = CheckResult(key, check.level, None, None)
    out.results.append(result)
    if check.level == "off" or not applies:
        return
    findings = _PerExample(key, check.level, out)
    for split, records in data.splits.items():
        found = data.findings[split]
        for record, example in zip(_unique_rows(records), found, strict=True):
            message = problem(split, record, example)
            if message is not None:
                findings.add(record, message)
    result.observed = result.findings = findings.count
    findings.close(locator, summary)


def _check_empty_answers(data: PolicyInput, locator: PolicyLocator, out: PolicyOutcome) -> None:
    def problem(split: SplitName, record: Record, found: ExampleFindings) -> str | None:
        return found.empty

    check = data.policy.empty_answers
    summary = "examples without an answer"
    _check_each_row("emptyAnswers", check, data, locator, out, problem, summary)


def _check_truncated(data: PolicyInput, locator: PolicyLocator, out: PolicyOutcome) -> None:
    def problem(split: SplitName, record: Record, found: ExampleFindings) -> str | None:
        return found.cut_off

    check = data.policy.truncated_answers
    summary = "answers that look cut off"
    applies = data.fmt != "reinforcement"  # the model writes its own answers
    _check_each_row("truncatedAnswers", check, data, locator, out, problem, summary, applies)


def _check_leakage(data: PolicyInput, locator: PolicyLocator, out: PolicyOutcome) -> None:
    check = data.policy.leakage
    # Observed: the leaks found; None (not checked) when off, as nothing was searched.
    result = CheckResult("leakage", check.level, None, None)
    out.results.append(result)
    if check.level == "off":
        return
    result.observed = len(data.leaks)
    findings = _PerExample("leakage", check.level, out)
    for leak in data.leaks:
        if leak.record.copy != 0:
            continue
        how = (
            "the same prompt"
            if leak.kind == "exact"
            else (f"a prompt {leak.similarity:.0%} similar to one")
        )
        findings.add(
            leak.record,
            f"{leak.split} example has {how} in {leak.other_split} ({leak.other.origin})",
        )
    result.findings = findings.count
    findings.close(locator, "examples leaking between splits")


def _check_secrets(data: PolicyInput, locator: PolicyLocator, out: PolicyOutcome) -> None:
    def problem(split: SplitName, record: Record, found: ExampleFindings) -> str | None:
        kinds = found.secrets
        if kinds:
            return f"{split} example contains what looks like a secret: {', '.join(kinds)}"
        return None

    summary = "examples containing secrets"
    _check_each_row("secrets", data.policy.secrets, data, locator, out, problem, summary)


def _check_diversity(data: PolicyInput, locator: PolicyLocator, out: PolicyOutcome) -> None:
    check = data.policy.min_prompt_diversity
    rows = _unique_rows(data.splits.get("train", ()))
    result = CheckResult("minPromptDiversity", check.level, check.value, None)
    out.results.append(result)
    if check.level == "off" or not rows:
        return
    prompts = [" ".join(user_prompt_text(r.example).lower().split()) for r in rows]
    distinct = len(set(prompts))
    ratio = _ratio(distinct, len(rows))
    result.observed = ratio
    if ratio < check.value:
        result.findings = 1
        common, times = Counter(prompts).most_common(1)[0]
        out.diagnostics.append(
            locator.diagnostic(
                ("minPromptDiversity",),
                severity_of(check.level),
                f"only {distinct} distinct user prompts in {len(rows)} train examples "
                f"({ratio:.1%}), less than minPromptDiversity {check.value:.1%}",
                hint=f"the most common, {times} times: {_short(common)}",
            )
        )


def _check_budget(data: PolicyInput, locator: PolicyLocator, out: PolicyOutcome) -> None:
    budget = data.policy.budget
    if budget is None:
        return
    cost = data.cost.cost_usd
    result = CheckResult("budget", budget.level, budget.max_cost_usd, cost)
    out.results.append(result)
    if budget.level == "off":
        return
    if cost is None:
        result.findings = 1
        out.diagnostics.append(
            locator.diagnostic(
                ("budget", "maxCostUsd"),
                "warning",
                f"the training price of {data.model.id} is unknown: the budget cannot be checked",
            )
        )
    elif cost > budget.max_cost_usd:
        result.findings = 1
        out.diagnostics.append(
            locator.diagnostic(
                ("budget", "maxCostUsd"),
                severity_of(budget.level),
                f"estimated training cost ${cost:,.2f} ({data.cost.billed_tokens:,} billed "
                f"tokens, {data.cost.epochs} epochs of {data.model.id}) exceeds "
                f"maxCostUsd ${budget.max_cost_usd:,.2f}",
            )
        )


_CHECKS: tuple[Callable[[PolicyInput, PolicyLocator, PolicyOutcome], None], ...] = (
    _check_min_examples,
    _check_max_tokens,
    _check_refusals,
    _check_duplicates,
    _check_near_duplicates,
    _check_system_prompt,
    _check_empty_answers,
    _check_truncated,
    _check_leakage,
    _check_secrets,
    _check_diversity,
    _check_budget,
)
