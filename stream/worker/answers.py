"""The JSON a recommendation request gets: what was served, by which versions, and what feedback should echo."""

from __future__ import annotations

import uuid

from recstream.models.online.recommender import Recommendation
from recstream.models.serving.hotswap import LoadedModel


def recommendation_answer(user_id: str, rec: Recommendation, deep: LoadedModel | None, used_deep: bool,
                          online_version: str, is_canary: bool, events_learned: int) -> dict:
    deep_name = deep.version.name if deep is not None and used_deep else None
    return {
        "user_id": user_id,
        "rec_id": uuid.uuid4().hex,
        "items": [{"item_id": i, "score": round(s, 6)} for i, s in zip(rec.items, rec.scores)],
        "source": rec.source,
        # Feedback events echo `model_version` (the released version that shaped the list, for A/B stats);
        # `model_versions` names every model that contributed.
        "model_version": deep_name or online_version,
        "model_versions": {"online": online_version, "deep": deep_name},
        "canary": used_deep and is_canary,
        "events_learned": events_learned,
    }
