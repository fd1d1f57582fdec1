"""Views of `ftctl eval`: terminal text, JSON and Markdown (a PR-ready report).

The Markdown report puts the summary table first, then the gates, the per-grader scores
of the candidate against the baseline, the loss curve as a Mermaid `xychart-beta` chart
(GitHub renders it), and side-by-side samples, worst first.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from ftctl.gates.evals import Answer, EvalRow
from ftctl.gates.results import format_number
from ftctl.gates.scorecard import LossPoint, Scorecard

MAX_CHART_POINTS = 60
SAMPLES_SHOWN = 10
_CELL_CHARS = 120


def render_eval_json(card: Scorecard) -> str:
    return json.dumps(card.to_dict(), indent=2, ensure_ascii=False) + "\n"


def _rate(value: float | None, detail: str = "") -> str:
    if value is None:
        return "–"
    return format_number(value) + (f" ({detail})" if detail else "")


def _verdict(card: Scorecard) -> str:
    return "passed" if card.passed else "FAILED"


def _cache_line(card: Scorecard) -> str:
    total = card.calls + card.cached
    return f"{total} answers: {card.calls} model calls, {card.cached} from the eval cache"


def summary_rows(card: Scorecard) -> list[tuple[str, str, str]]:
    """(what, candidate, baseline) rows of the summary table."""
    report = card.report
    baseline = report.baseline if report else None
    rows = [("Model", f"`{card.model}`", f"`{baseline}`" if baseline else "–")]
    if report is not None:
        c = report.counts
        rows.append(
            (
                f"{report.dataset} pass rate",
                _rate(report.pass_rate, f"{c.passed}/{c.examples}"),
                _rate(report.baseline_pass_rate, f"{c.baseline_passed}/{c.examples}")
                if report.baseline_pass_rate is not None
                else "–",
            )
        )
        if report.win_rate is not None:
            detail = f"{c.wins} won, {c.ties} tied, {c.losses} lost"
            rows.append(("Win rate vs baseline", _rate(report.win_rate, detail), ""))
        elif report.baseline_skipped:
            rows.append(("Win rate vs baseline", f"skipped: {report.baseline_skipped}", ""))
        rows.append(
            ("Refusal rate", _rate(report.refusal_rate), _rate(report.baseline_refusal_rate))
        )
    failed = len(card.decision.failures)
    gates = f"**{_verdict(card)}**" + (f" ({failed} failed)" if failed else "")
    rows.append(("Gates", gates, ""))
    return rows


def _cell(text: str | None, limit: int = _CELL_CHARS) -> str:
    if text is None:
        return "–"
    # Model output may hold control characters (an untrained base model's bytes).
    flat = "".join(ch if ch.isprintable() else "\ufffd" for ch in " ".join(text.split()))
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return flat.replace("|", "\\|").replace("<", "&lt;").replace("`", "'") or "(empty)"


def _answer_cell(answer: Answer | None) -> str:
    if answer is None:
        return "–"
    mark = "✅" if answer.passed else "❌"
    why = f" <br><sub>{_cell('; '.join(answer.reasons), 80)}</sub>" if answer.reasons else ""
    return f"{mark} {_cell(answer.text)}{why}"


def loss_chart(points: Sequence[LossPoint]) -> list[str]:
    """A Mermaid `xychart-beta` of the loss by step (train, and validation when every
    shown step has it); at most MAX_CHART_POINTS steps, evenly picked."""
    shown = [p for p in points if p.train_loss is not None]
    if len(shown) > MAX_CHART_POINTS:
        stride = (len(shown) - 1) / (MAX_CHART_POINTS - 1)
        shown = [shown[round(i * stride)] for i in range(MAX_CHART_POINTS)]
    if not shown:
        return []
    steps = ", ".join(str(p.step) for p in shown)
    train = ", ".join(f"{p.train_loss:.4g}" for p in shown)
    lines = [
        "```mermaid",
        "xychart-beta",
        '    title "Loss by step"',
        f'    x-axis "step" [{steps}]',
        '    y-axis "loss"',
        f"    line [{train}]",
    ]
    valid = [p.valid_loss for p in shown]
    if all(v is not None for v in valid):
        lines.append("    line [" + ", ".join(f"{v:.4g}" for v in valid if v is not None) + "]")
    lines.append("```")
    return lines


def render_eval_markdown(card: Scorecard, *, samples: int = SAMPLES_SHOWN) -> str:
    report = card.report
    baseline_label = f" (`{card.baseline_name}`)" if card.baseline_name else ""
    lines = [
        f"### ftctl eval: `{card.project}` version {card.version}",
        "",
        f"| | Candidate | Baseline{baseline_label} |",
        "|---|---|---|",
    ]
    lines += [f"| {what} | {cand} | {base} |" for what, cand, base in summary_rows(card)]
    lines += ["", f"<sub>{_cache_line(card)}. Nothing was promoted.</sub>", ""]

    lines += ["#### Gates", "", "| Gate | Observed | Required | Verdict |", "|---|---:|---:|---|"]
    for r in card.decision.results:
        observed = "–" if r.observed is None else format_number(r.observed)
        required = "–" if r.threshold is None else f"{r.op or ''} {format_number(r.threshold)}"
        verdict = "pass" if r.passed else "**fail**"
        lines.append(f"| {_cell(r.name)} | {observed} | {required.strip()} | {verdict} |")
    lines.append("")

    scores = card.grader_scores()
    if scores:
        lines += [
            "#### Per grader",
            "",
            "| Grader | Candidate | Baseline | Δ |",
            "|---|---:|---:|---:|",
        ]
        for s in scores:
            delta = "–" if s.baseline is None else f"{s.candidate - s.baseline:+.2f}"
            lines.append(
                f"| `{s.grader}` | {s.candidate:.2f} | "
                f"{'–' if s.baseline is None else f'{s.baseline:.2f}'} | {delta} |"
            )
        lines.append("")

    chart = loss_chart(card.loss_curve)
    if chart:
        legend = "first line: training loss"
        if sum(line.startswith("    line") for line in chart) == 2:
            legend += "; second line: validation loss"
        lines += ["#### Loss curve", "", *chart, "", f"<sub>{legend}.</sub>", ""]

    rows = card.samples(samples)
    if report is not None and rows:
        total = len(report.rows)
        lines += [
            "<details>",
            f"<summary>Samples, worst first ({len(rows)} of {total})</summary>",
            "",
            "| Line | Prompt | Reference | Candidate | Baseline |",
            "|---:|---|---|---|---|",
        ]
        lines += [_sample_row(card, row) for row in rows]
        lines += ["", "</details>", ""]
    return "\n".join(lines).rstrip() + "\n"


def _sample_row(card: Scorecard, row: EvalRow) -> str:
    return (
        f"| {row.line} | {_cell(card.prompt(row))} | {_cell(row.reference)} "
        f"| {_answer_cell(row.candidate)} | {_answer_cell(row.baseline)} |"
    )


def render_eval_text(card: Scorecard, *, samples: int = 5) -> str:
    lines = [f"ftctl eval: {card.project} version {card.version} ({card.model})", ""]
    width = max(len(w) for w, _, _ in summary_rows(card))
    for what, cand, base in summary_rows(card):
        cand = cand.replace("`", "").replace("**", "")
        base = base.replace("`", "")
        tail = f"   baseline: {base}" if base and base != "–" else ""
        lines.append(f"  {what.ljust(width)}  {cand}{tail}")
    lines += ["", "Gates:"]
    lines += [f"  {r.message}" for r in card.decision.results]
    scores = card.grader_scores()
    if scores:
        lines += ["", "Per grader (candidate vs baseline):"]
        for s in scores:
            base = "–" if s.baseline is None else f"{s.baseline:.2f}"
            lines.append(f"  {s.grader}: {s.candidate:.2f} vs {base}")
    worst = [r for r in card.samples(samples) if not r.candidate.passed]
    if worst:
        lines += ["", "Worst samples:"]
        for row in worst:
            lines.append(f"  line {row.line}: {_cell(card.prompt(row), 80)}")
            lines.append(f"    expected  {_cell(row.reference, 80)}")
            lines.append(f"    candidate {_cell(row.candidate.text, 80)}")
            if row.baseline is not None:
                lines.append(f"    baseline  {_cell(row.baseline.text, 80)}")
    lines += ["", _cache_line(card) + ".", f"Gates {_verdict(card)}; nothing was promoted."]
    return "\n".join(lines) + "\n"


def eval_summary_markdown(card: Scorecard) -> str:
    """One line for a PR comment: `support-triage` v3: gates passed, test pass rate …"""
    head = f"`{card.project}` version {card.version}: gates {_verdict(card)}"
    if card.report is not None:
        head += f"; {card.report.summary()}"
    return head
