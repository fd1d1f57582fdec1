"""A line chart in plain text, for the terminal (`ftctl events`): no plotting library.

Each series is drawn with its own mark on a grid of `height` rows; the y axis is labelled
at the top, middle and bottom, the x axis with the first and last step. Points beyond
`width` are averaged into columns, so a long job still fits a terminal.
"""

from __future__ import annotations

from collections.abc import Sequence

MARKS = ("•", "x", "+", "o")


def _columns(points: Sequence[tuple[int, float]], width: int) -> list[tuple[int, float]]:
    """At most `width` points: each the mean of an equal run of the originals."""
    if len(points) <= width:
        return list(points)
    out = []
    for column in range(width):
        start = column * len(points) // width
        end = max(start + 1, (column + 1) * len(points) // width)
        chunk = points[start:end]
        out.append((chunk[-1][0], sum(v for _, v in chunk) / len(chunk)))
    return out


def line_chart(
    series: Sequence[tuple[str, Sequence[tuple[int, float]]]],
    *,
    width: int = 60,
    height: int = 12,
    title: str = "",
) -> str:
    """`series`: (name, [(step, value), ...]) each. Empty series are left out."""
    drawn = [(name, _columns(points, width)) for name, points in series if points]
    if not drawn:
        return ""
    values = [v for _, points in drawn for _, v in points]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    steps = sorted({s for _, points in drawn for s, _ in points})
    first, last = steps[0], steps[-1]
    columns = max(len(points) for _, points in drawn)
    grid = [[" "] * columns for _ in range(height)]
    for mark, (_, points) in zip(MARKS, drawn, strict=False):
        for index, (_, value) in enumerate(points):
            column = (
                index
                if len(points) == columns
                else round(index * (columns - 1) / max(1, len(points) - 1))
            )
            row = height - 1 - round((value - low) / span * (height - 1))
            grid[row][column] = mark
    labels = {0: f"{high:.4g}", height // 2: f"{(low + high) / 2:.4g}", height - 1: f"{low:.4g}"}
    pad = max(len(text) for text in labels.values())
    lines = [title] if title else []
    for row in range(height):
        lines.append(f"{labels.get(row, '').rjust(pad)} ┤{''.join(grid[row])}")
    lines.append(" " * pad + " └" + "─" * columns)
    axis = f"step {first}"
    lines.append(" " * (pad + 2) + axis + f"step {last}".rjust(max(1, columns - len(axis))))
    legend = "   ".join(f"{mark} {name}" for mark, (name, _) in zip(MARKS, drawn, strict=False))
    lines.append(" " * (pad + 2) + legend)
    return "\n".join(lines) + "\n"
