"""`fusegov run --plot`: the binned request timeline and its PNG."""

import json
import struct

import numpy as np
import pytest

from android.emulator.phone import VirtualPhone
from android.emulator.sim.request import run_llm_request
from android.emulator.sim.timeline import TimelineRecorder
from governor.cli import main
from tests.helpers.onnx_graphs import conv_net

MODEL = "tinyllama-1.1b-q4"
PIN = {"gpu": 848_000_000, "policy6": 2_401_000_000, "mem": 2_028_000_000}


def _record(pins=None, bin_s=None, prompt=32):
    phone = VirtualPhone("pixel7", seed=1)
    recorder = TimelineRecorder(phone, bin_s)
    result = run_llm_request(phone, MODEL, prompt, 16, pins=pins, observers=[recorder])
    assert recorder not in phone.sim.observers  # handed back once the request is done
    return result, recorder.timeline()


@pytest.fixture(scope="module")
def stock():
    return _record()


def _png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", "not a PNG"
    return struct.unpack(">II", data[16:24])


def test_binned_means_match_the_runs_own_accounting(stock):
    result, tl = stock
    assert tl.bin_s == pytest.approx(0.004) and tl.duration_s == pytest.approx(result.duration_s, rel=1e-9)
    assert tl.covered_s.sum() == pytest.approx(result.duration_s, rel=1e-9)
    for timeline in (tl, tl.rebinned(5)):  # the tick-sized bins and the 20 ms ones
        for knob in ("gpu", "mem", "policy6"):
            assert timeline.mean_freq_hz(knob) == pytest.approx(result.mean_freq_hz[knob], rel=0.01)
            for phase in ("prefill", "decode"):
                assert timeline.mean_freq_hz(knob, phase) == pytest.approx(
                    result.phases[phase].mean_freq_hz[knob], rel=0.01
                )
        energy_j = np.nansum(timeline.total_w * timeline.covered_s)
        assert energy_j == pytest.approx(result.energy_j, rel=0.01)
        busy_s = np.nansum(timeline.gpu_util * timeline.phase_s["decode"])
        assert busy_s / timeline.phase_s["decode"].sum() == pytest.approx(result.phases["decode"].gpu_util, abs=0.01)


def test_steps_across_bin_edges_are_split_by_time():
    result, tl = _record(bin_s=0.0107)  # not a multiple of the 4 ms step: many steps straddle an edge
    assert tl.mean_freq_hz("gpu") == pytest.approx(result.mean_freq_hz["gpu"], rel=0.01)
    inside = tl.covered_s[:-1]
    assert np.allclose(inside, 0.0107, rtol=1e-6)  # every bin but the last is fully covered, none twice


def test_stock_gpu_sits_in_the_lower_half_in_decode_as_the_run_reports():
    # after a ShareGPT-length prompt, as FUSE measured (a short context leaves the GPU busier, a level higher)
    result, tl = _record(prompt=232)
    tl = tl.rebinned(5)
    table = tl.table_hz["gpu"]
    lower = tl.freq_hz["gpu"] <= table[(len(table) - 1) // 2] * (1 + 1e-9)  # a bin's mean, rounded, at the level
    share = tl.phase_s["decode"][lower].sum() / tl.phase_s["decode"].sum()
    reported = result.phases["decode"].time_in_lower_half["gpu"]
    assert share > 0.5 and reported > 0.5
    assert share == pytest.approx(reported, abs=0.1)  # 20 ms bins blur the edges of a step down
    assert [s.phase for s in tl.phases] == ["prefill", "decode"]
    assert tl.phases[0].start_s == pytest.approx(0.0, abs=1e-9)
    assert tl.phases[-1].end_s == pytest.approx(result.duration_s)
    assert tl.phases[1].start_s == pytest.approx(result.ttft_s, abs=1e-6)


def test_pinned_clocks_are_flat_at_the_pin():
    _, tl = _record(pins=PIN)
    for knob, freq_hz in PIN.items():
        freq = tl.freq_hz[knob]
        assert not np.isnan(freq).any()
        assert np.allclose(freq, freq_hz, rtol=1e-9), knob  # min = max: no governor moves it


@pytest.mark.slow
def test_run_plot_writes_a_png(tmp_path, capsys):
    path = tmp_path / "plots" / "stock.png"
    assert (
        main(
            [
                "run",
                "--virtual",
                "pixel7",
                "--workload",
                f"llm:{MODEL}",
                "--prompt",
                "16",
                "--decode",
                "8",
                "--plot",
                str(path),
            ]
        )
        == 0
    )
    assert f"wrote {path}" in capsys.readouterr().out
    width, height = _png_size(path)
    assert 800 <= width <= 2000 and 600 <= height <= 1600
    import matplotlib.image

    pixels = matplotlib.image.imread(path)[..., :3]
    green = np.all(np.abs(pixels - np.array([0x2C, 0xA0, 0x2C]) / 255) < 0.02, axis=-1)  # the GPU's lines
    assert green.sum() > 1000


def test_run_plot_with_json_keeps_stdout_json(tmp_path, capsys):
    path = tmp_path / "cnn.png"
    model = conv_net(tmp_path / "net.onnx")
    assert (
        main(["run", "--virtual", "sm8550", "--workload", f"cnn:{model}", "--runs", "5", "--json", "--plot", str(path)])
        == 0
    )
    captured = capsys.readouterr()
    assert json.loads(captured.out)["runs"] == 5 and f"wrote {path}" in captured.err
    assert _png_size(path)[0] >= 800


def test_bad_plot_path_is_one_clear_line_before_any_simulation(tmp_path, capsys):
    cases = [(str(tmp_path / "timeline.svg"), "--plot writes a PNG"), (str(tmp_path), "--plot writes a PNG")]
    (tmp_path / "dir.png").mkdir()
    cases.append((str(tmp_path / "dir.png"), "is a directory"))
    for plot, message in cases:
        assert main(["run", "--virtual", "pixel7", "--workload", f"llm:{MODEL}", "--plot", plot]) == 1
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert err.startswith("fusegov run: error: ") and message in err
