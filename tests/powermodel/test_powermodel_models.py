"""The estimators: recover known coefficients, follow scikit-learn conventions, export to ONNX exactly."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from powermodel import design, export
from powermodel.errors import PowerModelError
from powermodel.models import PMCModel, UtilFreqModel

LEVELS = np.array([300e6, 600e6, 900e6])
VOLTS = {300e6: 0.6, 600e6: 0.75, 900e6: 0.95}


def data(n=900, noise=0.0, seed=0):
    """Power that is exactly per-frequency linear in two rates (plus optional noise)."""
    rng = np.random.default_rng(seed)
    freq = rng.choice(LEVELS, n)
    volt = np.vectorize(VOLTS.get)(freq)
    temp = rng.uniform(40, 60, n)
    rates = rng.uniform(0, 1, (n, 2)) * [4e9, 6e8]
    lvl = design.level_index(freq, LEVELS)
    intercept = np.array([0.2, 0.4, 0.8])[lvl]
    slopes = np.array([[1e-10, 5e-10], [2e-10, 7e-10], [3e-10, 9e-10]])[lvl]
    y = intercept + (rates * slopes).sum(axis=1)
    y *= 1 + noise * rng.standard_normal(n)
    groups = np.repeat(np.arange(n // 90), 90)
    return design.model_input(rates, freq, volt, temp), y, groups


def test_per_frequency_model_recovers_coefficients():
    X, y, _ = data()
    model = PMCModel().fit(X, y)
    np.testing.assert_allclose(model.levels_hz_, LEVELS)
    np.testing.assert_allclose(model.base_coef_[:, 0], [0.2, 0.4, 0.8], rtol=1e-9)
    np.testing.assert_allclose(model.coef_, [[1e-10, 5e-10], [2e-10, 7e-10], [3e-10, 9e-10]], rtol=1e-8)
    np.testing.assert_allclose(model.predict(X), y, rtol=1e-10)


def test_voltage_aware_model_recovers_physical_coefficients():
    rng = np.random.default_rng(1)
    n = 600
    freq = rng.choice(LEVELS, n)
    volt = np.vectorize(VOLTS.get)(freq) + rng.normal(0, 0.01, n)
    temp = rng.uniform(40, 70, n)
    rates = rng.uniform(0, 1, (n, 2)) * [4e9, 6e8]
    truth = dict(c0=0.05, leak=0.1, leak_t=0.002, clock=2e-10, a=3e-11, b=1e-10)
    y = (
        truth["c0"]
        + truth["leak"] * volt
        + truth["leak_t"] * volt * temp
        + truth["clock"] * volt**2 * freq
        + volt**2 * (truth["a"] * rates[:, 0] + truth["b"] * rates[:, 1])
    )
    model = PMCModel(structure="voltage").fit(design.model_input(rates, freq, volt, temp), y)
    assert model.base_names_ == ["intercept", "V", "V*T", "V^2*f"]
    np.testing.assert_allclose(model.base_coef_[0], [truth[k] for k in ("c0", "leak", "leak_t", "clock")], rtol=1e-6)
    np.testing.assert_allclose(model.coef_[0], [truth["a"], truth["b"]], rtol=1e-6)


def test_per_frequency_temperature_term_recovers_leakage():
    X, y, _ = data()
    temp = X[:, -1]
    leak = np.exp2((temp - 25.0) / 10.0)
    y_hot = y + 0.03 * leak * (1 + design.level_index(X[:, -3], LEVELS))  # leakage grows with the OPP
    model = PMCModel(temperature=True).fit(X, y_hot)
    assert model.base_names_ == ["intercept", design.LEAK_T]
    np.testing.assert_allclose(model.base_coef_[:, 1], [0.03, 0.06, 0.09], rtol=1e-8)
    np.testing.assert_allclose(model.predict(X), y_hot, rtol=1e-10)
    with pytest.raises(PowerModelError, match="temperature column"):
        PMCModel(temperature=True).fit(design.model_input(X[:, :2], X[:, -3]), y)


def test_positive_constraint():
    X, y, _ = data(noise=0.01)
    rng = np.random.default_rng(5)
    useless = rng.uniform(0, 1e8, len(y))
    y2 = y - 2e-10 * useless  # a counter whose true coefficient is negative
    X2 = np.column_stack([X[:, :2], useless, X[:, 2:]])
    free = PMCModel().fit(X2, y2)
    bound = PMCModel(positive=True).fit(X2, y2)
    assert (free.coef_[:, 2] < 0).all()
    assert (bound.coef_ >= 0).all() and (bound.coef_[:, 2] == 0).all()
    table = bound.coefficient_table(X2, y2)
    pinned = table[(table.term == "x2")]
    assert pinned.estimate.eq(0).all() and pinned.ci_low.isna().all()


def test_scikit_learn_conventions_pipeline_and_grouped_cv():
    X, y, groups = data(noise=0.01)
    model = PMCModel(structure="per_frequency", loss="squared")
    assert model.get_params() == {
        "structure": "per_frequency",
        "loss": "squared",
        "positive": False,
        "normalisation": "rate",
        "temperature": False,
    }
    assert clone(model).set_params(loss="relative").loss == "relative"
    with pytest.raises(NotFittedError):
        model.predict(X)
    assert model.fit(X, y) is model
    pipe = Pipeline([("identity", FunctionTransformer()), ("pmc", PMCModel())])
    scores = cross_val_score(pipe, X, y, groups=groups, cv=GroupKFold(n_splits=5))
    assert scores.shape == (5,) and scores.min() > 0.99  # R^2 on held-out groups
    assert UtilFreqModel().get_params() == {"loss": "squared", "structure": "per_frequency"}


def test_coefficient_table_matches_statsmodels_and_covers_truth():
    X, y, _ = data(noise=0.02, seed=4)
    model = PMCModel(loss="squared").fit(X, y)
    table = model.coefficient_table(X, y)
    assert list(table.columns) == ["level", "term", "estimate", "std_err", "ci_low", "ci_high", "p_value"]
    at = design.level_index(X[:, -3], LEVELS) == 1
    ref = sm.OLS(y[at], sm.add_constant(X[at, :2])).fit()
    mid = table[table.level == "600MHz"]
    np.testing.assert_allclose(mid.estimate, ref.params, rtol=1e-6)
    np.testing.assert_allclose(mid.ci_low, ref.conf_int()[:, 0], rtol=1e-6)
    assert ((mid.ci_low <= [0.4, 2e-10, 7e-10]) & ([0.4, 2e-10, 7e-10] <= mid.ci_high)).all()


def test_too_few_samples_at_a_level_is_an_error():
    X, y, _ = data()
    rows = np.r_[np.flatnonzero(X[:, -3] != 900e6), np.flatnonzero(X[:, -3] == 900e6)[:2]]
    with pytest.raises(PowerModelError, match=r"only 2 sample\(s\) at 900 MHz for 3 coefficients"):
        PMCModel().fit(X[rows], y[rows])


def test_baseline_rejects_more_than_one_feature():
    X, y, _ = data()
    with pytest.raises(PowerModelError, match="one feature"):
        UtilFreqModel().fit(X, y)


def test_json_round_trip_predicts_the_same():
    X, y, _ = data(noise=0.01)
    model = PMCModel().fit(X, y)
    again = PMCModel.from_dict(model.to_dict())
    np.testing.assert_array_equal(again.predict(X), model.predict(X))
    base = UtilFreqModel().fit(X[:, [0, 2, 3, 4]] / 4e9, y)
    np.testing.assert_array_equal(
        UtilFreqModel.from_dict(base.to_dict()).predict(X[:, [0, 2, 3, 4]] / 4e9),
        base.predict(X[:, [0, 2, 3, 4]] / 4e9),
    )


@pytest.mark.parametrize(
    "structure,temperature", [("per_frequency", False), ("per_frequency", True), ("voltage", False), ("linear", False)]
)
def test_onnx_export_matches_estimator(tmp_path, structure, temperature):
    X, y, _ = data(noise=0.01)
    model = PMCModel(structure=structure, temperature=temperature).fit(X, y)
    worst = export.export_onnx(model, tmp_path / "m.onnx", X)
    assert worst <= 1e-9 and (tmp_path / "m.onnx").stat().st_size > 0
