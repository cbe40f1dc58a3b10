"""Counts to rates, wraps, per-cycle activity, power alignment, inverted and combined counters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from powermodel import features as feat
from powermodel.ingest import ColumnMapping, InputWarning, PowerTable


def table(counters: dict, kind: str, *, freq=1e9, interval=0.5, groups=None, power=None) -> PowerTable:
    n = len(next(iter(counters.values())))
    groups = np.array(groups if groups is not None else ["w"] * n)
    segment = np.cumsum(np.r_[True, groups[1:] != groups[:-1]]) - 1
    return PowerTable(
        counters=pd.DataFrame(counters, dtype=float),
        counter_kind=kind,
        power_w=np.asarray(power if power is not None else np.linspace(1, 2, n), dtype=float),
        freq_hz=np.full(n, freq),
        group=groups,
        segment=segment,
        source_file=np.zeros(n, int),
        source_row=np.arange(n),
        files=["t.csv"],
        t_s=np.arange(1, n + 1) * interval,
        interval_s=np.full(n, interval),
        mapping=ColumnMapping(),
    )


def test_cumulative_counters_are_differenced_within_segments_with_32bit_wraps():
    top = 2**32
    t = table({"c": [100, 300, top - 50, 150, 10, 40]}, "total", groups=["a", "a", "a", "a", "b", "b"])
    deltas = feat.counter_deltas(t)[:, 0]
    assert np.isnan(deltas[0]) and np.isnan(deltas[4])  # first window of each segment is unknown
    np.testing.assert_array_equal(deltas[[1, 2, 3, 5]], [200, top - 350, 200, 30])  # 150 - (top-50) wrapped


def test_negative_interval_counts_are_unwrapped_with_a_warning():
    t = table({"c": [10.0, -(2.0**32) + 25, 7.0]}, "delta")
    with pytest.warns(InputWarning, match="32-bit wraps"):
        deltas = feat.counter_deltas(t)[:, 0]
    np.testing.assert_array_equal(deltas, [10, 25, 7])


def test_normalisations():
    t = table({"c": [500.0, 1000.0]}, "delta", freq=2e9, interval=0.5)
    rate, valid = feat.activity(t, "rate")
    np.testing.assert_allclose(rate["c"], [1000.0, 2000.0])
    per_cycle, _ = feat.activity(t, "per_cycle")
    np.testing.assert_allclose(per_cycle["c"], [5e-7, 1e-6])
    count, _ = feat.activity(t, "count")
    np.testing.assert_allclose(count["c"], [500.0, 1000.0])
    assert valid.all()
    # the table's own counters are not modified by the in-place arithmetic
    np.testing.assert_allclose(t.counters["c"], [500.0, 1000.0])


def test_cycles_counter_gives_utilisation():
    t = table({"CPU_CYCLES": [4e8, 1e9], "x": [1.0, 2.0]}, "delta", freq=2e9, interval=0.5)
    t.cycles_counter = "CPU_CYCLES"
    util, source = feat.utilisation(t)
    np.testing.assert_allclose(util, [0.4, 1.0])
    assert source == "CPU_CYCLES/(f*interval)"


def test_power_lag_realigns_power_to_counter_windows():
    # recorded power steps from 1 W to 3 W at t = 3 s; the sensor is 1.5 s late, so counter window
    # [i, i+1] is described by the recording over [i+1.5, i+2.5]
    power = np.array([1, 1, 1, 3, 3, 3, 3, 3], dtype=float)
    t = table({"c": np.ones(8)}, "delta", interval=1.0, power=power)
    aligned = feat.align_power(t, 1.5)
    np.testing.assert_allclose(aligned[:6], [1, 2, 3, 3, 3, 3])  # [2.5, 3.5] straddles the step: half of each
    assert np.isnan(aligned[6:]).all()  # shifted past the end of the segment
    np.testing.assert_array_equal(feat.align_power(t, 0.0), power)


def test_inverted_and_combined_features():
    values = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [2.0, 2.0, 8.0]})
    specs = feat.derived_specs(values, ["a", "b"])
    assert [s.name for s in specs] == ["inv(a)", "inv(b)", "a*b"]
    out = feat.compute_features(values, specs)
    np.testing.assert_allclose(out[:, 0], 1.0 / (values["a"] / 2.0 + feat.INV_EPS))
    np.testing.assert_allclose(out[:, 2], (values["a"] / 2.0) * (values["b"] / 4.0))
    assert [feat.FeatureSpec.from_dict(s.to_dict()) for s in specs] == specs
    assert feat.counters_used(specs) == ["a", "b"]
