"""`idle:SECONDS`: the phone does nothing the collector started (a baseline to compare against)."""

from __future__ import annotations

from collectors.errors import CollectorError
from collectors.runners import Runner, RunResult


class IdleRunner(Runner):
    kind = "idle"

    @staticmethod
    def check(spec) -> None:
        try:
            seconds = float(spec.target or "1")
        except ValueError:
            seconds = -1.0
        if not seconds > 0:
            raise CollectorError(f"--workload {spec.text!r}: idle needs a positive number of seconds (idle:2)")

    def run(self, device, budget_s: float | None = None) -> RunResult:
        seconds = float(self.spec.target or "1")
        seconds = seconds if budget_s is None else min(seconds, budget_s)
        start, end, status, out, err, _ = self._marked(device, ["sleep", f"{seconds:g}"])
        return RunResult([(start, end, "idle")], {"duration_s": end - start}, out)
