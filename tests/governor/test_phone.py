"""The phone backend over real adb against `fusegov emulate` (a differently shaped phone, hexa6, served 20x
faster than real time): llama.cpp's CLI run through the collectors with the setting pinned, TTFT/TPOT from
its timing summary, energy per token from the trace's whole-phone power over the phase; the same figures
as the in-process measurement of the same phone, within what separates two runs; knobs put back; and
`fusegov plan --serial` -> `fusegov deploy` -> `fusegov hint`: the daemon pins the plan's setting."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from android.adb import AdbDevice
from android.knobs import KnobController
from android.probe import probe_device
from governor.measure import VirtualMeasurer
from governor.phases import llm_buckets
from governor.phone import PhoneMeasurer
from governor.plan import check_device, load_plan
from governor.requests import load_requests
from governor.space import ConfigSpace, Setting
from tests.daemon.conftest import pinned_values, wait_for
from tests.governor.conftest import HEXA6, TINYLLAMA
from tests.helpers.adb import REGISTRY, REPO

pytestmark = pytest.mark.slow
SPEED = "20"
WORKDIR = "/data/local/tmp/fg-test-phone"
STOCK_RUNS = 3
AGREE = 0.15  # the emulator's runs and the in-process runs differ by their random draws and process start-up


@pytest.fixture(scope="module")
def phone(adb_server):
    emulator = REGISTRY.emulator(adb_server, HEXA6, "--speed", SPEED)
    with AdbDevice(emulator.serial, adb_port=adb_server.port) as device:
        yield device


@pytest.fixture(scope="module")
def short_csv(tmp_path_factory):
    """ShareGPT requests with prompts of at most 32 tokens: short prefills keep the runs cheap."""
    path = tmp_path_factory.mktemp("requests") / "short.csv"
    rows = [(p, o) for p, o in load_requests("sharegpt").pairs() if p <= 32][:200]
    path.write_text("prompt_tokens,output_tokens\n" + "".join(f"{p},{o}\n" for p, o in rows))
    return path


@pytest.fixture(scope="module")
def buckets(short_csv):
    return llm_buckets(load_requests(str(short_csv)), count=1, decode_tokens=8)


def agrees(over_adb: list[float], in_process: float) -> bool:
    """The in-process figure inside the adb runs' 95% interval of the mean (Student's t; one run: none),
    widened by AGREE for what the two ways of running differ in."""
    runs = np.asarray(over_adb)
    half = stats.t.ppf(0.975, len(runs) - 1) * runs.std(ddof=1) / np.sqrt(len(runs)) if len(runs) > 1 else 0.0
    return abs(runs.mean() - in_process) <= half + AGREE * in_process


@pytest.mark.xfail(
    strict=False,
    reason="remaining gap on a heavily loaded host (issues 9/13): at --speed 20 with load average 7-10 on 2 cores, "
    "the pinned prefill's adb energy still read 17-28% low in 2 of 8 runs (main: 5 of 5, 22-57% low, same load): "
    "a starved sampler's meter readings are ~0.5 s of phone time apart and a starved wrapper marks llama's output "
    "late; at load 10 a focused repro read -6..+1% in 10 of 10",
)
def test_phone_runs_match_the_in_process_phone_and_restore_the_knobs(phone, buckets):
    """A pinned setting runs alike every time; the stock governors do not (their ramps follow the served
    phone's timing), so stock is run STOCK_RUNS times and compared through its spread."""
    info = probe_device(phone)
    controller = KnobController(phone, info)
    before = controller.snapshot(list(info.knobs))
    measurer = PhoneMeasurer(phone, TINYLLAMA)
    virtual = VirtualMeasurer(HEXA6, TINYLLAMA)
    assert measurer.space.tables() == virtual.space.tables()
    top = Setting.of({k.name: k.max_hz for k in measurer.space.primary})
    print()
    for bucket in buckets:
        for setting, runs in ((Setting(), STOCK_RUNS), (top, 1)):
            over_adb = [measurer.run(setting, bucket) for _ in range(runs)]
            in_process = virtual.run(setting, bucket)
            latency_s = [s.latency_s for s in over_adb]
            energy_j = [s.energy_per_token_j for s in over_adb]
            print(
                f"  {bucket.name:<12} {setting.label()[:40]:<40} adb {np.mean(latency_s):.4f} s "
                f"{np.mean(energy_j):.4f} J/token (of {runs}); in process {in_process.latency_s:.4f} s "
                f"{in_process.energy_per_token_j:.4f} J/token; {over_adb[0].device_time_s:.1f} s of phone time"
            )
            assert agrees(latency_s, in_process.latency_s)
            assert agrees(energy_j, in_process.energy_per_token_j)
            assert all(s.mean_freq_hz["gpu"] > 0 for s in over_adb)
            if setting == top:
                assert over_adb[0].mean_freq_hz["gpu"] == pytest.approx(top.get("gpu"))  # pinned, held
    assert controller.snapshot(list(info.knobs)) == before


def fusegov(adb_server, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "governor.cli", *args],
        cwd=REPO,
        env=adb_server.env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_plan_over_adb_then_deploy_pins_the_plans_setting(adb_server, phone, short_csv, tmp_path):
    """`fusegov plan --serial` (fusegov's search on the phone, a small budget) writes a plan that `fusegov
    deploy` takes for this phone; a prefill hint pins the plan's setting for that bucket; stop restores."""
    info = probe_device(phone)
    controller = KnobController(phone, info)
    before = controller.snapshot(list(info.knobs))
    serial, port, path = phone.serial, str(adb_server.port), tmp_path / "plan.json"
    out = fusegov(
        adb_server,
        "plan",
        "--serial",
        serial,
        "--adb-port",
        port,
        "--model",
        TINYLLAMA,
        "--requests",
        str(short_csv),
        "--budget",
        # a loose budget: some setting beats stock within 10 runs, so the plan pins knobs to check. At 120% a CI run
        # under load kept stock in every bucket: over a starved adb link one run's energy can read 20-50% off
        "200%",
        "--stock-repeats",
        "1",
        "--max-measurements",
        "10",
        "-o",
        str(path),
    )
    assert out.returncode == 0, out.stderr
    print(out.stdout)
    plan = load_plan(path)
    assert plan.device["name"] == info.name and plan.search["measurements"] <= 10
    check_device(plan, ConfigSpace.from_device(info))
    assert controller.snapshot(list(info.knobs)) == before  # the search put every knob back

    where = ["--serial", serial, "--dir", WORKDIR]
    out = fusegov(adb_server, "deploy", *where, str(path), "--watchdog", "600")
    assert out.returncode == 0 and "deployed to" in out.stdout, out.stderr
    try:
        assert fusegov(adb_server, "start", *where).returncode == 0
        bucket = next(p for p in plan.phases if p.phase == "prefill" and plan.pins(p))  # one that pins knobs
        expected = plan.pins(bucket)
        assert fusegov(adb_server, "hint", *where, "prefill", str(bucket.max_prompt_tokens)).returncode == 0
        status = wait_for(
            lambda: (
                (s := json.loads(fusegov(adb_server, "status", *where, "--json").stdout))["phase"] == "prefill" and s
            ),
            "the prefill hint",
        )
        print(f"  {bucket.bucket}: plan {expected}, daemon pinned {status['pinned_hz']}")
        assert status["pinned_hz"] == expected
        assert pinned_values(controller, sorted(expected)) == {k: (f, f) for k, f in expected.items()}
    finally:
        assert fusegov(adb_server, "stop", *where).returncode == 0
    assert controller.snapshot(list(info.knobs)) == before


def test_a_missing_llama_cli_is_named(adb_server, phone, short_csv, tmp_path):
    args = ["plan", "--serial", phone.serial, "--adb-port", str(adb_server.port), "--model", TINYLLAMA]
    out = fusegov(
        adb_server, *args, "--requests", str(short_csv), "--llama-cli", "/data/local/tmp/nope", "-o", "p.json"
    )
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "fusegov plan: error:" in out.stderr and "/data/local/tmp/nope" in out.stderr and "not found" in out.stderr
