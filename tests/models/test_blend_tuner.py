"""The served blend's deep share follows whichever model keeps ranking what users pick."""

import numpy as np

from recstream.models.serving.blend_tuner import BlendTuner


def scores_ranking(target: int, first: bool, n: int = 50, seed: int = 0) -> np.ndarray:
    """Scores over n items where `target` ranks first (or last)."""
    s = np.random.default_rng(seed).normal(size=n)
    s[target] = s.max() + 1 if first else s.min() - 1
    return s


def test_the_weight_moves_to_the_model_that_ranks_the_picked_items():
    # Online ranks the pick last and deep first (or the reverse): every weight past the middle (or before it)
    # serves it; of equals, the one nearest the configured 0.5.
    for deep_knows, expected in ((True, 0.75), (False, 0.25)):
        tuner = BlendTuner(start=0.5, min_judged=50)
        for n in range(200):
            target = n % 50
            online = scores_ranking(target, first=not deep_knows, seed=n)
            deep = scores_ranking(target, first=deep_knows, seed=n + 1_000)
            if n == 10:
                assert tuner.weight == 0.5  # too few judged yet: the configured share
            tuner.observe(online, deep, target)
        assert tuner.weight == expected


def test_a_seen_item_is_never_credited():
    tuner = BlendTuner(min_judged=1)
    online = scores_ranking(3, first=True)
    online[3] = -np.inf  # seen: never served, whatever the weights
    tuner.observe(online, scores_ranking(3, first=True), 3)
    assert not tuner.hits.any() and tuner.judged == 1.0
