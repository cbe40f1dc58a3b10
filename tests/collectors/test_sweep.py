"""A power-model sweep's trace on the in-process virtual phone: rows left out (the phone idling between
requests) leave a gap in `seq`, so a reader never takes the next row's counters as covering the time since
the last row kept."""

import numpy as np

from collectors.sweep import collect_sweep, gpu_settings
from collectors.trace import write_trace
from powermodel.features import counter_rates
from powermodel.ingest import load_inputs

ALWAYS_ON = "pmc.RBBM.RBBM_ALWAYS_ON"  # Adreno's 19.2 MHz always-on clock: its rate is known in every window


def test_rows_left_out_break_the_window_sequence_so_every_rate_covers_its_own_window(tmp_path):
    frame, meta = collect_sweep("sm8550", ["llm:tinyllama-1.1b-q4"], gpu_settings("sm8550", 2), duration_s=6.0)
    seq, t_s = frame["seq"].to_numpy(), frame["t_s"].to_numpy()
    assert (np.diff(seq) > 0).all()
    late = np.diff(t_s) > 1.5 * meta["period_s"]
    assert late.any(), "no idle rows were left out: the sweep did not exercise the gap"
    assert (np.diff(seq)[late] > 1).all()  # a row left out is a number skipped
    table = load_inputs([write_trace(frame, tmp_path / "sweep.parquet", meta)])
    rates = counter_rates(table)[:, table.counter_names.index(ALWAYS_ON)]
    counts = rates * meta["period_s"]  # 960,000 per 50 ms window, give or take the one count a read straddles
    assert (np.abs(counts - 960_000) <= 1).all(), f"off in {int((np.abs(counts - 960_000) > 1).sum())} windows"
