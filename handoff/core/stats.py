"""Small statistics over metric samples (pure functions, no Redis)."""

from __future__ import annotations

import math
import statistics
from typing import Iterable, List, Optional, Sequence


def median(values: Sequence[float]) -> Optional[float]:
    """The median, or None for no values."""
    return float(statistics.median(values)) if values else None


def percentile(values: Iterable[float], pct: float) -> Optional[float]:
    """Nearest-rank percentile (``pct`` in 0–100), or None for no values.

    Nearest-rank always returns an observed value, which reads better on a
    dashboard ("90% waited at most 3 min 12 s") than an interpolated one.
    """
    ordered: List[float] = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return float(ordered[rank - 1])


def mean(values: Sequence[float]) -> Optional[float]:
    """The arithmetic mean, or None for no values."""
    return float(statistics.fmean(values)) if values else None


def estimate_wait(
    per_position_waits: Sequence[float],
    position: int,
    default_per_position: float,
    min_samples: int = 3,
) -> int:
    """Seconds a customer at ``position`` will probably wait.

    Args:
        per_position_waits: Recent waits, each divided by the position the customer
            entered the queue at.
        position: 1-based queue position now.
        default_per_position: Used when there are fewer than ``min_samples`` samples.
        min_samples: How much history is enough to trust.
    """
    base = median(per_position_waits) if len(per_position_waits) >= min_samples else None
    per_position = default_per_position if base is None else base
    return int(round(per_position * max(1, position)))
