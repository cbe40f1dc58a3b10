"""Selection: screening, grouped folds, the fast CV equals brute force, and it only sees what it is given."""

from __future__ import annotations

import numpy as np
import pytest

from powermodel import design
from powermodel.errors import PowerModelError
from powermodel.features import counter_specs
from powermodel.models import PMCModel
from powermodel.selection import (
    SelectionConfig,
    _GroupedCV,
    fold_assignments,
    make_folds,
    scaled_design,
    screen,
    select_features,
)


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


def test_screen_takes_a_rate_that_differs_only_by_rounding_as_one_value():
    """An always-on clock counter divided by window lengths that differ in their last bits (t_s steps of
    0.04999999999999716 and 0.05000000000000426 s), with a few windows of another length: one value in most
    rows, so near-constant, whatever its spread in the rest."""
    rng = np.random.default_rng(0)
    windows = 0.05 + rng.choice([-2.84e-15, 4.26e-15], 2000)
    windows[rng.choice(2000, 30, replace=False)] = 0.1  # 1.5% of windows twice as long
    rate = 960_000.0 / windows
    assert np.unique(rate).size > 2 and rate.std() / rate.mean() > 1e-3  # neither exact test would catch it
    reasons = screen(rate[:, None], ["always_on"])
    assert reasons["always_on"].startswith("near-constant (98.5% of rows equal 1.92e+07)")


def test_grouped_folds_never_split_a_group():
    groups = np.repeat(list("abcdefg"), [5, 9, 3, 7, 2, 8, 4])
    fold, n = make_folds(groups, 4)
    assert n == 4
    for g in np.unique(groups):
        assert len(np.unique(fold[groups == g])) == 1
    with pytest.raises(PowerModelError, match="at least 2 workloads"):
        make_folds(np.array(["x"] * 5), 5)


def test_repeated_folds_deal_whole_groups_differently_and_reproducibly():
    groups = np.repeat([f"g{i}" for i in range(12)], 5)
    deals = fold_assignments(groups, 4, repeats=3, seed=0)
    assert len(deals) == 3
    for fold, n in deals:
        assert n == 4 and all(len(np.unique(fold[groups == g])) == 1 for g in np.unique(groups))
    assert not np.array_equal(deals[1][0], deals[2][0])
    again = fold_assignments(groups, 4, repeats=3, seed=0)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(deals, again))
    # no more groups than folds: leave-one-group-out, one deal whatever the repeats
    assert len(fold_assignments(groups[:20], 10, repeats=5, seed=0)) == 1


def test_fast_grouped_cv_equals_brute_force_refits():
    X, y, groups, freq = problem(n=1200)
    fold, n_folds = make_folds(groups, 5)
    levels = design.find_levels(freq)
    level = design.level_index(freq, levels)
    w = 1.0 / y**2
    C = scaled_design(np.ones((len(y), 1)), X[:, :6], w)
    cv = _GroupedCV(C, 1, y, w, level, fold, n_folds, min_train=5)
    now_folds, trial = cv.scores([0], np.array([1, 3, 4]))
    for cols, got in [([0], cv.pooled(now_folds))] + [([0, c], t) for c, t in zip([1, 3, 4], trial)]:
        err = np.zeros(len(y))
        for f in range(n_folds):
            tr, va = fold != f, fold == f
            model = PMCModel(loss="relative").fit(design.model_input(X[tr][:, cols], freq[tr]), y[tr])
            pred = model.predict(design.model_input(X[va][:, cols], freq[va]))
            err[va] = np.abs(pred - y[va]) / y[va]
        assert got == pytest.approx(100 * err.mean(), rel=1e-7)
        if cols == [0]:  # per-fold errors too: what the stopping rule's standard errors are made of
            np.testing.assert_allclose(now_folds, [100 * err[fold == f].mean() for f in range(n_folds)], rtol=1e-7)


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
    # the path ran on past its best point (patience 3), and what came after brought no 1% gain
    lookahead = [p for p in result.path if not p["kept"]]
    assert len(lookahead) == 3 and all(p["cv_mape_pct"] > kept[-1] * 0.99 for p in lookahead)
    assert result.cv_repeats == 1  # 10 workloads, 10 folds: leave-one-group-out, nothing to repeat


def test_stopping_rules_choose_from_the_whole_curve():
    """Power follows three counters strongly and a fourth weakly; every fold sees the weak one help a
    little. The tolerance rule keeps it only if it clears --stop-tol; one-SE keeps what the folds agree on."""
    X, y, groups, freq = problem(n=3000, seed=4)
    y = y + 0.004 * X[:, 1] / X[:, 1].mean()  # a weak fourth driver, ~0.5% of power
    tight = run(X, y, groups, freq, stop_tol=0.0)
    loose = run(X, y, groups, freq, stop_tol=0.5)
    one_se = run(X, y, groups, freq, stop_rule="one_se")
    assert len(loose.selected) < len(tight.selected)
    assert len(one_se.selected) <= len(tight.selected)
    for result in (tight, loose, one_se):
        # the path is the same greedy path; only its length differs
        assert result.selected == [p["feature"] for p in tight.path][: len(result.selected)]
        low = min(p["cv_mape_pct"] for p in result.path)
        assert result.path[result.min_step - 1]["cv_mape_pct"] == low
    best = tight.path[tight.min_step - 1]
    assert all(p["se_pct"] >= 0 for p in one_se.path)
    assert one_se.cv_mape_pct - best["cv_mape_pct"] <= one_se.path[len(one_se.selected) - 1]["se_pct"] + 1e-12


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
    with pytest.raises(PowerModelError, match="no counter improves"):
        run(X, y, groups, np.full(n, 5e8), structure="linear", stop_tol=0.02)
