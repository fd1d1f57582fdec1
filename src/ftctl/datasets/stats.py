"""`ftctl data stats`: the data-prep notebook's report for one JSONL file, streaming and parallel.

The file is read in chunks of whole lines. The main thread parses and checks a chunk and
gathers the texts to encode; helper threads (one per spare core) tokenize them (tiktoken
releases the GIL) while the main thread goes on with the next chunk, and the main thread
tokenizes the batches still queued when it needs their counts, so every core keeps busy
(see `_JobQueue`). Per-example numbers live in small numpy arrays (about 40 bytes per
example); nothing else of the data is kept, so memory stays flat whatever the file size.

Tokenization trick: the texts of a batch are joined with `<|endoftext|>` and encoded in
one call with that special token allowed. tiktoken encodes the segments between special
tokens independently, so the token count of each text is the distance between separator
positions, exactly what `encode_ordinary(text)` gives (a batch whose texts contain the
separator themselves falls back to one call per text). Texts that repeat across examples
(roles, system prompts, tool definitions) are encoded once and their counts cached.

The report's shape is `ftctl.datasets.stats_report`; results are cached by (sha256 of the
file, model, epochs, ftctl version) in `ftctl.datasets.stats_cache`; the per-example checks
are `ftctl.datasets.checks`, shared with `data build`.
"""

from __future__ import annotations

import gc
import hashlib
import json
import sys
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt
import tiktoken

from ftctl.catalog.models import ModelInfo
from ftctl.datasets import stats_procs
from ftctl.datasets.canonical import canonical_line
from ftctl.datasets.checks import NOTHING, ExampleChecks, ExampleFindings
from ftctl.datasets.cost import estimate_cost
from ftctl.datasets.counting import (
    TOKENS_PER_CONVERSATION,
    TOKENS_PER_MESSAGE,
    RepeatedTexts,
    counts_from_tokens,
    encode_joined,
    tally_example,
)
from ftctl.datasets.formats import (
    FORMATS,
    PLAIN_ROLES,
    Format,
    check_example,
    detect_format,
    plain_chat_messages,
)
from ftctl.datasets.hf_counting import HfTokenizer
from ftctl.datasets.jobs import Job, JobQueue
from ftctl.datasets.jsonl import LineChunk, LineError, iter_line_chunks, parse_line
from ftctl.datasets.stats_report import SAMPLES_PER_FINDING, Distribution, Finding, StatsReport
from ftctl.datasets.tokenizers import ENDOFTEXT, get_encoding
from ftctl.errors import DataError
from ftctl.events import Event, EventSink, ignore

CHUNK_BYTES = 2 * 1024 * 1024
CHUNKS_IN_FLIGHT = 2  # parsed chunks whose tokens are being counted while the next is parsed
JOBS_PER_WORKER = 1  # tokenizing jobs per chunk and thread: small enough to share out
SWITCH_INTERVAL = 0.001  # seconds; Python's default is 0.005
MAX_DISTINCT_SYSTEM_PROMPTS = 10_000

IntArray = npt.NDArray[np.int64]


# --- per-chunk work ------------------------------------------------------------------


@dataclass
class _Pending:
    """A parsed chunk waiting for its token counts."""

    fixed: IntArray  # per example: framing tokens and cached texts
    n_messages: IntArray
    line_nos: IntArray
    hashes: IntArray
    ref_owner: IntArray  # per text reference: which example
    ref_text: IntArray  # ... which text of the batch
    ref_trained: npt.NDArray[np.bool_]
    to_cache: dict[str, int]  # repeated text -> its index in the batch
    batches: list[list[str]]
    jobs: list[Job[npt.NDArray[np.uint32]]]  # each batch's tokens, separators included
    # An hf: model's counts per example (total, trained), by data build's counter.
    hf_counts: IntArray | None = None


@dataclass
class _Totals:
    """Everything counted so far that is not a per-example array."""

    lines: int = 0
    examples_with_errors: int = 0
    error_counts: Counter[str] = field(default_factory=Counter)
    error_samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    missing_system: int = 0
    missing_user: int = 0
    refusals: int = 0
    refusal_samples: list[dict[str, Any]] = field(default_factory=list)
    empty: int = 0
    empty_samples: list[dict[str, Any]] = field(default_factory=list)
    truncated: int = 0
    truncated_samples: list[dict[str, Any]] = field(default_factory=list)
    secrets: int = 0
    secrets_samples: list[dict[str, Any]] = field(default_factory=list)
    system_prompts: Counter[int] = field(default_factory=Counter)
    system_prompts_overflow: bool = False
    # False for one chunk's totals, merged later (`merge` applies the cap in file order).
    capped: bool = True

    def error(self, category: str, line: int, path: str, message: str) -> None:
        self.error_counts[category] += 1
        samples = self.error_samples.setdefault(category, [])
        if len(samples) < SAMPLES_PER_FINDING:
            samples.append({"line": line, "path": path, "message": message})

    def merge(self, chunk: _Totals, line_offset: int) -> None:
        """Add one chunk's totals (line numbers relative to the chunk), chunks in file
        order: the same totals, samples and system-prompt cap as one pass over the file."""
        self.lines += chunk.lines
        self.examples_with_errors += chunk.examples_with_errors
        for category, count in chunk.error_counts.items():
            self.error_counts[category] += count
            _shifted(
                self.error_samples.setdefault(category, []),
                chunk.error_samples.get(category, []),
                line_offset,
            )
        self.missing_system += chunk.missing_system
        self.missing_user += chunk.missing_user
        self.refusals += chunk.refusals
        _shifted(self.refusal_samples, chunk.refusal_samples, line_offset)
        self.empty += chunk.empty
        _shifted(self.empty_samples, chunk.empty_samples, line_offset)
        self.truncated += chunk.truncated
        _shifted(self.truncated_samples, chunk.truncated_samples, line_offset)
        self.secrets += chunk.secrets
        _shifted(self.secrets_samples, chunk.secrets_samples, line_offset)
        # A chunk's counter is in order of first appearance, so admitting its prompts in
        # that order fills the cap with the same prompts as one pass would.
        prompts = self.system_prompts
        for digest, count in chunk.system_prompts.items():
            if digest in prompts or len(prompts) < MAX_DISTINCT_SYSTEM_PROMPTS:
                prompts[digest] += count
            else:
                self.system_prompts_overflow = True


def _shifted(samples: list[dict[str, Any]], more: list[dict[str, Any]], offset: int) -> None:
    for sample in more:
        if len(samples) >= SAMPLES_PER_FINDING:
            return
        samples.append({**sample, "line": sample["line"] + offset})


def _sample(samples: list[dict[str, Any]], **sample: Any) -> None:
    if len(samples) < SAMPLES_PER_FINDING:
        samples.append(sample)


_PARTS = ("total", "trained", "n_messages", "line_no", "hash")


@dataclass
class ChunkResult:
    """One chunk's analysis, line numbers relative to the chunk (`_Analyzer.analyze`)."""

    totals: _Totals
    arrays: dict[str, IntArray]  # per example: each of `_PARTS`


class _Analyzer:
    def __init__(
        self,
        enc: tiktoken.Encoding,
        fmt: Format | None,
        pool: JobQueue,
        workers: int,
        hf: HfTokenizer | None = None,
    ) -> None:
        self.enc = enc
        self.hf = hf
        self.fmt = fmt
        self.pool = pool
        self.workers = workers
        self._checks: ExampleChecks | None = None
        # Repeated texts (system prompts, roles, tool definitions) whose counts are kept,
        # bounded so that memory stays flat: as a build's workers keep them.
        self.repeated = RepeatedTexts()
        self.role_tokens = {role: len(enc.encode_ordinary(role)) for role in PLAIN_ROLES}
        self.totals = _Totals()
        self.parts: dict[str, list[npt.NDArray[Any]]] = {k: [] for k in _PARTS}

    def analyze(self, lines: list[tuple[int, bytes]]) -> ChunkResult:
        """One chunk on its own, tokenized on this thread (with a `JobQueue(0)`): its
        totals and arrays, for `_Totals.merge` in file order."""
        self.totals = _Totals(capped=False)
        self.parts = {k: [] for k in _PARTS}
        self.collect(self.submit(LineChunk(lines, 0)))
        return ChunkResult(self.totals, {k: self.array(k) for k in _PARTS})

    # main thread: parse, check, gather texts
    def submit(self, chunk: LineChunk) -> _Pending:
        values = [(line_no, raw, parse_line(raw)) for line_no, raw in chunk.lines]
        if self.fmt is None:
            self.fmt = _majority_format(v for _, _, v in values)
        fmt = self.fmt
        if self._checks is None:
            self._checks = ExampleChecks(fmt)  # `ftctl.datasets.checks`: what `data build` runs
        examine = self._checks.examine
        examine_plain = self._checks.examine_plain
        totals = self.totals
        totals.lines += len(values)

        texts: list[str] = []
        ref_owner: list[int] = []
        ref_text: list[int] = []
        ref_trained: list[bool] = []
        to_cache: dict[str, int] = {}
        fixed: list[int] = []
        n_messages: list[int] = []
        line_nos: list[int] = []
        hashes: list[int] = []
        cache = self.repeated.counts
        owner = 0
        extra = 0
        hf_examples: list[dict[str, Any]] = []

        def add_text(text: str, trained: bool, repeated: bool) -> None:
            nonlocal extra
            if repeated:
                known = cache.get(text)
                if known is not None:
                    extra += known
                    return
                index = to_cache.get(text)
                if index is None:
                    index = len(texts)
                    to_cache[text] = index
                    texts.append(text)
            else:
                index = len(texts)
                texts.append(text)
            ref_owner.append(owner)
            ref_text.append(index)
            ref_trained.append(trained)

        role_tokens = self.role_tokens
        simple = fmt == "chat"
        for line_no, _raw, value in values:
            if isinstance(value, LineError):
                totals.examples_with_errors += 1
                totals.error(value.category, line_no, "$", value.message)
                continue
            messages = plain_chat_messages(value) if simple else None
            if messages is not None:
                # Fast path for the common case (plain text chat, no format issue by
                # construction); the same numbers as check_example/tally_example/_inspect.
                base = TOKENS_PER_CONVERSATION + TOKENS_PER_MESSAGE * len(messages)
                has_system = has_user = False
                for message in messages:
                    role = message["role"]
                    content = message["content"]
                    base += role_tokens[role]
                    if role == "assistant":
                        ref_trained.append(True)
                    elif role == "user":
                        has_user = True
                        ref_trained.append(False)
                    else:  # system or developer: repeated across examples, cached
                        if not has_system:
                            has_system = True
                            self._system_prompt(content)
                        known = cache.get(content)
                        if known is not None:
                            base += known
                            continue
                        index = to_cache.get(content)
                        if index is None:
                            to_cache[content] = index = len(texts)
                            texts.append(content)
                        ref_owner.append(owner)
                        ref_text.append(index)
                        ref_trained.append(False)
                        continue
                    ref_owner.append(owner)
                    ref_text.append(len(texts))
                    texts.append(content)
                # `plain_chat_messages` checked what `examine` would check again.
                self._findings(line_no, has_system, has_user, examine_plain(messages))
                fixed.append(base)
                n_messages.append(len(messages))
                # Equal canonical bytes (what `data build` compares) are, for plain chat,
                # the same (role, content) sequence: hashed without making those bytes.
                hashes.append(hash(tuple([x for m in messages for x in (m["role"], m["content"])])))
            else:
                issues = check_example(value, fmt)
                if issues:
                    totals.examples_with_errors += 1
                    for issue in issues:
                        totals.error(issue.category, line_no, issue.path, issue.message)
                if not isinstance(value, dict):
                    continue
                extra = 0
                base = tally_example(value, fmt, add_text)
                fixed.append(base + extra)
                n_messages.append(self._inspect(value, fmt, line_no))
                self._findings(line_no, *self._roles(value, fmt), examine(value))
                # Duplicates are equal canonical bytes, as `data build` compares them (key
                # order and spacing do not matter). Python's hash: 64 bits, salted per
                # process, fine for finding repeats within one run.
                hashes.append(hash(canonical_line(value)))
            line_nos.append(line_no)
            if self.hf is not None:
                hf_examples.append(cast(dict[str, Any], value))
            owner += 1

        if self.hf is not None:
            # An hf: model counts with its own tokenizer and chat template, as `data build`
            # does (`HfTokenizer`); the tiktoken texts gathered above are not encoded.
            counts = self.hf.count_examples(hf_examples, fmt)
            return _Pending(
                fixed=np.array(fixed, dtype=np.int64),
                n_messages=np.array(n_messages, dtype=np.int64),
                line_nos=np.array(line_nos, dtype=np.int64),
                hashes=np.array(hashes, dtype=np.int64),
                ref_owner=np.zeros(0, np.int64),
                ref_text=np.zeros(0, np.int64),
                ref_trained=np.zeros(0, np.bool_),
                to_cache={},
                batches=[],
                jobs=[],
                hf_counts=np.array([(c.total, c.trained) for c in counts], dtype=np.int64).reshape(
                    -1, 2
                ),
            )
        # The helpers only encode: joining before and counting after hold the GIL, which
        # this thread has anyway, whereas a helper would wait for it each time.
        batches = _split(texts, self.workers * JOBS_PER_WORKER)
        jobs = [
            self.pool.submit(encode_joined, self.enc, ENDOFTEXT.join(batch)) for batch in batches
        ]
        return _Pending(
            fixed=np.array(fixed, dtype=np.int64),
            n_messages=np.array(n_messages, dtype=np.int64),
            line_nos=np.array(line_nos, dtype=np.int64),
            hashes=np.array(hashes, dtype=np.int64),
            ref_owner=np.array(ref_owner, dtype=np.int64),
            ref_text=np.array(ref_text, dtype=np.int64),
            ref_trained=np.array(ref_trained, dtype=np.bool_),
            to_cache=to_cache,
            batches=batches,
            jobs=jobs,
        )

    def collect(self, pending: _Pending) -> None:
        if pending.hf_counts is not None:
            self._keep(pending, pending.hf_counts[:, 0], pending.hf_counts[:, 1])
            return
        results = [
            counts_from_tokens(self.enc, self.pool.result(job), batch)
            for job, batch in zip(pending.jobs, pending.batches, strict=True)
        ]
        counts = np.concatenate(results) if results else np.zeros(0, np.int64)
        n = pending.fixed.size
        per_ref = counts[pending.ref_text]
        total = pending.fixed + np.bincount(pending.ref_owner, per_ref, minlength=n).astype(
            np.int64
        )
        trained = np.bincount(
            pending.ref_owner[pending.ref_trained],
            per_ref[pending.ref_trained],
            minlength=n,
        ).astype(np.int64)
        for text, index in pending.to_cache.items():
            self.repeated.remember(text, int(counts[index]))
        self._keep(pending, total, trained)

    def _keep(self, pending: _Pending, total: IntArray, trained: IntArray) -> None:
        self.parts["total"].append(total)
        self.parts["trained"].append(trained)
        self.parts["n_messages"].append(pending.n_messages)
        self.parts["line_no"].append(pending.line_nos)
        self.parts["hash"].append(pending.hashes)

    def array(self, name: str) -> IntArray:
        return _concat(self.parts[name])

    # per-example quality findings (main thread)
    def _inspect(self, example: dict[str, Any], fmt: Format, line_no: int) -> int:
        """The number of messages of an example of any shape (DPO: input and outputs)."""
        if fmt == "dpo":
            inp = example.get("input")
            messages = inp.get("messages") if isinstance(inp, dict) else None
            messages = messages if isinstance(messages, list) else []
            outputs = [
                o[0]
                for o in (example.get("preferred_output"), example.get("non_preferred_output"))
                if isinstance(o, list) and o
            ]
            return len(messages) + len(outputs)
        raw = example.get("messages")
        return len(raw) if isinstance(raw, list) else 0

    def _roles(self, example: dict[str, Any], fmt: Format) -> tuple[bool, bool]:
        """(has a system or developer message, has a user message); counts the system prompt."""
        if fmt == "dpo":
            inp = example.get("input")
            messages = inp.get("messages") if isinstance(inp, dict) else None
        else:
            messages = example.get("messages")
        has_system = has_user = False
        for message in messages if isinstance(messages, list) else []:
            if not isinstance(message, dict):
                continue
            role = message.get("role")
            if role == "user":
                has_user = True
            elif role == "system" or role == "developer":
                if not has_system:
                    content = message.get("content")
                    self._system_prompt(
                        content if isinstance(content, str) else json.dumps(content)
                    )
                has_system = True
        return has_system, has_user

    def _findings(
        self, line_no: int, has_system: bool, has_user: bool, found: ExampleFindings
    ) -> None:
        """Count missing roles and what the per-example checks found in one example."""
        totals = self.totals
        if not has_system:
            totals.missing_system += 1
        if not has_user:
            totals.missing_user += 1
        if found is NOTHING:
            return
        if found.refusal:
            totals.refusals += 1
            _sample(totals.refusal_samples, line=line_no)
        if found.empty is not None:
            totals.empty += 1
            _sample(totals.empty_samples, line=line_no, message=found.empty)
        if found.cut_off is not None:
            totals.truncated += 1
            _sample(totals.truncated_samples, line=line_no, message=found.cut_off)
        if found.secrets:
            totals.secrets += 1
            _sample(totals.secrets_samples, line=line_no, kinds=list(found.secrets))

    def _system_prompt(self, text: str) -> None:
        # Salted per process (worker processes share a seed): fine for counting in one run.
        digest = hash(text)
        totals = self.totals
        prompts = totals.system_prompts
        if digest in prompts or not totals.capped or len(prompts) < MAX_DISTINCT_SYSTEM_PROMPTS:
            prompts[digest] += 1
        else:
            self.totals.system_prompts_overflow = True


def _concat(parts: list[npt.NDArray[Any]]) -> IntArray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def format_of_lines(lines: list[tuple[int, bytes]]) -> Format:
    """The format most of these lines have (what `compute_stats` detects on its first chunk)."""
    return _majority_format(parse_line(raw) for _, raw in lines)


def _majority_format(values: Iterator[object]) -> Format:
    votes = Counter(detect_format(v) for v in values if isinstance(v, dict))
    if not votes:
        return "chat"
    best = max(votes.values())
    return next(f for f in FORMATS if votes[f] == best)


def _split(texts: list[str], parts: int) -> list[list[str]]:
    if not texts:
        return []
    size = -(-len(texts) // parts)
    return [texts[i : i + size] for i in range(0, len(texts), size)]


# --- the whole file ------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def compute_stats(
    path: Path,
    model: ModelInfo,
    *,
    n_epochs: int | Literal["auto"] = "auto",
    fmt: Format | None = None,
    sink: EventSink = ignore,
    workers: int | None = None,
    sha256: str | None = None,
) -> StatsReport:
    """Analyse one JSONL file for `model` (format detected from its lines unless given).

    `workers`: processes (from `SPLIT_MIN_BYTES` on, an OpenAI encoding) or threads that
    tokenize, this one included (default: `stats_procs.default_processes`).
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror or error}") from error
    if path.is_dir():
        raise DataError(f"{path} is a directory, not a JSONL file")
    workers = workers or stats_procs.default_processes()
    if workers > 1 and size >= stats_procs.SPLIT_MIN_BYTES and not model.model_dir:
        split = stats_procs.compute_split(
            path,
            model,
            size,
            processes=min(workers, stats_procs.MAX_PROCESSES),
            n_epochs=n_epochs,
            fmt=fmt,
            sink=sink,
            sha256=sha256,
        )
        if split is not None:
            return split
        # A worker process failed (it said why on stderr): this process does it all.
    sink(Event("progress", f"Analysing {path.name}", task="data-stats", completed=0, total=size))
    switch_interval = sys.getswitchinterval()
    collecting = gc.isenabled()
    # Parsing allocates hundreds of thousands of dicts and lists, none in a reference
    # cycle, and each allocation burst makes the cyclic collector traverse every live
    # object again (0.2-0.4 CPU-s on 50,000 examples): nothing for it to find here.
    gc.disable()
    # The helpers hold the GIL only briefly between tokenizing batches, but each time they
    # want it back they wait for the main thread's Python work to yield it (every 5 ms by
    # default): hand it over sooner so that their cores do not idle meanwhile.
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        with JobQueue(workers - 1) as pool:
            # Hashing releases the GIL: a helper hashes while this thread loads the encoding.
            hashing = Job.finished(sha256) if sha256 else pool.submit(sha256_file, path)
            enc = get_encoding(model.encoding)
            hf = HfTokenizer(model.model_dir) if model.model_dir else None
            analyzer = _Analyzer(enc, fmt, pool, workers, hf)
            in_flight: deque[_Pending] = deque()
            for chunk in iter_line_chunks(path, chunk_bytes=CHUNK_BYTES):
                in_flight.append(analyzer.submit(chunk))
                # Keep chunks tokenizing while the next is parsed; collect in order.
                while len(in_flight) > CHUNKS_IN_FLIGHT:
                    analyzer.collect(in_flight.popleft())
                sink(
                    Event(
                        "progress",
                        f"Analysing {path.name}",
                        task="data-stats",
                        completed=chunk.bytes_read,
                        total=size,
                    )
                )
            for pending in in_flight:
                analyzer.collect(pending)
            digest = pool.result(hashing)
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror or error}") from error
    finally:
        sys.setswitchinterval(switch_interval)
        if collecting:
            gc.enable()
    return report(
        path, digest, size, model, n_epochs, analyzer.totals, analyzer.parts, analyzer.fmt
    )


def report(
    path: Path,
    digest: str,
    size: int,
    model: ModelInfo,
    n_epochs: int | Literal["auto"],
    totals: _Totals,
    parts: dict[str, list[npt.NDArray[Any]]],
    fmt: Format | None,
) -> StatsReport:
    """The report from the totals and per-example arrays (`_PARTS`) of the whole file."""
    total = _concat(parts["total"])
    trained = _concat(parts["trained"])
    line_no = _concat(parts["line_no"])
    hashes = _concat(parts["hash"])
    n_messages = _concat(parts["n_messages"])
    fmt = fmt or "chat"
    limit = model.max_tokens_per_example

    over = np.flatnonzero(total > limit)
    over_limit = Finding(
        int(over.size),
        tuple(
            {"line": int(line_no[i]), "tokens": int(total[i])} for i in over[:SAMPLES_PER_FINDING]
        ),
    )
    cost = estimate_cost(total, model, n_epochs)
    prompts = totals.system_prompts
    n_with_prompt = sum(prompts.values())
    warnings: list[str] = []
    if total.size == 0:
        warnings.append("the file holds no examples")
    if model.training_available_until is not None:
        warnings.append(
            f"{model.provider} accepts no new fine-tuning jobs for {model.id} after "
            f"{model.training_available_until.isoformat()}"
        )
    if model.retires_on is not None:
        warnings.append(f"{model.id} retires on {model.retires_on.isoformat()}")
    if totals.system_prompts_overflow:
        warnings.append(
            f"more than {MAX_DISTINCT_SYSTEM_PROMPTS} distinct system prompts; counted the first ones"
        )
    return StatsReport(
        file=str(path),
        sha256=digest,
        size_bytes=size,
        format=fmt,
        model=model.id,
        encoding=f"hf:{model.model_dir}" if model.model_dir else model.encoding,
        token_limit=limit,
        lines=totals.lines,
        examples=int(total.size),
        examples_with_errors=totals.examples_with_errors,
        errors={
            k: Finding(v, tuple(totals.error_samples[k])) for k, v in totals.error_counts.items()
        },
        missing_system=totals.missing_system,
        missing_user=totals.missing_user,
        messages_per_example=Distribution.of(n_messages),
        total_tokens_per_example=Distribution.of(total),
        assistant_tokens_per_example=Distribution.of(trained),
        total_tokens=int(total.sum()),
        trained_tokens=int(trained.sum()),
        over_limit=over_limit,
        epochs=cost.epochs,
        billed_tokens=cost.billed_tokens,
        price_per_1m=model.training_price_per_1m,
        cost_usd=cost.cost_usd,
        duplicates=_duplicates(hashes, line_no),
        refusals=Finding(totals.refusals, tuple(totals.refusal_samples)),
        empty_answers=Finding(totals.empty, tuple(totals.empty_samples)),
        truncated_answers=Finding(totals.truncated, tuple(totals.truncated_samples)),
        secrets=Finding(totals.secrets, tuple(totals.secrets_samples)),
        distinct_system_prompts=len(prompts),
        most_common_system_prompt_share=(
            round(max(prompts.values()) / n_with_prompt, 6) if n_with_prompt else 0.0
        ),
        warnings=tuple(warnings),
    )


def _duplicates(hashes: IntArray, line_no: IntArray) -> Finding:
    """Lines byte-identical to an earlier line: how many, and the first few with the original."""
    if hashes.size < 2:
        return Finding(0)
    order = np.argsort(hashes, kind="stable")  # stable: the first occurrence leads its group
    ordered = hashes[order]
    repeat = np.flatnonzero(ordered[1:] == ordered[:-1]) + 1
    if repeat.size == 0:
        return Finding(0)
    # The original of each repeat: the first index of its run of equal hashes.
    run_start = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    first_of = run_start[np.searchsorted(run_start, repeat, side="right") - 1]
    lines = line_no[order[repeat]]
    originals = line_no[order[first_of]]
    by_line = np.argsort(lines, kind="stable")[:SAMPLES_PER_FINDING]
    samples = tuple({"line": int(lines[i]), "duplicate_of": int(originals[i])} for i in by_line)
    return Finding(int(repeat.size), samples)
