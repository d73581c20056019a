"""The online learner (RECSTREAM_ONLINE_*). Defaults are OnlineConfig's: each is written once, there."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from recstream.models.online.config import OnlineConfig
from recstream.stream.settings.base import Component

D = OnlineConfig


class OnlineSettings(Component):
    model_config = Component.model_config | {"env_prefix": "RECSTREAM_ONLINE_"}

    algorithm: Literal["biased_mf", "funk_mf"] = Field(D.algorithm, description="the online factor model: biased_mf or funk_mf")
    loss: Literal["squared", "log"] = Field(D.loss, description="log (logistic MF: positive 1, negative 0) or "
                                            "squared (regress event weights)")
    factors: int = Field(D.n_factors, ge=1, description="latent factors of the online model")
    learning_rate: float = Field(D.learning_rate, gt=0, description="SGD step of the online model")
    negatives: int = Field(D.negatives, ge=0, description="sampled negatives learned after each positive event "
                           "(quality against ingest speed)")
    negative_sampling: Literal["uniform", "popularity"] = Field(D.negative_sampling, description="popularity (in "
                                                                "proportion to popularity) or uniform")
    popularity_blend: float = Field(D.popularity_blend, ge=0, description="weight of log-popularity in personal "
                                    "scores")
    cooccurrence_weight: float = Field(D.cooccurrence_weight, ge=0,
                                       description="weight of co-occurrence with the user's latest positives (0 = off)")
    cooccurrence_window: int = Field(D.cooccurrence_window, ge=1,
                                     description="latest positive items a user's score looks at")
    cooccurrence_neighbours: int = Field(D.cooccurrence_neighbours, ge=1, le=4096,
                                         description="companions kept per item")
    successor_neighbours: int = Field(D.successor_neighbours, ge=1, le=4096,
                                      description="successors (what came right after an item) kept per item")
    cooccurrence_half_life: float | None = Field(D.cooccurrence_half_life, gt=0, description="positive events "
                                                 "over which companion counts halve (unset = never)")
    cooccurrence_shift_fade: float | None = Field(D.cooccurrence_shift_fade, ge=0, lt=1, description="companion "
                                                  "counts are multiplied by this when a taste shift is noticed "
                                                  "(unset or 1 = shifts not watched)")
    similar_pair_decay: float = Field(D.similar_pair_decay, gt=0, le=1, description="similar items weigh a pair of "
                                      "a user's items this^(steps apart - 1)")
    popularity_half_life_s: float = Field(D.popularity_half_life_s, gt=0, description="popularity decays by half "
                                          "in this many seconds of event time (a year measured best on MovieLens)")
    exposure_window_s: float = Field(D.exposure_window_s, ge=0, description="an impression not clicked within "
                                     "this many seconds (event time) is an exposure negative")
    ignored_penalty: float = Field(D.ignored_penalty, ge=0, description="score lowered per ignored showing (0 = off)")
    ignored_for_s: float = Field(D.ignored_for_s, ge=0, description="how long an ignored item stays lowered")
    max_seen_per_user: int = Field(D.max_seen_per_user, ge=1, description="a user's most recent items remembered "
                                   "(excluded from their lists; memory per user)")
    prequential_sample: float = Field(D.prequential_sample, ge=0, le=1, description="share of positive events "
                                      "scored before learning, for the live prequential Recall@10")
    probe_cells_per_event: float = Field(D.probe_cells_per_event, gt=0, description="probes (prequential and the "
                                         "served judge) score every item: their sample thins so they cost at most "
                                         "this many item scores per learned event on average")
    # A worker caps its probes (OnlineConfig leaves them uncapped, so replays stay deterministic).
    prequential_max_per_s: float = Field(200.0, gt=0, description="most prequential probes a second")

    # Cold users out of memory (stream/worker/eviction.py): worker behaviour, not the learner's.
    evict_after_s: float | None = Field(None, gt=0, description="users with no event for this many seconds of "
                                        "event time leave the worker's memory for the database (user_states) and "
                                        "come back, unchanged, at their next event or request (unset = never)")
    evict_every_s: float = Field(60.0, gt=0, description="seconds between passes looking for idle users to evict")
    evict_batch: int = Field(10_000, ge=1, description="most users evicted in one pass")

    @field_validator("cooccurrence_shift_fade", mode="before")
    @classmethod
    def _one_is_off(cls, v: object) -> object:
        # 1 (nothing faded) was how "off" was written before; None is "off" everywhere now
        return None if v is not None and str(v).strip() in ("1", "1.0") else v

    def config(self) -> OnlineConfig:
        return self.derive(OnlineConfig, {"factors": "n_factors"})
