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


def test_the_judge_thins_its_sample_on_a_large_catalogue_as_the_prequential_probes_do():
    from recstream.models.data.interaction import Interaction, InteractionColumns
    from recstream.models.online.config import OnlineConfig
    from recstream.models.online.recommender import OnlineRecommender
    from recstream.models.serving.blend_tuner import ServedJudge

    def judged(cells: float) -> int:
        online = OnlineRecommender(OnlineConfig(n_factors=4, prequential_sample=0.0, probe_cells_per_event=cells))
        online.learn([Interaction(f"w{i}", "warm", f"i{i}", "click", None, 0.0) for i in range(400)])
        judge = ServedJudge(MixTuner(), sample=1.0, max_per_s=None)
        for c in range(10):  # 400 novel clicks: one each by 400 new users, 40 at a time
            events = [Interaction(f"e{c}-{u}", f"u{c}-{u}", f"i{u}", "click", None, 1.0) for u in range(40)]
            judge.before_learning(online, lambda user: None, InteractionColumns.of(events))
        return judge.trials

    assert judged(1e9) == 400  # within the budget: every sampled event judged
    assert 50 < judged(100.0) < 150  # 400 items, 100 item scores an event: about a quarter


def test_ranks_for_many_mixes_at_once_are_each_mixs_own_rank():
    # Without a deep part the tuner's mixes collapse to a few distinct ones, ranked once each.
    from recstream.models.serving.blend import Mixer

    rng = np.random.default_rng(3)
    online, successors, deep = rng.normal(size=300), rng.normal(size=300), rng.normal(size=300)
    online[::9] = -np.inf  # seen
    ignored = np.zeros(300)
    ignored[[5, 17]] = 1
    mixes = MixTuner().candidates
    for d in (None, deep):
        mixer = Mixer(online, d, successors, ignored)
        for row in (1, 2, 5, 120):
            expected = [np.count_nonzero(mixer.at(m) >= mixer.at(m)[row]) for m in mixes]
            assert mixer.ranks_of(mixes, row).tolist() == expected
