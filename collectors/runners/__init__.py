"""Workload runners: run one workload on a device and say when each phase happened, on the device's clock.

A workload SPEC is `KIND:TARGET[,key=value...]`:
- `llm:MODEL[,bin=PATH][,prompt=N][,decode=N]`: llama.cpp's CLI (`bin`, default `llama-cli`) on the GGUF
  file MODEL on the phone (a built-in model name pushes its fusegov description, which only the virtual
  phone's llama-cli reads); phases load, prefill, decode from the timing summary; TTFT and TPOT.
- `cnn:MODEL[,bin=PATH][,runs=N]`: `onnxruntime_perf_test -m times -r N` on an .onnx file on the phone (a
  built-in network name or a host .onnx path is pushed first); phases load, inference.
- `idle:SECONDS`: nothing runs (a baseline).
Registry: RUNNERS (kind -> class).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import NamedTuple

from android.device import Device
from collectors.errors import CollectorError

TIMED_OUT = 124  # exit status of toybox's `timeout` when it stopped the command


@dataclass
class WorkloadSpec:
    kind: str
    target: str
    options: dict[str, str] = field(default_factory=dict)
    text: str = ""

    @property
    def name(self) -> str:
        """The trace's `workload` label: `label=` if given, else the spec as written."""
        return self.options.get("label") or self.text


@dataclass
class RunResult:
    """When each phase ran (device CLOCK_MONOTONIC seconds) and what the workload reported."""

    phases: list[tuple[float, float, str]]  # (start, end, label)
    metrics: dict[str, float]
    output: str = ""


def parse_spec(text: str) -> WorkloadSpec:
    kind, sep, rest = str(text).strip().partition(":")
    kind = kind.strip().lower()
    if kind not in RUNNERS:
        raise CollectorError(
            f"--workload {text!r}: unknown kind {kind!r}; use one of {', '.join(RUNNERS)} (KIND:TARGET)"
        )
    parts = rest.split(",") if rest else []
    target = parts[0].strip() if parts else ""
    options = {}
    for part in parts[1:]:
        key, eq, value = part.partition("=")
        if not eq or not key.strip():
            raise CollectorError(f"--workload {text!r}: option {part!r} is not key=value")
        options[key.strip()] = value.strip()
    spec = WorkloadSpec(kind, target, options, str(text).strip())
    RUNNERS[kind].check(spec)
    return spec


class Marked(NamedTuple):
    """A command run between marks on the phone's clock (seconds)."""

    start: float
    end: float
    status: int
    stdout: str
    stderr: str
    output: float | None = None  # when its stdout first arrived (None: no output, or not observed)


class Runner:
    kind = ""

    def __init__(self, spec: WorkloadSpec, sampler_path: str):
        self.spec = spec
        self.sampler_path = sampler_path  # the sampler on the device, whose `exec` mode marks start and end

    @staticmethod
    def check(spec: WorkloadSpec) -> None:
        """Reject a malformed spec before anything runs."""

    def prepare(self, device: Device) -> None:
        """Push what the workload needs and check its binary and inputs are on the phone."""

    def run(self, device: Device, budget_s: float | None = None) -> RunResult:
        """One run; with `budget_s`, stopped (phases kept) once that much device time has passed."""
        raise NotImplementedError

    def _int(self, key: str, default: int, low: int = 1) -> int:
        value = self.spec.options.get(key, str(default))
        if not value.isdigit() or int(value) < low:
            raise CollectorError(f"--workload {self.spec.text!r}: {key} must be an integer >= {low}, got {value!r}")
        return int(value)

    def _marked(self, device: Device, argv: list[str], timeout_s: float | None = None) -> Marked:
        """Run argv on the phone between start/end marks.
        On the in-process virtual phone simulated time stands still between commands, so its clock is read
        directly around the command; elsewhere the sampler's `exec` mode takes CLOCK_MONOTONIC on the phone."""
        phone = getattr(device, "phone", None)
        if phone is not None:
            start = phone.state.uptime_s
            result = device.shell(" ".join(shlex.quote(a) for a in argv), timeout_s=timeout_s)
            return Marked(start, phone.state.uptime_s, result.exit_code, result.stdout, result.stderr)
        command = f"python3 {shlex.quote(self.sampler_path)} exec -- " + " ".join(shlex.quote(a) for a in argv)
        result = device.shell(command, timeout_s=timeout_s)
        start = end = output = None
        status = result.exit_code
        lines = []
        for line in result.stdout.splitlines():
            if line.startswith("#fusegov-mark start "):
                start = int(line.split()[2]) / 1e9
            elif line.startswith("#fusegov-mark output "):
                output = int(line.split()[2]) / 1e9
            elif line.startswith("#fusegov-mark end "):
                parts = line.split()
                end, status = int(parts[2]) / 1e9, int(parts[3])
            else:
                lines.append(line)
        if start is None or end is None:
            raise CollectorError(
                f"{device.name}: could not run {argv[0]} under the sampler's marks: "
                f"{(result.stderr or result.stdout).strip()[:300]}"
            )
        return Marked(start, end, status, "\n".join(lines), result.stderr, output)


from collectors.runners.cnn import CnnRunner  # noqa: E402  (the runners import Runner from here)
from collectors.runners.idle import IdleRunner  # noqa: E402
from collectors.runners.llm import LlmRunner  # noqa: E402

RUNNERS: dict[str, type[Runner]] = {cls.kind: cls for cls in (LlmRunner, CnnRunner, IdleRunner)}


def make_runner(spec: WorkloadSpec, sampler_path: str) -> Runner:
    return RUNNERS[spec.kind](spec, sampler_path)
