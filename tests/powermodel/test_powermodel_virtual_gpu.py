"""APGPM's claim on the virtual phone's GPU data: on held-out workloads (LLM and CNN mixed), the selected
model's MAPE is at least 2.7x lower than the utilisation-frequency baseline's, with at most 10% of the
counters, on the pixel7 (Mali-G710) and sm8550 (Adreno 740) profiles.

Needs the in-process GPU trace generator of the collectors (agreed signature):

    collectors.virtual_gpu_trace(profile: str, workloads: list[str], seed: int = 0, duration_s: float = 20.0,
                                 gpu_freqs_hz: list[float] | None = None, period_s: float = 0.05)
        -> tuple[pandas.DataFrame, dict]      # (trace rows, metadata) in the fusegov trace schema
    collectors.virtual_workloads(profile: str) -> dict[str, str]   # workload name -> "llm" | "cnn"

Each workload runs with the GPU pinned at each of `gpu_freqs_hz` (default: a spread of the profile's GPU
OPPs), as APGPM measures; rows carry `pmc.*` deltas of the whole catalogue, `power.gpu_w`, `util.gpu_pct`,
`freq.gpu_hz`, `volt.gpu_v` and a GPU temperature `temp.gpu*_c`. Skipped until it exists; never replaced by
made-up data.
"""
from __future__ import annotations

import json

import pytest

from governor.cli import main

collectors = pytest.importorskip("collectors")
if not hasattr(collectors, "virtual_gpu_trace") or not hasattr(collectors, "virtual_workloads"):
    pytest.skip("collectors.virtual_gpu_trace / virtual_workloads (virtual-phone GPU traces) not available yet",
                allow_module_level=True)

from collectors.trace import write_trace  # noqa: E402


@pytest.mark.parametrize("profile", ["pixel7", "sm8550"])
def test_selected_model_beats_util_freq_baseline_by_2_7x(profile, tmp_path, capsys):
    kinds = collectors.virtual_workloads(profile)
    llm = sorted(n for n, k in kinds.items() if k == "llm")
    cnn = sorted(n for n, k in kinds.items() if k == "cnn")
    assert len(llm) >= 3 and len(cnn) >= 3, f"{profile}: need at least 3 LLM and 3 CNN workloads, got {kinds}"
    workloads = llm[:4] + cnn[:5]
    frame, meta = collectors.virtual_gpu_trace(profile, workloads, seed=1, duration_s=20.0)
    trace = tmp_path / f"{profile}.parquet"
    write_trace(frame, trace, meta)
    test = [llm[0], cnn[0], cnn[1]]  # held out: both kinds
    split = tmp_path / "split.csv"
    split.write_text("workload,split\n" + "".join(f"{w},{'test' if w in test else 'train'}\n" for w in workloads))

    # --temperature-term: at a pinned OPP the virtual GPU's leakage still follows its temperature
    assert main(["fit", str(trace), "--split", str(split), "--max-counters", "10%", "--temperature-term",
                 "-o", str(tmp_path / "m.json"), "--no-plots", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n_counters"] <= 0.10 * result["n_available"]
    assert set(result["per_workload"]) == set(test)
    ratio = result["mape_pct"]["baseline"] / result["mape_pct"]["model"]
    mape = result["mape_pct"]
    assert ratio >= 2.7, f"{profile}: model {mape['model']:.2f}% vs baseline {mape['baseline']:.2f}%"
