"""What a data build computes for each row on its own: the per-row half of the one pass.

A build splits its work in two (see `ftctl.datasets.stream`): everything that depends on a
row alone is done here, on worker processes for large data (`ftctl.datasets.row_pool`),
and comes back as a compact `RowResult`; what depends on the rows before it (dedupe,
nearDedupe, the split, the whole-set checks) is decided by the build's main loop from
those results. A row is parsed once, goes through the split's transforms, and its final
example is canonicalised, counted, checked and signed, all while it is in hand.

The stateful transforms are not applied here: at each one the result records what the
main loop needs to decide (the digest for `dedupe`, the LSH band hashes for `nearDedupe`,
the token count and any truncation for `maxTokens`), and the row goes on as if it were kept;
if the main loop drops it, what came after is never looked at. A row is a function of its
bytes and the `RowPlan` alone, which is what makes results cacheable by content
(`ftctl.datasets.example_cache`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import numpy.typing as npt

from ftctl.datasets.canonical import canonical_line
from ftctl.datasets.checks import ExampleChecks, answer_problem, example_digest
from ftctl.datasets.counting import RepeatedTexts, TokenCount, count_example, count_examples
from ftctl.datasets.formats import Format, check_example, plain_chat_messages
from ftctl.datasets.jsonl import LineError, parse_line
from ftctl.datasets.minhash_compiled import sign_matrices
from ftctl.datasets.near_index import band_hashes, matrix_band_hashes
from ftctl.datasets.similarity import (
    answers_text,
    compute_signature,
    content_text,
    example_text,
    messages_of,
    normalized_prompt,
    prompt_text,
)
from ftctl.datasets.splits import split_hash
from ftctl.datasets.transforms import map_fields, set_system_prompt, truncate_example

if TYPE_CHECKING:  # a plan with mapFields brings it in when unpickled
    from ftctl.config.models import MapFieldsArgs

LEAKAGE_THRESHOLD = 0.9  # prompts compared for leakage (`ftctl.datasets.splits`)
LEAKAGE_NUM_PERM = 128
# Format issues that the `emptyAnswers` policy check reports instead (at its level).
_ANSWER_CATEGORIES = frozenset({"missing_content", "example_missing_assistant_message"})
_MESSAGE_PATH = re.compile(r"^\$\.messages\[(\d+)\]")


@dataclass(frozen=True)
class Step:
    """One transform of a split, as the per-row work sees it.

    kind: `system` (text, mode), `map` (map_args), `dedupe`, `near` (threshold, num_perm),
    `max` (limit, action), or `skip` (a transform that changes nothing, e.g. a systemPrompt
    without text, reported once by the build).
    """

    kind: str
    text: str = ""
    mode: str = ""
    map_args: MapFieldsArgs | None = None
    threshold: float = 0.0
    num_perm: int = 0
    limit: int = 0
    action: str = ""


def changes_examples(step: Step) -> bool:
    """Whether `step` may change an example (the others keep or drop it as it is)."""
    return step.kind in ("system", "map") or (step.kind == "max" and step.action == "truncate")


def near_deduped(steps: Sequence[Step], threshold: float, num_perm: int) -> bool:
    """Whether no row that comes out of `steps` can have a near-duplicate (at `threshold`,
    `num_perm`) among the rows out before it: true when a nearDedupe with those settings
    comes after the last step that may change an example. That nearDedupe keeps a row only
    when none of the rows it kept before is a verified near-duplicate (the same band hashes
    find the same candidates, checked with the same texts); the rows out of the later steps
    are some of those, in the same order, and unchanged."""
    return _last_to_change(
        steps,
        lambda step: (
            step.kind == "near" and (step.threshold, step.num_perm) == (threshold, num_perm)
        ),
    )


def deduped(steps: Sequence[Step]) -> bool:
    """Whether no two rows that come out of `steps` have the same canonical bytes: true when
    a dedupe comes after the last step that may change an example (it keeps a row only when
    no row it kept before had its bytes, and the rows out of the later steps are some of
    those, unchanged)."""
    return _last_to_change(steps, lambda step: step.kind == "dedupe")


def _last_to_change(steps: Sequence[Step], clears: Callable[[Step], bool]) -> bool:
    """Whether a step that `clears` comes after the last step that may change an example."""
    return any(
        clears(step) and not any(changes_examples(later) for later in steps[index + 1 :])
        for index, step in enumerate(steps)
    )


@dataclass(frozen=True)
class RowPlan:
    """Everything that decides a row's result besides its bytes (part of its cache key)."""

    fmt: Format
    encoding: str  # tiktoken encoding name
    model_dir: str | None  # an hf: model's tokenizer, instead of the encoding
    steps: tuple[Step, ...]
    phrases: tuple[str, ...]  # refusal phrases
    refusals: bool
    empty: bool
    cut_off: bool
    secrets: bool
    answers_by_policy: bool  # a missing answer is the emptyAnswers check's, not a format error
    near: tuple[float, int] | None  # the near-duplicate check's (threshold, num_perm)
    leakage: bool
    system_prompts: bool
    diversity: bool
    split_seed: int | None  # the derived validation split's seed


class RowResult(NamedTuple):
    """What one row came to. `error` set: the line is not an example (nothing else is)."""

    error: tuple[str, str, int | None] | None  # (category, message, column)
    steps: tuple[Any, ...]  # per step reached: see `RowWorker._step`
    stop: int  # the step at which the row left the chain (len(steps): it reached the end)
    stop_why: str  # why it left (a mapFields error, a maxTokens drop)
    line: bytes  # the canonical JSONL line of the final example
    digest: bytes  # `example_digest(line)`
    split_u: float  # unit_hash for the derived validation split (0.0 without one)
    total: int
    trained: int
    refusal: bool
    empty: str | None
    cut_off: str | None
    secrets: tuple[str, ...]
    issues: tuple[tuple[str, str], ...]  # format issues (field, message), as reported
    system: str | None  # the system prompt (when the check is on)
    diversity: bytes  # digest of the normalised user prompt (when the check is on)
    prompt: bytes  # digest of the prompt (leakage), b"" for an empty prompt
    prompt_bands: bytes | None  # LSH band hashes of the prompt's signature (None: no words)
    text_bands: bytes | None  # ... of the example's text (the near-duplicate check)


# Where fields sit in a `RowResult` as a plain tuple (what workers send, caches store).
RESULT_FIELDS = len(RowResult._fields)
LINE_FIELD = RowResult._fields.index("line")
DIGEST_FIELD = RowResult._fields.index("digest")


def with_line(result: tuple[Any, ...], line: bytes) -> tuple[Any, ...]:
    """`result` (a `RowResult` or its plain tuple) with `line` for its canonical line: b""
    to store it (the line is copied from the last build's output, not kept), the line
    found to use it."""
    return (*result[:LINE_FIELD], line, *result[LINE_FIELD + 1 :])


_EMPTY_STEPS: tuple[Any, ...] = ()


def text_digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def band_bytes(
    signatures: Sequence[np.ndarray | None], threshold: float, num_perm: int
) -> list[bytes | None]:
    """The LSH band hashes of each signature (`near_index.band_hashes`), 8 bytes per band;
    None for a text without words."""
    if not signatures:
        return []
    raw = [None if s is None else s.tobytes() for s in signatures]
    hashes, signed = band_hashes(raw, num_perm, threshold)
    return [h.tobytes() if ok else None for h, ok in zip(hashes, signed.tolist(), strict=True)]


def _bands_of(
    signatures: npt.NDArray[np.uint32], signed: npt.NDArray[np.bool_], threshold: float
) -> list[bytes | None]:
    """`band_bytes` of the signatures that are the rows of `signatures`; None where `signed`
    is False (a text without words)."""
    if not len(signatures):
        return []
    hashes = matrix_band_hashes(signatures, threshold)
    return [h.tobytes() if ok else None for h, ok in zip(hashes, signed.tolist(), strict=True)]


class RowWorker:
    """Computes `RowResult`s for one plan (holds its encoding, tokenizer and checks)."""

    def __init__(self, plan: RowPlan) -> None:
        self.plan = plan
        self._encoding: Any = None
        self._repeated = RepeatedTexts()  # roles and system prompts, counted once
        self._hf: Any = None
        self.checks = ExampleChecks(
            plan.fmt,
            phrases=plan.phrases,
            refusals=plan.refusals,
            empty=plan.empty,
            cut_off=plan.cut_off,
            secrets=plan.secrets,
        )

    # ------------------------------------------------------------------ counting

    @property
    def encoding(self) -> Any:
        if self._encoding is None:
            from ftctl.datasets.tokenizers import get_encoding

            self._encoding = get_encoding(self.plan.encoding)
        return self._encoding

    def count(self, example: dict[str, Any]) -> TokenCount:
        if self.plan.model_dir is not None:
            count: TokenCount = self._tokenizer().count_example(example, self.plan.fmt)
            return count
        return count_example(example, self.plan.fmt, self.encoding)

    def count_many(self, examples: Sequence[dict[str, Any]]) -> list[TokenCount]:
        if not examples:
            return []
        if self.plan.model_dir is not None:
            return list(self._tokenizer().count_examples(examples, self.plan.fmt))
        return count_examples(examples, self.plan.fmt, self.encoding, self._repeated)

    def _tokenizer(self) -> Any:
        if self._hf is None:
            from ftctl.datasets.hf_counting import HfTokenizer

            assert self.plan.model_dir is not None
            self._hf = HfTokenizer(self.plan.model_dir)
        return self._hf

    # ------------------------------------------------------------------ rows

    def parse(self, raw: bytes | dict[str, Any]) -> dict[str, Any] | RowResult:
        value: object = raw if isinstance(raw, dict) else parse_line(raw)
        if isinstance(value, LineError):
            return _failed((value.category, value.message, value.column))
        if not isinstance(value, dict):
            return _failed(
                ("example", f"each line must be a JSON object, not {type(value).__name__}", None)
            )
        return value

    def run(self, rows: Sequence[bytes | dict[str, Any]]) -> list[RowResult]:
        """The results of `rows` (raw JSONL lines, or inline rows already parsed)."""
        # What was computed for an example object (its canonical line and digest, its
        # signatures), so that a step and the end do not compute it twice; the object is
        # held with it, so that its id is not reused. Transforms make new objects, never
        # change one.
        self._lines: dict[int, tuple[dict[str, Any], bytes, bytes]] = {}
        self._signed: dict[
            int, tuple[dict[str, Any], tuple[bytes | None, bytes, bytes | None]]
        ] = {}
        n = len(rows)
        examples: list[dict[str, Any] | None] = [None] * n
        done: list[RowResult | None] = [None] * n
        for i, raw in enumerate(rows):
            parsed = self.parse(raw)
            if isinstance(parsed, RowResult):
                done[i] = parsed
            else:
                examples[i] = parsed
        steps: list[list[Any]] = [[] for _ in range(n)]
        stops: list[tuple[int, str] | None] = [None] * n
        for index, step in enumerate(self.plan.steps):
            live = [i for i in range(n) if examples[i] is not None and stops[i] is None]
            self._step(index, step, live, examples, steps, stops)
        final = [i for i in range(n) if examples[i] is not None and stops[i] is None]
        finished = self._finish(final, examples, steps)
        out: list[RowResult] = []
        for i in range(n):
            found = done[i]
            if found is not None:
                out.append(found)
            elif i in finished:
                out.append(finished[i])
            else:
                stop = stops[i]
                assert stop is not None
                out.append(_stopped(tuple(steps[i]), stop[0], stop[1]))
        return out

    def _step(
        self,
        index: int,
        step: Step,
        live: list[int],
        examples: list[dict[str, Any] | None],
        steps: list[list[Any]],
        stops: list[tuple[int, str] | None],
        record: bool = True,
    ) -> None:
        """Apply one transform to the live rows, recording what the main loop needs
        (with `record` False, only what changes the row is done):
        system/map/skip: whether it changed the row; dedupe: the digest; near: the band
        hashes (None: no words); max: (tokens, 0 fits | 1 truncated | 2 over, kept as is)."""
        kind = step.kind
        if kind in ("system", "map", "skip"):
            for i in live:
                example = examples[i]
                assert example is not None
                if kind == "skip":
                    steps[i].append(False)
                    continue
                if kind == "system":
                    new: dict[str, Any] | str = set_system_prompt(example, step.text, step.mode)
                else:
                    assert step.map_args is not None
                    new = map_fields(example, step.map_args)
                if isinstance(new, str):
                    steps[i].append(False)
                    stops[i] = (index, new)
                    continue
                steps[i].append(new is not example)
                examples[i] = new
        elif not record and kind in ("dedupe", "near"):
            for i in live:
                steps[i].append(None)
        elif kind == "dedupe":
            for i in live:
                example = examples[i]
                assert example is not None
                steps[i].append(self._line(example)[1])
        elif kind == "near":
            final_near = self.plan.near == (step.threshold, step.num_perm)
            if final_near:
                self._sign_many([examples[i] for i in live])  # type: ignore[misc]
            for i in live:
                example = examples[i]
                assert example is not None
                if final_near:  # signed as the end would (text and prompt in one pass)
                    steps[i].append(self._sign(example)[0])
                    continue
                signature = compute_signature(example_text(example), step.num_perm)
                steps[i].append(band_bytes([signature], step.threshold, step.num_perm)[0])
        else:  # max
            counts = self.count_many([examples[i] for i in live])  # type: ignore[misc]
            for i, count in zip(live, counts, strict=True):
                tokens = count.total
                if tokens <= step.limit:
                    steps[i].append((tokens, 0))
                    continue
                if step.action != "truncate":
                    steps[i].append((tokens, 2))
                    if step.action == "drop":
                        stops[i] = (index, f"{tokens} tokens > {step.limit}")
                    continue
                example = examples[i]
                assert example is not None
                cut = truncate_example(
                    example, step.limit, lambda e: self.count(e).total, self.encoding
                )
                if cut is None:
                    steps[i].append((tokens, 2))
                    stops[i] = (index, f"{tokens} tokens > {step.limit}, cannot be truncated")
                else:
                    steps[i].append((tokens, 1))
                    examples[i] = cut

    def _finish(
        self, final: list[int], examples: list[dict[str, Any] | None], steps: list[list[Any]]
    ) -> dict[int, RowResult]:
        plan = self.plan
        chosen = [examples[i] for i in final]
        counts = self.count_many(chosen)  # type: ignore[arg-type]
        if plan.leakage or plan.near is not None:
            self._sign_many(chosen)  # type: ignore[arg-type]
        out: dict[int, RowResult] = {}
        for i, example, count in zip(final, chosen, counts, strict=True):
            assert example is not None
            line, digest = self._line(example)
            found = self.checks.examine(example)
            text_bands: bytes | None = None
            prompt = b""
            prompt_bands: bytes | None = None
            if plan.leakage or plan.near is not None:
                text_bands, prompt, prompt_bands = self._sign(example)
            out[i] = RowResult(
                error=None,
                steps=tuple(steps[i]),
                stop=len(plan.steps),
                stop_why="",
                line=line,
                digest=digest,
                split_u=0.0 if plan.split_seed is None else split_hash(plan.split_seed, line),
                total=count.total,
                trained=count.trained,
                refusal=found.refusal,
                empty=found.empty,
                cut_off=found.cut_off,
                secrets=found.secrets,
                issues=self._issues(example),
                system=_system_prompt_of(example) if plan.system_prompts else None,
                diversity=(text_digest(normalized_prompt(example)) if plan.diversity else b""),
                prompt=prompt,
                prompt_bands=prompt_bands,
                text_bands=text_bands,
            )
        return out

    def _line(self, example: dict[str, Any]) -> tuple[bytes, bytes]:
        """The example's canonical line and its `example_digest`."""
        found = self._lines.get(id(example))
        if found is not None and found[0] is example:
            return found[1], found[2]
        line = canonical_line(example)
        digest = example_digest(line)
        self._lines[id(example)] = (example, line, digest)
        return line, digest

    def _sign(self, example: dict[str, Any]) -> tuple[bytes | None, bytes, bytes | None]:
        found = self._signed.get(id(example))
        if found is None or found[0] is not example:
            self._sign_many([example])
            found = self._signed[id(example)]
        return found[1]

    def _sign_many(self, examples: Sequence[dict[str, Any]]) -> None:
        """Sign the examples not signed yet: (text bands, prompt digest, prompt bands) each.

        The example's text and its prompt are signed in one pass when both use the same
        permutations, all of them in one call (`minhash_compiled.sign_matrices`).
        """
        plan = self.plan
        near = plan.near
        todo: list[dict[str, Any]] = []
        for example in examples:
            found = self._signed.get(id(example))
            if found is None or found[0] is not example:
                todo.append(example)
        if not todo:
            return
        # Per example: [text bands, prompt digest, prompt bands]; filled by the batches.
        values: list[list[Any]] = [[None, b"", None] for _ in todo]
        # num_perm -> items, and per item (example position, 0 text / 1 prompt / 2 both).
        batches: dict[int, tuple[list[tuple[str, str | None]], list[tuple[int, int]]]] = {}

        def add(num_perm: int, item: tuple[str, str | None], position: int, kind: int) -> None:
            items, owners = batches.setdefault(num_perm, ([], []))
            items.append(item)
            owners.append((position, kind))

        for position, example in enumerate(todo):
            prompt = prompt_text(example) if plan.leakage else ""
            if prompt:
                values[position][1] = text_digest(prompt)
            if near is not None and near[1] == LEAKAGE_NUM_PERM and prompt:
                # The text starts with its prompt (`example_text`): both in one pass, the
                # text never joined.
                add(LEAKAGE_NUM_PERM, (prompt, answers_text(example) or None), position, 2)
                continue
            if near is not None:
                add(
                    near[1],
                    (example_text(example, prompt if plan.leakage else None), None),
                    position,
                    0,
                )
            if prompt:
                add(LEAKAGE_NUM_PERM, (prompt, None), position, 1)
        for num_perm, (items, owners) in batches.items():
            whole, part, signed = sign_matrices(items, num_perm)
            kinds = np.array([kind for _position, kind in owners], dtype=np.int8)
            # Band hashes only of the rows that have a use for them (a paired row's prompt:
            # its part), each made into bytes once.
            if near is not None:
                rows = np.flatnonzero(kinds != 1)
                text_bands = _bands_of(whole[rows], (signed[rows] & 1) != 0, near[0])
                for j, bands in zip(rows.tolist(), text_bands, strict=True):
                    values[owners[j][0]][0] = bands
            rows = np.flatnonzero(kinds != 0)
            paired = kinds[rows] == 2
            prompt_bands = _bands_of(
                np.where(paired[:, None], part[rows], whole[rows]),
                np.where(paired, signed[rows] & 2, signed[rows] & 1) != 0,
                LEAKAGE_THRESHOLD,
            )
            for j, bands in zip(rows.tolist(), prompt_bands, strict=True):
                values[owners[j][0]][2] = bands
        for example, (text_bands, prompt, prompt_bands) in zip(todo, values, strict=True):
            self._signed[id(example)] = (example, (text_bands, prompt, prompt_bands))

    def _issues(self, example: dict[str, Any]) -> tuple[tuple[str, str], ...]:
        if self.plan.fmt == "chat" and plain_chat_messages(example) is not None:
            return ()  # a plain chat example has none (~4 µs of general walk saved a row)
        issues = check_example(example, self.plan.fmt)
        if not issues:
            return ()
        policy_decides = (
            self.plan.answers_by_policy and answer_problem(example, self.plan.fmt) is not None
        )
        return tuple(
            (issue.path, f"{issue.message} [{issue.category}]")
            for issue in issues
            if not (policy_decides and _is_answer_issue(example, issue.category, issue.path))
        )

    def replay(self, raw: bytes | dict[str, Any], upto: int) -> dict[str, Any] | None:
        """The row's example as it enters step `upto` (len(steps): the final example), or
        None when it does not get there. What verifying a near-duplicate candidate reads."""
        parsed = self.parse(raw)
        if isinstance(parsed, RowResult):
            return None
        self._lines, self._signed = {}, {}
        examples: list[dict[str, Any] | None] = [parsed]
        steps: list[list[Any]] = [[]]
        stops: list[tuple[int, str] | None] = [None]
        for index, step in enumerate(self.plan.steps[:upto]):
            if stops[0] is not None:
                return None
            self._step(index, step, [0], examples, steps, stops, record=False)
        return examples[0] if stops[0] is None else None

    def lines(self, rows: Sequence[bytes | dict[str, Any]]) -> list[bytes]:
        """The canonical line of each row's final example (b"": it does not get there): all
        that a row whose result was cached still needs."""
        out: list[bytes] = []
        for raw in rows:
            example = self.replay(raw, len(self.plan.steps))
            out.append(b"" if example is None else canonical_line(example))
        return out


def _failed(error: tuple[str, str, int | None]) -> RowResult:
    return RowResult(
        error, _EMPTY_STEPS, 0, "", b"", b"", 0.0, 0, 0, False, None, None, (), (), None,
        b"", b"", None, None,
    )  # fmt: skip


def _stopped(steps: tuple[Any, ...], stop: int, why: str) -> RowResult:
    return RowResult(
        None, steps, stop, why, b"", b"", 0.0, 0, 0, False, None, None, (), (), None,
        b"", b"", None, None,
    )  # fmt: skip


def _system_prompt_of(example: dict[str, Any]) -> str | None:
    for message in messages_of(example):
        if message.get("role") == "system":
            return content_text(message.get("content"))
    return None


def _is_answer_issue(example: dict[str, Any], category: str, path: str) -> bool:
    if category not in _ANSWER_CATEGORIES:
        return False
    if category == "example_missing_assistant_message":
        return True
    match = _MESSAGE_PATH.match(path)
    messages = example.get("messages")
    if match is None or not isinstance(messages, list):
        return False
    index = int(match.group(1))
    return (
        index < len(messages)
        and isinstance(messages[index], dict)
        and messages[index].get("role") == "assistant"
    )
