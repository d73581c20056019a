"""Why an item was served: the parts of its score and the rules the list obeyed (GET ...?explain=true).

For each served item: the online model's parts (factors, popularity, co-occurrence and which of the user's recent
items it came from, the demotion for ignored showings), how often it came right after the user's last item, the deep version's score and share when it contributed,
and the rules applied to the whole list (availability, categories, exclusions).
"""

from __future__ import annotations

import numpy as np

from recstream.models.online.recommender import OnlineRecommender
from recstream.models.serving.blend import Mixer, deep_scores, successor_scores
from recstream.models.serving.filters import Filters
from recstream.models.serving.hotswap import LoadedModel
from recstream.models.serving.mix import ServedMix

#: recent items named per served item as the co-occurrence reason
SOURCES = 3


def explain(online: OnlineRecommender, user_id: str, items: list[str], deep: LoadedModel | None, mix: ServedMix,
            used_deep: bool, filters: Filters) -> dict:
    """{"rules": [...], "items": [one explanation per served item, in order]}."""
    rows = np.array([online.item_row(i) for i in items], dtype=np.int64)
    parts = online.score_parts(user_id, rows) if len(rows) else {}
    window, by_source = (online.cooccurrence.by_source(user_id, rows, online.config.cooccurrence_weight)
                         if online.cooccurrence is not None and "cooccurrence" in parts else (np.zeros(0), None))
    d = deep_scores(online, deep, user_id) if used_deep else None
    after = successor_scores(online, user_id) if mix.successors > 0 else None
    # A mixed list ranks by standardised parts: each one's weighted share of the served score, which they sum to
    mixed = None if d is None and after is None else _shares(Mixer(online.scores(user_id), d, after), mix, rows)
    out = []
    for j in range(len(items)):
        why: dict = {"online": {name: round(float(v[j]), 4) for name, v in parts.items()}}
        why["online_total"] = round(sum(why["online"].values()), 4)
        if by_source is not None:
            order = np.argsort(-by_source[:, j], kind="stable")[:SOURCES]
            why["with_your_items"] = [online.item_ids[int(window[s])] for s in order if by_source[s, j] > 0]
        if after is not None and after[rows[j]] > 0:
            why["after_your_last_item"] = {"score": round(float(after[rows[j]]), 4), "weight": mix.successors}
        if mixed is not None:
            why["mixed"] = {name: round(float(v[j]), 4) for name, v in mixed.items()}
        if d is not None and np.isfinite(d[rows[j]]):
            why["deep"] = {"version": deep.version.name, "score": round(float(d[rows[j]]), 4),  # type: ignore[union-attr]
                           "share": mix.deep}
        out.append(why)
    source = "personal blend of online and deep" if d is not None else (
        "online model and what followed your last item" if after is not None else
        "online model" if online.is_personal(user_id) else "popular (not enough history for this user yet)")
    return {"ranked_by": source, "rules": filters.rules(), "items": out}


def _shares(mixer: Mixer, mix: ServedMix, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Each standardised part's weighted contribution to the served score of item `rows`."""
    weights = mix.coefficients() if mixer.has_deep else ServedMix(mix.successors, 0.0).coefficients()
    names = ("online", "after_your_last_item", "deep")
    return {name: w * mixer.parts[p][rows] for p, (name, w) in enumerate(zip(names, weights)) if w}
