"""`compute_stats` on hand-made files, and against the data-prep notebook's own numbers."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ftctl.catalog.models import lookup_model
from ftctl.datasets import stats as stats_module
from ftctl.datasets.stats import compute_stats
from ftctl.datasets.stats_cache import stats_with_cache
from ftctl.datasets.tokenizers import get_encoding

DATA = Path(__file__).parent / "data"
TOY = DATA / "toy_chat_fine_tuning.jsonl"
SHARED_BENCH = Path(__file__).resolve().parents[3] / "shared" / "bench"
ENCODINGS = Path(stats_module.__file__).parent / "encodings"
MINI = lookup_model("gpt-4o-mini-2024-07-18")


def write_lines(path: Path, rows: list[Any]) -> Path:
    lines = [r if isinstance(r, (str, bytes)) else json.dumps(r, ensure_ascii=False) for r in rows]
    path.write_bytes(b"".join((x.encode() if isinstance(x, str) else x) + b"\n" for x in lines))
    return path


def chat(user: str, answer: str, system: str | None = "You are Acme support.") -> dict[str, Any]:
    messages = [{"role": "system", "content": system}] if system is not None else []
    messages += [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    return {"messages": messages}


# --- against the notebook ------------------------------------------------------------


def _notebook_numbers(output: str) -> dict[str, Any]:
    def floats(label: str) -> list[list[float]]:
        pattern = rf"{label}: ([-\d.e]+), ([-\d.e]+)"
        return [[float(a), float(b)] for a, b in re.findall(pattern, output)]

    return {
        "examples": int(re.search(r"Num examples: (\d+)", output).group(1)),  # type: ignore[union-attr]
        "missing_system": int(re.search(r"missing system message: (\d+)", output).group(1)),  # type: ignore[union-attr]
        "missing_user": int(re.search(r"missing user message: (\d+)", output).group(1)),  # type: ignore[union-attr]
        "min_max": floats("min / max"),
        "mean_median": floats("mean / median"),
        "p10_p90": floats("p5 / p95"),  # the notebook prints p5/p95 but computes p10/p90
        "epochs": int(re.search(r"train for (\d+) epochs", output).group(1)),  # type: ignore[union-attr]
        "billed": int(re.search(r"charged for ~(\d+) tokens", output).group(1)),  # type: ignore[union-attr]
    }


@pytest.mark.skipif(
    not (SHARED_BENCH / "cookbook_baseline.py").is_file(),
    reason=f"the notebook baseline {SHARED_BENCH}/cookbook_baseline.py is not available",
)
def test_same_numbers_as_the_notebook_on_its_sample_data() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(SHARED_BENCH / "cookbook_baseline.py"),
            str(TOY),
            "--encoding",
            "cl100k_base",
            "--bpe-file",
            str(ENCODINGS / "cl100k_base.tiktoken.gz"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    expected = _notebook_numbers(done.stdout)
    report = compute_stats(TOY, lookup_model("gpt-3.5-turbo-0125"))  # cl100k_base, 16,385
    assert report.encoding == "cl100k_base" and report.errors == {}
    assert report.examples == expected["examples"] == 8
    assert (report.missing_system, report.missing_user) == (
        expected["missing_system"],
        expected["missing_user"],
    )
    dists = [
        report.messages_per_example,
        report.total_tokens_per_example,
        report.assistant_tokens_per_example,
    ]
    for dist, min_max, mean_median, p10_p90 in zip(
        dists, expected["min_max"], expected["mean_median"], expected["p10_p90"], strict=True
    ):
        assert dist is not None
        assert [dist.min, dist.max] == min_max
        assert [dist.mean, dist.median] == pytest.approx(mean_median)
        assert [dist.p10, dist.p90] == pytest.approx(p10_p90)
    assert report.epochs == expected["epochs"] == 12
    assert report.billed_tokens == expected["billed"]


# --- hand-made files -----------------------------------------------------------------


def test_broken_lines_are_reported_with_line_and_path(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "train.jsonl",
        [
            chat("Hi", "Hello."),
            '{"messages": [',
            b'{"messages": "caf\xe9"}',
            "",
            "[1, 2]",
            {
                "messages": [
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "", "weight": 5},
                ]
            },
            chat("Bye", "Goodbye."),
        ],
    )
    report = compute_stats(path, MINI)
    assert report.format == "chat"
    assert (report.lines, report.examples, report.examples_with_errors) == (6, 3, 4)
    found = {
        (category, s["line"], s["path"])
        for category, finding in report.errors.items()
        for s in finding.samples
    }
    assert found == {
        ("invalid_json", 2, "$"),
        ("invalid_utf8", 3, "$"),
        ("data_type", 5, "$"),  # line 4 is blank: skipped, but lines keep their numbers
        ("missing_content", 6, "$.messages[1].content"),
        ("invalid_weight", 6, "$.messages[1].weight"),
    }
    assert report.error_count == 5
    assert report.missing_system == 1
    assert report.total_tokens_per_example is not None  # readable examples still counted


def test_quality_findings(tmp_path: Path) -> None:
    long_cut = "This answer goes on and on about shipping and billing and " * 3 + "then it stops"
    rows: list[Any] = [
        chat("Where is my order?", "It ships tomorrow."),
        chat("Where is my order?", "It ships tomorrow."),  # duplicate of line 1
        chat("Refund?", "I'm sorry, but I can't help with that."),  # refusal
        chat("Hello?", "   "),  # whitespace-only answer
        chat("Explain.", long_cut),  # truncated
        chat("Other prompt", "Fine.", system="You are someone else."),
        chat("No system", "Fine.", system=None),
        chat("Where is my order?", "It ships tomorrow."),  # duplicate of line 1
    ]
    report = compute_stats(write_lines(tmp_path / "q.jsonl", rows), MINI)
    assert report.errors == {}
    assert report.duplicates.count == 2
    assert list(report.duplicates.samples) == [
        {"line": 2, "duplicate_of": 1},
        {"line": 8, "duplicate_of": 1},
    ]
    assert report.refusals is not None and [s["line"] for s in report.refusals.samples] == [3]
    assert [s["line"] for s in report.empty_answers.samples] == [4]
    assert [s["line"] for s in report.truncated_answers.samples] == [5]
    assert report.missing_system == 1
    assert report.distinct_system_prompts == 2
    assert report.most_common_system_prompt_share == pytest.approx(6 / 7, abs=1e-6)


def test_streaming_in_many_chunks_gives_the_same_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    enc = get_encoding("o200k_base")
    rows = [
        chat(f"Question {i} " * (i % 7 + 1), f"Answer {i}. " * (i % 11 + 1)) for i in range(300)
    ]
    rows[150] = rows[10]
    path = write_lines(tmp_path / "many.jsonl", rows)
    whole = compute_stats(path, MINI).to_dict()
    monkeypatch.setattr(stats_module, "CHUNK_BYTES", 500)
    chunked = compute_stats(path, MINI, workers=3).to_dict()
    assert chunked == whole
    # and the token numbers are the per-example sums of encode_ordinary
    from ftctl.datasets.counting import count_example

    totals = [count_example(r, "chat", enc).total for r in rows]
    assert whole["total_tokens"] == sum(totals)
    assert whole["distributions"]["total_tokens_per_example"]["max"] == max(totals)


def test_dpo_and_reinforcement_files_are_detected(tmp_path: Path) -> None:
    dpo = {
        "input": {"messages": [{"role": "user", "content": "Hi"}]},
        "preferred_output": [{"role": "assistant", "content": "Hello!"}],
        "non_preferred_output": [{"role": "assistant", "content": "What?"}],
    }
    report = compute_stats(write_lines(tmp_path / "dpo.jsonl", [dpo, dpo, "[]"]), MINI)
    assert report.format == "dpo" and set(report.errors) == {"data_type"}
    assert report.messages_per_example is not None and report.messages_per_example.max == 3
    rft = {"messages": [{"role": "user", "content": "2+2?"}], "answer": "4"}
    report = compute_stats(write_lines(tmp_path / "rft.jsonl", [rft, rft]), MINI)
    assert report.format == "reinforcement" and report.errors == {}
    assert report.trained_tokens == 0


def test_over_limit_examples(tmp_path: Path) -> None:
    long = chat("Tell me everything.", "word " * 5000)
    path = write_lines(tmp_path / "long.jsonl", [chat("Hi", "Hello."), long])
    report = compute_stats(path, lookup_model("local-tiny"))
    assert report.over_limit.count == 1 and report.over_limit.samples[0]["line"] == 2
    total = report.total_tokens_per_example
    assert total is not None
    assert report.billed_tokens == report.epochs * (total.min + 4096)
    assert report.cost_usd == 0


def test_without_a_home_directory_stats_are_computed_uncached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_lines(tmp_path / "c.jsonl", [chat("Hi", "Hello."), chat("Yo", "Hey.")])
    for name in ("FTCTL_CACHE_DIR", "XDG_CACHE_HOME", "HOME"):
        monkeypatch.delenv(name, raising=False)

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    monkeypatch.chdir(tmp_path)
    first = stats_with_cache(path, MINI)
    assert not first.cached and first.examples == 2
    assert not stats_with_cache(path, MINI).cached
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.jsonl"]


def test_cache_hits_on_unchanged_bytes(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "c.jsonl", [chat("Hi", "Hello."), chat("Yo", "Hey.")])
    cache = tmp_path / "cache"
    first = stats_with_cache(path, MINI, cache_dir=cache)
    second = stats_with_cache(path, MINI, cache_dir=cache)
    assert (first.cached, second.cached) == (False, True)
    assert {**second.to_dict(), "cached": False} == first.to_dict()
    assert not stats_with_cache(path, MINI, cache_dir=cache, use_cache=False).cached
    assert not stats_with_cache(path, lookup_model("gpt-4.1-2025-04-14"), cache_dir=cache).cached
    write_lines(path, [chat("Hi", "Hello."), chat("Yo", "Hey!")])  # changed bytes: recomputed
    third = stats_with_cache(path, MINI, cache_dir=cache)
    assert not third.cached and third.sha256 != first.sha256


def test_plain_chat_fast_path_agrees_with_the_general_path(tmp_path: Path) -> None:
    """Plain text chat takes a fast path; `weight: 1` forces the general one: same report."""
    rows = [
        chat("Where is my order?", "It ships tomorrow."),
        chat("Refund?", "I'm sorry, but I can't help with that."),
        chat("Hello?", "  \n "),
        chat("Explain.", "It goes on and on about shipping and billing " * 4 + "and then"),
        chat("No system here", "Fine.", system=None),
        {
            "messages": [
                {"role": "developer", "content": "Be brief."},
                {"role": "assistant", "content": "Hi."},
            ]
        },
    ]
    weighted = json.loads(json.dumps(rows))
    for row in weighted:
        for message in row["messages"]:
            if message["role"] == "assistant":
                message["weight"] = 1
    plain = compute_stats(write_lines(tmp_path / "plain.jsonl", rows), MINI).to_dict()
    general = compute_stats(write_lines(tmp_path / "general.jsonl", weighted), MINI).to_dict()
    for key in ("file", "sha256", "size_bytes"):
        plain.pop(key), general.pop(key)
    assert plain == general
    assert plain["quality"]["refusals"]["count"] == 1
    assert plain["quality"]["empty_answers"]["count"] == 1
    assert plain["quality"]["truncated_answers"]["count"] == 1
    assert plain["missing_user"] == 1 and plain["missing_system"] == 1


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n", encoding="utf-8")
    report = compute_stats(path, MINI)
    assert (report.lines, report.examples, report.billed_tokens) == (0, 0, 0)
    assert report.total_tokens_per_example is None
    assert "the file holds no examples" in report.warnings


def test_dpo_refusals_count_only_in_the_preferred_output(tmp_path: Path) -> None:
    def dpo(preferred: str, rejected: str) -> dict[str, Any]:
        return {
            "input": {"messages": [{"role": "user", "content": "Refund?"}]},
            "preferred_output": [{"role": "assistant", "content": preferred}],
            "non_preferred_output": [{"role": "assistant", "content": rejected}],
        }

    refused = "I'm sorry, but I can't help with that."
    rows = [dpo("Sure: here is how.", refused), dpo(refused, "Sure.")]
    report = compute_stats(write_lines(tmp_path / "dpo.jsonl", rows), MINI)
    assert report.refusals is not None
    assert [s["line"] for s in report.refusals.samples] == [2]


# --- worker processes (`ftctl.datasets.stats_procs`) ----------------------------------


def _mixed_rows() -> list[Any]:
    """Chat rows with every kind of finding, spread so that they fall in many chunks."""
    rows: list[Any] = []
    for i in range(240):
        system = None if i % 17 == 0 else f"You are helper number {i % 9}."  # 9 prompts
        rows.append(chat(f"Question {i} ü " * (i % 5 + 1), f"Answer {i}. " * (i % 7 + 1), system))
    rows[30] = chat("Refund?", "I'm sorry, but I can't help with that.")
    rows[31] = "{not json"
    rows[32] = b"\xff\xfe not utf-8"
    rows[33] = ""  # blank: skipped, still a line
    rows[34] = chat("Hello?", "   ")
    rows[35] = chat("Explain.", "It goes on and on about shipping and billing and then it")
    rows[36] = chat("My key is AKIAIOSFODNN7EXAMPLE, ok?", "Please never share keys.")
    rows[37] = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant"}]}
    rows[150] = rows[10]  # duplicates in other chunks
    rows[200] = rows[30]
    # the same as row 11 with other spacing and key order: a duplicate (general path)
    rows[230] = json.dumps(
        {"messages": [{"content": m["content"], "role": m["role"]} for m in rows[11]["messages"]]},
        indent=1,
    ).replace("\n", " ")
    rows[231] = "[1, 2]"
    rows[120] = chat("Long?", "A long answer. " * 300)  # spans several chunks: some are empty
    return rows


def test_worker_processes_give_the_same_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ftctl.datasets import stats_procs

    rows = _mixed_rows()
    path = write_lines(tmp_path / "mixed.jsonl", rows)
    with path.open("ab") as handle:  # CRLF line ends and a last line without any
        handle.write(b'{"messages": [{"role": "user", "content": "x"}]}\r\n\r\n')
        handle.write(json.dumps(chat("Last", "line.")).encode())
    monkeypatch.setattr(stats_module, "MAX_DISTINCT_SYSTEM_PROMPTS", 6)  # the cap, in order
    one = compute_stats(path, MINI, workers=1).to_dict()
    monkeypatch.setattr(stats_procs, "SPLIT_MIN_BYTES", 0)
    monkeypatch.setattr(stats_module, "CHUNK_BYTES", 700)  # about 90 chunks
    split = compute_stats(path, MINI, workers=3).to_dict()  # two worker processes
    assert split == one
    quality = one["quality"]
    assert quality["duplicates"]["samples"] == [
        {"line": 151, "duplicate_of": 11},
        {"line": 201, "duplicate_of": 31},
        {"line": 231, "duplicate_of": 12},
    ]
    assert [s["line"] for s in quality["refusals"]["samples"]] == [31, 201]
    assert one["lines"] == len(rows) + 2 - 1  # blank lines are not examples
    assert {c for c in one["errors"]} >= {"invalid_json", "invalid_utf8", "data_type"}
    assert any("distinct system prompts" in w for w in one["warnings"])


def _mixed_report_then_shared_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk_bytes: int | None = None
) -> tuple[Path, dict[str, Any]]:
    """The mixed rows' file and its report from one process; from then on even a file that
    small is shared out among worker processes (in chunks of `chunk_bytes`, when given)."""
    from ftctl.datasets import stats_procs

    path = write_lines(tmp_path / "mixed.jsonl", _mixed_rows())
    one = compute_stats(path, MINI, workers=1).to_dict()
    monkeypatch.setattr(stats_procs, "SPLIT_MIN_BYTES", 0)
    if chunk_bytes is not None:
        monkeypatch.setattr(stats_module, "CHUNK_BYTES", chunk_bytes)
    return path, one


def test_a_failed_worker_process_costs_only_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ftctl.datasets import stats_procs

    path, one = _mixed_report_then_shared_out(tmp_path, monkeypatch, chunk_bytes=700)
    # A worker whose Python cannot start: its chunks are analysed in this process.
    monkeypatch.setattr(stats_procs, "worker_env", lambda: {"PYTHONHOME": str(tmp_path)})
    assert compute_stats(path, MINI, workers=2).to_dict() == one


def test_workers_started_ahead_are_the_ones_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ftctl.datasets import stats_procs

    path, one = _mixed_report_then_shared_out(tmp_path, monkeypatch, chunk_bytes=700)
    stats_procs.prestart(path, MINI.encoding, processes=2)
    started = list(stats_procs._prestarted[(str(path), MINI.encoding)])
    assert compute_stats(path, MINI, workers=2).to_dict() == one
    assert not stats_procs._prestarted  # taken
    assert all(w._process.poll() is not None for w in started)  # and ended


def test_workers_started_ahead_for_another_count_are_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ftctl.datasets import stats_procs

    path, one = _mixed_report_then_shared_out(tmp_path, monkeypatch)
    stats_procs.prestart(path, MINI.encoding, processes=3)
    ahead = list(stats_procs._prestarted[(str(path), MINI.encoding)])
    assert compute_stats(path, MINI, workers=2).to_dict() == one
    assert all(w._process.poll() is not None for w in ahead)  # ended, not left behind
