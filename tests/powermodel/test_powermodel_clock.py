"""The clock as a quantity: fine clock sweeps keep every level, auto chooses the structure from the data and says
why, the clock-structure model and baseline carry clock terms, and clocks never trained on are predicted as well
as trained ones."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from collectors.trace import write_trace
from governor.cli import main
from powermodel import design, export
from powermodel.fitting import FitOptions, fit_power_model, prepare
from powermodel.ingest import load_inputs
from powermodel.models import PMCModel, UtilFreqModel
from powermodel.splits import Split
from powermodel.synthetic import synthetic_trace
from tests.powermodel.conftest import SWEEP_MHZ, plain_csv_frame


def run_json(capsys, argv) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_a_fine_clock_sweep_keeps_every_level():
    levels = np.asarray(SWEEP_MHZ) * 1e6
    rng = np.random.default_rng(0)
    readings = rng.choice(levels, 5000) * (1 + rng.uniform(-1e-4, 1e-4, 5000))  # sensor jitter, 0.01%
    found = design.find_levels(readings)
    assert len(found) == 117
    np.testing.assert_allclose(found, levels, rtol=2e-4)
    # readings of one OPP (1499.9 for 1500 MHz) are one level; neighbours 7.5 MHz apart are not
    assert len(design.find_levels(np.array([1500e6, 1499.9e6, 1500.1e6]))) == 1
    # nearest-level lookup agrees with brute force
    idx = design.level_index(readings, found)
    np.testing.assert_array_equal(idx, np.abs(readings[:, None] - found[None, :]).argmin(axis=1))


def test_auto_structure_follows_the_data_and_says_why():
    rng = np.random.default_rng(1)
    groups = np.repeat([f"w{i}" for i in range(8)], 300)
    few = rng.choice([300e6, 600e6, 900e6], len(groups))
    structure, why = design.choose_structure(few, None, groups)
    assert structure == "per_frequency" and "3 clock levels (300, 600, 900 MHz)" in why
    many = rng.choice(np.asarray(SWEEP_MHZ) * 1e6, len(groups))
    structure, why = design.choose_structure(many, None, groups)
    assert structure == "clock" and "117 clock levels" in why and "f, f^2" in why
    volt = 0.5 + many / 2e9
    assert "V^2*f" in design.choose_structure(many, volt, groups)[1]
    # few levels, but one is visited by a single workload: grouped CV could not score it
    sparse = few.copy()
    sparse[groups == "w0"] = 1200e6
    structure, why = design.choose_structure(sparse, None, groups)
    assert structure == "clock" and "1 of them with" in why
    assert design.choose_structure(np.full(100, 5e8), None)[0] == "linear"


def clock_data(n=2000, seed=0, volt=True):
    rng = np.random.default_rng(seed)
    freq = rng.choice(np.asarray(SWEEP_MHZ) * 1e6, n)
    v = 0.55 + 0.45 * ((freq - 510e6) / 870e6) ** 1.5  # a DVFS table: voltage rises faster at the top
    temp = rng.uniform(40, 70, n)
    rates = rng.uniform(0.1, 1, (n, 2)) * [4e9, 6e8]
    return rates, freq, v if volt else None, temp


def test_clock_model_recovers_clock_terms_and_exports_to_onnx(tmp_path):
    rates, freq, volt, temp = clock_data()
    truth = {"intercept": 0.05, "f": 1e-10, "V": 0.1, "V*T": 0.002, "V^2*f": 2e-10}
    y = sum(c * design.BASE_TERMS[k].compute(freq, volt, temp) for k, c in truth.items())
    # one event costs C V^2; another's cost rises with the clock (what the x*V^2 and x*f candidates express)
    features = np.column_stack([rates[:, 0] * volt**2, rates[:, 1] * freq / 1e9])
    y = y + features @ [3e-11, 1e-10]
    X = design.model_input(features, freq, volt, temp)
    model = PMCModel(structure="clock").fit(X, y)
    assert model.base_names_ == ["intercept", "f", "V", "V*T", "V^2*f"]
    np.testing.assert_allclose(model.base_coef_[0], list(truth.values()), rtol=1e-5)
    np.testing.assert_allclose(model.coef_[0], [3e-11, 1e-10], rtol=1e-6)
    for volt_known in (True, False):
        r, f, v, t = clock_data(seed=2, volt=volt_known)
        Xc = design.model_input(r, f, v, t)
        yc = 0.1 + 2e-10 * f + 1e-10 * r[:, 0] + 2e-10 * r[:, 1]
        m = PMCModel(structure="clock").fit(Xc, yc)
        assert ("f^2" in m.base_names_) is not volt_known
        assert export.export_onnx(m, tmp_path / f"clock{volt_known}.onnx", Xc) <= 1e-9


def test_clock_baseline_has_the_clock_in_it_and_round_trips():
    rates, freq, volt, temp = clock_data(seed=3, volt=False)
    util = rates[:, 0] / 4e9
    y = 0.1 + 0.3 * freq / 1e9 + util * (0.2 + 1.1 * (freq / 1e9) ** 2)
    X = design.model_input(util, freq)
    base = UtilFreqModel(structure="clock").fit(X, y)
    assert base.base_names_ == ["intercept", "f", "f^2"] and base.util_terms_ == ["u", "u*f", "u*f^2"]
    np.testing.assert_allclose(base.predict(X), y, rtol=1e-8)
    again = UtilFreqModel.from_dict(base.to_dict())
    np.testing.assert_array_equal(again.predict(X), base.predict(X))
    table = base.coefficient_table(X, y)
    assert {"u*f", "f"} <= set(table.term)


@pytest.mark.slow
def test_fit_of_a_fine_sweep_uses_the_clock_in_model_and_baseline(sweep_frame, tmp_path, capsys):
    frame, meta = sweep_frame
    csv = tmp_path / "sweep.csv"
    plain_csv_frame(frame, meta["period_s"]).to_csv(csv, index=False)
    argv = ["fit", str(csv), "--target", "gpu_w", "--freq-col", "clock_mhz", "--freq-unit", "mhz"]
    argv += ["--group-col", "kernel", "--time-col", "time_s", "--util-col", "busy_pct", "--seed", "1"]
    result = run_json(capsys, argv + ["-o", str(tmp_path / "m.json"), "--no-plots", "--json"])
    assert result["structure"] == "clock" and "117 clock levels" in result["structure_reason"]
    doc = json.loads((tmp_path / "m.json").read_text())
    assert "f" in doc["model"]["base_names"] and len(doc["validity"]["levels_hz"]) == 117
    assert {"f", "u*f"} <= set(result["baseline_terms"])  # the baseline has its clock terms
    mape = result["mape_pct"]
    assert mape["model"] < 5 and mape["model"] < mape["baseline"] / 2
    # the baseline is more than a utilisation-only fit: its clock terms explain part of the power
    data = prepare(load_inputs([csv], "csv", export.load_model(tmp_path / "m.json").mapping))
    test = np.isin(data.table.group, result["split"]["test"])
    only_util = PMCModel(structure="linear", loss="squared").fit(
        design.model_input(data.util[~test], data.table.freq_hz[~test]), data.power_w[~test]
    )
    pred = only_util.predict(design.model_input(data.util[test], data.table.freq_hz[test]))
    util_only_mape = 100 * np.mean(np.abs(pred - data.power_w[test]) / data.power_w[test])
    assert mape["baseline"] < 0.8 * util_only_mape
    # evaluate on the same file: no "not fitted at this frequency" warning, every clock is in the model
    assert main(["evaluate", str(tmp_path / "m.json"), str(csv), "--json"]) == 0
    captured = capsys.readouterr()
    assert "not fitted" not in captured.err and "no level" not in captured.err
    assert json.loads(captured.out)["off_level_samples"] == 0
    # clocks beyond the trained range are predicted, and said to be extrapolated
    faster = plain_csv_frame(frame, meta["period_s"])
    faster["clock_mhz"] = faster["clock_mhz"] * 1.25
    faster.to_csv(tmp_path / "faster.csv", index=False)
    assert main(["evaluate", str(tmp_path / "m.json"), str(tmp_path / "faster.csv")]) == 0
    assert (
        "at clocks outside the range the model was fitted on (510..1380 MHz): extrapolated" in capsys.readouterr().err
    )


@pytest.mark.parametrize("volt", [pytest.param(True, marks=pytest.mark.slow), False])
def test_unseen_clocks_between_training_levels_are_predicted_like_seen_ones(tmp_path, volt):
    levels = np.asarray(SWEEP_MHZ)
    frame, meta = synthetic_trace(n_samples=6000, n_counters=40, n_workloads=16, levels_mhz=tuple(levels), seed=2)
    unseen_hz = levels[2::4] * 1e6  # every fourth clock: never in training
    workloads = sorted(frame["workload"].unique())
    test = workloads[::4]
    unseen = frame["freq.gpu_hz"].isin(unseen_hz).to_numpy()
    keep = ~unseen | frame["workload"].isin(test).to_numpy()
    part = frame[keep].reset_index(drop=True)  # seq kept: a removed row breaks the window sequence
    if not volt:
        part = part.drop(columns=["volt.gpu_v"])
    path = write_trace(part, tmp_path / "trace.parquet", meta)
    data = prepare(load_inputs([path]))
    train = [w for w in workloads if w not in test]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "nearest level" warning may be needed
        result = fit_power_model(data, Split(train, test, "every 4th workload"), FitOptions(progress=False))
    assert result.structure == "clock"
    trained = set(np.round(result.validity["levels_hz"]))
    assert not trained & set(np.round(unseen_hz))  # the held-out clocks really were never trained on
    ev = result.evaluation
    at_unseen = np.isin(data.table.freq_hz[result.test_mask], unseen_hz)
    err = np.abs(ev.pred_model - ev.y) / ev.y * 100
    seen_mape, unseen_mape = err[~at_unseen].mean(), err[at_unseen].mean()
    assert at_unseen.sum() > 250
    assert unseen_mape <= 1.2 * seen_mape + 0.2, (seen_mape, unseen_mape)
