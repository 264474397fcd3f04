"""Markdown building blocks of the benchmark report: tables and figures as text."""

from __future__ import annotations

from typing import Any, Iterable, List, Optional, Sequence

from bot.evaluation.scoring import Rate


def pct(value: Optional[float]) -> str:
    return "–" if value is None else f"{value:.1%}"


def delta(a: Rate, b: Rate) -> str:
    """``a`` minus ``b`` in percentage points ("" if either has no value)."""
    if a.value is None or b.value is None:
        return ""
    return f"{(a.value - b.value) * 100:+.1f} pt"


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], align: str = "") -> List[str]:
    """A Markdown table; ``align`` has one letter per column, l or r (default: l then r's)."""
    align = align or "l" + "r" * (len(header) - 1)
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines
