"""`ftctl data`: commands about training data files. `ftctl data stats FILE`: one file's report."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import click

from ftctl.catalog import hf
from ftctl.catalog.models import ModelInfo, hf_model, lookup_model
from ftctl.cli.context import AppContext, pass_app
from ftctl.datasets.formats import FORMATS, Format
from ftctl.errors import DataError
from ftctl.events import Event, EventSink

if TYPE_CHECKING:  # numpy and tiktoken load only when the command runs
    from ftctl.datasets.stats_report import Distribution, Finding, StatsReport

PROGRESS_MIN_BYTES = 4 * 1024 * 1024
DEFAULT_MODEL = "gpt-4o-mini-2024-07-18"
SHOWN_PER_CATEGORY = 3


@click.group("data")
def data() -> None:
    """Inspect and build training data."""


def _parse_epochs(ctx: click.Context, param: click.Parameter, value: str) -> int | Literal["auto"]:
    text = value.strip().lower()
    if text == "auto":
        return "auto"
    if text.isdigit() and 1 <= int(text) <= 50:
        return int(text)
    raise click.BadParameter(f"{value!r} is not 'auto' or a number of epochs (1-50)")


@data.command("stats")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--model",
    "-m",
    default=DEFAULT_MODEL,
    show_default=True,
    help="Base model (or ft: model) whose tokenizer, token limit and price to use.",
)
@click.option(
    "--epochs",
    "n_epochs",
    default="auto",
    show_default=True,
    callback=_parse_epochs,
    help="Epochs to estimate the cost for: auto (OpenAI's rule) or a number.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help="The file's format (default: detected from its lines).",
)
@click.option("--no-cache", is_flag=True, help="Recompute even if this file was analysed before.")
@click.option("--json", "json_flag", is_flag=True, help="Print the report as JSON.")
@pass_app
def stats(
    app: AppContext,
    file: Path,
    model: str,
    n_epochs: int | Literal["auto"],
    fmt: Format | None,
    no_cache: bool,
    json_flag: bool,
) -> None:
    """Report on one JSONL training file: format errors, token statistics, cost, data quality.

    Exits 1 when the file has format errors (data-quality findings alone exit 0).
    """
    # Hash the file (hashlib releases the GIL) while numpy and tiktoken load.
    hashing = None if no_cache else _FileDigest(file)
    if json_flag:
        app.json_output = True  # quiet progress; errors as JSON
    info = _stats_model(model)
    if no_cache and not info.model_dir:
        # A big file is shared out to worker processes: start them now, so that they load
        # while this process imports the rest (a cached run may not need them).
        from ftctl.datasets.stats_procs import prestart

        prestart(file, info.encoding)
    from ftctl.datasets.stats_cache import stats_with_cache

    with _progress(app, file) as sink:
        report = stats_with_cache(
            file,
            info,
            n_epochs=n_epochs,
            fmt=fmt,
            sink=sink,
            use_cache=not no_cache,
            sha256=None if hashing is None else hashing.result(),
        )
    if app.json_output:
        click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        for line in render_report(report):
            click.echo(line)
        for warning in report.warnings:  # on stderr, like every warning
            app.warn(warning)
    if report.error_count:
        raise click.exceptions.Exit(1)


def _stats_model(model: str) -> ModelInfo:
    """The catalog entry; an hf: model is read from its files (a relative directory is
    relative to the current one), so that its own tokenizer and chat template count."""
    info = lookup_model(model)
    if not hf.is_hf(info.id):
        return info
    missing = hf.missing_train_packages()
    if missing:
        raise DataError(
            f"{info.id} counts tokens with its own tokenizer, which needs the 'train' extra "
            f"({', '.join(missing)} not installed): {hf.INSTALL_COMMAND}"
        )
    return hf_model(info.id, Path.cwd(), read=True)


class _FileDigest:
    """The SHA-256 of a file, computed on a thread; None if the file cannot be read (the
    analysis then reports the error)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._digest: str | None = None
        self._thread = threading.Thread(target=self._run, name="ftctl-sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with open(self._path, "rb") as handle:
                self._digest = hashlib.file_digest(handle, "sha256").hexdigest()
        except OSError:
            pass

    def result(self) -> str | None:
        self._thread.join()
        return self._digest


@contextmanager
def _progress(app: AppContext, file: Path) -> Iterator[EventSink]:
    """A rich progress bar on stderr for big files at a terminal; otherwise nothing."""
    try:
        big = file.stat().st_size >= PROGRESS_MIN_BYTES
    except OSError:
        big = False
    if not (app.interactive and big):
        yield app.event_sink()
        return
    # Imported here: ~6 ms that every data command paid, though the bar shows only at a
    # terminal (a rebuild in CI takes ~1.2 s).
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=app.err_console, transient=True) as progress:
        task = progress.add_task(f"Analysing {file.name}", total=None)

        def sink(event: Event) -> None:
            if event.kind == "progress":
                progress.update(task, completed=event.completed, total=event.total)
            else:
                app.event_sink()(event)

        yield sink


# --- human rendering -----------------------------------------------------------------


def _n(value: int) -> str:
    return f"{value:,}"


def _pct(count: int, whole: int) -> str:
    return f"{100 * count / whole:.1f}%" if whole else "0%"


def _dist_line(name: str, dist: Distribution | None) -> list[str]:
    if dist is None:
        return [f"{name}: (no examples)"]
    return [
        f"{name}:",
        f"  min / max:     {_n(dist.min)} / {_n(dist.max)}",
        f"  mean / median: {dist.mean:,.2f} / {dist.median:,.1f}",
        f"  p10 / p90:     {dist.p10:,.1f} / {dist.p90:,.1f}",
    ]


def _lines_of(finding: Finding, limit: int = 5) -> str:
    lines = [str(s["line"]) for s in finding.samples[:limit]]
    return ("line " if len(lines) == 1 else "lines ") + ", ".join(lines)


def render_report(report: StatsReport) -> list[str]:
    """The human report, one string per line (no colour: safe to pipe)."""
    out: list[str] = []
    size_mb = report.size_bytes / 1_000_000
    cached = " (cached)" if report.cached else ""
    out.append(f"{report.file}: {size_mb:,.1f} MB, sha256 {report.sha256[:12]}…{cached}")
    out.append(
        f"Format: {report.format}   Model: {report.model} "
        f"({report.encoding}, {_n(report.token_limit)} tokens per example)"
    )
    examples = f"Examples: {_n(report.examples)}"
    if report.lines != report.examples:
        unreadable = report.lines - report.examples
        examples += f" ({_n(report.lines)} non-blank lines, {_n(unreadable)} not a JSON object)"
    out.append(examples)
    out.append("")
    if not report.errors:
        out.append("No format errors found")
    else:
        out.append(
            f"Found {_n(report.error_count)} format error(s) in "
            f"{_n(report.examples_with_errors)} line(s):"
        )
        for category, finding in sorted(report.errors.items()):
            out.append(f"  {category}: {_n(finding.count)}")
            for sample in finding.samples[:SHOWN_PER_CATEGORY]:
                out.append(
                    f"    {report.file}:{sample['line']}: {sample['path']}: {sample['message']}"
                )
    out.append("")
    out.append(f"Examples missing a system message: {_n(report.missing_system)}")
    out.append(f"Examples missing a user message: {_n(report.missing_user)}")
    out.append("")
    out += _dist_line("Messages per example", report.messages_per_example)
    out += _dist_line("Total tokens per example", report.total_tokens_per_example)
    out += _dist_line("Assistant (trained) tokens per example", report.assistant_tokens_per_example)
    out.append("")
    over = report.over_limit
    line = f"{_n(over.count)} example(s) over the {_n(report.token_limit)}-token limit"
    if over.count:
        line += f" (they will be truncated in training; {_lines_of(over)})"
    out.append(line)
    out.append(f"Tokens: {_n(report.total_tokens)} in total, {_n(report.trained_tokens)} trained")
    if report.cost_usd is None:
        cost = "price unknown"
    elif 0 < report.cost_usd < 0.01:
        cost = f"${report.cost_usd:.4f}"
    else:
        cost = f"${report.cost_usd:,.2f}"
    price = (
        ""
        if report.price_per_1m is None
        else f" at ${report.price_per_1m:,.2f} per 1M training tokens (prices as of 2026-11)"
    )
    out.append(
        f"Epochs: {report.epochs}   Billed tokens: {_n(report.billed_tokens)}   "
        f"Estimated cost: {cost}{price}"
    )
    out.append("")
    out.append("Data quality:")
    dup = report.duplicates
    dup_line = f"  duplicate lines: {_n(dup.count)} ({_pct(dup.count, report.examples)})"
    if dup.samples:
        first = dup.samples[0]
        dup_line += f", e.g. line {first['line']} repeats line {first['duplicate_of']}"
    out.append(dup_line)
    if report.refusals is None:
        out.append("  refusals: not checked (no refusal detector installed)")
    else:
        ref = report.refusals
        ref_line = f"  refusals: {_n(ref.count)} ({_pct(ref.count, report.examples)})"
        if ref.count:
            ref_line += f", e.g. {_lines_of(ref)}"
        out.append(ref_line)
    with_prompt = report.examples - report.missing_system
    if report.distinct_system_prompts > 1:
        out.append(
            f"  system prompt: inconsistent, {_n(report.distinct_system_prompts)} distinct; "
            f"the most common in {report.most_common_system_prompt_share:.1%} of "
            f"{_n(with_prompt)} examples with one"
        )
    elif report.distinct_system_prompts == 1:
        out.append(f"  system prompt: one, in {_n(with_prompt)} example(s)")
    else:
        out.append("  system prompt: none")
    for label, finding in (
        ("empty (whitespace-only) answers", report.empty_answers),
        ("answers that may be truncated", report.truncated_answers),
        ("examples with what looks like a secret", report.secrets),
    ):
        text = f"  {label}: {_n(finding.count)}"
        if finding.count:
            text += f", e.g. {_lines_of(finding)}"
        out.append(text)
    return out


# `ftctl data build` lives in its own module (the dataset build engine's command).
from ftctl.cli.data_build_cmd import build as _build  # noqa: E402

data.add_command(_build)
