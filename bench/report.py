"""Figures in, table and verdicts out: median/min/max of each measure, the ratio to the naive
baseline, and the issue's targets with pass or fail.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MB = 1_000_000


def stats(values: Sequence[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


@dataclass(frozen=True)
class Row:
    label: str
    values: Sequence[float]
    unit: str = ""
    naive: float | None = None
    # How the ratio reads: "faster"/"fewer" (naive / ours: times, counts), "more" (ours / naive:
    # rates), "" (ours / naive: sizes).
    ratio: str = ""
    note: str = ""


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if value else "0"


def ratio(row: Row) -> float | None:
    """How many times better than naive: times and counts naive/ours, rates ours/naive."""
    if row.naive is None or not row.values:
        return None
    ours = statistics.median(row.values)
    if row.ratio in ("faster", "fewer"):
        return row.naive / ours if ours else None
    return ours / row.naive if row.naive else None


_MARK = {"faster": "x faster", "fewer": "x fewer", "more": "x more", "": "x of naive"}
WIDTH = 50


def table(sections: list[tuple[str, list[Row]]]) -> str:
    head = f"{'measure':<{WIDTH}} {'n':>2} {'median':>10} {'min':>10} {'max':>10} {'naive':>10}"
    lines = [head + "  ratio to naive", "-" * (len(head) + 18)]
    for title, rows in sections:
        lines.append(title)
        for row in rows:
            s = stats(row.values) if row.values else None
            r = ratio(row)
            label = f"  {row.label}" + (f" [{row.unit}]" if row.unit else "")
            cells = [_fmt(s[k]) if s else "-" for k in ("median", "min", "max")]
            ratio_text = f"{r:.1f}{_MARK[row.ratio]}" if r is not None else ""
            line = f"{label:<{WIDTH}} {len(row.values):>2} {cells[0]:>10} {cells[1]:>10} "
            line += f"{cells[2]:>10} {_fmt(row.naive):>10}  {ratio_text}"
            lines.append(line + (f" {row.note}" if row.note else ""))
    return "\n".join(lines)


def rows_json(sections: list[tuple[str, list[Row]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for title, rows in sections:
        out[title] = {
            row.label: {
                "unit": row.unit,
                "runs": list(row.values),
                **(stats(row.values) if row.values else {}),
                "naive": row.naive,
                "ratio_to_naive": ratio(row),
                "note": row.note,
            }
            for row in rows
        }
    return out


@dataclass(frozen=True)
class Target:
    name: str
    wanted: str
    measured: str
    passed: bool | None  # None: not measured in this run


def targets_table(targets: list[Target]) -> str:
    lines = [f"{'target':<40} {'wanted':<40} {'measured':<44} result", "-" * 132]
    for t in targets:
        verdict = {True: "PASS", False: "FAIL", None: "n/a"}[t.passed]
        lines.append(f"{t.name:<40} {t.wanted:<40} {t.measured:<44} {verdict}")
    return "\n".join(lines)


def targets_json(targets: list[Target]) -> list[dict[str, Any]]:
    return [
        {"name": t.name, "target": t.wanted, "measured": t.measured, "pass": t.passed}
        for t in targets
    ]
