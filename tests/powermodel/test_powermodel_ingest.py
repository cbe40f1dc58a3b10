"""Loaders: ARMPM, fusegov Parquet, mapped CSV; and every bad input gives a clear error or warning."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from android.errors import TraceError
from powermodel.errors import PowerModelError
from powermodel.ingest import ColumnMapping, InputWarning, detect_format, load_inputs
from powermodel.splits import check_split, holdout_split, read_split


def small_csv(tmp_path, n=60, **changes) -> tuple:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "time_ms": np.arange(n) * 100.0,
            "bench": np.repeat(["a", "b", "c"], n // 3),
            "mhz": np.tile([300.0, 600.0], n // 2),
            "watts": rng.uniform(0.5, 2.0, n),
            "ev_alu": rng.integers(1000, 5000, n),
            "ev_mem": rng.integers(100, 900, n),
        }
    )
    for key, value in changes.items():
        frame[key] = value
    path = tmp_path / "run.csv"
    frame.to_csv(path, index=False)
    mapping = ColumnMapping(
        power="watts", freq="mhz", freq_unit="mhz", group="bench", time="time_ms", time_unit="ms", counters=["ev_*"]
    )
    return path, frame, mapping


def test_armpm_file_is_read_with_units_segments_and_intervals(armpm_paths):
    tsv, _ = armpm_paths
    assert detect_format(tsv) == "armpm"
    table = load_inputs([tsv], "armpm")
    assert len(table) == 10623 and len(table.counter_names) == 13
    assert set(np.unique(table.freq_hz)) == {1.0e9, 1.5e9, 2.0e9}
    assert table.cycles_counter == "CPU_CYCLES"
    assert np.unique(table.group).size == 30
    assert 0.50 < np.median(table.interval_s) < 0.52
    # runs (benchmark, run number, frequency) are separate segments: 30 x 2 x 3
    assert table.segment.max() + 1 == 180
    assert set(np.round(np.unique(table.volt_v), 3)) == {0.9, 1.0, 1.3}


def test_fusegov_parquet_defaults_and_metadata(synthetic_parquet):
    table = load_inputs([synthetic_parquet])
    assert table.format == "fusegov" and table.target == "power.gpu_w"
    assert table.meta["period_s"] == 0.05
    assert all(c.startswith("pmc.") for c in table.counter_names)
    assert table.mapping.util == "util.gpu_pct" and 0 < table.util.max() <= 1.0
    assert table.volt_v is not None and table.temp_c is not None
    np.testing.assert_allclose(table.interval_s, 0.05)


def test_csv_with_mapping_converts_units(tmp_path):
    path, frame, mapping = small_csv(tmp_path)
    table = load_inputs([path], "csv", mapping)
    assert table.counter_names == ["ev_alu", "ev_mem"]
    np.testing.assert_allclose(table.freq_hz, frame["mhz"] * 1e6)
    np.testing.assert_allclose(table.interval_s[1:3], 0.1)


def test_csv_without_mapping_is_refused(tmp_path):
    path, _, _ = small_csv(tmp_path)
    with pytest.raises(PowerModelError, match="--target, --freq-col, --group-col"):
        load_inputs([path], "csv")


def test_nan_and_inf_are_reported_with_row_and_column_then_dropped(tmp_path):
    path, frame, mapping = small_csv(tmp_path)
    frame.loc[7, "ev_mem"] = np.nan
    frame.loc[11, "watts"] = np.inf
    frame.to_csv(path, index=False)
    with pytest.warns(InputWarning, match=r"row 7 \(line 9\), column ev_mem: nan") as record:
        table = load_inputs([path], "csv", mapping)
    assert "column watts: inf" in str(record[0].message)
    assert len(table) == len(frame) - 2
    assert 7 not in table.source_row and 11 not in table.source_row


def test_nan_refused_by_option(tmp_path):
    path, frame, mapping = small_csv(tmp_path)
    frame.loc[3, "ev_alu"] = np.nan
    frame.to_csv(path, index=False)
    with pytest.raises(TraceError, match=r"row 3 \(line 5\), column ev_alu"):
        load_inputs([path], "csv", mapping, bad_values="refuse")


def test_constant_power_is_an_error(tmp_path):
    path, _, mapping = small_csv(tmp_path, watts=1.25)
    with pytest.raises(PowerModelError, match="power column 'watts' is constant"):
        load_inputs([path], "csv", mapping)


def test_nonpositive_power_is_dropped_with_a_warning(tmp_path):
    path, frame, mapping = small_csv(tmp_path)
    frame.loc[4, "watts"] = 0.0
    frame.to_csv(path, index=False)
    with pytest.warns(InputWarning, match="<= 0"):
        table = load_inputs([path], "csv", mapping)
    assert (table.power_w > 0).all() and len(table) == len(frame) - 1


def test_unknown_counter_name_is_an_error_with_a_suggestion(tmp_path):
    path, _, mapping = small_csv(tmp_path)
    mapping.counters = ["ev_alu", "ev_mme"]
    with pytest.raises(PowerModelError, match=r"unknown counter 'ev_mme'.*given with --counters.*did you mean ev_mem"):
        load_inputs([path], "csv", mapping)


def test_unknown_mapped_column_names_the_option(tmp_path):
    path, _, mapping = small_csv(tmp_path)
    mapping.temp = "temp_c"
    with pytest.raises(PowerModelError, match=r"--temp-col"):
        load_inputs([path], "csv", mapping)


def test_split_file_with_unknown_workloads_is_an_error(armpm_paths, tmp_path):
    _, split_path = armpm_paths
    split = read_split(split_path)
    assert len(split.train) == 15 and len(split.test) == 15 and "telecom_CRC32" in split.train
    bad = tmp_path / "split.tsv"
    bad.write_text("#Train Benchmarks\tTest Benchmarks\ntelecom_CRC32\tconsumer_jpeg_x\n")
    table = load_inputs([armpm_paths[0]], "armpm")
    with pytest.raises(PowerModelError, match=r"'consumer_jpeg_x' \(did you mean 'consumer_jpeg_d'\?\)"):
        check_split(read_split(bad), table.group)


def test_long_split_layout_and_leftover_workloads_warn(tmp_path):
    path = tmp_path / "split.csv"
    path.write_text("workload,split\na,train\nb,train\nc,test\n")
    split = read_split(path)
    assert split.train == ["a", "b"] and split.test == ["c"]
    with pytest.warns(InputWarning, match="neither train nor test"):
        check_split(split, np.array(["a", "b", "c", "d"]))


def test_holdout_needs_three_groups():
    with pytest.raises(PowerModelError, match="has 1 group"):
        holdout_split(np.array(["only"] * 10))
    split = holdout_split(np.array(list("abcdefgh")), test_fraction=0.25, seed=1)
    assert len(split.test) == 2 and not set(split.test) & set(split.train)


def test_reads_a_trace_written_by_the_collectors(synthetic_frame, tmp_path):
    trace = pytest.importorskip("collectors.trace", reason="collectors.trace (the trace writer) not there yet")
    frame, meta = synthetic_frame
    path = trace.write_trace(frame, tmp_path / "collected.parquet", meta)
    table = load_inputs([path])
    assert table.format == "fusegov" and len(table) == len(frame) and table.meta["period_s"] == meta["period_s"]
    np.testing.assert_allclose(table.power_w, frame["power.gpu_w"])


def test_several_inputs_are_concatenated_and_keep_their_own_segments(tmp_path):
    path_a, frame, mapping = small_csv(tmp_path)
    path_b = tmp_path / "second.csv"
    frame.drop(columns=["ev_mem"]).to_csv(path_b, index=False)
    with pytest.warns(InputWarning, match="not present in every input were dropped: ev_mem"):
        table = load_inputs([path_a, path_b], "csv", ColumnMapping(**{**mapping.to_dict(), "counters": ["ev_*"]}))
    assert len(table) == 2 * len(frame) and table.counter_names == ["ev_alu"]
    assert set(table.source_file) == {0, 1}
    first_b = np.flatnonzero(table.source_file == 1)[0]
    assert table.segment[first_b] != table.segment[first_b - 1]
    assert "second.csv: row 0" in table.where(first_b)
