"""`fusegov run`: one request on the virtual phone, as a summary or one JSON object."""

import json

from governor.cli import main
from tests.helpers.onnx_graphs import conv_net


def test_run_llm_json_has_the_documented_keys(capsys):
    code = main(
        [
            "run",
            "--virtual",
            "pixel7",
            "--workload",
            "llm:tinyllama-1.1b-q4",
            "--prompt",
            "16",
            "--decode",
            "8",
            "--pin",
            "gpu=848MHz,policy6=2401MHz,mem=2028MHz",
            "--seed",
            "3",
            "--json",
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert {"ttft_s", "tpot_s", "energy_per_token_j", "mean_power_w", "mean_freq_hz"} <= set(out)
    assert set(out["energy_per_token_j"]) == {"prefill", "decode"}
    assert out["mean_freq_hz"]["gpu"] == 848_000_000 and out["mean_freq_hz"]["mem"] == 2_028_000_000
    assert "S2S_VDD_G3D" in out["mean_power_w"] and out["mean_power_w"]["total"] > 1.0
    assert out["seed"] == 3 and out["pins_hz"]["policy6"] == 2_401_000_000
    assert 0.1 < out["tpot_s"] < 0.15


def test_run_summary_and_cnn(capsys, tmp_path):
    assert main(["run", "--virtual", "pixel4", "--workload", "llm:qwen-1.5b-q4", "--prompt", "8", "--decode", "4"]) == 0
    text = capsys.readouterr().out
    assert "TTFT" in text and "TPOT" in text and "stock governors" in text and "mean frequency per knob" in text
    model = conv_net(tmp_path / "net.onnx")
    assert main(["run", "--virtual", "sm8550", "--workload", f"cnn:{model}", "--runs", "5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["runs"] == 5 and out["latency_s"] > 0 and out["mean_freq_hz"]["gpu"] > 0


def test_run_bad_input_is_one_clear_line(capsys, tmp_path):
    fake = tmp_path / "fake.onnx"
    fake.write_text("hello")
    cases = [
        (["--workload", f"cnn:{fake}"], "is not an ONNX model"),
        (["--workload", "llm:tinyllama-1.1b-q4", "--pin", "gpu=849MHz"], "849 MHz is not one of its frequencies"),
        (["--workload", "llm:tinyllama-1.1b-q4", "--pin", "npu=1GHz"], "no knob 'npu'"),
        (["--workload", "tinyllama"], "bad --workload"),
        (["--workload", "llm:tinyllama-1.1b-q4", "--serial", "abc"], "virtual phone only"),
    ]
    for extra, message in cases:
        assert main(["run", "--virtual", "pixel7", *extra]) == 1
        err = capsys.readouterr().err
        assert err.strip().splitlines()[-1].startswith("fusegov run: error: ") and message in err
