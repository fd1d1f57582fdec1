"""The report of `ftctl data stats` (`StatsReport`): its values and its stable JSON shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ftctl.datasets.formats import Format

FORMAT_VERSION = 1
SAMPLES_PER_FINDING = 5


@dataclass(frozen=True)
class Distribution:
    """min/max, mean/median and the 10th/90th percentiles (linear interpolation)."""

    min: int
    max: int
    mean: float
    median: float
    p10: float
    p90: float

    @classmethod
    def of(cls, values: npt.NDArray[Any]) -> Distribution | None:
        if values.size == 0:
            return None
        p10, median, p90 = np.quantile(values, [0.1, 0.5, 0.9])
        return cls(
            min=int(values.min()),
            max=int(values.max()),
            mean=float(values.mean()),
            median=float(median),
            p10=float(p10),
            p90=float(p90),
        )

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("min", "max", "mean", "median", "p10", "p90")}


@dataclass(frozen=True)
class Finding:
    """A counted problem with the first few places it occurs."""

    count: int
    samples: tuple[dict[str, Any], ...] = ()  # {"line": n, "path"?: ..., "message"?: ...}

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "samples": [dict(s) for s in self.samples]}


@dataclass(frozen=True)
class StatsReport:
    """Everything `ftctl data stats` reports; `to_dict()` is the stable `--json` shape."""

    file: str
    sha256: str
    size_bytes: int
    format: Format
    model: str
    encoding: str
    token_limit: int
    lines: int  # non-blank lines: each is meant to be one example
    examples: int  # lines holding a JSON object (counted in the token statistics)
    examples_with_errors: int
    errors: dict[str, Finding]  # by category: number of issues and the first few
    missing_system: int
    missing_user: int
    messages_per_example: Distribution | None
    total_tokens_per_example: Distribution | None
    assistant_tokens_per_example: Distribution | None
    total_tokens: int
    trained_tokens: int
    over_limit: Finding
    epochs: int
    billed_tokens: int
    price_per_1m: float | None
    cost_usd: float | None
    duplicates: Finding
    refusals: Finding | None  # None in reports cached by older versions only
    empty_answers: Finding
    truncated_answers: Finding
    distinct_system_prompts: int
    most_common_system_prompt_share: float
    warnings: tuple[str, ...] = ()
    secrets: Finding = Finding(0)
    cached: bool = field(default=False, compare=False)

    @property
    def error_count(self) -> int:
        return sum(f.count for f in self.errors.values())

    def to_dict(self) -> dict[str, Any]:
        def dist(d: Distribution | None) -> dict[str, Any] | None:
            return None if d is None else d.to_dict()

        return {
            "format_version": FORMAT_VERSION,
            "file": self.file,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "format": self.format,
            "model": self.model,
            "encoding": self.encoding,
            "token_limit": self.token_limit,
            "lines": self.lines,
            "examples": self.examples,
            "examples_with_errors": self.examples_with_errors,
            "error_count": self.error_count,
            "errors": {k: v.to_dict() for k, v in sorted(self.errors.items())},
            "missing_system": self.missing_system,
            "missing_user": self.missing_user,
            "distributions": {
                "messages_per_example": dist(self.messages_per_example),
                "total_tokens_per_example": dist(self.total_tokens_per_example),
                "assistant_tokens_per_example": dist(self.assistant_tokens_per_example),
            },
            "total_tokens": self.total_tokens,
            "trained_tokens": self.trained_tokens,
            "over_limit": self.over_limit.to_dict(),
            "cost": {
                "epochs": self.epochs,
                "billed_tokens": self.billed_tokens,
                "price_per_1m": self.price_per_1m,
                "cost_usd": self.cost_usd,
            },
            "quality": {
                "duplicates": self.duplicates.to_dict(),
                "refusals": None if self.refusals is None else self.refusals.to_dict(),
                "empty_answers": self.empty_answers.to_dict(),
                "truncated_answers": self.truncated_answers.to_dict(),
                "secrets": self.secrets.to_dict(),
                "distinct_system_prompts": self.distinct_system_prompts,
                "most_common_system_prompt_share": self.most_common_system_prompt_share,
            },
            "warnings": list(self.warnings),
            "cached": self.cached,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StatsReport:
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError("stats format version mismatch")

        def dist(d: dict[str, Any] | None) -> Distribution | None:
            return None if d is None else Distribution(**d)

        def finding(d: dict[str, Any]) -> Finding:
            return Finding(d["count"], tuple(d["samples"]))

        dists, cost, quality = data["distributions"], data["cost"], data["quality"]
        return cls(
            file=data["file"],
            sha256=data["sha256"],
            size_bytes=data["size_bytes"],
            format=data["format"],
            model=data["model"],
            encoding=data["encoding"],
            token_limit=data["token_limit"],
            lines=data["lines"],
            examples=data["examples"],
            examples_with_errors=data["examples_with_errors"],
            errors={k: finding(v) for k, v in data["errors"].items()},
            missing_system=data["missing_system"],
            missing_user=data["missing_user"],
            messages_per_example=dist(dists["messages_per_example"]),
            total_tokens_per_example=dist(dists["total_tokens_per_example"]),
            assistant_tokens_per_example=dist(dists["assistant_tokens_per_example"]),
            total_tokens=data["total_tokens"],
            trained_tokens=data["trained_tokens"],
            over_limit=finding(data["over_limit"]),
            epochs=cost["epochs"],
            billed_tokens=cost["billed_tokens"],
            price_per_1m=cost["price_per_1m"],
            cost_usd=cost["cost_usd"],
            duplicates=finding(quality["duplicates"]),
            refusals=None if quality["refusals"] is None else finding(quality["refusals"]),
            empty_answers=finding(quality["empty_answers"]),
            truncated_answers=finding(quality["truncated_answers"]),
            secrets=finding(quality["secrets"]),
            distinct_system_prompts=quality["distinct_system_prompts"],
            most_common_system_prompt_share=quality["most_common_system_prompt_share"],
            warnings=tuple(data["warnings"]),
        )
