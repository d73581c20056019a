"""Shared statistics: the interval every reported rate carries."""

from __future__ import annotations

import math


def wilson_interval(hits: int, trials: int) -> tuple[float, float]:
    """Wilson 95% interval for a hit rate (used when reporting replay results)."""
    if trials == 0:
        return (0.0, 1.0)
    z, p = 1.96, hits / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return (centre - half, centre + half)
