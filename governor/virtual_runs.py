"""Runs on the in-process virtual phone with a setting per phase, as the on-phone daemon would pin them.

`run_llm_request` pins one setting for a whole request; a plan pins one setting for prefill and another
for decode, switching at the first token as FUSE's runtime does. Prefill runs as a request with no decode
tokens; decode continues on the same phone from the prompt's context (the simulator's `run_llm_decode`).
"""

from __future__ import annotations

from dataclasses import dataclass

from android.emulator.sim.llm_models import LlmModel
from android.emulator.sim.request import run_llm_decode, run_llm_request


@dataclass(frozen=True)
class PhaseRun:
    """What one phase of one run cost: its duration, energy and per-knob mean frequency."""

    latency_s: float  # prefill: TTFT; decode: TPOT over the measured tokens
    energy_j: float
    tokens: int
    device_time_s: float  # simulated time the run took, idling included
    mean_freq_hz: dict[str, float]


def prefill_run(phone, model: LlmModel, prompt_tokens: int, pins: dict[str, int], cpu: int | None, idle_s: float):
    result = run_llm_request(phone, model, prompt_tokens, 0, pins=pins, cpu=cpu, idle_before_s=idle_s)
    stats = result.phases["prefill"]
    return PhaseRun(result.ttft_s, stats.energy_j, prompt_tokens, result.duration_s + idle_s, stats.mean_freq_hz)


def decode_run(
    phone, model: LlmModel, context: int, tokens: int, pins: dict[str, int], cpu: int | None, idle_s: float
) -> PhaseRun:
    start = phone.now_s
    result = run_llm_decode(phone, model, context, tokens, pins=pins, cpu=cpu, idle_before_s=idle_s)
    stats = result.phases["decode"]
    return PhaseRun(result.tpot_s, stats.energy_j, tokens, phone.now_s - start, stats.mean_freq_hz)
