"""The compiled ranking passes give what the NumPy ones they replace gave."""

import numpy as np
import pytest

from recstream.models.online.ranking import best_rows, standardised


def reference_best(scores: np.ndarray, k: int) -> list[int]:
    finite = [i for i in range(len(scores)) if np.isfinite(scores[i])]
    return sorted(finite, key=lambda i: (-scores[i], i))[:k]


@pytest.mark.parametrize("seed", range(6))
def test_the_best_rows_are_the_k_largest_finite_scores_best_first_ties_by_row(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    scores = rng.integers(-5, 6, n).astype(np.float64)  # many ties
    scores[rng.random(n) < 0.3] = -np.inf
    for k in (0, 1, 3, 10, n, n + 5):
        assert best_rows(scores, k).tolist() == reference_best(scores, k)


def test_no_finite_score_gives_no_rows():
    assert best_rows(np.full(5, -np.inf), 3).tolist() == []
    assert best_rows(np.zeros(0), 3).tolist() == []


def test_a_part_is_standardised_over_its_finite_entries_and_the_others_are_zero():
    rng = np.random.default_rng(1)
    x = rng.normal(3.0, 2.0, 1000)
    x[::7] = -np.inf
    finite = np.isfinite(x)
    expected = np.where(finite, (x - x[finite].mean()) / x[finite].std(), 0.0)
    np.testing.assert_allclose(standardised(x), expected, atol=1e-12)
    assert standardised(np.full(4, 2.0)).tolist() == [0.0] * 4  # no spread: divided by 1
    assert standardised(np.full(3, -np.inf)).tolist() == [0.0] * 3
