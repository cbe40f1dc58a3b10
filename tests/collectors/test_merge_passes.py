"""Counter passes merge run by run and phase by phase: each row of the first pass gets a later pass's counters from
the same phase of the same run (the same setting, workload and repeat), whatever the number of runs each pass fitted
in its share of the device time and however long each phase took in it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from collectors.collect import RunRecord, label_phases, merge_passes, run_keys
from collectors.runners import RunResult

PERIOD_S = 0.01
SETTINGS = ("stock", "gpu=401000000")


def _collect(repeats: dict[str, int], prefill_s: float, pass_index: int, records: list[RunRecord], start_s: float):
    """One pass over both settings: its runs appended to `records` and one sampled frame per setting (an LLM run
    loads, prefills for `prefill_s`, decodes; a CNN run loads and infers)."""
    frames = []
    for setting in SETTINGS:
        first, t = len(records), start_s
        for workload, count in repeats.items():
            for _ in range(count):
                spans = [("load", 0.05), *([("prefill", prefill_s), ("decode", 0.3)] if workload == "llm" else [])]
                if workload == "cnn":
                    spans.append(("inference", 0.4))
                phases = []
                for label, length in spans:
                    phases.append((t, t + length, label))
                    t += length
                records.append(RunRecord(workload, setting, pass_index, RunResult(phases, {})))
                t += 0.1
        times = np.arange(start_s, t, PERIOD_S) + PERIOD_S
        frame = pd.DataFrame({"seq": np.arange(len(times)), "t_s": times})
        frames.append(label_phases(frame, {i: records[i] for i in range(first, len(records))}))
        start_s = t + 1.0
    return pd.concat(frames, ignore_index=True), start_s


def test_each_row_gets_the_counters_of_the_same_phase_of_the_same_run_in_every_pass():
    records: list[RunRecord] = []
    # the second pass fitted three LLM runs in its share where the first fitted two (the CNN's run is the third run
    # of one pass and the fourth of the other), and its prefills took 50 ms longer
    base, t = _collect({"llm": 2, "cnn": 1}, 0.20, 0, records, 0.0)
    later, _ = _collect({"llm": 3, "cnn": 1}, 0.25, 1, records, t + 5.0)
    keys = run_keys(records)
    codes: dict[tuple, float] = {}

    def code(run: int, phase: int) -> float:  # one value per phase of each run, the same in both passes
        return np.nan if run < 0 else codes.setdefault((keys[run][1:], phase), float(len(codes)))

    base["pmc.X.A"] = 1.0
    later["pmc.X.B"] = [code(r, p) for r, p in zip(later["_run"], later["_phase"])]
    own = np.array([code(r, p) for r, p in zip(base["_run"], base["_phase"])])

    merged, _ = merge_passes([base, later], records, PERIOD_S)

    got = merged["pmc.X.B"].to_numpy()
    work = (merged["phase"] != "idle").to_numpy()
    assert work.sum() > 200 and set(merged.loc[work, "workload"]) == {"llm", "cnn"}
    filled = work & ~np.isnan(got)
    np.testing.assert_array_equal(got[filled], own[filled])  # never another run's or another phase's
    assert filled.sum() >= 0.95 * work.sum()
    assert not {"_run", "_phase", "_since"} & set(merged.columns)
