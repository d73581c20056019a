"""Per-version outcomes from feedback events, and the canary decision they support.

Feedback events echo the `model_version` a recommendation was served with, so click-through per version is a
GROUP BY. A canary is promoted when its 95% interval lies wholly above live's, rolled back when wholly below,
and otherwise left running until both have enough impressions to tell.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select

from recstream.models.stats import wilson_interval
from recstream.models.store.registry import Registry
from recstream.models.store.schema import feedback

POSITIVE_ACTIONS = ("click", "purchase")


@dataclass(frozen=True)
class VersionOutcome:
    version: str
    impressions: int
    clicks: int

    @property
    def rate(self) -> float:
        return self.clicks / self.impressions if self.impressions else 0.0

    @property
    def ci(self) -> tuple[float, float]:
        return wilson_interval(min(self.clicks, self.impressions), self.impressions)

    def as_dict(self) -> dict[str, object]:
        lo, hi = self.ci
        return {"version": self.version, "impressions": self.impressions, "clicks": self.clicks,
                "click_rate": round(self.rate, 5), "ci95": [round(lo, 5), round(hi, 5)]}


def outcomes(engine: Engine, since: float | None = None) -> dict[str, VersionOutcome]:
    """Impressions and clicks (click or purchase) per served model version."""
    q = select(feedback.c.model_version, feedback.c.action, func.count()).group_by(
        feedback.c.model_version, feedback.c.action)
    if since is not None:
        q = q.where(feedback.c.ts >= since)
    counts: dict[str, list[int]] = {}
    with engine.connect() as conn:
        for version, action, n in conn.execute(q):
            c = counts.setdefault(version, [0, 0])
            if action == "impression":
                c[0] += int(n)
            elif action in POSITIVE_ACTIONS:
                c[1] += int(n)
    return {v: VersionOutcome(v, imp, clk) for v, (imp, clk) in counts.items()}


def canary_decision(live: VersionOutcome | None, canary: VersionOutcome | None,
                    min_impressions: int = 1000) -> tuple[str, str]:
    """("promote" | "rollback" | "wait", why)."""
    if live is None or canary is None or min(live.impressions, canary.impressions) < min_impressions:
        have = {o.version: o.impressions for o in (live, canary) if o is not None}
        return "wait", f"need {min_impressions} impressions per version, have {have}"
    (clo, chi), (llo, lhi) = canary.ci, live.ci
    summary = (f"canary {canary.version} click rate {canary.rate:.4f} [{clo:.4f}, {chi:.4f}] vs live "
               f"{live.version} {live.rate:.4f} [{llo:.4f}, {lhi:.4f}]")
    if clo > lhi:
        return "promote", summary
    if chi < llo:
        return "rollback", summary
    return "wait", summary + " (intervals overlap)"


def canary_report(registry: Registry, min_impressions: int = 1000, kind: str = "deep") -> dict[str, Any] | None:
    """The running canary of `kind` against live: its share of users, each one's outcomes since the canary
    started (older traffic saw other versions), and the decision they support. None when no canary runs."""
    serving = registry.serving(kind)
    live, canary = serving.get("live"), serving.get("canary")
    if canary is None:
        return None
    started = next((a["at"] for a in registry.audit(canary.id) if a["to_status"] == "canary"
                    and a["from_status"] != "canary"), canary.created_at)
    stats = outcomes(registry.engine, since=started)
    decision, why = canary_decision(stats.get(live.name) if live else None, stats.get(canary.name), min_impressions)
    names = [v.name for v in (live, canary) if v is not None]
    return {"canary": canary.name, "live": live.name if live else None, "share": canary.canary_share,
            "since": started, "outcomes": {n: stats[n].as_dict() for n in names if n in stats},
            "decision": decision, "why": why}
