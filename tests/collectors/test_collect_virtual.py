"""Collections on the in-process virtual phone: the same sampler file as on a phone, trace schema, phases,
TTFT/TPOT from llama.cpp's summary against the phone's own truth, passes that agree, datasets, Perfetto,
and clear errors that keep what was collected."""

import time

import pandas as pd
import pytest

from android.virtual import VirtualDevice
from collectors.collect import collect
from collectors.errors import CollectorError
from collectors.trace import check_trace, freq_col, pmc_columns, read_trace, temp_col, util_col, write_dataset

LLM = "llm:tinyllama-1.1b-q4,prompt=24,decode=6"


@pytest.fixture(scope="module")
def llm_collection():
    device = VirtualDevice("pixel7", seed=2)
    result = collect(device, [LLM], period_s=0.01, pmcs="64", settings=[{"gpu": 848_000_000}])
    return device, result


def test_trace_has_every_channel_and_no_gaps(llm_collection):
    _, result = llm_collection
    frame, meta = result.frame, result.meta
    check_trace(frame, meta)
    assert len(pmc_columns(frame)) == 64
    for column in (
        "freq.gpu_hz",
        "freq.mem_hz",
        "util.policy6_pct",
        "util.gpu_pct",
        "power.S2S_VDD_G3D_w",
        "power.gpu_w",
        "power.battery_w",
        "temp.G3D_c",
        "temp.gpu_c",
    ):
        assert column in frame.columns, column
    summary = result.summary()
    assert summary["dropped"] == 0 and frame["seq"].tolist() == list(range(len(frame)))
    assert set(frame["phase"]) >= {"load", "prefill", "decode"}
    assert (frame["power.battery_w"] > 0).all()  # Pixel reports discharge as negative current: handled
    assert (frame.loc[frame["phase"] == "decode", "freq.gpu_hz"] == 848e6).all()


def test_ttft_and_tpot_from_the_summary_match_the_phones_truth(llm_collection):
    device, result = llm_collection
    run = result.meta["workload_runs"][0]
    request = device.phone.sim.foreground  # the request llama-cli ran
    tokens = [t for t, mark in request.marks if mark == "token"]
    truth_ttft = tokens[0] - request.started_s
    truth_tpot = (tokens[-1] - tokens[0]) / (len(tokens) - 1)
    assert run["ttft_s"] == pytest.approx(truth_ttft, rel=0.01)
    assert run["tpot_s"] == pytest.approx(truth_tpot, rel=0.01)


def test_multi_pass_adreno_collection_merges_and_shared_channels_agree():
    """Pinned knobs read the same in every pass and the workload asks the same of the GPU (its busy time at
    the pinned clock); frequencies left to stock governors are reported, not required to agree: each pass
    starts from the state the previous one left (a warm bus, a model file in the page cache)."""
    pins = {"gpu": 680_000_000, "policy7": 2_457_600_000}
    device = VirtualDevice("sm8550", seed=1)
    result = collect(device, [LLM], period_s=0.02, pmcs="160", settings=[pins])
    passes = result.meta["passes"]
    assert passes["count"] >= 2
    assert len(pmc_columns(result.frame)) == 160
    agreement = passes["agreement"]
    assert all(agreement[freq_col(knob)] == 0.0 for knob in pins)
    assert agreement[util_col("gpu")] < 0.05
    assert {freq_col("mem"), temp_col("gpu")} <= set(agreement)


def test_dataset_directory_reads_back_as_one_table(llm_collection, tmp_path):
    import pyarrow.dataset as ds

    _, result = llm_collection
    write_dataset(result.frame, tmp_path / "ds", dict(result.meta, run="r1"))
    table = ds.dataset(tmp_path / "ds", format="parquet", partitioning="hive").to_table()
    assert table.num_rows == len(result.frame)
    (tmp_path / "ds" / "collect.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # `fusegov collect -o DIR` plots there
    frame, meta = read_trace(tmp_path / "ds")
    assert len(frame) == len(result.frame) and set(meta["runs"]) == {"r1"}
    assert sorted(set(frame["workload"])) == sorted(set(result.frame["workload"]))
    from powermodel.ingest import InputWarning, detect_format, load_inputs  # what `fusegov fit DIR` reads

    assert detect_format(tmp_path / "ds") == "fusegov"
    with pytest.warns(InputWarning, match="power.gpu_w: nan"):  # before ODPM's second reading: no power yet
        table = load_inputs([tmp_path / "ds"])
    assert len(table) == len(frame.dropna(subset=["power.gpu_w"])) and len(table.counter_names) == 64


def test_perfetto_export_reads_back(llm_collection, tmp_path):
    from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import Trace

    from collectors.perfetto_export import export_perfetto

    _, result = llm_collection
    path = export_perfetto(result.frame, tmp_path / "t.pftrace")
    trace = Trace()
    trace.ParseFromString(path.read_bytes())
    names = {p.track_descriptor.name for p in trace.packet if p.HasField("track_descriptor")}
    assert "freq.gpu (Hz)" in names and "power.gpu (W)" in names and "temp.gpu (C)" in names
    assert any(n.startswith("pmc.") for n in names)
    slices = {p.track_event.name for p in trace.packet if p.HasField("track_event") and p.track_event.name}
    assert any("prefill" in s for s in slices) and any("decode" in s for s in slices)


def test_no_root_is_a_clear_error():
    device = VirtualDevice("pixel7", root=False)
    with pytest.raises(CollectorError, match="root"):
        collect(device, ["idle:0.2"], period_s=0.05, pmcs="0")


def test_missing_llama_binary_and_model_are_clear_errors():
    device = VirtualDevice("pixel7")
    with pytest.raises(CollectorError, match="binary '/data/local/tmp/llama-cli' not found"):
        collect(device, ["llm:tinyllama-1.1b-q4,bin=/data/local/tmp/llama-cli"], period_s=0.05, pmcs="0")
    with pytest.raises(CollectorError, match="model file /data/local/tmp/none.gguf not found"):
        collect(device, ["llm:/data/local/tmp/none.gguf"], period_s=0.05, pmcs="0")


def test_counters_that_cannot_be_opened_fail_clearly_and_keep_the_partial_trace(tmp_path):
    device = VirtualDevice("sm8550")
    unit = device.phone.pmc
    taken = [unit.reserve("CMP", i) for i in range(unit.groups["CMP"].n_physical)]  # another profiler holds CMP
    with pytest.raises(CollectorError, match="CMP"):
        collect(device, ["idle:0.2"], period_s=0.05, pmcs="CMP_COUNTABLE_5")
    for handle in taken:
        unit.release(handle)


def test_period_below_the_samplers_floor_is_refused():
    with pytest.raises(CollectorError, match="2 ms"):
        collect(VirtualDevice("pixel7"), ["idle:0.1"], period_s=0.001)


@pytest.mark.parametrize("profile", ["pixel7", "sm8550"])
def test_the_phones_python3_reads_the_same_counters_as_the_in_process_link(profile):
    """The pushed sampler run by the phone's own python3 (confined; ioctl and mmap through pyrun.FD_OPS)
    gives the very trace the same file gives run in process against the device models."""
    spec = "llm:tinyllama-1.1b-q4,prompt=8,decode=3"
    shell, in_process = (
        collect(VirtualDevice(profile, seed=4), [spec], period_s=0.02, pmcs="24", link=link)
        for link in ("shell", "inprocess")
    )
    frame = shell.frame
    assert len(pmc_columns(frame)) == 24 and frame[pmc_columns(frame)].to_numpy().sum() > 0
    pd.testing.assert_frame_equal(frame, in_process.frame)


def test_a_sampler_starved_before_its_first_sleep_still_samples_the_whole_run(monkeypatch):
    """In process, the phone's time moves only while the workload sleeps: the run starts once the sampler
    waits on the clock, not when it has printed its header. A sampler thread the host starves between the
    two (a busy CI machine: the trace once came out 21 rows long instead of 30) must not miss the start."""
    import collectors.links as links

    spec = "llm:tinyllama-1.1b-q4,prompt=8,decode=3"
    whole = collect(VirtualDevice("pixel7", seed=4), [spec], period_s=0.02, pmcs="0", link="inprocess").frame
    sleep, starved = links.PhoneOs.sleep, set()

    def starved_first_sleep(self, seconds):
        if self not in starved:
            starved.add(self)
            time.sleep(0.3)
        return sleep(self, seconds)

    monkeypatch.setattr(links.PhoneOs, "sleep", starved_first_sleep)
    late = collect(VirtualDevice("pixel7", seed=4), [spec], period_s=0.02, pmcs="0", link="inprocess").frame
    assert starved and len(whole) > 20
    pd.testing.assert_frame_equal(late, whole)


def test_duration_stops_the_run_in_progress_and_keeps_its_phases():
    """`--duration`: the last run is stopped where the time is spent (llama.cpp prints its timings on
    SIGINT, sent by `timeout`); its phases up to there are kept."""
    device = VirtualDevice("pixel7", seed=5)
    result = collect(device, ["llm:tinyllama-1.1b-q4,prompt=16,decode=200"], period_s=0.05, pmcs="0", duration_s=3.0)
    (run,) = result.runs
    assert run.result.metrics["cut"] == 1.0 and run.result.metrics["tpot_s"] > 0
    start, end = run.result.phases[0][0], run.result.phases[-1][1]
    assert end - start == pytest.approx(3.0, abs=0.06)
    assert [label for _, _, label in run.result.phases] == ["load", "prefill", "decode"]
    assert result.frame["t_s"].max() == pytest.approx(end, abs=0.06)


def test_duration_is_shared_equally_by_the_workloads():
    """`--duration S` with two workloads: each runs (repeating within its share) for about S/2, so a short
    collection still holds both; a long first workload does not crowd out the second."""
    device = VirtualDevice("pixel7", seed=5)
    workloads = ["llm:tinyllama-1.1b-q4,prompt=16,decode=200", "idle:0.3"]
    result = collect(device, workloads, period_s=0.05, pmcs="0", duration_s=2.0)
    spent = {}
    for run in result.runs:
        start, end = run.result.phases[0][0], run.result.phases[-1][1]
        kind = run.workload.split(":")[0]
        spent[kind] = spent.get(kind, 0.0) + end - start
    assert set(spent) == {"llm", "idle"}
    assert spent["llm"] == pytest.approx(1.0, abs=0.06)
    assert 0.6 <= spent["idle"] <= 1.0 + 1e-9  # whole 0.3 s idles, the last one cut at the share
    assert sum(run.workload.startswith("idle") for run in result.runs) >= 3


def test_timeout_on_the_phone_signals_the_command_at_its_phone_time_deadline():
    device = VirtualDevice("pixel7")
    phone = device.phone
    start = phone.now_s
    assert device.shell("timeout -s INT 0.5 sleep 3").exit_code == 124
    assert phone.now_s - start == pytest.approx(0.5, abs=1e-6)
    assert device.shell("timeout 2 sleep 0.25; echo $?").stdout.strip() == "0"
    assert device.shell("timeout 2").exit_code == 125
