"""Measurement: latency and energy per token of one phase bucket at one setting, on some backend.

A `Measurer` runs one phase bucket once at a setting and says what it cost (`Sample`). The backends:
- `VirtualMeasurer`: the in-process virtual phone (android.emulator); each run starts from a fresh phone of
  the same profile with seed `seed + repeat`, so a run depends only on (setting, bucket, repeat): results
  can be cached by setting and swept in any order or process, and runs at repeat 0 share their random
  draws (common random numbers), which keeps comparisons between settings fair.
- `PhoneMeasurer` (governor/phone.py): a phone through adb, llama.cpp's CLI run by the collectors.

Both measure a phase under the conditions a plan runs in, requests back to back (the service protocol):
a prefill meets a phone that has just finished decoding the previous request and idled REQUEST_GAP_S; a
decode follows its request's prefill without a pause. So each run is a short prelude at the same setting
(PRELUDE_TOKENS decode tokens, then the gap, before a prefill; a PRELUDE_TOKENS-token prefill before a
decode) and then the measured phase: the stock governors meet the measured phase in the state they are in
when serving, not ramping up from a cold start, and the heat of the phase before is there.

Latency is TTFT for a prefill bucket, TPOT for decode and time per inference for a CNN; energy per token is
phase energy over prompt tokens (P x TTFT / N), over decode tokens (P x TPOT), or per inference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from android.errors import FusegovError
from governor.errors import GovernorError
from governor.phases import CNN, DECODE, PREFILL, PhaseBucket
from governor.space import ConfigSpace, Setting

REQUEST_GAP_S = 1.0  # idle between back-to-back requests (the replay's gap too)
PRELUDE_TOKENS = 8  # the previous request's last decode tokens before a prefill; the prompt before a decode
PROTOCOL = ("service", REQUEST_GAP_S, PRELUDE_TOKENS)  # what a run's numbers depend on beyond its setting


@dataclass(frozen=True)
class Sample:
    """One run of one bucket at one setting."""

    latency_s: float
    energy_per_token_j: float
    device_time_s: float
    mean_freq_hz: dict[str, float] = field(default_factory=dict, compare=False)


class Measurer(Protocol):
    """What searches need from a backend."""

    space: ConfigSpace
    device: dict  # name, soc, family, and `profile` on the virtual phone: goes into plans

    def run(self, setting: Setting, bucket: PhaseBucket, repeat: int = 0) -> Sample: ...

    def check_fits(self, tokens: int) -> None:
        """Raise GovernorError when the model cannot hold `tokens` tokens on this device."""


@dataclass(frozen=True)
class WorkloadSpec:
    """`llm:NAME|FILE.json` (or a bare LLM name) or `cnn:NAME|FILE.onnx`."""

    kind: str  # "llm" | "cnn"
    target: str

    @classmethod
    def parse(cls, text: str) -> WorkloadSpec:
        kind, sep, target = text.partition(":")
        if not sep:
            kind, target = "llm", text
        if kind not in ("llm", "cnn") or not target:
            raise GovernorError(f"bad --model {text!r}: use an LLM name or file (llm:NAME), or cnn:NAME|FILE.onnx")
        return cls(kind, target)

    @property
    def name(self) -> str:
        return Path(self.target).stem if self.target.endswith((".json", ".onnx")) else self.target


class VirtualMeasurer:
    """Runs on fresh in-process virtual phones of one profile."""

    def __init__(self, profile, workload: str | WorkloadSpec, seed: int = 0, cpu: int | None = None):
        from android.emulator.phone import VirtualPhone
        from android.emulator.profile import Profile, load_profile
        from android.probe import probe_device
        from android.virtual import VirtualDevice
        from governor.heat import trips_of

        try:
            self.profile = profile if isinstance(profile, Profile) else load_profile(str(profile))
        except FusegovError as exc:
            raise GovernorError(f"--virtual {profile}: {exc}") from None
        self.profile_ref = str(profile) if not isinstance(profile, Profile) else profile.name
        self.seed = seed
        self.spec = workload if isinstance(workload, WorkloadSpec) else WorkloadSpec.parse(workload)
        self._phone_class = VirtualPhone
        info = probe_device(VirtualDevice(VirtualPhone(self.profile, seed)))
        self.space = ConfigSpace.from_device(info, cpu)
        self.trips = trips_of(info.zones)  # where a plan's runtime steps to cooler rungs (governor.heat)
        self.cpu = self.space.inference_cpu
        self.device = {"name": info.name, "soc": info.soc, "family": info.family, "profile": self.profile.name}
        self.model = self.onnx = None
        try:
            if self.spec.kind == "llm":
                from android.emulator.sim.llm_models import load_model

                self.model = load_model(self.spec.target)
            else:
                from android.emulator.sim import cnn_zoo

                self.onnx = cnn_zoo.resolve_onnx(self.spec.target)
        except FusegovError as exc:
            raise GovernorError(f"--model {self.spec.target}: {exc}") from None

    def check_fits(self, tokens: int) -> None:
        """A clear error before any search when the model and its cache do not fit the phone's memory."""
        if self.model is None:
            return
        from android.emulator.sim.llm_models import check_fits

        memory = self.profile.physics.memory
        try:
            check_fits(self.model, tokens, self.profile.memory_bytes, memory.app_usable_fraction, self.profile.name)
        except FusegovError as exc:
            raise GovernorError(f"{exc} (choose a smaller --model or another phone)") from None

    def recipe(self):
        """What a sweep's worker processes need to build this measurer again (executor.Recipe)."""
        from governor.executor import Recipe

        return Recipe.of(self)

    def phone(self, repeat: int = 0):
        return self._phone_class(self.profile, seed=self.seed + repeat)

    def run(self, setting: Setting, bucket: PhaseBucket, repeat: int = 0) -> Sample:
        from governor.virtual_runs import decode_run, prefill_run

        phone = self.phone(repeat)
        pins = setting.as_dict()
        try:
            if bucket.kind == PREFILL:
                prelude = decode_run(
                    phone, self.model, bucket.prompt_tokens, PRELUDE_TOKENS, pins, self.cpu, REQUEST_GAP_S
                )
                run = prefill_run(phone, self.model, bucket.prompt_tokens, pins, self.cpu, REQUEST_GAP_S)
            elif bucket.kind == DECODE:
                prelude = prefill_run(phone, self.model, PRELUDE_TOKENS, pins, self.cpu, REQUEST_GAP_S)
                run = decode_run(phone, self.model, bucket.prompt_tokens, bucket.decode_tokens, pins, self.cpu, 0.0)
            elif bucket.kind == CNN:
                return self._cnn(phone, pins, bucket)
            else:
                raise GovernorError(f"unknown phase bucket kind {bucket.kind!r}")
        except GovernorError:
            raise
        except FusegovError as exc:
            raise GovernorError(f"{bucket.name} at {setting}: {exc}") from None
        device_time_s = prelude.device_time_s + run.device_time_s
        return Sample(run.latency_s, run.energy_j / run.tokens, device_time_s, run.mean_freq_hz)

    def _cnn(self, phone, pins: dict[str, int], bucket: PhaseBucket) -> Sample:
        from android.emulator.sim.request import run_cnn

        result = run_cnn(phone, self.onnx, bucket.runs, pins=pins, cpu=self.cpu, idle_before_s=REQUEST_GAP_S)
        stats = result.phases["inference"]
        return Sample(result.latency_s, result.energy_per_run_j, result.duration_s + REQUEST_GAP_S, stats.mean_freq_hz)
