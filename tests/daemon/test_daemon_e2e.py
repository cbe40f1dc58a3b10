"""End to end on the virtual phone over real adb: `fusegov plan` searches a plan for the phone's profile (G1:
lowest latency at 97% of the stock governors' energy: see BUDGET), the daemon is deployed with it, a ShareGPT
request mix (`sharegpt:N`, the governor's loader) runs through the hint wrapper and the virtual phone's
llama-cli, and is compared with the same requests under the stock governors: TTFT and TPOT from llama.cpp's
own timing lines, energy per token over each inference (prefill and decode) as the governor counts it on a
phone (governor.phone.phone_power_w): the whole phone's power, i.e. the ODPM rails sample by sample plus
what they do not meter (the fuel gauge minus the rails, averaged over the whole series). The rails alone
miss a steady draw (PMIC losses, sensors...) that a faster run pays for a shorter time, which made a plan
that saves the battery energy look like it cost more.

Each inference is placed on the phone's CLOCK_MONOTONIC by the wrapper's `decode` hint (sent at the first
generated token): it runs from there minus TTFT to there plus the decode time. The wrapper's whole window
(its `prefill` to its `idle` hint) also holds process start and exit, which the served phone stretches
(tests.daemon.conftest.SPEED times) in simulated time; its energy is printed too, not compared. Stock and
plan take turns request by request, so both meet the same phone temperature (leakage grows with it)."""

from __future__ import annotations

import re
import statistics
import time

import numpy as np
import pandas as pd
import pytest

from android.daemon.config import GuardOptions
from android.soc.power import BATTERY_DIR
from collectors.channels import read_battery_sign
from collectors.trace import power_col
from governor.phone import overlap_s, phone_power_w
from governor.plan import load_plan
from governor.requests import load_requests
from tests.daemon.conftest import MODEL, SPEED, wait_for

pytestmark = pytest.mark.slow

REQUESTS = 5
# A plan's energy per phase is measured at the request mix's mean prompt and decode context; a sample of 5
# requests departs from it. Under the stock governors a short-context decode costs less per token (stock
# clocks follow the lighter attention) while the plan pins one decode setting for every context: in process,
# these 5 requests under the plan at the stock budget read -0.9% energy per token against -3.5% for its
# decode phase, and over adb -0.7%, -0.3% and +0.2% (the CI failure). The plan here aims 3% under stock, so
# the sample has that much room and the test still asks for no more energy than stock.
BUDGET = "97%"
SAMPLE_S = 0.25  # simulated seconds between ODPM samples
PERF = re.compile(
    r"prompt eval time =\s*([0-9.]+) ms /\s*(\d+) tokens.*?eval time =\s*([0-9.]+) ms /\s*(\d+) runs", re.S
)

SAMPLER = f"""
import glob, signal, sys, time
paths = sorted(glob.glob("/sys/bus/iio/devices/iio:device*/energy_value"))
gauge = "{BATTERY_DIR}/current_now", "{BATTERY_DIR}/voltage_now"
samples = []
def stop(signum, frame):
    raise SystemExit
signal.signal(signal.SIGTERM, stop)
try:
    while True:
        total, t_ms = 0, None
        for path in paths:
            for line in open(path).read().splitlines():
                if line.startswith("t="):
                    t_ms = int(line[2:])
                elif "," in line:
                    total += int(line.rsplit(",", 1)[1])
        current_ua, voltage_uv = (int(open(path).read()) for path in gauge)
        samples.append("%d %d %.6f %d %d" % (t_ms, total, time.monotonic(), current_ua, voltage_uv))
        if len(samples) == 1:
            open(sys.argv[1] + ".ready", "w").close()
        time.sleep({SAMPLE_S})
finally:
    open(sys.argv[1], "w").write("\\n".join(samples) + "\\n")
"""


def governor_plan(tmp_path):
    """`fusegov plan` for the daemon phone's profile and model: fusegov's search, G1 at BUDGET of the stock
    energy, the prefill buckets from the ShareGPT request lengths (FUSE's filter); runs kept in memory only."""
    from governor.cli import main

    path = tmp_path / "plan.json"
    argv = ["plan", "--virtual", "pixel7", "--model", MODEL, "--goal", "latency", "--budget", BUDGET, "--no-cache"]
    argv += ["-o", str(path)]
    assert main(argv) == 0
    return load_plan(path)


class PhonePower:
    """The whole phone's power over the sampled series, as the governor measures a phone: ODPM rails per
    interval (their energy counters differenced at the meter's own timestamps) plus the unmetered rest from
    the fuel gauge (governor.phone.phone_power_w)."""

    def __init__(self, samples: np.ndarray, battery_sign: int):
        odpm_t_s, odpm_uws, gauge_t_s = samples[:, 0] / 1e3, samples[:, 1], samples[:, 2]
        gauge_w = battery_sign * samples[:, 3] * samples[:, 4] / 1e12
        keep = np.flatnonzero(np.diff(odpm_t_s) > 0) + 1  # rows where the meter moved on (50 ms read cache)
        self.t_s = odpm_t_s[keep]
        rails_w = np.diff(odpm_uws)[keep - 1] / 1e6 / np.diff(odpm_t_s)[keep - 1]
        frame = pd.DataFrame({power_col("odpm"): rails_w, power_col("total"): np.interp(self.t_s, gauge_t_s, gauge_w)})
        sources = {"odpm": "ODPM rail", "total": "fuel gauge (whole phone)"}
        self.power_w = phone_power_w(frame, sources)

    def energy_between(self, start_s: float, end_s: float) -> float:
        """Joules between two CLOCK_MONOTONIC times."""
        assert self.t_s[0] <= start_s and end_s <= self.t_s[-1], "the power series does not cover the request"
        return float(self.power_w @ overlap_s(self.t_s, start_s, end_s))


def run_request(device, python: str, w: str, hint_dir: str, request: tuple[int, int], model_file: str, log: str):
    """One request through the wrapper: TTFT, TPOT (llama.cpp's timing lines) and where it ran in time."""
    prompt, output = request
    result = device.shell(
        f"{python} {w}/fusegov_hint.py --dir {hint_dir} --n-prompt {prompt} --model {MODEL} --keepalive 5 "
        f"--log {log} --quiet -- llama-cli -m {model_file} -f {w}/prompt-{prompt}.txt -n {output} -no-cnv "
        "--no-display-prompt",
        timeout_s=120,
    )
    assert result.ok, result.stderr
    perf = PERF.search(result.stderr)  # llama.cpp: N prompt tokens, then output - 1 evaluation runs
    assert perf and int(perf.group(2)) == prompt and int(perf.group(4)) == output - 1, result.stderr
    hints = [line.split(" ", 1) for line in device.read(log).splitlines()]
    assert [h for _, h in hints] == [f"prefill {prompt} model={MODEL}", f"decode model={MODEL}", "idle"]
    ttft_s, decode_s = float(perf.group(1)) / 1e3, float(perf.group(3)) / 1e3
    first_token_s = float(hints[1][0])
    return {
        "prompt": prompt,
        "output": output,
        "ttft_s": ttft_s,
        "tpot_s": decode_s / (output - 1),
        "inference": (first_token_s - ttft_s, first_token_s + decode_s),
        "window": (float(hints[0][0]), float(hints[-1][0])),
    }


def run_mix(remote, device, requests, model_file: str) -> dict[str, list[dict]]:
    """Each request under the stock governors (its hints go to a directory no daemon listens on) and under
    the plan (hints to the running daemon), in ABBA order so the phone's slow warming falls on both alike."""
    python, w = remote.python(), remote.workdir
    sampler = device.shell(f"{python} {w}/sampler.py {w}/odpm.txt > /dev/null 2>&1 & echo $!")
    sampler_pid = int(sampler.stdout.split()[-1])
    wait_for(lambda: device.exists(f"{w}/odpm.txt.ready"), "the ODPM sampler to start")
    runs: dict[str, list[dict]] = {"stock": [], "plan": []}
    hint_dir = {"stock": f"{w}/no-daemon", "plan": w}
    for k, request in enumerate(requests):
        for policy in ("stock", "plan") if k % 2 == 0 else ("plan", "stock"):
            log = f"{w}/hints-{policy}-{k}.txt"
            runs[policy].append(run_request(device, python, w, hint_dir[policy], request, model_file, log))
    time.sleep(20 * SAMPLE_S / SPEED)  # let the sampler take a few more samples past the last request
    assert device.shell(f"kill {sampler_pid}").ok
    text = wait_for(lambda: device.exists(f"{w}/odpm.txt") and device.read(f"{w}/odpm.txt"), "the ODPM samples")
    samples = np.array([[float(v) for v in line.split()] for line in text.split("\n") if line])
    power = PhonePower(samples, read_battery_sign(device))
    for run in runs["stock"] + runs["plan"]:
        run["energy_j"] = power.energy_between(*run["inference"])
        run["window_energy_j"] = power.energy_between(*run["window"])
    return runs


def summarise(runs: list[dict]) -> dict:
    tokens = sum(r["prompt"] + r["output"] for r in runs)
    return {
        "ttft_mean_s": statistics.mean(r["ttft_s"] for r in runs),
        "tpot_mean_s": statistics.mean(r["tpot_s"] for r in runs),
        "energy_per_token_j": sum(r["energy_j"] for r in runs) / tokens,
        "window_energy_per_token_j": sum(r["window_energy_j"] for r in runs) / tokens,
    }


def test_plan_beats_stock_end_to_end(remote, device, info, tmp_path, model_file):
    plan = governor_plan(tmp_path)
    requests = load_requests(f"sharegpt:{REQUESTS}").pairs()
    # the watchdog is 3 s of wall time at SPEED 20: a starved wrapper on this busy host must not trip it
    remote.deploy([plan], GuardOptions(watchdog_s=60.0))
    w = remote.workdir
    (tmp_path / "sampler.py").write_text(SAMPLER)
    device.push(tmp_path / "sampler.py", f"{w}/sampler.py")
    for prompt in sorted({p for p, _ in requests}):
        (tmp_path / "prompt.txt").write_text(" ".join(["word"] * (prompt - 1)))  # llama-cli adds BOS
        device.push(tmp_path / "prompt.txt", f"{w}/prompt-{prompt}.txt")

    remote.start()
    runs = run_mix(remote, device, requests, model_file)
    status = remote.status()
    remote.stop()

    hints = [line.split(" ", 1)[1] for line in remote.logs().splitlines() if " hint '" in line]
    expected = [
        f"hint '{h}'"
        for prompt, _ in requests
        for h in (f"prefill {prompt} model={MODEL}", f"decode model={MODEL}", "idle")
    ]
    assert [h.split(" ->")[0] for h in hints] == expected  # the phase log matches the requests
    assert status["watchdog"]["releases"] == 0 and status["thermal"]["releases"] == 0 and not status["failed"]

    before, after = summarise(runs["stock"]), summarise(runs["plan"])
    settings = {p.bucket: plan.pins(p) for p in plan.phases}
    print(f"\n{len(requests)} requests {requests}, {MODEL} on the virtual pixel7; plan: {settings}")
    print(f"  {'policy':<8} {'TTFT mean s':>12} {'TPOT mean ms':>13} {'energy/token mJ':>16} {'(wrapper window)':>17}")
    for name, figures in (("stock", before), ("plan", after)):
        print(
            f"  {name:<8} {figures['ttft_mean_s']:>12.3f} {figures['tpot_mean_s'] * 1e3:>13.1f} "
            f"{figures['energy_per_token_j'] * 1e3:>16.1f} {figures['window_energy_per_token_j'] * 1e3:>17.1f}"
        )
    assert after["ttft_mean_s"] < before["ttft_mean_s"]
    assert after["tpot_mean_s"] < before["tpot_mean_s"]
    assert after["energy_per_token_j"] <= before["energy_per_token_j"]
