"""Measuring on a phone through adb: llama.cpp's CLI run by the collectors, at a setting pinned on the phone.

`PhoneMeasurer` implements measure.Measurer over `collectors.collect.collect`: for each run it pins the
setting (android.knobs.pinned, restored afterwards, also on Ctrl-C or SIGTERM), starts the on-device sampler,
runs llama.cpp's CLI (collectors.runners.llm: the phases from its timing summary) and decodes the trace.
- Latency: TTFT or TPOT from llama.cpp's own timing summary (`workload_runs` in the collection's metadata).
- Energy per token: the phone's power integrated over the measured phase's time (each row weighted by how much
  of its interval lies in the phase, so a short prefill that few samples cover still counts whole), over the
  phase's tokens. The ODPM rails follow a phase (50 ms); the fuel gauge sees the whole phone but
  smooths over seconds, so the rails' sum is taken row by row and what they do not meter (the fuel gauge
  minus the rails, averaged over the whole collection) is added as a constant. Without a fuel gauge, the
  rails alone; without rails, the fuel gauge alone.
- Device time: the phone's CLOCK_MONOTONIC from the collection's first sample to its last.

The service protocol of measure.py, as a phone does it: a prefill is measured after a short request
(PRELUDE_TOKENS of prompt and of decode) and REQUEST_GAP_S of idling, at the same setting; a decode is the
decode of a request whose prompt sets the context, right after its own prefill. Runs follow each other back
to back, so the phone is as warm as when it serves requests. Nothing is cached: a phone's runs are not a
function of their setting alone.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from android.errors import FusegovError
from governor.errors import GovernorError
from governor.measure import PRELUDE_TOKENS, REQUEST_GAP_S, Sample, WorkloadSpec
from governor.phases import DECODE, PREFILL, PhaseBucket
from governor.space import ConfigSpace, Setting

MEASURED = "measured"  # the label of the run whose phase is measured
DEFAULT_PERIOD_S = 0.01
DROPPED_RETRIES = 2  # a run whose trace misses most of the measured phase (a starved sampler) is run again
MIN_COVERAGE = 0.5  # share of the measured phase the trace's rows must cover


class DroppedSamples(GovernorError):
    """The sampler lost most of the rows of the measured phase: the energy cannot be integrated."""


class PhoneMeasurer:
    """LLM phases measured on the phone behind `device` (an android.device.Device, normally AdbDevice)."""

    def __init__(
        self,
        device,
        workload: str | WorkloadSpec,
        cpu: int | None = None,
        binary: str = "llama-cli",
        period_s: float = DEFAULT_PERIOD_S,
    ):
        from android.probe import probe_device
        from governor.pinning import check_pinnable

        self.spec = workload if isinstance(workload, WorkloadSpec) else WorkloadSpec.parse(workload)
        if self.spec.kind != "llm":
            raise GovernorError(f"--model {self.spec.target}: on a phone the governor measures LLMs (llama.cpp)")
        self.phone, self.binary, self.period_s = device, binary, period_s
        try:
            info = probe_device(device)
        except FusegovError as exc:
            raise GovernorError(f"{device.name}: cannot probe the phone: {exc}") from None
        self.space = ConfigSpace.from_device(info, cpu)
        self.cpu = self.space.inference_cpu
        self.device = {"name": info.name, "soc": info.soc, "family": info.family, "model": info.model}
        check_pinnable(device, info, self.space)  # root and every knob, before any run

    # --- Measurer -------------------------------------------------------------------------------
    def check_fits(self, tokens: int) -> None:
        """A built-in model's weights and cache, or a model file's size, against the phone's memory."""
        from android.emulator.sim.llm_models import builtin_models, load_model

        memory = self._memory_bytes()
        if memory is None:
            return
        if self.spec.target in builtin_models():
            model = load_model(self.spec.target)
            need = model.memory_bytes(min(tokens, model.context))
        else:
            size = self.phone.shell(f"wc -c < {self.spec.target}")
            if not size.ok or not size.stdout.strip().isdigit():
                raise GovernorError(f"{self.phone.name}: model file {self.spec.target} not found on the phone")
            need = int(size.stdout.strip())
        if need > memory:
            raise GovernorError(
                f"{self.spec.name} needs {need / 2**30:.1f} GiB but {self.phone.name} has "
                f"{memory / 2**30:.1f} GiB available (choose a smaller --model)"
            )

    def run(self, setting: Setting, bucket: PhaseBucket, repeat: int = 0) -> Sample:
        from collectors.collect import collect

        workloads = self._workloads(bucket)
        spent_s = 0.0  # device time of runs whose trace lost too many samples: they cost, they do not count
        for attempt in range(1 + DROPPED_RETRIES):
            try:
                collection = collect(
                    self.phone, workloads, period_s=self.period_s, pmcs="none", settings=[setting.as_dict()]
                )
            except FusegovError as exc:
                raise GovernorError(f"{bucket.name} at {setting} on {self.phone.name}: {exc}") from None
            try:
                sample = sample_of(collection, bucket)
                return replace(sample, device_time_s=sample.device_time_s + spent_s)
            except DroppedSamples:
                if attempt == DROPPED_RETRIES:
                    raise
                spent_s += device_time_of(collection)

    # --- helpers --------------------------------------------------------------------------------
    def _llm(self, prompt: int, decode: int, label: str) -> str:
        return f"llm:{self.spec.target},bin={self.binary},prompt={prompt},decode={decode},label={label}"

    def _workloads(self, bucket: PhaseBucket) -> list[str]:
        if bucket.kind == PREFILL:
            return [
                self._llm(PRELUDE_TOKENS, PRELUDE_TOKENS, "prelude"),
                f"idle:{REQUEST_GAP_S:g}",
                self._llm(bucket.prompt_tokens, 1, MEASURED),
            ]
        if bucket.kind == DECODE:
            prompt = max(bucket.prompt_tokens - bucket.decode_tokens // 2, 1)
            return [self._llm(prompt, bucket.decode_tokens, MEASURED)]
        raise GovernorError(f"{bucket.name}: on a phone the governor measures LLM prefill and decode")

    def _memory_bytes(self) -> int | None:
        try:
            text = self.phone.read("/proc/meminfo")
        except FusegovError:
            return None
        fields = {}
        for line in text.splitlines():
            key, _, rest = line.partition(":")
            words = rest.split()
            if words and words[0].isdigit():
                fields[key.strip()] = int(words[0]) * 1024
        return fields.get("MemAvailable", fields.get("MemTotal"))


def phone_power_w(frame, sources: dict[str, str]) -> np.ndarray:
    """Whole-phone power per row: the ODPM rails' sum plus, from the fuel gauge, the mean of what the rails do
    not meter (see the module's docstring)."""
    from collectors.trace import power_col

    rails = [power_col(r) for r, source in sources.items() if source == "ODPM rail" and power_col(r) in frame]
    total = power_col("total")
    gauge = frame[total].to_numpy(float) if total in frame and sources.get("total", "").startswith("fuel") else None
    if not rails:
        if gauge is None:
            raise GovernorError("the phone reports no power (no ODPM rails, no fuel gauge): cannot measure energy")
        return gauge
    metered = frame[rails].to_numpy(float).sum(axis=1)
    if gauge is None:
        return metered
    return metered + max(float(np.nanmean(gauge - metered)), 0.0)


def overlap_s(t_s: np.ndarray, start_s: float, end_s: float) -> np.ndarray:
    """Seconds of each row's interval (the previous row's time to its own; the first row's as long as the
    second's) inside [start_s, end_s]. A row's power is its interval's mean (energy counters differenced), so
    these weights integrate it exactly over a phase, however few rows the phase holds."""
    first = t_s[0] - (t_s[1] - t_s[0] if len(t_s) > 1 else 0.0)
    begin = np.concatenate(([first], t_s[:-1]))
    return np.clip(np.minimum(t_s, end_s) - np.maximum(begin, start_s), 0.0, None)


def sample_of(collection, bucket: PhaseBucket) -> Sample:
    """The measured phase of a collection: llama.cpp's latency, the phone's energy over the phase's time."""
    from collectors.trace import columns_of

    frame, runs = collection.frame, collection.meta["workload_runs"]
    measured = next((r for r in runs if r["workload"] == MEASURED), None)
    record = next((r for r in collection.runs if r.workload == MEASURED), None)
    if measured is None or record is None:
        raise GovernorError(f"{bucket.name}: the measured run is missing from the collection")
    phase = "prefill" if bucket.kind == PREFILL else "decode"
    latency = measured["ttft_s"] if bucket.kind == PREFILL else measured["tpot_s"]
    tokens = measured["prompt_tokens"] if bucket.kind == PREFILL else measured["decode_tokens"] - 1
    window = next(((start, end) for start, end, label in record.result.phases if label == phase), None)
    t_s = frame["t_s"].to_numpy(float)
    if not (np.isfinite(latency) and latency > 0 and tokens > 0 and window is not None and len(t_s)):
        raise GovernorError(f"{bucket.name}: llama.cpp's run gave no {phase} timing or the trace has no rows")
    power_w = phone_power_w(frame, collection.meta.get("power_sources", {}))
    weight_s = overlap_s(t_s, *window) * np.isfinite(power_w)  # a row without power covers nothing
    covered_s = float(weight_s.sum())
    if covered_s < MIN_COVERAGE * (window[1] - window[0]):
        raise DroppedSamples(
            f"{bucket.name}: the trace covers {covered_s:.3f} s of the {window[1] - window[0]:.3f} s {phase} "
            f"(samples were dropped {DROPPED_RETRIES + 1} times in a row; is the phone overloaded?)"
        )
    energy_j = float(np.nansum(power_w * weight_s)) * (window[1] - window[0]) / covered_s
    freq_weight_s = overlap_s(t_s, *window)
    freq = {
        knob: float(np.average(frame[column].to_numpy(float), weights=freq_weight_s))
        for knob, column in columns_of(frame, "freq").items()
    }
    return Sample(float(latency), energy_j / tokens, device_time_of(collection), freq)


def device_time_of(collection) -> float:
    """The phone's CLOCK_MONOTONIC from the collection's first sample to its last."""
    t_s = collection.frame["t_s"].to_numpy(float)
    return float(t_s[-1] - t_s[0]) if len(t_s) else 0.0
