"""`ftctl eval PROJECT`: check a trained version's gates again, without promoting.

The candidate is `--version N`, the version behind `--alias A`, or else the newest
trained version. The gates are the project's current ones (so a PR that changes a gate
can see its effect before merging); `--baseline` overrides `gates.evals.baseline`.

Every answer is cached by (model, prompt, settings) under `.ftctl/cache/evals/`, so a
re-run with nothing changed makes no model call and costs nothing. The state is only
read; nothing is written to it and no alias moves.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftctl.config.models import Gates
from ftctl.errors import GateError, StateError
from ftctl.events import Event, EventSink, ignore
from ftctl.gates.decide import decide
from ftctl.gates.evals import EvalReport, run_eval_gate
from ftctl.gates.examples import EvalExample, load_eval_examples, message_text
from ftctl.gates.scorecard import Scorecard
from ftctl.ops.events import job_events, loss_curve
from ftctl.ops.prepare import ProviderPool, load_desired
from ftctl.providers.base import Provider, deployments_api
from ftctl.state.model import StateSnapshot, VersionRecord
from ftctl.state.store import open_state

EVAL_CACHE = Path(".ftctl") / "cache" / "evals"
REPORTS = Path(".ftctl") / "evals"  # the latest report per project, for PR comments


@dataclass(frozen=True)
class EvalRequest:
    project: str
    version: int | None = None
    alias: str | None = None
    baseline: str | None = None  # `base`, `alias:NAME` or a model id; None: the gate's


@dataclass
class AnswerCache:
    """Answers on disk, one small JSON file per (model, prompt, settings)."""

    root: Path
    hits: int = 0
    misses: int = 0
    _seen: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def key(model: str, messages: Sequence[Mapping[str, Any]], settings: Mapping[str, Any]) -> str:
        payload = {"model": model, "messages": list(messages), "settings": dict(settings)}
        text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def get(self, key: str) -> str | None:
        path = self.root / key[:2] / f"{key}.json"
        try:
            answer = json.loads(path.read_text(encoding="utf-8"))["answer"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return answer if isinstance(answer, str) else None

    def put(self, key: str, answer: str) -> None:
        path = self.root / key[:2] / f"{key}.json"
        _atomic_write(path, json.dumps({"answer": answer}, ensure_ascii=False))


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def pick_version(snapshot: StateSnapshot, request: EvalRequest) -> VersionRecord:
    """The version to evaluate; StateError naming what is missing."""
    name = request.project
    if request.version is not None:
        found = snapshot.version(name, request.version)
        if found is None:
            raise StateError(f"no version.{name}.{request.version} in the state")
    elif request.alias is not None:
        alias = snapshot.alias(name, request.alias)
        if alias is None:
            raise StateError(f"no alias.{name}.{request.alias} in the state")
        found = snapshot.version(name, alias.version)
        if found is None:
            raise StateError(f"alias.{name}.{request.alias} points to a version not in the state")
    else:
        trained = [v for v in snapshot.versions_of(name) if v.status == "succeeded"]
        if not trained:
            raise StateError(f"{name} has no trained version to evaluate (run `ftctl apply`)")
        found = max(trained, key=lambda v: v.number)
    if found.status != "succeeded" or not found.model_id:
        raise StateError(f"{found.address} has no trained model ({found.status})")
    return found


def evaluate(root: Path, request: EvalRequest, events: EventSink = ignore) -> Scorecard:
    """Run `request.project`'s gates on a trained version; write nothing but caches."""
    workspace, desired = load_desired(root, (request.project,), events)
    project = desired.get(request.project)
    if project is None:
        workspace.project(request.project)  # raises ConfigError listing the projects
        raise GateError(f"unknown project {request.project}")
    store = open_state(workspace)
    if not store.exists():
        raise StateError("no state yet: nothing has been trained (run `ftctl apply`)")
    snapshot = store.read()
    version = pick_version(snapshot, request)
    assert version.model_id is not None
    provider = ProviderPool(workspace)(version.provider)
    if project.spec.gates.evals is not None and deployments_api(provider) is not None:
        # Its models answer only through a deployment, which apply creates for the gates.
        raise GateError(
            f"ftctl eval cannot ask {version.address} directly: provider {provider.name!r} "
            "serves models only through deployments (the gates run during `ftctl apply`)"
        )
    gates: Gates = project.spec.gates
    cache = AnswerCache(workspace.root / EVAL_CACHE)

    report: EvalReport | None = None
    prompts: tuple[str, ...] = ()
    baseline_name = None
    if gates.evals is not None:
        gate = gates.evals
        baseline_name = request.baseline or gate.baseline
        split = project.splits.get(gate.dataset)
        if split is None or split.path is None:
            raise GateError(
                f"spec.gates.evals.dataset: the project has no {gate.dataset} split to evaluate on"
            )
        examples = load_eval_examples(split.path, gate.limit, source=gate.dataset)
        prompts = tuple(_last_user(e) for e in examples)
        baselines = {"base": version.base_model}
        baselines.update({f"alias:{a.name}": a.model_id for a in snapshot.aliases_of(project.name)})
        baseline, skipped = _resolve_baseline(baseline_name, baselines)
        # The same call the executor's gate step makes, so `eval` and `apply` agree.
        report = run_eval_gate(
            gate,
            examples,
            workspace.project(project.name).dir,
            _cached_complete(provider, cache),
            version.model_id,
            baseline=baseline,
            baseline_skipped=skipped,
            refusal_phrases=project.spec.policy.max_refusal_ratio.phrases,
            seed=version.seed if version.seed is not None else 0,
            sink=events,
        )
    card = Scorecard(
        project=project.name,
        version=version.number,
        model=version.model_id,
        baseline_name=baseline_name,
        decision=decide(gates, version.metrics, report),
        report=report,
        loss_curve=loss_curve(job_events(provider, version.job_id)),
        calls=cache.misses,
        cached=cache.hits,
        metrics=dict(version.metrics),
        prompts=prompts,
    )
    events(Event("info", f"{cache.misses} model call(s), {cache.hits} answer(s) from the cache"))
    save_latest(workspace.root, card)
    return card


def save_latest(root: Path, card: Scorecard) -> Path:
    """Keep the report as `.ftctl/evals/<project>.json` (what `ftctl comment` embeds)."""
    path = root / REPORTS / f"{card.project}.json"
    _atomic_write(path, json.dumps(card.to_dict(), indent=2, ensure_ascii=False) + "\n")
    return path


def _resolve_baseline(name: str | None, models: Mapping[str, str]) -> tuple[str | None, str | None]:
    if name is None:
        return None, None
    if name in models:
        return models[name], None
    if name.startswith("alias:"):
        return None, f"alias {name.removeprefix('alias:')} is not set yet"
    return name, None


def _cached_complete(provider: Provider, cache: AnswerCache) -> Any:
    def complete(
        *,
        model: str,
        messages: list[dict[str, Any]],
        max_tokens: int,
        temperature: float | None,
        seed: int | None,
    ) -> str:
        settings = {"max_tokens": max_tokens, "temperature": temperature, "seed": seed}
        key = cache.key(model, messages, settings)
        cached = cache.get(key)
        if cached is not None:
            cache.hits += 1
            return cached
        answer = provider.chat(model, messages, max_tokens, temperature, seed)
        cache.misses += 1
        cache.put(key, answer)
        return answer

    return complete


def _last_user(example: EvalExample) -> str:
    for message in reversed(example.prompt):
        if message.get("role") == "user":
            return message_text(message) or ""
    return ""
