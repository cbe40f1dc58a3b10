"""CNN inference through ONNX Runtime's `onnxruntime_perf_test` on the phone."""

from __future__ import annotations

import shlex
from pathlib import Path

from collectors.errors import CollectorError
from collectors.runners import Runner, RunResult
from collectors.runners.timings import parse_ort_perf

DEFAULT_BIN = "onnxruntime_perf_test"
MODEL_DIR = "/data/local/tmp/fusegov/models"


class CnnRunner(Runner):
    kind = "cnn"

    @staticmethod
    def check(spec) -> None:
        if not spec.target:
            raise CollectorError(f"--workload {spec.text!r}: name the ONNX model (cnn:mobilenetv2 or cnn:/path/m.onnx)")

    def __init__(self, spec, sampler_path):
        super().__init__(spec, sampler_path)
        self.binary = spec.options.get("bin", DEFAULT_BIN)
        self.runs = self._int("runs", 50)
        self.model_path = spec.target

    def prepare(self, device) -> None:
        target = self.model_path
        local = Path(target)
        if not target.startswith("/data/") and not target.startswith("/sdcard/"):
            from android.emulator.sim import cnn_zoo
            from android.errors import WorkloadError

            try:
                local = cnn_zoo.resolve_onnx(target)
            except WorkloadError as exc:
                raise CollectorError(f"--workload {self.spec.text!r}: {exc}") from None
            if local.is_file():
                remote = f"{MODEL_DIR}/{local.name}"
                device.shell(f"mkdir -p {MODEL_DIR}")
                device.push(local, remote)
                self.model_path = remote
        check = device.shell(f"command -v {shlex.quote(self.binary)} || test -x {shlex.quote(self.binary)}")
        if not check.ok:
            raise CollectorError(
                f"{device.name}: {self.binary!r} not found on the phone: push ONNX Runtime's onnxruntime_perf_test "
                "and give bin=PATH"
            )
        if not device.exists(self.model_path):
            raise CollectorError(f"{device.name}: model file {self.model_path} not found on the phone")

    def run(self, device, budget_s: float | None = None) -> RunResult:
        # with a budget, ONNX Runtime's own duration mode (whole seconds, at least one)
        mode = (
            ["-m", "times", "-r", str(self.runs)]
            if budget_s is None
            else ["-m", "duration", "-t", str(max(1, int(budget_s)))]
        )
        argv = [self.binary, *mode, "-I", self.model_path]
        start, end, status, out, err, _ = self._marked(device, argv)
        summary = parse_ort_perf(out + "\n" + err)
        if status != 0 or "mean_s" not in summary:
            tail = "\n".join((out + "\n" + err).strip().splitlines()[-3:])
            raise CollectorError(f"{device.name}: {self.binary} failed (status {status}): {tail}")
        loaded = start + summary.get("session_s", 0.0)
        metrics = {"latency_s": summary["mean_s"], "runs": summary.get("requests", float(self.runs))}
        return RunResult([(start, loaded, "load"), (loaded, end, "inference")], metrics, out)
