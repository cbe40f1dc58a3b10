"""APGPM's claim on the virtual phone's GPU data: on held-out workloads (LLM and CNN mixed), the selected
model's MAPE is at least 2.7x lower than the utilisation-frequency baseline's, with at most 10% of the
counters, on the pixel7 (Mali-G710) and sm8550 (Adreno 740) profiles (pixel4 and other seeds in
bench/bench_powermodel_virtual.py). And the virtual GPU is as hard to model as a real one (issue 9 item 8):
more than one counter is selected, and the model's error is not near-perfect (a virtual GPU whose power is
a linear function of a few counters gave 0.7-2.4%; APGPM's real-phone models reach ~9-12%).

Which workloads, and which are held out (decided by rule, before looking at any result):
- Every workload the virtual phone offers on the profile is traced: all built-in LLMs that fit it and all
  built-in CNNs. APGPM's model generalises because it is trained on many benchmarks; a model can only
  learn the energy of a kind of work its training set contains.
- The workloads fall into groups of alike work: the LLMs (quantised matmul kernels), and the CNNs by
  architectural family as the zoo records it (`ZooNetwork.family`): dense convolutions (ResNets,
  SqueezeNet, YOLOv3-tiny), depthwise-separable blocks (MobileNetV2, ShuffleNetV2), and depthwise blocks
  with squeeze-excitation gates (EfficientNet, MnasNet-A1, MobileNetV3; EfficientNet also the only
  swish/sigmoid-heavy one).
- One member of every group is held out, so every group sits on both sides: the test asks how well the
  model predicts an unseen network of a kind it has seen, which is what APGPM claims, not whether it can
  extrapolate to a kind of work it never saw (no counter model can). Each group has at least two members.
- The held-out member is the group's first by name (`rotation` 0). That keeps llama2-7b, EfficientNet-B0
  and MobileNetV2 held out, the workloads an earlier, smaller zoo failed on, so the test still asks the
  hard question. bench/bench_powermodel_virtual.py repeats this over trace seeds 0..5 and, with
  `--rotations`, over the other members of each group; that is where robustness is shown.

Traces come from the collectors' sweep on the in-process virtual phone (collectors.sweep.collect_sweep:
the on-device sampler reading sysfs and the GPU's counter device, a lab monitor on the GPU supply for
`power.gpu_w`), each workload at a spread of the profile's GPU OPPs, as APGPM measures; rows carry `pmc.*`
deltas (every counter one pass of the GPU reads), `power.gpu_w`, `util.gpu_pct`, `freq.gpu_hz` and a GPU
temperature `temp.gpu*_c`.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from android.emulator.sim import cnn_zoo
from collectors.sweep import collect_sweep, gpu_settings, workload_groups
from collectors.trace import write_trace
from governor.cli import main

MIN_RATIO = 2.7
MIN_MODEL_MAPE_PCT = 5.0  # well above the 0.7-2.4% of a GPU whose power the counters see exactly
SEED = 1
DURATION_S = 20.0  # simulated seconds per workload, split across the pinned GPU frequencies


def held_out(groups: dict[str, list[str]], rotation: int = 0) -> list[str]:
    """One member of every group: the `rotation`-th by name (wrapping)."""
    return [names[rotation % len(names)] for names in groups.values()]


def fit_held_out(trace: Path, workloads: list[str], test: list[str], folder: Path, extra: tuple[str, ...] = ()) -> dict:
    """`fusegov fit` with the 10% counter budget on the given split (plus `extra` fit options); its --json result."""
    split = folder / "split.csv"
    split.write_text("workload,split\n" + "".join(f"{w},{'test' if w in test else 'train'}\n" for w in workloads))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        # --temperature-term: at a pinned OPP the virtual GPU's leakage still follows its temperature
        code = main(
            [
                "fit",
                str(trace),
                "--split",
                str(split),
                "--max-counters",
                "10%",
                "--temperature-term",
                "-o",
                str(folder / "model.json"),
                "--no-plots",
                "--json",
                *extra,
            ]
        )
    assert code == 0, f"fusegov fit failed on {trace}"
    return json.loads(out.getvalue())


@pytest.mark.slow
@pytest.mark.parametrize("profile", ["pixel7", "sm8550"])
def test_selected_model_beats_util_freq_baseline_by_2_7x(profile, tmp_path):
    groups = workload_groups(profile)
    assert set(groups) == {"llm", *cnn_zoo.FAMILIES}, f"{profile}: workload groups {groups}"
    assert all(len(names) >= 2 for names in groups.values()), f"{profile}: a group cannot sit on both sides {groups}"
    workloads = [name for names in groups.values() for name in names]
    test = held_out(groups)
    frame, meta = collect_sweep(profile, workloads, gpu_settings(profile, 5), DURATION_S, period_s=0.05, seed=SEED)
    trace = write_trace(frame, tmp_path / f"{profile}.parquet", meta)

    result = fit_held_out(trace, workloads, test, tmp_path)
    assert result["n_counters"] <= 0.10 * result["n_available"]
    assert set(result["per_workload"]) == set(test)
    mape = result["mape_pct"]
    ratio = mape["baseline"] / mape["model"]
    assert ratio >= MIN_RATIO, (
        f"{profile}: model {mape['model']:.2f}% vs baseline {mape['baseline']:.2f}% "
        f"({len(frame)} rows, {meta['late_ticks']} late ticks, {meta['dropped']} dropped)"
    )
    assert result["n_counters"] >= 2, f"{profile}: one counter explains GPU power alone ({result['counters']})"
    assert mape["model"] >= MIN_MODEL_MAPE_PCT, f"{profile}: model {mape['model']:.2f}% is near-perfect"
