"""Selection: screening, grouped folds, the fast CV equals brute force, and it only sees what it is given."""

from __future__ import annotations

import numpy as np
import pytest

from android.errors import TraceError
from powermodel import design
from powermodel.features import counter_specs
from powermodel.models import PMCModel
from powermodel.selection import SelectionConfig, _GroupedCV, make_folds, screen, select_features


def problem(n=3000, p=12, seed=0):
    """Power driven by counters 0, 3 and 7 at three frequency levels; 10 workloads."""
    rng = np.random.default_rng(seed)
    groups = np.repeat([f"w{g}" for g in range(10)], n // 10)
    freq = np.tile(np.repeat([400e6, 700e6, 900e6], 100), n // 300)
    workload_mix = rng.uniform(0.2, 1.0, (10, p))[np.repeat(np.arange(10), n // 10)]
    X = workload_mix * rng.uniform(0.8, 1.2, (n, p)) * 1e8
    X[:, 5] = X[:, 3] * 2.0 + rng.normal(0, 1e5, n)  # near-copy of a useful counter
    X[:, 9] = 0.0  # an unused countable
    X[:, 10] = np.where(rng.random(n) < 0.01, 3.0, 0.0)  # fires almost never
    scale = freq / 900e6
    y = 0.3 * scale + scale * (X[:, 0] * 4e-9 + X[:, 3] * 2e-9 + X[:, 7] * 3e-9)
    y *= 1 + 0.01 * rng.standard_normal(n)
    return X, y, groups, freq


def test_screen_flags_constant_and_near_constant():
    X, *_ = problem()
    reasons = screen(X, [f"c{j}" for j in range(X.shape[1])])
    assert reasons["c9"].startswith("constant") and reasons["c10"].startswith("near-constant")
    assert set(reasons) == {"c9", "c10"}


def test_grouped_folds_never_split_a_group():
    groups = np.repeat(list("abcdefg"), [5, 9, 3, 7, 2, 8, 4])
    fold, n = make_folds(groups, 4)
    assert n == 4
    for g in np.unique(groups):
        assert len(np.unique(fold[groups == g])) == 1
    with pytest.raises(TraceError, match="at least 2 workloads"):
        make_folds(np.array(["x"] * 5), 5)


def test_fast_grouped_cv_equals_brute_force_refits():
    X, y, groups, freq = problem(n=1200)
    fold, n_folds = make_folds(groups, 5)
    levels = design.find_levels(freq)
    level = design.level_index(freq, levels)
    w = 1.0 / y**2
    cv = _GroupedCV(np.ones((len(y), 1)), X[:, :6], y, w, level, fold, n_folds, min_train=5)
    now, trial = cv.scores([0], np.array([1, 3, 4]))
    for cols, got in [([0], now)] + [([0, c], t) for c, t in zip([1, 3, 4], trial)]:
        err = np.zeros(len(y))
        for f in range(n_folds):
            tr, va = fold != f, fold == f
            model = PMCModel(loss="relative").fit(design.model_input(X[tr][:, cols], freq[tr]), y[tr])
            pred = model.predict(design.model_input(X[va][:, cols], freq[va]))
            err[va] = np.abs(pred - y[va]) / y[va]
        assert got == pytest.approx(100 * err.mean(), rel=1e-7)


def run(X, y, groups, freq, rows=None, **config):
    specs = counter_specs([f"c{j}" for j in range(X.shape[1])])
    cfg = SelectionConfig(progress=False, **config)
    return select_features(X, specs, y, groups, freq, None, None, cfg, rows=rows)


def test_selection_finds_the_driving_counters_and_prunes_the_rest():
    X, y, groups, freq = problem()
    result = run(X, y, groups, freq)
    assert set(result.selected) <= {"c0", "c3", "c5", "c7"} and len(result.selected) == 3
    assert "c0" in result.selected and "c7" in result.selected
    assert {"c9", "c10"} <= set(result.screened)
    assert [d for d, _ in result.vif.duplicates] in (["c3"], ["c5"])  # one of the near-copy pair goes
    assert max(result.vif_selected.values()) <= 10
    kept = [p["cv_mape_pct"] for p in result.path if p["kept"]]
    assert kept == sorted(kept, reverse=True) and result.cv_mape_pct == kept[-1] < 1.5
    # it stopped because the next counters did not help: two look-ahead steps without a 1% gain
    lookahead = [p for p in result.path if not p["kept"]]
    assert len(lookahead) == 2 and all(p["cv_mape_pct"] > kept[-1] * 0.99 for p in lookahead)


def test_selection_respects_the_counter_cap():
    X, y, groups, freq = problem()
    result = run(X, y, groups, freq, max_counters=2)
    assert len(result.counters) == 2


def test_selection_sees_only_the_rows_it_is_given():
    X, y, groups, freq = problem()
    train = np.isin(groups, [f"w{g}" for g in range(7)])
    first = run(X, y, groups, freq, rows=np.flatnonzero(train))
    y_scrambled = y.copy()
    y_scrambled[~train] = np.random.default_rng(9).permutation(y[~train]) * 3.0
    X_scrambled = X.copy()
    X_scrambled[~train] = X_scrambled[~train][::-1]
    second = run(X_scrambled, y_scrambled, groups, freq, rows=np.flatnonzero(train))
    assert first.selected == second.selected and first.cv_mape_pct == second.cv_mape_pct


def test_no_useful_counter_is_an_error():
    rng = np.random.default_rng(3)
    n = 600
    X = rng.uniform(1, 2, (n, 4)) * 1e6
    y = rng.uniform(1, 2, n)  # power unrelated to the counters
    groups = np.repeat(list("abcdef"), n // 6)
    with pytest.raises(TraceError, match="no counter improves"):
        run(X, y, groups, np.full(n, 5e8), structure="linear", stop_tol=0.02)
