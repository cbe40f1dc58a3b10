"""Counter passes merge run by run: each row of the first pass gets a later pass's counters from the same run (the
same setting, workload and repeat), whatever the number of runs each pass fitted in its share of the device time."""

from __future__ import annotations

import numpy as np
import pandas as pd

from collectors.collect import RunRecord, label_phases, merge_passes, run_keys
from collectors.runners import RunResult

PERIOD_S = 0.01
SETTINGS = ("stock", "gpu=401000000")


def _collect(repeats: dict[str, int], pass_index: int, records: list[RunRecord], start_s: float):
    """One pass over both settings: its runs appended to `records` and one sampled frame per setting."""
    frames = []
    for setting in SETTINGS:
        first, t = len(records), start_s
        for workload, count in repeats.items():
            for _ in range(count):
                phases = [(t, t + 0.05, "load"), (t + 0.05, t + 0.35, "prefill" if workload == "llm" else "inference")]
                records.append(RunRecord(workload, setting, pass_index, RunResult(phases, {})))
                t += 0.45
        times = np.arange(start_s, t, PERIOD_S) + PERIOD_S
        frame = pd.DataFrame({"seq": np.arange(len(times)), "t_s": times})
        frames.append(label_phases(frame, {i: records[i] for i in range(first, len(records))}))
        start_s = t + 1.0
    return pd.concat(frames, ignore_index=True), start_s


def test_each_row_gets_the_counters_of_the_same_run_in_every_pass():
    records: list[RunRecord] = []
    # the LLM fitted three runs in its share in the second pass, two in the first: the CNN's run is the third run
    # of the first pass and the fourth of the second
    base, t = _collect({"llm": 2, "cnn": 1}, 0, records, 0.0)
    later, _ = _collect({"llm": 3, "cnn": 1}, 1, records, t + 5.0)
    keys = run_keys(records)
    code = {key[1:]: float(n) for n, key in enumerate(k for k in keys if k[0] == 1)}  # one value per run of pass 1
    base["pmc.X.A"] = 1.0
    later["pmc.X.B"] = [code[keys[r][1:]] if r >= 0 else np.nan for r in later["_run"]]
    want = np.array([code.get(keys[r][1:], np.nan) if r >= 0 else np.nan for r in base["_run"]])

    merged, _ = merge_passes([base, later], records, PERIOD_S)

    work = (merged["phase"] != "idle").to_numpy()
    assert work.sum() > 100 and set(merged.loc[work, "workload"]) == {"llm", "cnn"}
    np.testing.assert_array_equal(merged["pmc.X.B"].to_numpy()[work], want[work])
