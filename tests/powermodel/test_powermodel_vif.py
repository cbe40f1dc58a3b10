"""All-at-once VIFs agree with statsmodels' one-regression-per-column definition; pruning is correct."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import statsmodels.api as sm
from statsmodels.stats.outliers_influence import variance_inflation_factor

from powermodel.vif import prune_vif, vif_all


def correlated(n: int, p: int, seed: int = 0, noise: float = 0.4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 4))
    X = latent @ rng.normal(size=(4, p)) + noise * rng.normal(size=(n, p))
    return X * rng.uniform(1, 1e9, size=p) + rng.uniform(-5, 5, size=p)  # counter-like scales and offsets


@pytest.mark.parametrize("standardize", [True, False])
def test_vif_all_matches_statsmodels_with_constant(standardize):
    X = correlated(400, 9)
    exog = sm.add_constant(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels warns about the raw (unstandardised) condition number
        expected = np.array([variance_inflation_factor(exog, j + 1, standardize=standardize) for j in range(9)])
    got = vif_all(X)
    assert expected.min() > 1.5  # the data really is collinear, so the comparison means something
    np.testing.assert_allclose(got, expected, rtol=1e-8)


def test_vif_constant_column_is_infinite_and_exact_duplicate_is_huge():
    X = correlated(300, 4)
    X = np.column_stack([X, np.full(300, 7.0), X[:, 0] * 2 + 1])
    vifs = vif_all(X)
    assert np.isinf(vifs[4])
    assert vifs[0] > 1e8 and vifs[5] > 1e8
    assert np.all(np.isfinite(vifs[[1, 2, 3]]))


def test_prune_vif_drops_worse_ranked_copy_and_reaches_threshold():
    X = correlated(500, 12, seed=1)
    X = np.column_stack([X, X[:, 3] * 3.0])  # column 12 duplicates column 3
    names = [f"c{j}" for j in range(13)]
    priority = np.zeros(13)
    priority[12] = 1.0  # the copy is "more related to power": the original must go first
    result = prune_vif(X, names, threshold=10.0, priority=priority)
    assert result.duplicates == [("c3", "c12")]  # the near-copy pass removes it before VIF pruning
    assert "c12" in result.kept
    plain = prune_vif(X, names, threshold=10.0, priority=priority, duplicate_corr=None)
    assert plain.dropped[0][0] == "c3" and plain.duplicates == []  # the VIF tie-break makes the same call
    assert max(result.vif_kept.values()) <= 10.0
    # the downdated inverse gives the same VIFs as recomputing on the kept columns
    kept = [names.index(n) for n in result.kept]
    np.testing.assert_allclose(list(result.vif_kept.values()), vif_all(X[:, kept]), rtol=1e-9)


def test_prune_vif_keeps_everything_below_threshold():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(200, 5))
    result = prune_vif(X, list("abcde"), threshold=10.0)
    assert result.kept == list("abcde") and result.dropped == []
