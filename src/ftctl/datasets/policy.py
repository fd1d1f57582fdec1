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
from array import array
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ftctl.catalog.models import ModelInfo
from ftctl.config.loader import LoadedProject, LoadedWorkspace
from ftctl.config.models import FlagCheck, Level, Policy, RatioCheck
from ftctl.datasets.checks import CUT_OFF_MIN_WORDS, answer_problem, looks_cut_off
from ftctl.datasets.cost import CostEstimate
from ftctl.datasets.digest_index import first_positions
from ftctl.datasets.formats import Format
from ftctl.datasets.near_index import BandIndex
from ftctl.datasets.provenance import Origin
from ftctl.datasets.similarity import normalized_prompt
from ftctl.datasets.splits import Leak, SplitName
from ftctl.datasets.stream import RowTable, SplitColumns, band_matrix
from ftctl.errors import Diagnostic, Severity

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
    """The built splits as compact columns (`ftctl.datasets.stream`), and what was found
    on the way."""

    policy: Policy
    fmt: Format
    model: ModelInfo
    splits: Mapping[SplitName, SplitColumns]
    table: RowTable
    system_prompts: Sequence[str | None]
    cost: CostEstimate
    leaks: Sequence[Leak]
    near_threshold: float = NEAR_DUPLICATE_THRESHOLD
    near_num_perm: int = NEAR_DUPLICATE_NUM_PERM
    # The train rows came out of a nearDedupe with the check's settings that nothing after
    # changed (`row_work.near_deduped`): the near-duplicate check can find none.
    near_deduped: bool = False
    # Likewise a dedupe (`row_work.deduped`): the exact-duplicate check can find none.
    deduped: bool = False

    def origins(self, split: SplitName, positions: Sequence[int]) -> list[Origin]:
        columns = self.splits[split]
        return [self.table.origin(columns.row[p]) for p in positions]


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


def _where(origins: Sequence[Origin], count: int) -> str:
    """Where the first few of `count` findings are (`origins`: at least the first five)."""
    shown = ", ".join(str(o) for o in origins[:5])
    more = f" and {count - 5} more" if count > 5 else ""
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

    def add(self, origin: Origin, message: str) -> None:
        self.count += 1
        if self.count <= LISTED_PER_CHECK:
            self.outcome.diagnostics.append(
                Diagnostic(
                    file=origin.file,
                    line=origin.line,
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
    train = data.splits.get("train")
    n = 0 if train is None else train.uploaded
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
    split: SplitName
    for split in ("train", "validation"):
        columns = data.splits.get(split)
        if columns is None or not len(columns):
            continue
        totals = np.frombuffer(columns.total, dtype=np.int64)
        largest = max(largest, int(totals.max()))
        if check.level == "off":
            continue
        for position in np.flatnonzero(totals > limit).tolist():
            findings.add(
                data.table.origin(columns.row[position]),
                f"example has {int(totals[position])} tokens, more than the limit of {limit}"
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
    flag: Callable[[SplitColumns], list[int]],
    what: str,
    fix: str | None = None,
) -> None:
    """A `max…Ratio` check: the share of train rows (as read) that `flag` picks out (their
    positions), at most the value.

    `what` completes "N of M train …"; `fix` names the transform that removes such rows.
    """
    train = data.splits.get("train")
    result = CheckResult(key, check.level, check.value, None)
    out.results.append(result)
    if check.level == "off" or train is None or not len(train):
        return
    positions = flag(train)
    ratio = _ratio(len(positions), len(train))
    result.observed = ratio
    if ratio > check.value:
        result.findings = len(positions)
        hint = _where(data.origins("train", positions[:5]), len(positions))
        if fix is not None:
            hint = (hint + f"; add a `{fix}` transform").lstrip("; ")
        out.diagnostics.append(
            locator.diagnostic(
                (key,),
                severity_of(check.level),
                f"{len(positions)} of {len(train)} train {what} ({ratio:.1%}), "
                f"more than {key} {check.value:.1%}",
                hint=hint,
            )
        )


def _check_refusals(data: PolicyInput, locator: PolicyLocator, out: PolicyOutcome) -> None:
    check = data.policy.max_refusal_ratio

    def refusals(rows: SplitColumns) -> list[int]:
        return np.flatnonzero(np.frombuffer(rows.refusal, dtype=np.int8)).tolist()

    what = "answers are refusals"
    _check_train_ratio("maxRefusalRatio", check, data, locator, out, refusals, what)


def _exact_duplicates(rows: SplitColumns) -> list[int]:
    """The rows whose canonical bytes an earlier row already has."""
    first = first_positions(rows.digests.array("V16"))
    return np.flatnonzero(first != np.arange(first.size)).tolist()


def _check_duplicates(data: PolicyInput, locator: PolicyLocator, out: PolicyOutcome) -> None:
    check = data.policy.max_duplicate_ratio
    what = "examples are exact duplicates of an earlier one"

    def duplicates(rows: SplitColumns) -> list[int]:
        # After a dedupe that nothing changed rows after, none (a sort of every row's
        # digest: 14 ms of a 200,000-row build's checks).
        return [] if data.deduped else _exact_duplicates(rows)

    _check_train_ratio(
        "maxDuplicateRatio", check, data, locator, out, duplicates, what, fix="dedupe"
    )


def _check_near_duplicates(data: PolicyInput, locator: PolicyLocator, out: PolicyOutcome) -> None:
    check = data.policy.max_near_duplicate_ratio

    def near_duplicates(rows: SplitColumns) -> list[int]:
        if data.near_deduped:  # a second pass over every row would find nothing
            return []
        # Texts are made again from the source rows only to verify a candidate.
        hashes, signed = band_matrix(rows.text_bands, rows.text_signed)
        index = BandIndex(
            data.near_threshold, data.near_num_perm, lambda k: data.table.text(rows.row[k])
        )
        keys = np.arange(len(rows), dtype=np.int64)
        matches = index.query_insert_in_order(
            keys, hashes, signed, lambda j: data.table.text(rows.row[j]), keep_all=True
        )
        digests = rows.digests.array("V16")
        return [
            position
            for position, match in enumerate(matches)
            if match is not None and digests[match.key] != digests[position]
        ]

    what = f"examples are near-duplicates (similarity >= {data.near_threshold}) of an earlier one"
    _check_train_ratio(
        "maxNearDuplicateRatio", check, data, locator, out, near_duplicates, what, fix="nearDedupe"
    )


def _check_system_prompt(data: PolicyInput, locator: PolicyLocator, out: PolicyOutcome) -> None:
    check = data.policy.require_system_prompt
    result = CheckResult("requireSystemPrompt", check.level, check.mode, None)
    out.results.append(result)
    if check.level == "off" or check.mode == "off":
        return
    train = data.splits.get("train")
    # Counted and compared as ids (numpy): a loop over every row cost ~30 ms of a 200,000-row
    # build, after its pass, on one core.
    train_ids = np.bincount(_ids(train.system) if train is not None else np.zeros(0, np.intc))
    train_prompts = Counter(
        {data.system_prompts[i]: int(n) for i, n in enumerate(train_ids.tolist()) if n}
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
    # The ids whose prompt raises no finding, then only the rows of the others are visited.
    fine = np.array(
        [
            prompt == target and not (prompt is None and check.mode == "required")
            for prompt in data.system_prompts
        ],
        dtype=np.bool_,
    )
    for split, columns in data.splits.items():
        ids = _ids(columns.system)
        for position in np.flatnonzero(~fine[ids]).tolist():
            prompt = data.system_prompts[int(ids[position])]
            origin = data.table.origin(columns.row[position])
            if prompt is None and (check.mode == "required" or compare):
                findings.add(origin, f"{split} example has no system prompt")
            elif compare and target is None:
                findings.add(
                    origin,
                    f"{split} example has a system prompt {_short(str(prompt))}, "
                    "most examples have none",
                )
            elif compare:
                findings.add(
                    origin,
                    f"{split} example's system prompt {_short(str(prompt))} differs from "
                    f"{what} {_short(str(target))}",
                )
    result.findings = findings.count
    findings.close(locator, "examples with a missing or different system prompt")


def _ids(system: array[int]) -> npt.NDArray[np.intc]:
    """A split's system prompt ids (`SplitColumns.system`) as numpy sees them, not copied."""
    return np.frombuffer(system, dtype=np.intc)


def _short(text: str, width: int = 40) -> str:
    flat = " ".join(text.split())
    return json.dumps(flat if len(flat) <= width else flat[: width - 1] + "…", ensure_ascii=False)


def _check_each_row(
    key: str,
    check: FlagCheck,
    data: PolicyInput,
    locator: PolicyLocator,
    out: PolicyOutcome,
    problem: Callable[[SplitName, SplitColumns], Sequence[tuple[int, str]]],
    summary: str,
    applies: bool = True,
) -> None:
    """A flag check run on every row as read, of every split: `problem` gives the rows of a
    split with a finding (position, message); their count is also what the report observes."""
    result = CheckResult(key, check.level, None, None)
    out.results.append(result)
    if check.level == "off" or not applies:
        return
    findings = _PerExample(key, check.level, out)
    for split, columns in data.splits.items():
        for position, message in problem(split, columns):
            findings.add(data.table.origin(columns.row[position]), message)
    result.observed = result.findings = findings.count
    findings.close(locator, summary)


def _check_empty_answers(data: PolicyInput, locator: PolicyLocator, out: PolicyOutcome) -> None:
    def problem(split: SplitName, columns: SplitColumns) -> Sequence[tuple[int, str]]:
        return columns.empty

    check = data.policy.empty_answers
    summary = "examples without an answer"
    _check_each_row("emptyAnswers", check, data, locator, out, problem, summary)


def _check_truncated(data: PolicyInput, locator: PolicyLocator, out: PolicyOutcome) -> None:
    def problem(split: SplitName, columns: SplitColumns) -> Sequence[tuple[int, str]]:
        return columns.cut_off

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
        if leak.copy != 0:
            continue
        how = (
            "the same prompt"
            if leak.kind == "exact"
            else (f"a prompt {leak.similarity:.0%} similar to one")
        )
        findings.add(
            leak.origin, f"{leak.split} example has {how} in {leak.other_split} ({leak.other})"
        )
    result.findings = findings.count
    findings.close(locator, "examples leaking between splits")


def _check_secrets(data: PolicyInput, locator: PolicyLocator, out: PolicyOutcome) -> None:
    def problem(split: SplitName, columns: SplitColumns) -> Sequence[tuple[int, str]]:
        return [
            (position, f"{split} example contains what looks like a secret: {', '.join(kinds)}")
            for position, kinds in columns.secrets
        ]

    summary = "examples containing secrets"
    _check_each_row("secrets", data.policy.secrets, data, locator, out, problem, summary)


def _check_diversity(data: PolicyInput, locator: PolicyLocator, out: PolicyOutcome) -> None:
    check = data.policy.min_prompt_diversity
    train = data.splits.get("train")
    result = CheckResult("minPromptDiversity", check.level, check.value, None)
    out.results.append(result)
    if check.level == "off" or train is None or not len(train):
        return
    first = first_positions(train.diversity.array("V16"))
    counts = np.bincount(first, minlength=first.size)  # per prompt, at its first position
    distinct = int(np.count_nonzero(counts))
    ratio = _ratio(distinct, len(train))
    result.observed = ratio
    if ratio < check.value:
        result.findings = 1
        # The most common prompt; of equally common ones, the first seen.
        times = int(counts.max())
        position = int(np.flatnonzero(counts == times)[0])
        example = data.table.replay(train.row[position])
        common = normalized_prompt(example or {})
        out.diagnostics.append(
            locator.diagnostic(
                ("minPromptDiversity",),
                severity_of(check.level),
                f"only {distinct} distinct user prompts in {len(train)} train examples "
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
