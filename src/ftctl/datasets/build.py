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

import contextlib
import dataclasses
import functools
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np

from ftctl import __version__
from ftctl.catalog import hf
from ftctl.catalog.models import ModelInfo, compatible_model, lookup_model
from ftctl.config.loader import LoadedProject, LoadedWorkspace, sorted_diagnostics
from ftctl.config.models import (
    DedupeTransform,
    DerivedSplit,
    MapFieldsTransform,
    MaxTokensTransform,
    NearDedupeTransform,
    PathSource,
    SplitData,
    SystemPromptTransform,
    Transform,
)
from ftctl.datasets.cache import CACHE_FORMAT, DatasetCache, Staging, cache_root
from ftctl.datasets.cache_limit import ENV as LIMIT_ENV
from ftctl.datasets.cache_limit import limit_from_env, limit_objects, shown
from ftctl.datasets.cache_trim import UNUSED_DAYS, trim_if_due
from ftctl.datasets.cache_trust import committed_files
from ftctl.datasets.cache_verified import VerifiedFiles
from ftctl.datasets.canonical import canonical_json, sha256_hex
from ftctl.datasets.cost import CostEstimate, billed_tokens_per_epoch, estimate_cost
from ftctl.datasets.example_cache import ExampleCache, cache_file, today
from ftctl.datasets.formats import Format
from ftctl.datasets.hf_models import hf_model_info
from ftctl.datasets.leakage import find_leakage
from ftctl.datasets.line_carry import LineCarry
from ftctl.datasets.policy import (
    NEAR_DUPLICATE_NUM_PERM,
    NEAR_DUPLICATE_THRESHOLD,
    PolicyInput,
    PolicyLocator,
    run_policy,
)
from ftctl.datasets.row_pool import LocalPool, ProcessPool, RowPool
from ftctl.datasets.row_reuse import RowReuse
from ftctl.datasets.row_snapshot import SnapshotReader, SnapshotWriter
from ftctl.datasets.row_work import RowPlan, Step, deduped, near_deduped
from ftctl.datasets.source_known import SourcesKnown, know_sources
from ftctl.datasets.source_record import SourceRecord
from ftctl.datasets.sources import (
    SourceContext,
    SourceRead,
    resolve_path_source,
)
from ftctl.datasets.splits import SPLIT_ORDER, Leak, SplitName
from ftctl.datasets.stream import (
    SplitColumns,
    SplitInput,
    StreamBuild,
    Streamed,
    results_namespace,
)
from ftctl.datasets.tokenizers import SPECS as ENCODING_SPECS
from ftctl.datasets.transforms import TransformReport
from ftctl.datasets.worker_count import BUILD_WORKERS_MOST, ENV, worker_plan, workers_from_env
from ftctl.datasets.worker_fork import MINHASH, MINHASH_COMPILE
from ftctl.datasets.worker_prestart import drop_hint, take_early, write_hint
from ftctl.errors import DataError, Diagnostic
from ftctl.events import Event, EventSink, ignore
from ftctl.providers.registry import capabilities
from ftctl.text.refusals import DEFAULT_REFUSAL_PHRASES

METHOD_FORMAT: dict[str, Format] = {
    "supervised": "chat",
    "dpo": "dpo",
    "reinforcement": "reinforcement",
}
LISTED_LEAKS = 50
POOL_MIN_BYTES = 4 << 20  # data below this is worked on in this process (no worker start)
# A build that works every row (no row snapshot) of this much data loads the compiled
# MinHash loop in its workers before the first batch (`minhash_compiled`: ~0.3 CPU-s once,
# in the fork server, against ~65 µs saved for each example signed: ~13,000 examples of
# 2.4 KB here), if it was compiled before; and of `MINHASH_COMPILE_BYTES` per worker,
# compiles it if need be (once an install): ~1.4 s before the workers fork (numba's import
# and the compile), while the saving is shared out among them, so paid back by ~21,000
# examples (~50 MB) per worker. A 50k build (118 MB, two workers) compiles: its first cold
# build took 6.6-6.8 s so, 7.1-8.4 s with numpy.
MINHASH_MIN_BYTES = 32 << 20
MINHASH_COMPILE_BYTES = 48 << 20


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
    project: LoadedProject,
    workspace: LoadedWorkspace,
    events: EventSink = ignore,
) -> BuiltProject:
    """Build every declared split of `project` (on the workers the command started early,
    if they are those it wants: `worker_prestart.started_early`).

    Raises `DataError` with every diagnostic when a source cannot be read, a row is not a
    valid example, or a policy check at level `error` fails. After a build that passed,
    the cache is trimmed of what was not used for days (at most once a day), and its split
    objects kept under `FTCTL_DATA_CACHE_MAX` (`cache_limit`).
    """
    most = limit_from_env()  # a bad FTCTL_DATA_CACHE_MAX fails before anything is touched
    built, workers = _build_project(project, workspace, events)
    root = cache_root(workspace.root)
    if workers is not None:
        write_hint(root, *workers)
    else:
        drop_hint(root)
    trimmed = trim_if_due(root)
    if trimmed is not None and (trimmed.files or trimmed.rows):
        removed = [f"{trimmed.files} file(s)"] if trimmed.files else []
        removed += [f"{trimmed.rows:,} row result(s)"] if trimmed.rows else []
        events(
            Event(
                "info",
                f"dataset cache: removed {' and '.join(removed)} unused for {UNUSED_DAYS} "
                f"days ({trimmed.bytes / 1e6:.1f} MB)",
            )
        )
    if most is not None:
        limited = limit_objects(root, most)
        if limited.objects:
            events(
                Event(
                    "info",
                    f"dataset cache: removed {limited.objects} split object(s) used longest "
                    f"ago ({limited.bytes / 1e6:.1f} MB), to keep them under {shown(most)} "
                    f"({LIMIT_ENV} sets the size)",
                )
            )
    return built


class _ReusedDamaged(Exception):
    """What a build reused from the last one (`row_reuse`) did not verify."""


def _build_project(
    project: LoadedProject,
    workspace: LoadedWorkspace,
    events: EventSink,
) -> tuple[BuiltProject, tuple[int, tuple[str, ...]] | None]:
    """The build, and the workers it used (count, encodings) if it used worker processes."""
    try:
        return _build_once(project, workspace, events, reuse_rows=True)
    except _ReusedDamaged:
        cache = DatasetCache(cache_root(workspace.root))
        with contextlib.suppress(OSError):
            cache.snapshot_path(project.name).unlink(missing_ok=True)
        events(
            Event(
                "warning",
                f"{project.name}: the dataset cache's copy of its last build did not verify "
                "(damaged?); building again without it",
            )
        )
        return _build_once(project, workspace, events, reuse_rows=False)


def _build_once(
    project: LoadedProject,
    workspace: LoadedWorkspace,
    events: EventSink,
    reuse_rows: bool,
) -> tuple[BuiltProject, tuple[int, tuple[str, ...]] | None]:
    """`_build_project`, taking the rows of the last build from its snapshot if
    `reuse_rows` (`row_reuse`)."""
    spec = project.model.spec
    workers_from_env()  # a bad FTCTL_DATA_WORKERS fails before anything is touched
    _refuse_committed_cache(project, workspace)
    info, model_findings = _model_info(project, workspace)
    fmt = METHOD_FORMAT[spec.training.method]
    cache = DatasetCache(cache_root(workspace.root))
    # Files of the cache verified by a build before and unchanged since: not hashed again.
    verified = cache.verified = VerifiedFiles(cache.verified_path(project.name))
    examples = ExampleCache(cache_file(cache.root))  # opens nothing until first used
    size = _source_bytes(project, workspace)
    workers = worker_plan(BUILD_WORKERS_MOST, size)
    # Started before the sources are hashed: the workers start (imports, ~0.15 s each) on
    # the other cores while this process hashes (~0.3 s for 470 MB); a build found unchanged
    # stops them unused.
    encodings = () if info.model_dir else (info.encoding,)
    minhash = None
    if (
        size >= MINHASH_MIN_BYTES
        and _signs_texts(project)
        and not cache.snapshot_path(project.name).exists()
    ):
        compiles = size >= MINHASH_COMPILE_BYTES * workers.count
        minhash = MINHASH_COMPILE if compiles else MINHASH
    pool: RowPool = _pool(size, workers.count, encodings, minhash)
    # What the next build may start with the command (written once this one has passed).
    hint = (workers.count, encodings) if isinstance(pool, ProcessPool) else None
    closing = contextlib.ExitStack()
    try:
        # An unchanged build is found from the hashes of the source bytes, before any row is
        # parsed (parsing costs twenty times the hashing); files not written since they were
        # last hashed are not hashed again, files written since not hashed twice.
        known = _sources_known(project, workspace, SourceRecord(cache.files_path(project.name)))
        quick = _bytes_key(project, workspace, info, known.digests)
        cached = None if quick is None else _from_cache(cache, quick, project.name)
        if cached is not None:
            _used(cache, quick, cached)
            known.remember(known.digests)
            verified.save()  # after `_used`'s touch
            events(Event("info", f"{project.name}: data unchanged (cache {str(quick)[:12]})"))
            return cached, hint
        events(Event("step", f"Reading the data of {project.name}"))
        inputs = _split_inputs(project, workspace, info, fmt)
        if workers.memory_limit is not None and size >= POOL_MIN_BYTES:
            limit = workers.memory_limit
            shown = f"{limit / 2**30:.1f} GiB" if limit >= 1 << 30 else f"{limit >> 20} MiB"
            where = (
                "working in this process"
                if workers.count == 1
                else f"{workers.count} worker processes"
            )
            events(
                Event(
                    "info",
                    f"{project.name}: {where}, not {workers.cpus} worker processes: the memory "
                    f"limit of this process's cgroup is {shown} ({ENV} sets the number)",
                )
            )
        previous = cache.latest(project.name)
        snapshot_file = cache.snapshot_path(project.name)
        day = today()
        found = SnapshotReader.open(snapshot_file) if reuse_rows else None
        reuse = None if found is None else RowReuse(found, previous, verified=verified)
        if reuse is None and reuse_rows:
            reuse = _borrowed(cache, project.name)
        snapshot = SnapshotWriter(snapshot_file, day, cache.root)
        closing.callback(snapshot.discard)
        carry = LineCarry(cache.root, project.name)
        closing.callback(carry.discard)
        if reuse is not None:
            closing.callback(reuse.close)
        with Staging(cache) as staging:
            passed = StreamBuild(
                inputs,
                _derived(project),
                pool,
                examples,
                staging,
                [
                    results_namespace(i.plan, _installed_versions(), _ranks(info.encoding))
                    for i in inputs
                ],
                previous,
                _progress(events, project.name, size),
                reuse,
                snapshot,
                carry,
            )
            try:
                streamed = passed.run()
            except Exception:
                # A damaged value that loads may still fail the pass: the damage is the cause.
                if reuse is not None and not reuse.intact():
                    raise _ReusedDamaged from None
                raise
            pool.release()  # reaped by `close` at the end
            if reuse is not None and not reuse.intact():
                raise _ReusedDamaged
            snapshot.finish()  # written now: its keys are not held through the checks
            if reuse is not None:
                # The last build's rows this one left out leave its snapshot: kept in the
                # example cache from now on (committed with this build, if it passes). (Not
                # those of another project's snapshot, `found` None: it stays.)
                if found is not None and snapshot.kept is not None:
                    for values in reuse.left_behind(snapshot.kept):
                        examples.put_many("rows", values, day=found.last_used)
                reuse.close()  # its indexes are not needed past the pass
            if pool.lost is not None:
                events(
                    Event(
                        "warning",
                        f"{project.name}: a data build worker process failed ({pool.lost}); "
                        "the rest of the rows were worked on in this process",
                    )
                )
            if streamed.read_problems:
                raise DataError(
                    f"project '{project.name}': cannot read its data",
                    sorted_diagnostics(streamed.read_problems),
                )
            changed = known.changed_during(streamed.reads)
            if changed is None:
                changed = _changed_while_read(known.digests, streamed.reads)
            if changed:
                raise DataError(
                    f"project '{project.name}': its data changed while it was being built",
                    [
                        Diagnostic(
                            file=file, message="changed while the build read it; build again"
                        )
                        for file in changed
                    ],
                )
            digests = known.after_pass(streamed.reads)
            quick = _bytes_key(project, workspace, info, digests)
            key = _cache_key(project, workspace, streamed.reads, info)
            cached = _from_cache(cache, key, project.name)
            if cached is not None:
                _used(cache, key, cached)
                examples.commit()  # the rows read were as good as a build's (and are dated)
                _commit_snapshot(snapshot, verified, carry)
                if quick is not None:  # a build cached before its sources were hashed whole
                    cache.put_build(quick, _manifest(cached))
                known.remember(digests)
                events(Event("info", f"{project.name}: data unchanged (cache {key[:12]})"))
                return cached, hint
            events(Event("step", f"Checking the policy of {project.name}"))
            train_steps = next(i.plan.steps for i in inputs if i.name == "train")
            built = _check(project, workspace, info, fmt, streamed, train_steps)
            built.diagnostics[:0] = model_findings
            result = _finish(project, info, fmt, cache, built, key, quick, staging)
            known.remember(digests)
            # Only a build that succeeded leaves anything behind, row results included.
            examples.commit()
            _commit_snapshot(snapshot, verified, carry)
    finally:
        closing.close()
        pool.close()
        examples.close()
    events(
        Event(
            "info",
            f"{project.name}: reused the results of {streamed.rows_reused} of "
            f"{streamed.rows_reused + streamed.rows_computed} rows from earlier builds "
            f"({_workers_said(pool)})",
        )
    )
    return result, hint


def _commit_snapshot(snapshot: SnapshotWriter, verified: VerifiedFiles, carry: LineCarry) -> None:
    """Put the build's row snapshot in place, with the copies of its source files and their
    lines' keys (`line_carry`), and record the cache files the build verified or wrote (its
    last write or touch of them: `cache_verified`)."""
    carry.commit()
    if snapshot.commit() and snapshot.sha256 is not None:
        verified.wrote(snapshot.path, snapshot.sha256)
    verified.save()


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
    """Record the splits streamed to the staging area, then the result.

    Only data that passed is kept: a build with errors raises before anything is committed.
    """
    diagnostics = sorted_diagnostics(built.diagnostics)
    if any(d.severity == "error" for d in diagnostics):
        errors = sum(1 for d in diagnostics if d.severity == "error")
        raise DataError(f"project '{project.name}': {errors} data error(s)", diagnostics)
    splits: dict[str, BuiltSplit] = {}
    for name, columns in built.columns.items():
        staged = columns.staged
        assert staged is not None
        totals = columns.totals_uploaded()
        trained = np.repeat(np.frombuffer(columns.trained, dtype=np.int64), columns.copies)
        splits[name] = BuiltSplit(
            project=project.name,
            split=name,
            path=cache.object_path(staged.sha256),
            sha256=staged.sha256,
            examples=int(totals.size),
            tokens=int(totals.sum()),
            trained_tokens=int(trained.sum()),
            billed_tokens_per_epoch=(
                billed_tokens_per_epoch(totals.tolist(), info.max_tokens_per_example)
                if name == "train"
                else 0
            ),
            format=fmt,
        )
    report = _report(project, info, fmt, built, splits, key)
    staging.commit()
    result = BuiltProject(project.name, splits, diagnostics, built.cost, report)
    cache.put_latest(project.name, (split.sha256 for split in splits.values()))
    cache.put_build(key, _manifest(result))
    if quick is not None:
        cache.put_build(quick, _manifest(result))
    return result


# --------------------------------------------------------------------------- stages


def _borrowed(cache: DatasetCache, project: str) -> RowReuse | None:
    """For a project's first build: the last build of the project built last, whose rows
    it may share (the same data and plan, another base model with the same encoding, say:
    a row's key holds its bytes and everything that decides its result). The build stops
    looking there if its first rows are not there (`stream.StreamBuild._look_up`)."""
    for other in cache.other_projects(project)[:1]:
        found = SnapshotReader.open(cache.snapshot_path(other))
        if found is not None:
            return RowReuse(found, cache.latest(other), borrowed=True)
    return None


def _refuse_committed_cache(project: LoadedProject, workspace: LoadedWorkspace) -> None:
    """A dataset cache in the repository could make the build reuse what its data does not
    give (`cache_trust`): an error, before anything is read or written."""
    root = cache_root(workspace.root)
    tracked = committed_files(workspace.root, root)
    if tracked:
        shown = root.relative_to(workspace.root).as_posix()
        raise DataError(
            f"project '{project.name}': the dataset cache is committed to the repository",
            [
                Diagnostic(
                    file=tracked[0],
                    message=(
                        f"{len(tracked)} file(s) under {shown} are tracked by git: a committed "
                        "cache could make this build reuse results its data does not give"
                    ),
                    hint=f"untrack them, `git rm -r --cached {shown}`, and keep .ftctl/ "
                    "in .gitignore",
                )
            ],
        )


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


def _signs_texts(project: LoadedProject) -> bool:
    """Whether the build computes MinHash signatures (nearDedupe, near-duplicate or leakage
    checks)."""
    policy = project.model.spec.policy
    return (
        policy.leakage.level != "off"
        or policy.max_near_duplicate_ratio.level != "off"
        or any(
            isinstance(t, NearDedupeTransform)
            for split in declared_splits(project).values()
            for t in split.transforms
        )
    )


def _derived(project: LoadedProject) -> DerivedSplit | None:
    validation = project.model.spec.data.validation
    return validation if isinstance(validation, DerivedSplit) else None


def _split_inputs(
    project: LoadedProject, workspace: LoadedWorkspace, info: ModelInfo, fmt: Format
) -> list[SplitInput]:
    spec = project.model.spec
    policy = spec.policy  # `defaults.policy` merged by the loader
    derived = _derived(project)
    threshold, num_perm = _near_settings(project)
    refusal = policy.max_refusal_ratio
    inputs: list[SplitInput] = []
    for position, (name, split) in enumerate(declared_splits(project).items()):
        steps = tuple(_step(t, info) for t in split.transforms)
        plan = RowPlan(
            fmt=fmt,
            encoding=info.encoding,
            model_dir=info.model_dir,
            steps=steps,
            phrases=tuple(
                refusal.phrases if refusal.phrases is not None else DEFAULT_REFUSAL_PHRASES
            ),
            refusals=refusal.level != "off",
            empty=policy.empty_answers.level != "off",
            cut_off=policy.truncated_answers.level != "off",
            secrets=policy.secrets.level != "off",
            answers_by_policy=policy.empty_answers.level != "off",
            near=(
                (threshold, num_perm)
                if name == "train" and policy.max_near_duplicate_ratio.level != "off"
                else None
            ),
            leakage=policy.leakage.level != "off",
            system_prompts=(
                policy.require_system_prompt.level != "off"
                and policy.require_system_prompt.mode != "off"
            ),
            diversity=name == "train" and policy.min_prompt_diversity.level != "off",
            split_seed=derived.split.seed if name == "train" and derived is not None else None,
        )
        context = SourceContext(project.dir, workspace.root, project.source_map, name)
        inputs.append(SplitInput(name, split, context, plan, position))
    return inputs


def _step(transform: Transform, info: ModelInfo) -> Step:
    if isinstance(transform, SystemPromptTransform):
        args = transform.system_prompt
        if args.mode != "remove" and not args.text.strip():
            return Step("skip")  # reported once by `_empty_system_prompts`
        return Step("system", text=args.text, mode=args.mode)
    if isinstance(transform, MapFieldsTransform):
        return Step("map", map_args=transform.map_fields)
    if isinstance(transform, DedupeTransform):
        return Step("dedupe")
    if isinstance(transform, NearDedupeTransform):
        near = transform.near_dedupe
        return Step("near", threshold=near.threshold, num_perm=near.num_perm)
    assert isinstance(transform, MaxTokensTransform)
    args_max = transform.max_tokens
    limit = info.max_tokens_per_example if args_max.limit == "auto" else args_max.limit
    return Step("max", limit=limit, action=args_max.action)


def _empty_system_prompts(project: LoadedProject) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for name, split in declared_splits(project).items():
        for index, transform in enumerate(split.transforms):
            if not isinstance(transform, SystemPromptTransform):
                continue
            args = transform.system_prompt
            if args.mode != "remove" and not args.text.strip():
                found.append(
                    project.source_map.diagnostic(
                        ("spec", "data", name, "transforms", index, "systemPrompt", "text"),
                        f"systemPrompt mode '{args.mode}' needs a non-empty text",
                    )
                )
    return found


def _near_settings(project: LoadedProject) -> tuple[float, int]:
    """The train split's nearDedupe settings, if it has one, else the defaults."""
    for transform in project.model.spec.data.train.transforms:
        if isinstance(transform, NearDedupeTransform):
            return transform.near_dedupe.threshold, transform.near_dedupe.num_perm
    return NEAR_DUPLICATE_THRESHOLD, NEAR_DUPLICATE_NUM_PERM


def _source_bytes(project: LoadedProject, workspace: LoadedWorkspace) -> int:
    """The size of the project's source files (git and inline sources not counted)."""
    size = 0
    for name, split in declared_splits(project).items():
        context = SourceContext(project.dir, workspace.root, project.source_map, name)
        for index, source in enumerate(split.sources):
            if isinstance(source, PathSource):
                for path in resolve_path_source(source, context, index):
                    with contextlib.suppress(OSError):
                        size += path.stat().st_size
    return size


def _progress(events: EventSink, project: str, total: int) -> Callable[[int], None]:
    """Progress events for the bytes of the source files read (what `ftctl data build`
    shows at a terminal, and as a line at least once a minute in a log)."""

    places = 0 if total >= 100e6 else 1 if total >= 10e6 else 2

    def progress(done: int) -> None:
        shown = f"{done / 1e6:,.{places}f} MB"
        if total:
            shown = f"{done / 1e6:,.{places}f} of {total / 1e6:,.{places}f} MB"
        events(
            Event(
                "progress",
                f"Reading the data of {project}: {shown}",
                task=f"data-build:{project}",
                completed=done,  # no total: the message says it (a log line shows the message)
            )
        )

    return progress


def _pool(
    size: int,
    workers: int,
    encodings: Sequence[str],
    minhash: str | None,
) -> RowPool:
    """Worker processes for data larger than a few chunks (each costs a start of ~0.3 s):
    those the command started early (`started_early`) if they are these. `minhash`: how
    they load the compiled MinHash loop before the first batch (`ProcessPool`)."""
    if workers < 2 or size < POOL_MIN_BYTES:
        return LocalPool()
    prestarted = take_early()
    forked = prestarted.take(workers, encodings, minhash) if prestarted is not None else None
    try:
        return ProcessPool(workers, encodings, forked, minhash)
    except OSError:  # no Python to start (an embedded interpreter?): this process, then
        return LocalPool()


def _workers_said(pool: RowPool) -> str:
    if isinstance(pool, ProcessPool) and pool.lost is None:
        early = ", started with the command" if pool.prestarted else ""
        return f"{pool.workers} worker processes{early}"
    return "in this process" if isinstance(pool, LocalPool) else "partly in this process"


@dataclass
class _Built:
    columns: dict[SplitName, SplitColumns]
    transforms: dict[SplitName, list[TransformReport]]
    reads: dict[SplitName, list[SourceRead]]
    weighted: dict[SplitName, tuple[int, int]]  # rows before and after weights
    leaks: list[Leak]
    leakage_checked: bool
    policy_results: list[dict[str, Any]]
    diagnostics: list[Diagnostic]
    cost: CostEstimate


def _check(
    project: LoadedProject,
    workspace: LoadedWorkspace,
    info: ModelInfo,
    fmt: Format,
    streamed: Streamed,
    train_steps: Sequence[Step],
) -> _Built:
    """The whole-set checks over the pass's columns: leakage, then the policy.
    `train_steps`: the train split's transforms, as its rows went through them."""
    spec = project.model.spec
    policy = spec.policy
    columns = {name: streamed.columns[name] for name in SPLIT_ORDER if name in streamed.columns}
    leaks = find_leakage(columns, streamed.table) if policy.leakage.level != "off" else []
    train = columns["train"]
    cost = estimate_cost(
        train.totals_uploaded().tolist(), info, spec.training.hyperparameters.n_epochs
    )
    threshold, num_perm = _near_settings(project)
    outcome = run_policy(
        PolicyInput(
            policy=policy,
            fmt=fmt,
            model=info,
            splits=columns,
            table=streamed.table,
            system_prompts=streamed.system_prompts,
            cost=cost,
            leaks=leaks,
            near_threshold=threshold,
            near_num_perm=num_perm,
            near_deduped=near_deduped(train_steps, threshold, num_perm),
            deduped=deduped(train_steps),
        ),
        PolicyLocator(project, workspace),
    )
    return _Built(
        columns=columns,
        transforms=streamed.transforms,
        reads=streamed.reads,
        weighted=streamed.weighted,
        leaks=leaks,
        leakage_checked=policy.leakage.level != "off",
        policy_results=[r.to_dict() for r in outcome.results],
        diagnostics=[*_empty_system_prompts(project), *streamed.diagnostics, *outcome.diagnostics],
        cost=cost,
    )


def _ranks(encoding: str) -> str:
    spec = ENCODING_SPECS.get(encoding)
    return spec.sha256 if spec is not None else encoding


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


def _sources_known(
    project: LoadedProject, workspace: LoadedWorkspace, record: SourceRecord
) -> SourcesKnown:
    """What the build knows of its source files before its pass (`source_known`)."""
    return know_sources(
        {name: split.sources for name, split in declared_splits(project).items()},
        lambda name: SourceContext(project.dir, workspace.root, project.source_map, name),
        record,
    )


def _bytes_key(
    project: LoadedProject,
    workspace: LoadedWorkspace,
    info: ModelInfo,
    digests: dict[str, list[list[Any]]] | None,
) -> str | None:
    """The cache key from the whole bytes of every source file, without parsing them.

    The same bytes and project.yaml (which holds any `limit`) give the same rows, so this
    key is as faithful as `_cache_key`; None when a source is not a local file or inline.
    """
    if digests is None:
        return None
    return _key(project, workspace, info, {"source_bytes": digests})


def _changed_while_read(
    digests: Mapping[str, list[list[Any]]] | None,
    reads: Mapping[SplitName, Sequence[SourceRead]],
) -> list[str]:
    """Files whose bytes the pass read differ from those hashed before it: edited while the
    build ran. Their rows were read once, but a near-duplicate candidate is read again, and
    the build would be cached under the bytes of before."""
    if digests is None:
        return []
    changed: list[str] = []
    for name, entries in digests.items():
        for entry, read in zip(entries, reads.get(cast(SplitName, name)) or (), strict=False):
            if entry[0] != "path":
                continue
            before = {file: sha for file, sha in entry[2:]}
            # A file read whole (not cut short by a `limit`) must have the bytes hashed before.
            for file, sha in zip(read.files, read.file_hashes, strict=True):
                if sha is not None and before.get(file) != sha:
                    changed.append(file)
    return changed


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


def _used(cache: DatasetCache, key: str | None, built: BuiltProject) -> None:
    """A cached build served again: its manifest and objects are used now (kept by the
    cache's trim), and they are the project's last build (what its next one copies from)."""
    sha256s = {split.sha256 for split in built.splits.values()}
    cache.use(sha256s, key, built.project)
    if set(cache.latest(built.project)) != {cache.object_path(s) for s in sha256s}:
        with contextlib.suppress(OSError):  # a read-only cache: the next build copies less
            cache.put_latest(built.project, sha256s)


def _from_cache(cache: DatasetCache, key: str, project: str) -> BuiltProject | None:
    manifest = cache.get_build(key)
    if manifest is None or manifest.get("project") != project:
        return None
    try:
        splits: dict[str, BuiltSplit] = {}
        # In split order (the manifest's JSON has its keys sorted): as a fresh build lists them.
        stored = manifest["splits"]
        for name in sorted(stored, key=lambda n: SPLIT_ORDER.index(n)):
            entry = stored[name]
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
        columns = built.columns[cast(SplitName, name)]
        entry: dict[str, Any] = {
            "sha256": split.sha256,
            "examples": split.examples,
            "tokens": split.tokens,
            "trained_tokens": split.trained_tokens,
            "billed_tokens_per_epoch": split.billed_tokens_per_epoch,
            "max_example_tokens": max(columns.total, default=0),
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
                    "at": str(leak.origin),
                    "other_split": leak.other_split,
                    "other": str(leak.other),
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
