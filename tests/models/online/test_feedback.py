"""Learning from reactions to served lists, on tiny streams: ignored impressions lower an item for that user,
clicks raise it, and one click reported twice (feedback and behaviour) is learned once."""

import numpy as np
import pytest

from recstream.models.data.interaction import Feedback, Interaction
from recstream.models.online.config import OnlineConfig
from recstream.models.online.recommender import OnlineRecommender

T = 1_767_225_600.0


def learner(**kw) -> OnlineRecommender:
    rec = OnlineRecommender(OnlineConfig(n_factors=4, negatives=0, prequential_sample=0.0, **kw))
    # Ten users like the same five items; "me" has seen one of them.
    rec.learn([Interaction(f"e{u}{i}", f"u{u}", f"i{i}", "click", None, T + u) for u in range(10) for i in range(5)],
              evaluate=False)
    rec.learn([Interaction("m0", "me", "i0", "click", None, T + 20)], evaluate=False)
    return rec


def fb(n: int, item: str, action: str, ts: float, user: str = "me") -> Feedback:
    return Feedback(f"f{n}", "rec-1", user, item, action, "online", ts)


def score(rec: OnlineRecommender, item: str, user: str = "me") -> float:
    return float(rec.scores(user)[rec.item_row(item)])


def test_an_ignored_impression_lowers_that_item_for_that_user_only():
    rec, other = learner(), learner()
    before, before_u1 = score(rec, "i3"), score(rec, "i3", "u1")
    rec.learn_feedback([fb(1, "i3", "impression", T + 30)])
    assert score(rec, "i3") == before  # still within the exposure window: a click may come
    rec.learn_feedback([fb(2, "i4", "impression", T + 30 + 601)])  # later feedback moves event time on
    assert score(rec, "i3") < before - 0.5  # ignored: demoted (and a factor step towards 0)
    assert score(rec, "i3", "u1") == pytest.approx(before_u1, abs=0.05)  # another user: as good as before
    assert rec.feedback.state()["exposure_negatives"] == 1
    other.learn_feedback([fb(1, "i3", "skip", T + 30)])  # a skip is a negative at once
    assert score(other, "i3") < before - 0.5


def test_a_click_on_a_served_item_is_learned_as_a_positive_and_ends_its_demotion():
    rec = learner()
    rec.learn_feedback([fb(1, "i3", "impression", T + 30), fb(2, "i4", "impression", T + 700)])
    assert "i3" in rec.recommend("me", 10).items
    rec.learn_feedback([fb(3, "i3", "click", T + 701)])
    assert rec.feedback.ignored["me"].get(rec.item_row("i3")) is None
    assert "i3" not in rec.recommend("me", 10).items  # learned: now one of the user's items (seen)
    assert rec.events_learned == 52 and rec.seen.contains("me", rec.item_row("i3"))
    # An impression clicked within the window is no negative.
    rec.learn_feedback([fb(4, "i2", "impression", T + 800), fb(5, "i2", "click", T + 810),
                        fb(6, "i4", "impression", T + 2000)])
    assert rec.feedback.state()["exposure_negatives"] == 2  # i3's and i4's first showings, not i2's


def test_the_same_click_reported_as_feedback_and_as_behaviour_is_learned_once():
    click = Interaction("b1", "me", "i3", "click", None, T + 40)
    # Feedback first, then the tracker's behaviour event: the behaviour copy is dropped (once).
    rec = learner()
    rec.learn_feedback([fb(1, "i3", "click", T + 40)])
    keep = rec.feedback.drop_repeats([click.user_id, "me"], [click.item_id, "i4"])
    assert keep == [1] and rec.events_learned == 52
    assert rec.feedback.drop_repeats(["me"], ["i3"]) == [0]  # a later genuine repeat is learned
    # Behaviour first: the feedback copy is not learned again.
    rec2 = learner()
    rec2.learn([click], evaluate=False)
    rec2.learn_feedback([fb(1, "i3", "click", T + 41)])
    assert rec2.events_learned == 52 and rec2.feedback.state()["repeats_dropped"] == 1
    # Either way, the user's state holds the click once.
    np.testing.assert_allclose(rec.scores("u1"), rec2.scores("u1"), atol=1e-9)


def test_an_ignored_item_stays_down_however_strongly_it_follows_the_last_item():
    from recstream.models.serving.ask import Ask
    from recstream.models.serving.blend import blend
    from recstream.models.serving.mix import ServedMix

    rec = learner(cooccurrence_weight=1.0)
    # Many users go i0 -> i9: once "me" (whose newest item is i0) has i9 in view, successors rank it first.
    rec.learn([Interaction(f"s{u}", f"v{u}", f"i{j}", "click", None, T + 30 + u)
               for u in range(40) for j in (0, 9)], evaluate=False)
    strong = ServedMix(successors=4.0, deep=0.0)
    assert blend(rec, None, Ask("me", 1), strong)[0].items == ["i9"]
    rec.learn_feedback([fb(1, "i9", "impression", T + 100), fb(2, "i4", "impression", T + 800)])
    served = blend(rec, None, Ask("me", 10), strong)[0].items
    assert served[-1] == "i9" and len(served) == 5  # ignored: last, demoted after mixing, not only online
    assert blend(rec, None, Ask("v1", 5), strong)[0].items  # other users' lists are untouched


def test_showings_past_the_demotion_horizon_are_forgotten_so_memory_stays_bounded_by_time():
    rec = learner(exposure_window_s=10.0, ignored_for_s=100.0)
    rec.learn_feedback([fb(1, "i3", "skip", T + 30), fb(2, "i4", "skip", T + 60)])
    assert set(rec.feedback.ignored["me"]) == {rec.item_row("i3"), rec.item_row("i4")}
    rec.learn_feedback([fb(3, "i2", "skip", T + 150)])  # i3's showing is now 120 s old, i4's 90 s
    assert set(rec.feedback.ignored["me"]) == {rec.item_row("i4"), rec.item_row("i2")}
    assert dict(rec.feedback.recently_ignored("me")) == {rec.item_row("i4"): 1, rec.item_row("i2"): 1}
