"""New items get a share of the slots: which items count as new, and how the list makes room for them."""

from recstream.models.catalogue.policy import NewItemPolicy
from recstream.models.data.interaction import Interaction
from recstream.models.online.config import OnlineConfig
from recstream.models.online.recommender import OnlineRecommender, Recommendation
from recstream.models.serving.new_items import new_item_rows, with_new_items


def test_new_means_recently_created_and_little_data():
    online = OnlineRecommender(OnlineConfig(n_factors=4))
    t0 = 1_772_000_000.0
    events = [Interaction(f"e{n}", f"u{n % 40}", "hit", "click", None, t0 + n) for n in range(60)]
    events += [Interaction("n1", "u1", "fresh", "click", None, t0 + 61), Interaction("n2", "u2", "old", "click", None, t0 + 62)]
    online.learn(events)
    created = {"hit": t0 + 60, "fresh": t0 + 60, "old": t0 - 30 * 86_400}
    rows = new_item_rows(online, created, NewItemPolicy(share=0.2, age_s=86_400, max_events=5))
    assert {online.item_ids[r] for r in rows.nonzero()[0]} == {"fresh"}  # "hit" has too much data, "old" is old


def test_the_last_slots_go_to_the_best_new_items_not_already_listed():
    ranked = Recommendation(["a", "b", "c", "d", "e"], [5.0, 4, 3, 2, 1], "personal")
    new = Recommendation(["b", "x", "y", "z"], [4.0, 0.5, 0.4, 0.3], "personal")
    mixed = with_new_items(ranked, new, 5, 0.4)  # 2 slots
    assert mixed.items == ["a", "b", "c", "x", "y"]  # b is already in the kept part: the next new ones fill in
    assert with_new_items(ranked, Recommendation([], [], "personal"), 5, 0.4).items == ranked.items
