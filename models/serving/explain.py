"""Why an item was served: the parts of its score and the rules the list obeyed (GET ...?explain=true).

For each served item: the online model's parts (factors, popularity, co-occurrence and which of the user's recent
items it came from, the demotion for ignored showings), the deep version's score and share when it contributed,
and the rules applied to the whole list (availability, categories, exclusions).
"""

from __future__ import annotations

import numpy as np

from recstream.models.online.recommender import OnlineRecommender
from recstream.models.serving.blend import deep_scores
from recstream.models.serving.filters import Filters
from recstream.models.serving.hotswap import LoadedModel

#: recent items named per served item as the co-occurrence reason
SOURCES = 3


def explain(online: OnlineRecommender, user_id: str, items: list[str], deep: LoadedModel | None, deep_weight: float,
            used_deep: bool, filters: Filters) -> dict:
    """{"rules": [...], "items": [one explanation per served item, in order]}."""
    rows = np.array([online.item_row(i) for i in items], dtype=np.int64)
    parts = online.score_parts(user_id, rows) if len(rows) else {}
    window, by_source = (online.cooccurrence.by_source(user_id, rows, online.config.cooccurrence_weight)
                         if online.cooccurrence is not None and "cooccurrence" in parts else (np.zeros(0), None))
    d = deep_scores(online, deep, user_id) if used_deep else None
    out = []
    for j in range(len(items)):
        why: dict = {"online": {name: round(float(v[j]), 4) for name, v in parts.items()}}
        why["online_total"] = round(sum(why["online"].values()), 4)
        if by_source is not None:
            order = np.argsort(-by_source[:, j], kind="stable")[:SOURCES]
            why["with_your_items"] = [online.item_ids[int(window[s])] for s in order if by_source[s, j] > 0]
        if d is not None and np.isfinite(d[rows[j]]):
            why["deep"] = {"version": deep.version.name, "score": round(float(d[rows[j]]), 4),  # type: ignore[union-attr]
                           "share": deep_weight}
        out.append(why)
    source = "personal blend of online and deep" if d is not None else (
        "online model" if online.is_personal(user_id) else "popular (not enough history for this user yet)")
    return {"ranked_by": source, "rules": filters.rules(), "items": out}
