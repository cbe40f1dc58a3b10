"""GPU power-model traces from the virtual phone (collectors.virtual_gpu_trace): schema, pinned frequencies,
counters read as a collector must (Mali 32-bit wraps undone), and power that depends on what the GPU does,
not only on how busy it is."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

import collectors
from android.emulator.profile import load_profile
from android.emulator.sim.pmc.unit import PmcUnit
from android.errors import TraceError, WorkloadError
from collectors.trace import check_trace, write_trace

MIX = ["llm:tinyllama-1.1b-q4", "cnn:resnet18", "cnn:mobilenetv2", "cnn:efficientnet-b0"]
DURATION_S = 4.0
PERIOD_S = 0.05
ACTIVE_CYCLES = {"pixel7": "pmc.FE.GPU_ACTIVE", "sm8550": "pmc.RBBM.RBBM_STATUS_MASKED"}


@pytest.fixture(scope="module", params=["pixel7", "sm8550"])
def trace(request):
    """Four workloads at the default spread of GPU frequencies."""
    frame, meta = collectors.virtual_gpu_trace(request.param, MIX, seed=0, duration_s=DURATION_S)
    return request.param, frame, meta


def test_trace_follows_the_schema_and_round_trips_through_parquet(trace, tmp_path):
    profile, frame, meta = trace
    check_trace(frame, meta)
    for column in ("freq.gpu_hz", "freq.mem_hz", "util.gpu_pct", "volt.gpu_v", "temp.gpu_c", "power.gpu_w"):
        assert column in frame.columns
    counters = [c for c in frame.columns if c.startswith("pmc.")]
    catalogue = PmcUnit.for_family(load_profile(profile).gpu.pmc_family).catalogue
    assert meta["counters"] == counters and len(counters) == len(catalogue)  # the whole catalogue
    assert meta["profile"] == profile and meta["period_s"] == PERIOD_S and meta["tool"].startswith("fusegov")
    assert frame["seq"].tolist() == list(range(len(frame)))
    for _, rows in frame.groupby("workload"):  # device time moves forward within a workload's phone
        assert (np.diff(rows["t_s"].to_numpy()) > 0).all()
    phases = frame.groupby("workload")["phase"].agg(set)
    assert {"prefill", "decode"} <= phases["llm:tinyllama-1.1b-q4"]
    assert phases["cnn:resnet18"] == {"inference"}

    path = write_trace(frame, tmp_path / "t.parquet", meta)
    table = pq.read_table(path)
    assert json.loads(table.schema.metadata[b"fusegov"]) == json.loads(json.dumps(meta))
    assert table.to_pandas().equals(frame)


def test_each_workload_runs_at_each_pinned_frequency_for_its_share_of_the_duration(trace):
    profile, frame, meta = trace
    opps = {o.freq_hz: o.volt_uv / 1e6 for o in load_profile(profile).gpu.opps}
    asked = meta["gpu_freqs_hz"]
    assert len(asked) == 5 and min(asked) == min(opps) and max(asked) == max(opps)  # a spread of the table
    counts = frame.groupby(["workload", "freq.gpu_hz"]).size()
    assert set(counts.index) == {(w, f) for w in MIX for f in asked}
    share = DURATION_S / len(asked) / PERIOD_S
    assert counts.between(share, share + 1).all(), counts  # the budget, to one sample
    assert (frame["volt.gpu_v"] == frame["freq.gpu_hz"].map(opps)).all()  # the pinned OPP's voltage


def test_frequencies_given_are_the_ones_pinned():
    asked = [302_000_000, 848_000_000]
    frame, meta = collectors.virtual_gpu_trace(
        "pixel7", ["cnn:squeezenet1.1"], duration_s=1.0, gpu_freqs_hz=asked, period_s=0.1
    )
    assert meta["gpu_freqs_hz"] == asked
    assert frame["freq.gpu_hz"].tolist() == [asked[0]] * 5 + [asked[1]] * 5
    assert (np.diff(frame["t_s"]).round(9)[[0, 1, 2, 3, 5, 6, 7, 8]] == 0.1).all()  # one row per period


def test_counters_are_non_negative_and_wrap_free(trace):
    profile, frame, meta = trace
    deltas = frame[meta["counters"]].to_numpy()
    assert (deltas >= 0).all()
    # a mishandled wrap would leave a delta near 2**width (64-bit kgsl latency sums may pass 2**31 in 50 ms)
    assert deltas.max() < 2 ** (min(meta["counter_widths_bits"]) - 1)
    # The active-cycle counter counts exactly the busy cycles: utilisation x frequency x period.
    active = frame[ACTIVE_CYCLES[profile]].to_numpy(float)
    busy_cycles = frame["util.gpu_pct"] / 100 * frame["freq.gpu_hz"] * PERIOD_S
    np.testing.assert_allclose(active, busy_cycles, rtol=1e-6, atol=2)


def test_mali_deltas_stay_right_across_many_wraps_of_the_32_bit_counters():
    frame, meta = collectors.virtual_gpu_trace(
        "pixel7", ["cnn:yolov3-tiny"], duration_s=8.0, gpu_freqs_hz=[848_000_000], period_s=0.2
    )
    assert meta["counter_widths_bits"] == [32]
    deltas = frame[meta["counters"]]
    wrapped = deltas.columns[deltas.sum() >= 2**32]  # these registers went round at least once
    assert len(wrapped) >= 3, "the run is too short to make any counter wrap"
    assert (deltas >= 0).all().all() and deltas.max().max() < 2**31
    active = frame["pmc.FE.GPU_ACTIVE"].to_numpy(float)
    np.testing.assert_allclose(active, frame["util.gpu_pct"] / 100 * 848e6 * 0.2, rtol=1e-6)


def test_power_differs_between_workloads_at_equal_utilisation_and_frequency(trace):
    """What the utilisation-frequency model cannot see: samples of different workloads at one GPU
    frequency and within one point of utilisation draw clearly different power, while samples of the same
    workload that close in utilisation agree within a few percent."""
    _, frame, _ = trace
    between, within = [], []
    for _, rows in frame.groupby("freq.gpu_hz"):
        util = rows["util.gpu_pct"].to_numpy()
        power = rows["power.gpu_w"].to_numpy()
        workload = rows["workload"].to_numpy()
        close = np.abs(util[:, None] - util[None, :]) < 1.0
        gap = np.abs(np.log(power[:, None] / power[None, :]))
        other = workload[:, None] != workload[None, :]
        between.append(gap[close & other])
        within.append(gap[close & ~other & ~np.eye(len(util), dtype=bool)])
    between, within = np.concatenate(between), np.concatenate(within)
    assert len(between) >= 30, "too few samples of different workloads at equal utilisation to compare"
    assert np.median(between) > np.log(1.10)  # >10% apart at equal utilisation and frequency
    # one workload's 50 ms samples scatter by a few percent (data-dependent switching and clock activity that
    # no counter sees, physics.gpu_variation), far less than different workloads do
    assert np.median(within) < np.log(1.05)


def test_one_seed_gives_one_trace():
    args = {"workloads": ["llm:qwen-1.5b-q4"], "duration_s": 1.0, "gpu_freqs_hz": [701_000_000]}
    first, _ = collectors.virtual_gpu_trace("pixel7", seed=3, **args)
    again, _ = collectors.virtual_gpu_trace("pixel7", seed=3, **args)
    other, _ = collectors.virtual_gpu_trace("pixel7", seed=4, **args)
    assert first.equals(again)
    assert not first.filter(like="pmc.").equals(other.filter(like="pmc."))


def test_workloads_offered_fit_the_phone():
    pixel7, pixel4 = collectors.virtual_workloads("pixel7"), collectors.virtual_workloads("pixel4")
    assert {"llm:tinyllama-1.1b-q4", "llm:llama2-7b-q4", "cnn:mobilenetv2", "cnn:resnet18", "cnn:squeezenet1.1"} <= set(
        pixel7
    )
    assert "llm:llama2-7b-q4" not in pixel4 and "llm:tinyllama-1.1b-q4" in pixel4  # 6 GB: 7B does not fit
    assert all(kind == name.split(":")[0] for name, kind in pixel7.items())


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"workloads": ["cnn:alexnet"]}, WorkloadError, "unknown workload 'cnn:alexnet'.*cnn:mobilenetv2"),
        ({"workloads": ["llm:llama2-7b-q4"]}, WorkloadError, "llama2-7b-q4 needs .* GiB"),
        ({"workloads": ["cnn:resnet18"], "gpu_freqs_hz": [300e6]}, TraceError, "300 MHz is not an OPP of pixel4"),
        ({"workloads": ["cnn:resnet18"], "period_s": 2.0}, TraceError, "wrap more than once"),
        ({"workloads": ["cnn:resnet18"], "duration_s": 0}, TraceError, "duration_s must be positive"),
        ({"workloads": []}, TraceError, "no workloads"),
    ],
)
def test_bad_requests_name_the_problem(kwargs, error, match):
    with pytest.raises(error, match=match):
        collectors.virtual_gpu_trace("pixel4", **kwargs)
