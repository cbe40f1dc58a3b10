"""Ingest that protects the user: each guard on a plain CSV, state columns, utilisation per core, errors that
name every option that fixes them, and dataset directories."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from android.errors import TraceError
from collectors.trace import write_trace
from governor.cli import main
from powermodel.errors import PowerModelError
from powermodel.fitting import prepare
from powermodel.ingest import ColumnMapping, InputWarning, detect_format, load_inputs
from tests.powermodel.conftest import plain_csv_frame

MAPPING = dict(power="gpu_w", freq="clock_mhz", freq_unit="mhz", group="kernel", time="time_s")


@pytest.fixture()
def plain(synthetic_frame, tmp_path):
    """The 5-level synthetic trace as a plain CSV (index, energy, MHz clock columns) and its path."""
    frame, meta = synthetic_frame
    table = plain_csv_frame(frame, meta["period_s"])
    path = tmp_path / "plain.csv"
    table.to_csv(path, index=False)
    return table, path


def load(path, **changes):
    return load_inputs([path], "csv", ColumnMapping(**{**MAPPING, **changes}))


def said(record, pattern: str) -> bool:
    return any(re.search(pattern, str(w.message)) for w in record)


def left_out(record) -> str:
    return " ".join(str(w.message) for w in record if "left out of the counters" in str(w.message))


def test_plain_csv_says_which_columns_became_counters(plain):
    _, path = plain
    with pytest.warns(InputWarning):
        table = load(path)
    note = next(n for n in table.notes if n.startswith("counters ("))
    assert f"counters ({len(table.counter_names)}): " in note and "gpu_busy_cycles" in note
    assert "index" not in table.counter_names and "energy_mj" not in table.counter_names


def test_row_index_is_left_out_and_said(plain):
    _, path = plain
    with pytest.warns(InputWarning) as record:
        load(path)
    assert "index: an index (steps by 1 in every row)" in left_out(record)


def test_a_monotonic_column_with_no_telling_name_is_left_out(plain, tmp_path):
    table, _ = plain
    table["sample_no"] = np.arange(len(table)) * 3 + 17  # rises in every row
    table["uptime"] = np.cumsum(np.random.default_rng(0).uniform(0.04, 0.06, len(table)))
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    with pytest.warns(InputWarning) as record:
        loaded = load(path)
    why = left_out(record)
    assert "sample_no: an index" in why and "uptime: a clock, an index or a running total" in why
    assert not {"sample_no", "uptime"} & set(loaded.counter_names)


def test_constant_columns_are_left_out_and_said(plain, tmp_path):
    table, _ = plain
    table["spare"] = 7
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    with pytest.warns(InputWarning) as record:
        loaded = load(path)
    assert "spare: constant (7 in every row)" in left_out(record) and "spare" not in loaded.counter_names


def test_columns_that_are_a_function_of_the_target_are_left_out(plain, tmp_path):
    table, _ = plain
    rng = np.random.default_rng(1)
    table["x17"] = table["gpu_w"] * 0.05 * (1 + 1e-4 * rng.standard_normal(len(table)))  # energy, unnamed
    table["acc"] = np.cumsum(table["gpu_w"] * 0.05)  # cumulative energy, unnamed
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    with pytest.warns(InputWarning) as record:
        loaded = load(path)
    why = left_out(record)
    assert "energy_mj: an energy (power x time) by its name" in why
    assert "x17: a function of the target (|r| = 1.0000 with power" in why
    assert "acc: " in why  # a running total: rises in every row, so it goes as an index before any leak check
    assert not {"energy_mj", "x17", "acc"} & set(loaded.counter_names)


def test_named_context_columns_are_left_out_with_the_option_to_use_them(plain, tmp_path):
    table, _ = plain
    table["die_temp"] = 50 + np.random.default_rng(2).normal(0, 3, len(table))
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    with pytest.warns(InputWarning) as record:
        loaded = load(path)
    assert "die_temp: a temperature by its name (give --temp-col die_temp to use it as one)" in left_out(record)
    assert "die_temp" not in loaded.counter_names
    with pytest.warns(InputWarning):
        loaded = load(path, temp="die_temp")  # mapped: it is the temperature, and no longer a candidate
    assert loaded.temp_c is not None


def test_explicit_counters_are_taken_as_given(plain):
    _, path = plain
    table = load(path, counters=["c000", "index"])
    assert table.counter_names == ["c000", "index"]


def test_a_clock_column_in_another_unit_is_warned_about(plain):
    _, path = plain
    with pytest.warns(InputWarning) as record:
        load(path, freq_unit="hz")
    assert said(record, r"'clock_mhz' spans 151..848 Hz read as hz.*give --freq-unit mhz")


def test_a_dropped_baseline_is_said_with_the_options_that_keep_it(plain):
    _, path = plain
    with pytest.warns(InputWarning):
        data = prepare(load(path))
    note = " ".join(data.notes)
    assert "baseline is not fitted" in note and "--util-col" in note and "--cycles-counter" in note
    assert "gpu_busy_cycles" in note  # a counter that might count cycles is suggested


def test_rates_without_window_lengths_name_every_fix(plain, capsys):
    _, path = plain
    argv = ["fit", str(path), "--target", "gpu_w", "--freq-col", "clock_mhz", "--freq-unit", "mhz"]
    assert main([*argv, "--group-col", "kernel", "--no-plots", "-o", str(path.with_suffix(".json"))]) == 1
    err = capsys.readouterr().err
    for option in ("--time-col", "--interval-s", "--counter-kind rate", "--normalisation count"):
        assert option in err


def test_cumulative_counters_read_as_counts_are_refused_with_the_fix(plain, tmp_path):
    table, _ = plain
    counters = [c for c in table.columns if c.startswith("c0")]
    table[counters] = table[counters].cumsum()
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    with pytest.raises(PowerModelError, match="--counter-kind total"):
        load(path)
    with pytest.warns(InputWarning):
        assert load(path, counter_kind="total").counter_kind == "total"


def test_small_whole_number_columns_get_a_state_hint(plain, tmp_path):
    table, _ = plain
    table["ncores"] = np.random.default_rng(3).integers(1, 5, len(table))
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    with pytest.warns(InputWarning) as record:
        load(path)
    assert said(record, r"column ncores takes only the values 1, 2, 3, 4.*--state-cols ncores")


def test_state_columns_enter_as_states_not_rates(plain, tmp_path):
    table, _ = plain
    table["ncores"] = np.random.default_rng(3).integers(1, 5, len(table))
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    with pytest.warns(InputWarning):
        loaded = load(path, states=["ncores"])
    assert "ncores" not in loaded.counter_names and loaded.state_names == ["ncores"]
    data = prepare(loaded)
    np.testing.assert_array_equal(data.values["ncores"], table["ncores"])  # not divided by the window length
    assert data.n_counters == len(loaded.counter_names)


def test_summed_utilisation_is_divided_by_active_cores(plain, tmp_path):
    table, _ = plain
    cores = np.random.default_rng(4).integers(1, 5, len(table))
    table["busy_sum"] = table["busy_pct"] / 100 * cores  # busy fraction summed over active cores: up to 4
    table["ncores"] = cores
    path = tmp_path / "t.csv"
    table.to_csv(path, index=False)
    with pytest.warns(InputWarning):
        data = prepare(load(path, util="busy_sum", states=["ncores"], util_cores="ncores"))
    np.testing.assert_allclose(data.util, table["busy_pct"] / 100)
    assert data.util_source == "busy_sum/ncores"
    with pytest.warns(InputWarning):
        constant = prepare(load(path, util="busy_pct", util_cores="2"))
    np.testing.assert_allclose(constant.util, table["busy_pct"] / 200)
    with pytest.warns(InputWarning), pytest.raises(PowerModelError, match="--util-cores"):
        load(path, util="busy_sum", util_cores="cores_online")


def test_armpm_state_columns_are_recognised(armpm_paths, tmp_path):
    """ARMPM's multi-core merge writes `Cores(#)` after the run number; it is a state, and the cycles counted
    on every active core are divided by it for the baseline."""
    tsv, _ = armpm_paths
    frame = pd.read_csv(tsv, sep="\t")
    cores = np.where(frame.index % 2 == 0, 1, 2)
    frame.insert(3, "Cores(#)", cores)
    path = tmp_path / "multicore.tsv"
    frame.to_csv(path, sep="\t", index=False)
    table = load_inputs([path], "armpm")
    assert table.state_names == ["Cores(#)"] and "Cores(#)" not in table.counter_names
    assert any("Cores(#)" in n and "states" in n for n in table.notes)
    data = prepare(table)
    plain = prepare(load_inputs([tsv], "armpm"))
    np.testing.assert_allclose(data.util, plain.util / cores)


def test_a_directory_is_read_as_a_fusegov_dataset(synthetic_frame, tmp_path, capsys):
    """A hive-partitioned dataset folder goes to collectors.trace.read_trace and fits as one table, even when
    its files also carry the partition columns."""
    frame, meta = synthetic_frame
    folder = tmp_path / "dataset"
    for (workload,), part in frame.groupby(["workload"]):
        write_trace(
            part.reset_index(drop=True),
            folder / "device=synthetic" / f"workload={workload}" / "run=0" / "part.parquet",
            meta,
        )
    assert detect_format(folder) == "fusegov"
    code = main(["fit", str(folder), "-o", str(tmp_path / "m.json"), "--no-plots", "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    result = json.loads(out.out)
    assert result["n_available"] == 40 and len(result["split"]["train"]) + len(result["split"]["test"]) == 16


def test_a_malformed_file_is_a_trace_error_and_a_bad_mapping_a_power_model_error(plain, tmp_path):
    _, path = plain
    with pytest.raises(PowerModelError, match="--target"):
        load(path, power="watts")
    bad = tmp_path / "bad.csv"
    bad.write_text("kernel,clock_mhz,gpu_w,time_s,c0\na,500,1.0,0,5\na,500,oops,1,6\n")
    with pytest.raises(TraceError, match="row 1, column gpu_w: not a number"):
        load(bad)
