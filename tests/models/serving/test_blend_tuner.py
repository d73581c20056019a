"""The served mix follows whichever part keeps ranking what users pick: the deep share, the successor weight."""

import numpy as np

from recstream.models.serving.blend_tuner import MixTuner
from recstream.models.serving.mix import ServedMix


def scores_ranking(target: int, first: bool, n: int = 50, seed: int = 0) -> np.ndarray:
    """Scores over n items where `target` ranks first (or last)."""
    s = np.random.default_rng(seed).normal(size=n)
    s[target] = s.max() + 1 if first else s.min() - 1
    return s


def test_the_deep_share_moves_to_the_model_that_ranks_the_picked_items():
    # Online ranks the pick last and deep first (or the reverse): every share past the middle (or before it)
    # serves it; of equals, the one nearest the configured 0.5.
    for deep_knows, expected in ((True, 0.75), (False, 0.25)):
        tuner = MixTuner(start=ServedMix(0.0, 0.5), successors=(0.0,), min_judged=50)
        for n in range(200):
            target = n % 50
            online = scores_ranking(target, first=not deep_knows, seed=n)
            deep = scores_ranking(target, first=deep_knows, seed=n + 1_000)
            if n == 10:
                assert tuner.weight == ServedMix(0.0, 0.5)  # too few judged yet: the configured mix
            tuner.observe(online, deep, target)
        assert tuner.weight.deep == expected


def test_the_successor_weight_grows_when_what_came_next_ranks_the_picks():
    tuner = MixTuner(start=ServedMix(0.0, 0.0), successors=(0.0, 1.0, 4.0), deep=(0.0,), min_judged=50)
    for n in range(200):
        target = n % 50
        after = np.zeros(50)
        after[target] = 3.0  # what followed the last item: the pick, and nothing else
        tuner.observe(scores_ranking(target, first=False, seed=n), None, target, successors=after)
    assert tuner.weight.successors > 0  # of the equals that serve it (1 and 4), the one nearest the start
    assert tuner.weight == ServedMix(1.0, 0.0)


def test_without_a_deep_part_every_share_serves_the_online_list():
    tuner = MixTuner(start=ServedMix(0.0, 0.5), successors=(0.0,), min_judged=1)
    tuner.observe(scores_ranking(3, first=True), None, 3)
    assert tuner.hits.tolist() == [1.0] * len(tuner.candidates)  # deep share 1 included: there is no deep part


def test_a_seen_item_is_never_credited():
    tuner = MixTuner(min_judged=1)
    online = scores_ranking(3, first=True)
    online[3] = -np.inf  # seen: never served, whatever the weights
    tuner.observe(online, scores_ranking(3, first=True), 3)
    assert not tuner.hits.any() and tuner.judged == 1.0
