"""`fusegov demo`: the README's first command. The quick demo runs once through the CLI entry point (slow
tier); its report is checked against what the steps measured, and that against the files the steps wrote
(the trace, the power model, the plans), and the plots must be real PNGs. The fast tier checks that bad
options stop before any work with the option named."""

from __future__ import annotations

import contextlib
import io
import json
import re
import struct
from pathlib import Path

import pytest

from governor.cli import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def quick_demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "report"
    code, stdout, stderr = run_cli("demo", "--quick", "--out", str(out))
    assert code == 0, stderr
    return out, stdout, stderr, json.loads((out / "demo.json").read_text())


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert data[12:16] == b"IHDR", f"{path}: no IHDR chunk first"
    return struct.unpack(">II", data[16:24])


def numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"[-+]?\d+(?:\.\d+)?", text)]


def close(shown: float, value: float, decimals: int) -> bool:
    """A figure printed with `decimals` decimals is the value rounded."""
    return abs(shown - value) <= 0.5 * 10**-decimals + 1e-9


@pytest.mark.slow
def test_quick_demo_prints_each_step_and_the_side_by_side_table(quick_demo):
    out, stdout, stderr, results = quick_demo
    for k in range(1, 6):
        assert f"[{k}/5]" in stderr, f"no progress line for step {k}"
        assert re.search(rf"^{k}\. ", stdout, re.M), f"no result line for step {k}"
    table = stdout[stdout.index("4. replay") :]
    for name, policy in results["replay"]["policies"].items():
        row = next(line for line in table.splitlines() if line.split()[:1] == [name])
        ttft, _, tpot = numbers(row)[:3]
        assert close(ttft, policy["ttft_mean_s"], 3) and close(tpot, policy["tpot_mean_s"] * 1e3, 1), row
        assert str(policy["measurements"]) in row.split()
    assert f"report: {out / 'report.md'}" in stdout
    # the power model line names its held-out error, the baseline's and the counters it chose
    fit = results["fit"]
    line = next(line for line in stdout.splitlines() if line.startswith("2. "))
    assert f"{fit['model_mape_pct']:.2f}%" in line and f"{fit['baseline_mape_pct']:.2f}%" in line
    assert all(c.partition(".")[2] in line for c in fit["counters"])


@pytest.mark.slow
def test_report_figures_are_the_measured_ones(quick_demo):
    from governor.demo.report import TABLE_COLUMNS

    out, _, _, results = quick_demo
    report = (out / "report.md").read_text()
    rows, changes = {}, {}  # a policy's row in the side-by-side table, then in the table of changes vs stock
    for line in report.splitlines():
        if line.startswith("| "):
            name = line.split("|")[1].strip()
            (changes if name in rows else rows)[name] = line
    policies = results["replay"]["policies"]
    for name, policy in policies.items():
        shown = numbers(rows[name].split("|", 2)[2])
        assert len(shown) == len(TABLE_COLUMNS)
        for value, (header, key, scale, decimals) in zip(shown, TABLE_COLUMNS):
            assert close(value, policy[key] * scale, decimals), (
                f"{name} {header}: report {value}, measured {policy[key]}"
            )
        keys = ("ttft_mean_s", "tpot_mean_s", "energy_per_token_j")
        for value, key in zip(numbers(changes[name].split("|", 2)[2]), keys, strict=True):
            assert close(value, (policy[key] / policies["stock"][key] - 1) * 100, 1), f"{name} {key} vs stock"
    fit = results["fit"]
    for workload, row in fit["per_workload"].items():
        n, model, base = numbers(rows[workload].split("|", 2)[2])
        assert n == row["n"] and close(model, row["model_mape_pct"], 2) and close(base, row["baseline_mape_pct"], 2)
    assert f"held-out MAPE {fit['model_mape_pct']:.2f}%" in report
    plans = results["plan"]["plans"]
    assert f"fusegov spent {plans['fusegov']['measurements']} measurements" in report
    assert f"FUSE {plans['fuse']['measurements']} (" in report
    collected = results["collect"]
    assert f"{collected['samples']} samples" in report
    for name, t in results["timeline"]["policies"].items():
        assert f"{name} TTFT {t['ttft_s']:.2f} s, TPOT {t['tpot_s'] * 1e3:.1f} ms, {t['energy_j']:.1f} J" in report


@pytest.mark.slow
def test_step_results_are_the_files_the_steps_wrote(quick_demo):
    import numpy as np

    from collectors.trace import read_trace
    from governor.plan import load_plan
    from powermodel.export import load_model

    out, _, _, results = quick_demo
    collected, fit, plans = results["collect"], results["fit"], results["plan"]["plans"]
    frame, meta = read_trace(out / collected["trace"])
    assert len(frame) == collected["samples"] and sorted(frame["workload"].unique()) == sorted(collected["workloads"])
    assert sorted(np.unique(frame["freq.gpu_hz"]).astype(int)) == sorted(collected["gpu_freqs_hz"])
    assert {"prefill", "decode", "inference"} <= set(collected["samples_per_phase"])
    model = load_model(out / fit["model"])
    assert model.doc["selection"]["counters"] == fit["counters"]
    assert set(fit["held_out"]) == set(fit["per_workload"]) and not set(fit["held_out"]) & set(
        model.doc["split"]["train"]
    )
    for name, summary in results["replay"]["policies"].items():
        plan = load_plan(out / plans[name]["plan"])
        assert plan.search["measurements"] == summary["measurements"] == plans[name]["measurements"]
        assert plan.search["name"] == name
    # replaying the saved fusegov plan again gives the figures the report shows
    from governor.measure import VirtualMeasurer
    from governor.replay import replay, summarise
    from governor.requests import load_requests

    measurer = VirtualMeasurer(results["profile"], results["model"], seed=results["seed"])
    again = summarise(
        replay(measurer, load_plan(out / plans["fusegov"]["plan"]), load_requests(results["replay"]["requests"]))
    )
    shown = results["replay"]["policies"]["fusegov"]
    assert again.ttft_mean_s == pytest.approx(shown["ttft_mean_s"], rel=1e-5)
    assert again.energy_per_token_j == pytest.approx(shown["energy_per_token_j"], rel=1e-5)


@pytest.mark.slow
def test_plots_are_pngs_the_report_links(quick_demo):
    out, _, _, results = quick_demo
    report = (out / "report.md").read_text()
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report)
    expected = {
        results["collect"]["plot"],
        results["replay"]["plot"],
        *results["fit"]["plots"],
        *(t["plot"] for t in results["timeline"]["policies"].values()),
    }
    assert sorted(linked) == sorted(expected) and results["fit"]["plots"]  # each plot linked once
    for name in linked:
        width, height = png_size(out / name)
        assert width >= 500 and height >= 400, f"{name}: {width}x{height}"
        assert (out / name).stat().st_size > 10_000, f"{name}: too small to hold a plot"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--profile", "pixel99"), "--profile pixel99"),
        (("--model", "cnn:mobilenetv2"), "not an LLM"),
        (("--model", "gpt-17"), "--model gpt-17"),
    ],
)
def test_bad_options_stop_before_any_work(tmp_path, argv, message):
    code, stdout, stderr = run_cli("demo", "--quick", "--out", str(tmp_path / "out"), *argv)
    assert code == 1 and stderr.startswith("fusegov demo: error: ") and message in stderr, stderr
    assert "[1/5]" not in stderr and not any((tmp_path / "out").iterdir())


def test_out_must_be_a_writable_directory(tmp_path):
    occupied = tmp_path / "file"
    occupied.write_text("")
    code, _, stderr = run_cli("demo", "--quick", "--out", str(occupied))
    assert code == 1 and "fusegov demo: error: --out" in stderr and "is a file" in stderr


def test_thermal_caps_during_pins_are_gathered_into_one_line(caplog):
    """A replay on a hot phone pins many times under a cooling device's cap; the demo counts the knob
    controller's warnings by knob instead of printing one line per pin."""
    from android.knobs import KnobController, thermal_caps
    from android.probe import probe_device
    from android.virtual import VirtualDevice
    from governor.demo.steps import caps_line

    device = VirtualDevice("pixel7")
    knobs = KnobController(device, probe_device(device))
    device.phone.knobs["policy6"].thermal_cap_hz = 1_826_000_000
    with caplog.at_level("WARNING", logger="fusegov.knobs"), thermal_caps() as caps:
        for freq_hz in (2_850_000_000, 2_802_000_000, 2_704_000_000):
            knobs.pin("policy6", freq_hz)  # each read back capped at 1826 MHz: one warning per pin
        knobs.pin("gpu", 848_000_000)  # not capped
    assert dict(caps) == {"policy6": 3}
    assert not caplog.records  # gathered, not printed
    assert caps_line(caps) == (
        "the phone's thermal framework capped pinned knobs: policy6 (3 pins); the figures include the throttling"
    )
    assert caps_line({}) is None
    knobs.pin("policy6", 2_850_000_000)  # after the step the warnings go out as before
    assert any("throttles it" in r.getMessage() for r in caplog.records)
