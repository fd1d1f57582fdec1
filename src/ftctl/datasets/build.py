"""Build a project's data: the canonical JSONL bytes of each split, checked and reported.

    sources (read, limit) -> transforms (in order) -> weights -> validation hash split
    -> format checks -> token counts -> leakage -> policy -> canonical JSONL + SHA-256

Everything is a function of the inputs: the same source bytes, project.yaml and ftctl
version give the same bytes on every machine. The result is cached under
`<workspace>/.ftctl/cache/datasets/` by the hash of those inputs, so an unchanged rebuild
reads the sources, hashes them and returns (see `ftctl.datasets.cache`).

On large data: each row's canonical line is made once (dedupe, weights, the split hash
and the output all use it); tokens are counted in batches on one thread per core while the
main thread checks formats and leakage, each example once; MinHash signatures (nearDedupe,
near-duplicate and leakage checks, only when on) are memoized for the build; and the output
is streamed to the cache, hashed on the way, never joined in memory. The rows themselves
(example dicts and canonical lines) are held for the policy checks.

Format errors always fail the build (the provider would reject the file), except a missing
or empty answer, which the `emptyAnswers` policy check decides. Every finding names the
source file and line of the example (not the build output).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Literal, cast

import tiktoken

from ftctl import __version__
from ftctl.catalog import hf
from ftctl.catalog.models import ModelInfo, compatible_model, lookup_model
from ftctl.config.loader import LoadedProject, LoadedWorkspace, sorted_diagnostics
from ftctl.config.models import DerivedSplit, NearDedupeTransform, SplitData
from ftctl.datasets.cache import CACHE_FORMAT, DatasetCache, Staging, cache_root
from ftctl.datasets.canonical import canonical_json, sha256_hex
from ftctl.datasets.checks import answer_problem
from ftctl.datasets.cost import CostEstimate, billed_tokens_per_epoch, estimate_cost
from ftctl.datasets.counting import TokenCount, count_example, count_examples
from ftctl.datasets.example_cache import ExampleCache, cache_file, content_key
from ftctl.datasets.formats import Format, check_example
from ftctl.datasets.hf_counting import HfTokenizer
from ftctl.datasets.hf_models import hf_model_info
from ftctl.datasets.policy import (
    NEAR_DUPLICATE_NUM_PERM,
    NEAR_DUPLICATE_THRESHOLD,
    PolicyInput,
    PolicyLocator,
    run_policy,
)
from ftctl.datasets.provenance import Origin, Record
from ftctl.datasets.similarity import reuse_signatures
from ftctl.datasets.sources import (
    SourceContext,
    SourceRead,
    apply_weights,
    digest_sources,
    read_sources,
)
from ftctl.datasets.splits import SPLIT_ORDER, Leak, SplitName, find_leakage, hash_split
from ftctl.datasets.tokenizers import SPECS as ENCODING_SPECS
from ftctl.datasets.tokenizers import get_encoding
from ftctl.datasets.transforms import TransformContext, TransformReport, apply_transforms
from ftctl.errors import DataError, Diagnostic
from ftctl.events import Event, EventSink, ignore
from ftctl.providers.registry import capabilities

METHOD_FORMAT: dict[str, Format] = {
    "supervised": "chat",
    "dpo": "dpo",
    "reinforcement": "reinforcement",
}
LISTED_LEAKS = 50
LISTED_PER_FILE = 100  # row errors listed per source file; the rest are counted
# Format issues that the `emptyAnswers` policy check reports instead (at its level).
_ANSWER_CATEGORIES = frozenset({"missing_content", "example_missing_assistant_message"})
_MESSAGE_INDEX = re.compile(r"^\$\.messages\[(\d+)\]")
COUNT_BATCH = 1024  # examples per tiktoken call (one task of the counting threads)


@dataclass(frozen=True)
class BuiltSplit:
    project: str
    split: Literal["train", "validation", "test"]
    path: Path  # the canonical JSONL file in the cache
    sha256: str
    examples: int
    tokens: int
    trained_tokens: int
    billed_tokens_per_epoch: int  # train only: what one epoch is billed; 0 for other splits
    format: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "split": self.split,
            "path": str(self.path),
            "sha256": self.sha256,
            "examples": self.examples,
            "tokens": self.tokens,
            "trained_tokens": self.trained_tokens,
            "billed_tokens_per_epoch": self.billed_tokens_per_epoch,
            "format": self.format,
        }


@dataclass(frozen=True)
class BuiltProject:
    project: str
    splits: dict[str, BuiltSplit]
    diagnostics: tuple[Diagnostic, ...]  # warnings (a build with errors raises DataError)
    cost: CostEstimate
    report: dict[str, Any]


def build_project(
    project: LoadedProject, workspace: LoadedWorkspace, events: EventSink = ignore
) -> BuiltProject:
    """Build every declared split of `project`.

    Raises `DataError` with every diagnostic when a source cannot be read, a row is not a
    valid example, or a policy check at level `error` fails.
    """
    spec = project.model.spec
    info, model_findings = _model_info(project, workspace)
    fmt = METHOD_FORMAT[spec.training.method]
    cache = DatasetCache(cache_root(workspace.root))
    # An unchanged build is found from the hashes of the source bytes, before any row is
    # parsed (parsing costs twenty times the hashing).
    quick = _bytes_key(project, workspace, info)
    cached = None if quick is None else _from_cache(cache, quick, project.name)
    if cached is not None:
        events(Event("info", f"{project.name}: data unchanged (cache {str(quick)[:12]})"))
        return cached
    events(Event("step", f"Reading the data of {project.name}"))
    reads = _read_all(project, workspace)
    problems = [d for split_reads in reads.values() for r in split_reads for d in r.diagnostics]
    problems = capped_per_file(problems)
    if problems:
        raise DataError(
            f"project '{project.name}': cannot read its data", sorted_diagnostics(problems)
        )

    key = _cache_key(project, workspace, reads, info)
    cached = _from_cache(cache, key, project.name)
    if cached is not None:
        if quick is not None:  # a build cached before its sources were hashed whole
            cache.put_build(quick, _manifest(cached))
        events(Event("info", f"{project.name}: data unchanged (cache {key[:12]})"))
        return cached

    workers = max(1, os.cpu_count() or 1)
    examples = ExampleCache(cache_file(cache.root))
    try:
        with (
            reuse_signatures(examples),
            ThreadPoolExecutor(workers, thread_name_prefix="ftctl-build-tokens") as pool,
        ):
            built = _Build(project, workspace, info, fmt, reads, events, pool, examples).run()
        built.diagnostics[:0] = model_findings
        with Staging(cache) as staging:
            result = _finish(project, info, fmt, cache, built, key, quick, staging)
        # Only a build that succeeded leaves anything behind, example results included.
        examples.commit()
    finally:
        examples.close()
    (tokens_found, tokens_missed), (signatures_found, signatures_missed) = (
        examples.counts["tokens"],
        examples.counts["minhash"],
    )
    events(
        Event(
            "info",
            f"{project.name}: reused the token counts of {tokens_found} of "
            f"{tokens_found + tokens_missed} examples and {signatures_found} of "
            f"{signatures_found + signatures_missed} MinHash signatures from earlier builds",
        )
    )
    return result


def _finish(
    project: LoadedProject,
    info: ModelInfo,
    fmt: Format,
    cache: DatasetCache,
    built: _Built,
    key: str,
    quick: str | None,
    staging: Staging,
) -> BuiltProject:
    """Write each split's canonical bytes (streamed, hashed on the way), then the result.

    Only data that passed is kept: a build with errors raises before writing anything.
    """
    diagnostics = sorted_diagnostics(built.diagnostics)
    if any(d.severity == "error" for d in diagnostics):
        errors = sum(1 for d in diagnostics if d.severity == "error")
        raise DataError(f"project '{project.name}': {errors} data error(s)", diagnostics)
    splits: dict[str, BuiltSplit] = {}
    for name, records in built.records.items():
        # Each row's canonical line was made once (for dedupe, the split hash, ...): reused.
        staged = staging.stage(
            (r.canonical for r in records), _origin_lines(r.origin for r in records)
        )
        sha = staged.sha256
        counts = built.counts[name]
        splits[name] = BuiltSplit(
            project=project.name,
            split=name,
            path=cache.object_path(sha),
            sha256=sha,
            examples=len(records),
            tokens=sum(c.total for c in counts),
            trained_tokens=sum(c.trained for c in counts),
            billed_tokens_per_epoch=(
                billed_tokens_per_epoch([c.total for c in counts], info.max_tokens_per_example)
                if name == "train"
                else 0
            ),
            format=fmt,
        )
    report = _report(project, info, fmt, built, splits, key)
    staging.commit()
    result = BuiltProject(project.name, splits, diagnostics, built.cost, report)
    cache.put_build(key, _manifest(result))
    if quick is not None:
        cache.put_build(quick, _manifest(result))
    return result


def _origin_lines(origins: Iterable[Origin]) -> Iterator[bytes]:
    """`canonical_json([file, line])` and a newline per origin (each file name encoded once)."""
    files: dict[str, str] = {}
    for origin in origins:
        shown = files.get(origin.file)
        if shown is None:
            shown = files[origin.file] = canonical_json(origin.file)
        line = "null" if origin.line is None else str(origin.line)
        yield f"[{shown},{line}]\n".encode()


# --------------------------------------------------------------------------- stages


def _model_info(
    project: LoadedProject, workspace: LoadedWorkspace
) -> tuple[ModelInfo, list[Diagnostic]]:
    """The base model's catalog entry, and findings about it (open-weights models only)."""
    if hf.is_hf(project.model.spec.base_model):
        return hf_model_info(project, workspace.root)
    return _catalog_info(project, workspace), []


def _catalog_info(project: LoadedProject, workspace: LoadedWorkspace) -> ModelInfo:
    caps = capabilities(workspace, project.provider_name)
    try:
        # Whose catalog prices apply (Azure bills its own for the same model names).
        return lookup_model(project.model.spec.base_model, caps.pricing if caps else None)
    except DataError as error:
        if caps is not None and caps.own_models:
            # Another OpenAI-compatible endpoint: its model names are its own business.
            return compatible_model(project.model.spec.base_model)
        raise DataError(
            f"project '{project.name}': unknown base model",
            [project.source_map.diagnostic(("spec", "baseModel"), error.message, at_value=True)],
        ) from error


def declared_splits(project: LoadedProject) -> dict[SplitName, SplitData]:
    """The splits that have their own sources."""
    data = project.model.spec.data
    found: dict[SplitName, SplitData] = {"train": data.train}
    if isinstance(data.validation, SplitData):
        found["validation"] = data.validation
    if data.test is not None:
        found["test"] = data.test
    return found


def _read_all(
    project: LoadedProject, workspace: LoadedWorkspace
) -> dict[SplitName, list[SourceRead]]:
    reads: dict[SplitName, list[SourceRead]] = {}
    for name, split in declared_splits(project).items():
        context = SourceContext(project.dir, workspace.root, project.source_map, name)
        reads[name] = read_sources(split.sources, context)
    return reads


class _TokenCounter:
    """Token counts of examples, in batches on the counting threads, each example once.

    `submit` queues examples (one `count_examples` call, hence one tiktoken call, per
    `COUNT_BATCH`; tiktoken releases the GIL, so the threads encode while the main thread
    goes on with the checks); `total`/`counts` wait for them. Examples are known by
    identity: a row repeated by a weight, or moved to validation, is the same dict and is
    not counted again. Each counted dict is held, so that its id cannot be reused.

    `submit_records` first looks the records up in the example cache by their canonical
    bytes (the counts of an unchanged example are not computed again) and stores the
    counts it computes there.
    """

    def __init__(
        self,
        fmt: Format,
        encoding: tiktoken.Encoding,
        pool: ThreadPoolExecutor,
        store: ExampleCache | None = None,
        namespace: str = "",
        hf: HfTokenizer | None = None,
    ) -> None:
        self.fmt = fmt
        self.encoding = encoding
        self.hf = hf
        self.pool = pool
        self.store = store
        self.namespace = namespace
        self._known: dict[int, tuple[dict[str, Any], TokenCount]] = {}
        self._queued: set[int] = set()
        self._pending: list[
            tuple[list[dict[str, Any]], list[bytes] | None, Future[list[TokenCount]]]
        ] = []

    def submit_records(self, records: Iterable[Record]) -> None:
        """`submit` for records, answered from the example cache where it knows them."""
        if self.store is None:
            self.submit(r.example for r in records)
            return
        batch: list[Record] = []
        for record in records:
            key = id(record.example)
            if key in self._known or key in self._queued:
                continue
            self._queued.add(key)
            batch.append(record)
            if len(batch) >= COUNT_BATCH:
                self._lookup(batch)
                batch = []
        if batch:
            self._lookup(batch)

    def _lookup(self, batch: list[Record]) -> None:
        assert self.store is not None
        keys = [content_key(self.namespace, r.canonical) for r in batch]
        stored = self.store.get_many("tokens", keys)
        missing: list[dict[str, Any]] = []
        missing_keys: list[bytes] = []
        for record, key in zip(batch, keys, strict=True):
            raw = stored.get(key)
            if raw is not None and len(raw) == 16:
                total = int.from_bytes(raw[:8], "little")
                trained = int.from_bytes(raw[8:], "little")
                self._known[id(record.example)] = (record.example, TokenCount(total, trained))
            else:
                missing.append(record.example)
                missing_keys.append(key)
        if missing:
            self._send(missing, missing_keys)

    def submit(self, examples: Iterable[dict[str, Any]]) -> None:
        batch: list[dict[str, Any]] = []
        for example in examples:
            key = id(example)
            if key in self._known or key in self._queued:
                continue
            self._queued.add(key)
            batch.append(example)
            if len(batch) >= COUNT_BATCH:
                self._send(batch)
                batch = []
        if batch:
            self._send(batch)

    def _send(self, batch: list[dict[str, Any]], keys: list[bytes] | None = None) -> None:
        future: Future[list[TokenCount]]
        if self.hf is not None:  # an hf: model's tokenizer and chat template
            future = self.pool.submit(self.hf.count_examples, batch, self.fmt)
        else:
            future = self.pool.submit(count_examples, batch, self.fmt, self.encoding)
        self._pending.append((batch, keys, future))

    def _drain(self) -> None:
        for batch, keys, future in self._pending:
            counts = future.result()
            for example, count in zip(batch, counts, strict=True):
                self._known[id(example)] = (example, count)
            if keys is not None and self.store is not None:
                self.store.put_many(
                    "tokens",
                    (
                        (key, c.total.to_bytes(8, "little") + c.trained.to_bytes(8, "little"))
                        for key, c in zip(keys, counts, strict=True)
                    ),
                )
        self._pending.clear()
        self._queued.clear()

    def count(self, example: dict[str, Any]) -> TokenCount:
        known = self._known.get(id(example))
        if known is None:
            if id(example) in self._queued:
                self._drain()
                return self.count(example)
            # Not kept: `maxTokens: truncate` counts many candidate cuts it then discards.
            if self.hf is not None:
                return self.hf.count_example(example, self.fmt)
            return count_example(example, self.fmt, self.encoding)
        return known[1]

    def counts(self, examples: Iterable[dict[str, Any]]) -> list[TokenCount]:
        examples = list(examples)
        self.submit(examples)
        self._drain()
        return [self.count(example) for example in examples]

    def totals(self, examples: Sequence[dict[str, Any]]) -> list[int]:
        return [c.total for c in self.counts(examples)]


@dataclass
class _Built:
    records: dict[SplitName, list[Record]]
    counts: dict[SplitName, list[TokenCount]]
    transforms: dict[SplitName, list[TransformReport]]
    reads: dict[SplitName, list[SourceRead]]
    weighted: dict[SplitName, tuple[int, int]]  # rows before and after weights
    leaks: list[Leak]
    leakage_checked: bool
    policy_results: list[dict[str, Any]]
    diagnostics: list[Diagnostic]
    cost: CostEstimate


class _Build:
    def __init__(
        self,
        project: LoadedProject,
        workspace: LoadedWorkspace,
        info: ModelInfo,
        fmt: Format,
        reads: dict[SplitName, list[SourceRead]],
        events: EventSink,
        pool: ThreadPoolExecutor,
        store: ExampleCache | None = None,
    ) -> None:
        self.project = project
        self.workspace = workspace
        self.info = info
        self.fmt = fmt
        self.reads = reads
        self.events = events
        self.encoding = get_encoding(info.encoding)
        self.counter = _TokenCounter(
            fmt,
            self.encoding,
            pool,
            store,
            _tokens_namespace(_counting_identity(info), fmt),
            HfTokenizer(info.model_dir) if info.model_dir else None,
        )

    def run(self) -> _Built:
        spec = self.project.model.spec
        diagnostics: list[Diagnostic] = []
        records: dict[SplitName, list[Record]] = {}
        transforms: dict[SplitName, list[TransformReport]] = {}
        weighted: dict[SplitName, tuple[int, int]] = {}
        for name, split in declared_splits(self.project).items():
            self.events(Event("step", f"Transforming {self.project.name}/{name}"))
            rows = [r for read in self.reads[name] for r in read.records]
            context = TransformContext(
                source_map=self.project.source_map,
                split=name,
                count_tokens=lambda example: self.counter.count(example).total,
                encoding=self.encoding,
                model_limit=self.info.max_tokens_per_example,
                count_many=self.counter.totals,
            )
            result = apply_transforms(rows, split.transforms, context)
            # Counted on the threads while the main thread checks formats and leakage.
            self.counter.submit_records(result.records)
            diagnostics.extend(result.diagnostics)
            transforms[name] = result.reports
            records[name] = apply_weights(result.records, split.sources)
            weighted[name] = (len(result.records), len(records[name]))
        validation = spec.data.validation
        if isinstance(validation, DerivedSplit):
            records["train"], records["validation"] = hash_split(
                records["train"], validation.split.fraction, validation.split.seed
            )
        records = {name: records[name] for name in SPLIT_ORDER if name in records}

        policy = self.project.model.spec.policy  # `defaults.policy` merged by the loader
        diagnostics.extend(
            capped_per_file(self._format_problems(records, policy.empty_answers.level != "off"))
        )
        self.events(Event("step", f"Checking the policy of {self.project.name}"))
        # Near-leak search signs every prompt (MinHash): only done when the check is on.
        leaks = find_leakage(records) if policy.leakage.level != "off" else []
        self.events(Event("step", f"Counting tokens of {self.project.name}"))
        counts = {
            name: self.counter.counts(r.example for r in rows) for name, rows in records.items()
        }
        cost = estimate_cost(
            [c.total for c in counts["train"]], self.info, spec.training.hyperparameters.n_epochs
        )
        threshold, num_perm = self._near_settings()
        outcome = run_policy(
            PolicyInput(
                policy=policy,
                fmt=self.fmt,
                model=self.info,
                splits=records,
                counts=counts,
                cost=cost,
                leaks=leaks,
                near_threshold=threshold,
                near_num_perm=num_perm,
            ),
            PolicyLocator(self.project, self.workspace),
        )
        diagnostics.extend(outcome.diagnostics)
        return _Built(
            records=records,
            counts=counts,
            transforms=transforms,
            reads=self.reads,
            weighted=weighted,
            leaks=leaks,
            leakage_checked=policy.leakage.level != "off",
            policy_results=[r.to_dict() for r in outcome.results],
            diagnostics=diagnostics,
            cost=cost,
        )

    def _near_settings(self) -> tuple[float, int]:
        """The train split's nearDedupe settings, if it has one, else the defaults."""
        for transform in self.project.model.spec.data.train.transforms:
            if isinstance(transform, NearDedupeTransform):
                return transform.near_dedupe.threshold, transform.near_dedupe.num_perm
        return NEAR_DUPLICATE_THRESHOLD, NEAR_DUPLICATE_NUM_PERM

    def _format_problems(
        self, records: Mapping[SplitName, Sequence[Record]], answers_by_policy: bool
    ) -> list[Diagnostic]:
        problems: list[Diagnostic] = []
        for rows in records.values():
            for record in rows:
                if record.copy != 0:
                    continue
                issues = check_example(record.example, self.fmt)
                if not issues:
                    continue
                policy_decides = (
                    answers_by_policy and answer_problem(record.example, self.fmt) is not None
                )
                for issue in issues:
                    if policy_decides and self._is_answer_issue(
                        record.example, issue.category, issue.path
                    ):
                        continue
                    problems.append(
                        Diagnostic(
                            file=record.origin.file,
                            line=record.origin.line,
                            field=issue.path,
                            message=f"{issue.message} [{issue.category}]",
                        )
                    )
        return problems

    @staticmethod
    def _is_answer_issue(example: dict[str, Any], category: str, path: str) -> bool:
        if category not in _ANSWER_CATEGORIES:
            return False
        if category == "example_missing_assistant_message":
            return True
        match = _MESSAGE_INDEX.match(path)
        messages = example.get("messages")
        if match is None or not isinstance(messages, list):
            return False
        index = int(match.group(1))
        return (
            index < len(messages)
            and isinstance(messages[index], dict)
            and messages[index].get("role") == "assistant"
        )


def _counting_identity(info: ModelInfo) -> str:
    """The encoding, or for an hf: model its tokenizer (the model directory, which for a hub
    model names the snapshot's commit): cached counts of one never answer for another."""
    return f"hf:{info.model_dir}" if info.model_dir else info.encoding


def _tokens_namespace(encoding: str, fmt: Format) -> str:
    """What decides an example's token counts besides its bytes: the encoding (its rank
    file's hash), the format, tiktoken's and ftctl's versions (the counting method)."""
    spec = ENCODING_SPECS.get(encoding)
    ranks = spec.sha256 if spec is not None else encoding
    tiktoken_version = dict(_installed_versions()).get("tiktoken", "")
    return f"tokens/{encoding}/{ranks}/{fmt}/tiktoken={tiktoken_version}/ftctl={__version__}"


def capped_per_file(diagnostics: Sequence[Diagnostic]) -> list[Diagnostic]:
    """The first `LISTED_PER_FILE` row errors of each file, then one line with the rest.

    A file in the wrong format (CSV, say) has an error on every line: the first hundred
    show the problem, the count shows its size.
    """
    shown: dict[str, int] = {}
    hidden: dict[str, int] = {}
    out: list[Diagnostic] = []
    for diagnostic in diagnostics:
        if diagnostic.line is None or shown.get(diagnostic.file, 0) < LISTED_PER_FILE:
            if diagnostic.line is not None:
                shown[diagnostic.file] = shown.get(diagnostic.file, 0) + 1
            out.append(diagnostic)
        else:
            hidden[diagnostic.file] = hidden.get(diagnostic.file, 0) + 1
    for file, count in hidden.items():
        out.append(
            Diagnostic(file=file, message=f"{count} more row error(s) in this file not listed")
        )
    return out


# --------------------------------------------------------------------------- cache


def _cache_key(
    project: LoadedProject,
    workspace: LoadedWorkspace,
    reads: Mapping[SplitName, Sequence[SourceRead]],
    info: ModelInfo,
) -> str:
    """The hash of everything a build depends on.

    project.yaml is hashed whole: it holds the data spec, policy, model, epochs and inline
    rows, and the lines findings point at (any edit rebuilds, which is always correct).
    """
    sources = {
        name: [[r.kind, r.name, r.content_hash, r.files] for r in split_reads]
        for name, split_reads in reads.items()
    }
    return _key(project, workspace, info, sources)


def _bytes_key(project: LoadedProject, workspace: LoadedWorkspace, info: ModelInfo) -> str | None:
    """The cache key from the whole bytes of every source file, without parsing them.

    The same bytes and project.yaml (which holds any `limit`) give the same rows, so this
    key is as faithful as `_cache_key`; None when a source is not a local file or inline.
    """
    digests: dict[str, list[list[Any]]] = {}
    for name, split in declared_splits(project).items():
        context = SourceContext(project.dir, workspace.root, project.source_map, name)
        digest = digest_sources(split.sources, context)
        if digest is None:
            return None
        digests[name] = digest
    return _key(project, workspace, info, {"source_bytes": digests})


def _key(project: LoadedProject, workspace: LoadedWorkspace, info: ModelInfo, sources: Any) -> str:
    defaults = workspace.model.defaults.policy
    payload = {
        "cache_format": CACHE_FORMAT,
        "ftctl": __version__,
        # Near-duplicate choices depend on datasketch, token counts on tiktoken.
        "libraries": _library_versions(),
        "project_file": project.source_map.display,
        "project_sha256": hashlib.sha256(project.path.read_bytes()).hexdigest(),
        "workspace_policy": (
            None if defaults is None else hashlib.sha256(workspace.path.read_bytes()).hexdigest()
        ),
        "model": {k: str(v) for k, v in dataclasses.asdict(info).items()},
        "sources": sources,
    }
    return sha256_hex(canonical_json(payload).encode("utf-8"))


def _library_versions() -> dict[str, str]:
    """Versions of the libraries that decide the bytes: near-duplicates, token counts."""
    return dict(_installed_versions())


@functools.cache
def _installed_versions() -> tuple[tuple[str, str], ...]:
    # Read once per process: importlib.metadata scans sys.path (about 1 ms a call, and a
    # plan asks for every project).
    return tuple((name, metadata.version(name)) for name in ("datasketch", "tiktoken"))


def _manifest(result: BuiltProject) -> dict[str, Any]:
    return {
        "project": result.project,
        "splits": {name: s.to_dict() for name, s in result.splits.items()},
        "diagnostics": [d.to_dict() for d in result.diagnostics],
        "cost": dataclasses.asdict(result.cost),
        "report": result.report,
    }


def _from_cache(cache: DatasetCache, key: str, project: str) -> BuiltProject | None:
    manifest = cache.get_build(key)
    if manifest is None or manifest.get("project") != project:
        return None
    try:
        splits: dict[str, BuiltSplit] = {}
        for name, entry in manifest["splits"].items():
            if not cache.has_object(entry["sha256"]):
                return None
            splits[name] = BuiltSplit(
                project=project,
                split=entry["split"],
                path=cache.object_path(entry["sha256"]),
                sha256=entry["sha256"],
                examples=int(entry["examples"]),
                tokens=int(entry["tokens"]),
                trained_tokens=int(entry["trained_tokens"]),
                billed_tokens_per_epoch=int(entry["billed_tokens_per_epoch"]),
                format=str(entry["format"]),
            )
        diagnostics = tuple(Diagnostic(**cast(dict[str, Any], d)) for d in manifest["diagnostics"])
        cost = CostEstimate(**manifest["cost"])
        report = manifest["report"]
    except (KeyError, TypeError, ValueError):
        return None  # an old or damaged manifest: rebuild
    return BuiltProject(project, splits, diagnostics, cost, report)


# --------------------------------------------------------------------------- report


def _report(
    project: LoadedProject,
    info: ModelInfo,
    fmt: Format,
    built: _Built,
    splits: Mapping[str, BuiltSplit],
    key: str,
) -> dict[str, Any]:
    spec = project.model.spec
    split_reports: dict[str, Any] = {}
    for name, split in splits.items():
        counts = built.counts[cast(SplitName, name)]
        entry: dict[str, Any] = {
            "sha256": split.sha256,
            "examples": split.examples,
            "tokens": split.tokens,
            "trained_tokens": split.trained_tokens,
            "billed_tokens_per_epoch": split.billed_tokens_per_epoch,
            "max_example_tokens": max((c.total for c in counts), default=0),
        }
        if name in built.reads:
            entry["sources"] = [r.report() for r in built.reads[name]]
            entry["transforms"] = [t.to_dict() for t in built.transforms[name]]
            before, after = built.weighted[name]
            entry["weights"] = {"rows_before": before, "rows_after": after}
        split_reports[name] = entry
    if isinstance(spec.data.validation, DerivedSplit) and "validation" in split_reports:
        split_reports["validation"]["derived_from"] = {
            "split": "train",
            "fraction": spec.data.validation.split.fraction,
            "seed": spec.data.validation.split.seed,
        }
    errors = sum(1 for d in built.diagnostics if d.severity == "error")
    return {
        "project": project.name,
        "ftctl_version": __version__,
        "libraries": _library_versions(),
        "cache_key": key,
        "model": {
            "id": info.id,
            "encoding": info.encoding,
            "max_tokens_per_example": info.max_tokens_per_example,
            "training_price_per_1m": info.training_price_per_1m,
        },
        "method": spec.training.method,
        "format": fmt,
        "splits": split_reports,
        "leakage": {
            **({} if built.leakage_checked else {"checked": False}),
            "count": len(built.leaks),
            "examples": [
                {
                    "split": leak.split,
                    "at": str(leak.record.origin),
                    "other_split": leak.other_split,
                    "other": str(leak.other.origin),
                    "kind": leak.kind,
                    "similarity": round(leak.similarity, 4),
                }
                for leak in built.leaks[:LISTED_LEAKS]
            ],
        },
        "policy": built.policy_results,
        "cost": dataclasses.asdict(built.cost),
        "findings": {"errors": errors, "warnings": len(built.diagnostics) - errors},
    }


def report_json(report: Mapping[str, Any]) -> str:
    return json.dumps(report, sort_keys=True, ensure_ascii=False, indent=2)
