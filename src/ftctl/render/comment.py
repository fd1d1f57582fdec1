"""A Markdown document as sticky PR comments: numbered parts under GitHub's size limit.

GitHub refuses a comment body over 65,536 characters. `split_comment` cuts a document
into parts that each fit, each valid Markdown on its own: a part never ends inside a
code fence or a `<details>` block. Where a cut falls inside one, the open fences and
blocks are closed at the end of the part and opened again (its `<summary>` marked
"continued") at the start of the next. The document's beginning (the summary) is part 1.

Every part starts with a hidden marker naming the workspace and the part, so that a
workflow updates its own comments (one set per workspace) instead of adding new ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

GITHUB_COMMENT_LIMIT = 65_536
MARKER_PREFIX = "<!-- ftctl:comment"
_FENCE = re.compile(r"^(\s{0,3})(`{3,}|~{3,})(.*)$")
_RESERVED = 400  # marker and part heading, added once the number of parts is known


def marker(workspace: str, part: int) -> str:
    """The hidden first line of a part: `<!-- ftctl:comment workspace=acme part=1 -->`."""
    return f"{MARKER_PREFIX} workspace={workspace} part={part} -->"


@dataclass
class _Open:
    """A construct open at the current line: a fence, or a details block."""

    kind: str  # "fence" | "details"
    opening: list[str]  # the lines that open it again in the next part
    closing: str


def _reopen(frame: _Open) -> list[str]:
    if frame.kind != "details":
        return list(frame.opening)
    lines = []
    for line in frame.opening:
        if "</summary>" in line and "(continued)" not in line:
            line = line.replace("</summary>", " (continued)</summary>", 1)
        lines.append(line)
    return lines


def _cost(lines: list[str]) -> int:
    return sum(len(line) + 1 for line in lines)


def split_comment(text: str, limit: int = GITHUB_COMMENT_LIMIT) -> list[str]:
    """`text` cut into bodies of at most `limit - _RESERVED` characters, Markdown-balanced."""
    budget = limit - _RESERVED
    parts: list[list[str]] = []
    current: list[str] = []
    stack: list[_Open] = []

    def closing_cost() -> int:
        return sum(len(f.closing) + 2 for f in stack)

    def cut() -> None:
        nonlocal current
        body = list(current)
        while body and not body[-1].strip():
            body.pop()
        closers = [f.closing for f in reversed(stack)]
        parts.append([*body, *closers])
        current = [line for frame in stack for line in _reopen(frame)]

    for raw in text.splitlines():
        line = raw if len(raw) < budget // 2 else raw[: budget // 2 - 1] + "…"
        if current and _cost(current) + len(line) + 1 + closing_cost() > budget:
            cut()
        current.append(line)
        _track(stack, line)
    if current or not parts:
        parts.append(current)
    return ["\n".join(p).rstrip() + "\n" for p in parts]


def _track(stack: list[_Open], line: str) -> None:
    """Update the open constructs after `line` (fences first: nothing nests in a fence)."""
    fence = _FENCE.match(line)
    if stack and stack[-1].kind == "fence":
        opened = stack[-1].closing.strip()
        if (
            fence
            and fence.group(2)[0] == opened[0]
            and len(fence.group(2)) >= len(opened)
            and not fence.group(3).strip()
        ):
            stack.pop()
        return
    if fence:
        stack.append(_Open("fence", [line], fence.group(1) + fence.group(2)))
        return
    stripped = line.strip()
    if stripped.startswith("<details"):
        stack.append(_Open("details", [line], "</details>"))
    elif stripped.startswith("<summary") and stack and stack[-1].kind == "details":
        stack[-1].opening.append(line)
        stack[-1].opening.append("")
    elif stripped.startswith("</details>") and stack and stack[-1].kind == "details":
        stack.pop()


def number_parts(bodies: list[str], workspace: str, title: str = "ftctl plan") -> list[str]:
    """Each body with its marker first and, when there are several, `(part i of n)`."""
    total = len(bodies)
    out = []
    for index, body in enumerate(bodies, start=1):
        head = [marker(workspace, index)]
        if total > 1:
            note = f"_{title}, part {index} of {total}_"
            head += [note if index == 1 else f"### {title} (part {index} of {total})", ""]
        out.append("\n".join(head) + "\n" + body)
    return out


def comment_parts(
    text: str, workspace: str, title: str = "ftctl plan", limit: int = GITHUB_COMMENT_LIMIT
) -> list[str]:
    """`text` as numbered, marked comment bodies of at most `limit` characters each."""
    return number_parts(split_comment(text, limit), workspace, title)


@dataclass(frozen=True)
class EvalLine:
    """The latest eval of one planned project, as the PR comment shows it."""

    project: str
    version: int | None
    passed: bool | None
    summary: str
    source: str  # "ftctl eval" or "apply"


def compose_comment(
    plan_markdown: str,
    *,
    evals: list[EvalLine],
    not_checked: list[str],
    appendices: list[str],
) -> str:
    """One document: the plan's summary first, then what could not be checked and the
    latest evals, then the plan's per-project details, then any appended Markdown."""
    head, cut, details = plan_markdown.partition("\n<details>\n")
    lines = [head.rstrip(), ""]
    if not_checked:
        lines += ["#### Not checked", ""]
        lines += [f"- {item}" for item in not_checked]
        lines.append("")
    if evals:
        lines += [
            "#### Latest evals",
            "",
            "| Project | Version | Gates | Eval | From |",
            "|---|---:|---|---|---|",
        ]
        for e in evals:
            verdict = "–" if e.passed is None else ("passed" if e.passed else "**failed**")
            version = "–" if e.version is None else str(e.version)
            summary = e.summary.replace("|", "\\|") or "–"
            lines.append(f"| `{e.project}` | {version} | {verdict} | {summary} | {e.source} |")
        lines.append("")
    body = "\n".join(lines)
    if cut:
        body += "\n<details>\n" + details
    for extra in appendices:
        body = body.rstrip() + "\n\n" + extra.strip() + "\n"
    return body.rstrip() + "\n"
