"""Workloads: LLM models, CNNs from real ONNX graphs, background load; bad input gives clear errors."""

import json
from dataclasses import replace

import numpy as np
import pytest

from android.emulator.phone import VirtualPhone
from android.emulator.profile import BUILTIN_DIR, load_profile
from android.emulator.sim.activity import EVENT_FIELDS
from android.emulator.sim.background import BackgroundLoad
from android.emulator.sim.cnn import load_onnx_stream
from android.emulator.sim.llm import LlmRequest, graph_stream, layer_stream, runtime_named
from android.emulator.sim.llm_models import builtin_models, load_model
from android.emulator.sim.request import run_cnn, run_llm_request
from android.errors import FusegovError, ProfileError, WorkloadError
from tests.helpers.onnx_graphs import conv_net, conv_with_tails, mlp_sigmoid

MHZ = 1_000_000
EV = {name: i for i, name in enumerate(EVENT_FIELDS)}


def test_builtin_models_have_their_published_sizes():
    assert {"tinyllama-1.1b-q4", "qwen-1.5b-q4", "stablelm-2.7b-q4", "llama2-7b-q4"} <= set(builtin_models())
    tiny = load_model("tinyllama-1.1b-q4")
    assert tiny.weight_bytes == pytest.approx(0.62e9, rel=0.05)  # "~0.6 GB of 4-bit weights"
    # decode reads every matrix weight once per token
    per_layer = layer_stream(tiny, 1, 100).gpu_dram_bytes
    assert per_layer * tiny.layers == pytest.approx((tiny.params - 2 * tiny.vocab * tiny.hidden) * 4.5 / 8, rel=0.01)


def test_a_user_model_file_derives_the_ffn_width(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(
        json.dumps(
            {
                "name": "mine",
                "params": 1100048384,
                "layers": 22,
                "hidden": 2048,
                "heads": 32,
                "kv_heads": 4,
                "vocab": 32000,
                "quant_bits": 4,
            }
        )
    )
    mine = load_model(str(path))
    assert mine.ffn_hidden == pytest.approx(5632, abs=2)  # TinyLlama's real FFN width
    r = run_llm_request(VirtualPhone("pixel7"), str(path), 8, 4, idle_before_s=0.1)
    assert r.ttft_s > 0 and r.tpot_s > 0


def test_bigger_models_decode_slower():
    phone = VirtualPhone("pixel7")
    pins = {"gpu": 848 * MHZ, "policy6": 2401 * MHZ, "mem": 3172 * MHZ}
    tiny = run_llm_request(phone, "tinyllama-1.1b-q4", 8, 6, pins=pins, idle_before_s=0.1)
    stablelm = run_llm_request(phone, "stablelm-2.7b-q4", 8, 6, pins=pins, idle_before_s=0.1)
    assert stablelm.tpot_s / tiny.tpot_s == pytest.approx(2.5, rel=0.3)  # FUSE: 323.6 vs 126.9 ms


@pytest.mark.parametrize(
    "bad,match",
    [
        ({"params": 1e9, "layers": 4, "hidden": 512, "vocab": 100, "quant_bits": 4}, "field params must be int"),
        ({"layers": 4, "hidden": 512, "vocab": 100, "quant_bits": 4}, "field params is missing"),
        ({"params": 10**9, "layers": 4, "hidden": 512, "vocab": 100, "quant_bits": 7}, "quant_bits must be one of"),
        ({"params": 10**6, "layers": 4, "hidden": 512, "vocab": 1000, "quant_bits": 4}, "too few"),
    ],
)
def test_malformed_model_files_name_the_field(tmp_path, bad, match):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(WorkloadError, match=match):
        load_model(str(path))


def test_unknown_model_names_the_builtins():
    with pytest.raises(FusegovError, match="unknown LLM model 'gpt5'.*tinyllama-1.1b-q4"):
        load_model("gpt5")


def test_a_model_bigger_than_the_phone_memory_is_a_clear_error(tmp_path):
    with pytest.raises(WorkloadError, match=r"llama2-7b-q4 needs 3\.\d GiB .* pixel4 gives an app at most 3\.6 GiB"):
        run_llm_request(VirtualPhone("pixel4"), "llama2-7b-q4", 16, 16)
    huge = tmp_path / "huge.json"
    huge.write_text(
        json.dumps(
            {
                "params": 70_000_000_000,
                "layers": 80,
                "hidden": 8192,
                "vocab": 32000,
                "quant_bits": 4,
                "heads": 64,
                "kv_heads": 8,
            }
        )
    )
    with pytest.raises(WorkloadError, match="needs 3[0-9]\\.\\d GiB"):
        run_llm_request(VirtualPhone("pixel7"), str(huge), 16, 16)


def test_onnx_graph_nodes_become_kernels_with_flops_from_their_shapes(tmp_path):
    stream, resident = load_onnx_stream(conv_net(tmp_path / "c.onnx", channels=16, size=32, blocks=2))
    # conv0: 16 out channels x 32 x 32 outputs x (3 in x 3 x 3) MACs; conv1: 16 x 32 x 32 x (16 x 9)
    assert stream.events[0, EV["alu_ops"]] == 2 * 16 * 32 * 32 * 3 * 9
    assert stream.events[2, EV["alu_ops"]] == 2 * 16 * 32 * 32 * 16 * 9
    assert stream.events[0, EV["texture_fetches"]] > 0  # convolutions read activations as textures
    assert len(stream.events) == 6  # conv, relu, conv, relu, pool, matmul (flatten costs nothing)
    assert stream.sync_after.tolist() == [False] * 5 + [True]  # one wait, for the output
    assert resident > (16 * 3 * 9 + 16 * 16 * 9) * 4
    mlp, _ = load_onnx_stream(mlp_sigmoid(tmp_path / "m.onnx", width=256, layers=2, batch=8))
    assert mlp.events[0, EV["alu_ops"]] == 2 * 8 * 256 * 256
    assert mlp.events[1, EV["sfu_ops"]] == 8 * 256  # sigmoid on the special-function units


def test_cnn_runs_report_latency_and_energy(tmp_path):
    path = conv_net(tmp_path / "c.onnx", channels=64, size=112)
    phone = VirtualPhone("sm8550")
    r = run_cnn(phone, path, 20, idle_before_s=0.2)
    assert r.runs == 20 and r.latency_s > 0 and r.energy_per_run_j > 0
    assert r.phases["inference"].gpu_util > 0.3
    fast = run_cnn(phone, path, 20, pins={"gpu": 719_000_000}, idle_before_s=0.2)
    slow = run_cnn(phone, path, 20, pins={"gpu": 220_000_000}, idle_before_s=0.2)
    assert slow.latency_s > 1.5 * fast.latency_s


@pytest.mark.parametrize(
    "content,match",
    [
        (b"this is not a protobuf at all \x00\xff", "is not an ONNX model"),
        (b"", "is not an ONNX model"),
    ],
)
def test_a_file_that_is_not_an_onnx_model_is_a_clear_error(tmp_path, content, match):
    path = tmp_path / "fake.onnx"
    path.write_bytes(content)
    with pytest.raises(WorkloadError, match=match):
        run_cnn(VirtualPhone("pixel7"), path, 1)
    with pytest.raises(WorkloadError, match="does not exist"):
        run_cnn(VirtualPhone("pixel7"), tmp_path / "absent.onnx", 1)


def test_a_profile_whose_opp_table_is_not_monotonic_is_a_clear_error(tmp_path):
    raw = json.loads((BUILTIN_DIR / "pixel7.json").read_text())
    raw["memory"]["devfreq"][0]["opp"][4] = [400_000_000, 606250]
    path = tmp_path / "p.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ProfileError, match=r"memory.devfreq\[0\].opp\[4\] is not monotonic"):
        load_profile(str(path))


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda p: p["gpu"].pop("alu_ops_per_cycle"), "physics.gpu.alu_ops_per_cycle is missing"),
        (lambda p: p["memory"].__setitem__("bytes_per_hz", "fast"), "physics.memory.bytes_per_hz must be"),
        (lambda p: p["gpu"]["event_energy_pj"].pop("alu_ops"), "physics.gpu.event_energy_pj must give"),
        (
            lambda p: p["thermal"]["zones"]["neutral_therm"]["trips"][0]["cooling"].append("turbo"),
            r"zones.neutral_therm.trips\[0\].cooling 'turbo'",
        ),
        (lambda p: p["governors"]["quickstep"]["util_min"].pop(), "util_min must have one entry per GPU OPP"),
        (lambda p: p["governors"]["sched_pixel"].__setitem__("up_rate_limit_s", 1), "up_rate_limit_s is not a field"),
        (lambda p: p.__setitem__("llm_runtime", 7), "physics.llm_runtime must be"),
        (lambda p: p["cpu"].pop("policy4"), "physics.cpu must have one entry per CPU policy"),
        (lambda p: p["driver"].__setitem__("submit_cycle", 1), "physics.driver.submit_cycle is not a field"),
        (lambda p: p["gpu"].__setitem__("dispatch_active_s", 1e-3), "dispatch_active_s is part of dispatch_latency_s"),
    ],
)
def test_malformed_physics_names_the_field(tmp_path, mutate, match):
    raw = json.loads((BUILTIN_DIR / "pixel7.json").read_text())
    mutate(raw["physics"])
    path = tmp_path / "p.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ProfileError, match=match):
        load_profile(str(path))


def test_the_simulation_is_deterministic_for_a_seed():
    def once(seed):
        phone = VirtualPhone("pixel7", seed=seed)
        r = run_llm_request(phone, "tinyllama-1.1b-q4", 16, 12, idle_before_s=0.2)
        return r.tpot_s, r.energy_j, phone.pmc.read_all_totals()

    a, b, c = once(7), once(7), once(8)
    assert a[0] == b[0] and a[1] == b[1] and np.array_equal(a[2], b[2])
    assert a[0] != c[0]


def test_background_load_on_the_inference_core_slows_decode_and_elsewhere_raises_the_cluster():
    pins = {"gpu": 848 * MHZ, "policy6": 1826 * MHZ, "mem": 3172 * MHZ}
    alone = run_llm_request(VirtualPhone("pixel7"), "tinyllama-1.1b-q4", 8, 12, pins=pins, idle_before_s=0.1)
    shared = VirtualPhone("pixel7")
    shared.sim.add_background(BackgroundLoad(cpu=6, duty=1.0))  # the inference thread's core
    contended = run_llm_request(shared, "tinyllama-1.1b-q4", 8, 12, pins=pins, idle_before_s=0.1)
    assert contended.tpot_s > 1.04 * alone.tpot_s  # the thread's CPU work (~15% of a token) at half speed
    assert contended.phases["decode"].gpu_util < alone.phases["decode"].gpu_util
    stock = VirtualPhone("pixel7")
    stock.sim.add_background(BackgroundLoad(cpu=7, duty=1.0, mem_bytes_per_s=2e9))  # the other X1 core
    busy = run_llm_request(stock, "tinyllama-1.1b-q4", 8, 12, idle_before_s=0.5)
    quiet = run_llm_request(VirtualPhone("pixel7"), "tinyllama-1.1b-q4", 8, 12, idle_before_s=0.5)
    assert busy.phases["decode"].mean_freq_hz["policy6"] > 1.5 * quiet.phases["decode"].mean_freq_hz["policy6"]
    assert busy.tpot_s < quiet.tpot_s  # the shared cluster clock now also speeds up the feeding thread
    with pytest.raises(WorkloadError, match="duty"):
        BackgroundLoad(cpu=1, duty=1.5)


def test_a_shallow_gpu_queue_starves_the_gpu_when_the_cpu_is_slow(tmp_path):
    path = conv_with_tails(tmp_path / "c.onnx")
    results = {}
    for depth in (1, 2, 8):
        raw = json.loads((BUILTIN_DIR / "pixel7.json").read_text())
        raw["gpu"]["queue_depth"] = depth
        path_p = tmp_path / f"q{depth}.json"
        path_p.write_text(json.dumps(raw))
        phone = VirtualPhone(load_profile(str(path_p)))
        results[depth] = run_cnn(phone, path, 30, pins={"policy6": 500 * MHZ, "gpu": 848 * MHZ}, idle_before_s=0.1)
    assert results[1].latency_s > results[2].latency_s >= results[8].latency_s
    assert results[1].phases["inference"].gpu_util < results[8].phases["inference"].gpu_util


def test_the_gpu_counts_a_jobs_dispatch_as_busy_from_the_moment_the_job_sits_in_its_queue():
    # Mali's GPU_ACTIVE counts cycles with work queued, running or stalled: the front end setting a job up
    # on an idle GPU is busy time for the governor (and the clock tree), though no shader runs and no
    # latency is added; a job queued behind another is set up under it
    physics = VirtualPhone("pixel7").profile.physics
    gpu, memory, driver = physics.gpu, physics.memory, physics.driver
    stream = layer_stream(load_model("tinyllama-1.1b-q4"), 1, 64)  # decode: every product waited for
    seen = stream.bind(gpu, memory, driver, 2).timing(1106 * MHZ, 400 * MHZ, 1352 * MHZ)
    shaders_only = replace(gpu, dispatch_active_s=0.0)
    bare = layer_stream(load_model("tinyllama-1.1b-q4"), 1, 64).bind(shaders_only, memory, driver, 2)
    unseen = bare.timing(1106 * MHZ, 400 * MHZ, 1352 * MHZ)
    assert gpu.dispatch_active_s > 0.0
    assert seen.duration_s == unseen.duration_s
    jobs = len(stream.events)  # each submitted to an idle GPU after the thread's wait
    assert seen.gpu_busy_s == pytest.approx(unseen.gpu_busy_s + jobs * gpu.dispatch_active_s)
    starts_before = seen.kernels[:, 0] - unseen.kernels[:, 0]
    assert np.allclose(starts_before, -gpu.dispatch_active_s)


@pytest.mark.parametrize(
    ("profile", "build"),
    [
        ("pixel7", lambda model: layer_stream(model, 1, 200)),  # every product waited for (queue of 2)
        ("sm8550", lambda model: graph_stream(model, 1, 200, runtime_named("opencl-adreno"))),  # one wait a token
    ],
)
def test_a_unit_stretched_by_a_shared_core_lasts_what_its_schedule_at_the_slower_cpu_says(profile, build):
    # a system burst on the thread's core: the unit's duration to first order in the share lost (the critical
    # path's CPU work, or the thread's own work done serially), against the exact schedule at that share of the
    # clock, over CPU clocks from the floor up and GPU clocks from memory- to compute-bound
    phone = VirtualPhone(profile)
    physics = phone.profile.physics
    stream = build(load_model("tinyllama-1.1b-q4")).bind(
        physics.gpu, physics.memory, physics.driver, phone.profile.gpu.queue_depth
    )
    worst = {}
    for cpu_mhz in (595, 1100, 2000, 3000):
        for gpu_mhz in (220, 450, 850):
            base = stream.timing(cpu_mhz * MHZ, gpu_mhz * MHZ, 2000 * MHZ)
            assert 0.0 <= base.cpu_path_s <= base.cpu_run_s * (1 + 1e-12)  # (sums in another order)
            assert base.stretched(1.0) == pytest.approx(base.duration_s)
            for share in (0.95, 0.8, 0.5):
                exact = stream._schedule(cpu_mhz * MHZ * share, gpu_mhz * MHZ, 2000 * MHZ).duration_s
                error = base.stretched(1.0 / share) / exact - 1.0
                worst[share] = max(worst.get(share, 0.0), abs(error))
    print(f"\n{profile}: worst relative error by share {worst}")
    assert worst[0.95] < 0.01 and worst[0.8] < 0.05 and worst[0.5] < 0.15


def test_system_bursts_on_the_inference_core_stretch_its_units_without_scheduling_them_anew(monkeypatch):
    # sm8550's decode is one unit of ~290 kernels a token: a burst sharing the thread's core for one tick
    # stretches the unit (UnitTiming.stretched) rather than scheduling it at a clock no governor set
    from android.emulator.sim import engine, pipeline

    clocks, stretches = [], []
    schedule, stretch = pipeline.KernelStream._schedule, engine.Simulator._burst_stretch
    monkeypatch.setattr(
        pipeline.KernelStream,
        "_schedule",
        lambda self, cpu, gpu, mem: clocks.append(cpu) or schedule(self, cpu, gpu, mem),
    )
    monkeypatch.setattr(
        engine.Simulator, "_burst_stretch", lambda self, *a: stretches.append(stretch(self, *a)) or stretches[-1]
    )
    phone = VirtualPhone("sm8550", seed=1)
    phone.start(LlmRequest(load_model("tinyllama-1.1b-q4"), 8, 2000))
    phone.advance(10.0)
    policy = phone.sim.cpu_policy[phone.sim.foreground.cpu]
    ipc = phone.sim.ipc[policy]
    table = {level * ipc for level in phone.sim.float_tables[policy]}
    assert max(stretches) > 1.05  # bursts did share the core
    assert clocks and set(clocks) <= table
