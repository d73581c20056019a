"""Top-N figures of one list source on a stream of probes: Recall@k (Wilson interval) and NDCG@k (normal
interval), one held-out target item per probe."""

from __future__ import annotations

import math
from dataclasses import dataclass

from recstream.models.stats import wilson_interval


@dataclass
class TopN:
    k: int = 10
    trials: int = 0
    hits: int = 0
    gain: float = 0.0
    gain_sq: float = 0.0

    def add(self, items: list[str], target: str) -> bool:
        """Judge one list against the item that came next; True on a hit."""
        self.trials += 1
        top = items[:self.k]
        if target not in top:
            return False
        g = 1.0 / math.log2(top.index(target) + 2)
        self.hits += 1
        self.gain += g
        self.gain_sq += g * g
        return True

    @property
    def recall(self) -> float:
        return self.hits / self.trials if self.trials else 0.0

    @property
    def ndcg(self) -> float:
        return self.gain / self.trials if self.trials else 0.0

    def ndcg_interval(self) -> tuple[float, float]:
        if self.trials < 2:
            return (0.0, 1.0)
        var = max(self.gain_sq / self.trials - self.ndcg ** 2, 0.0) * self.trials / (self.trials - 1)
        half = 1.96 * math.sqrt(var / self.trials)
        return (self.ndcg - half, self.ndcg + half)

    def as_dict(self) -> dict:
        lo, hi = wilson_interval(self.hits, self.trials)
        nlo, nhi = self.ndcg_interval()
        return {"recall_at_10": round(self.recall, 4), "recall_ci95": [round(lo, 4), round(hi, 4)],
                "ndcg_at_10": round(self.ndcg, 4), "ndcg_ci95": [round(nlo, 4), round(nhi, 4)],
                "trials": self.trials}
