"""Replay requests on the virtual phone under a plan (or the stock governors) and measure what users see.

One phone per policy, requests back to back with REQUEST_GAP_S of idling between them (heat and governor
state carry over, as on a phone). Each request pins the plan's setting for its prompt's prefill bucket, then
the decode setting from the first token on (FUSE's runtime), and releases everything after the last token.

Searches measure each setting on a phone at rest; serving back to back heats it. A request counts as
throttled when a cooling device caps some clock at the end of its prefill or of its decode, so a replay
shows when the plans' measured gains were made on a cooler phone than the one that serves. A plan with cooler
rungs is served as its runtime would serve it: each phase at the heat level `governor.heat.HeatSteps` picks
from the zones' temperatures at its start; a request counts as cooled when a phase of it ran above level 0. Each
`Outcome` keeps the levels its phases ran at and how far the zone nearest a trip was below it at its end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from android.knobs import thermal_caps
from governor.heat import HeatSteps, nearest_trip
from governor.measure import REQUEST_GAP_S, VirtualMeasurer
from governor.plan import Plan
from governor.requests import Requests


@dataclass(frozen=True)
class Outcome:
    prompt_tokens: int
    output_tokens: int
    ttft_s: float
    tpot_s: float | None
    latency_s: float  # end to end: TTFT + the rest of the output
    energy_j: float  # prefill + decode, idling excluded
    throttled: bool  # a cooling device capped a clock at the end of the prefill or of the decode
    prefill_level: int = 0  # the heat level each phase ran at (0: the plan's own setting; governor.heat)
    decode_level: int = 0
    trip_zone: str = ""  # at the request's end, the zone nearest one of its passive trips (heat.nearest_trip)
    trip_margin_c: float = float("nan")  # and how far below that trip it was (C; negative past it)

    @property
    def cooled(self) -> bool:
        """The prefill or the decode ran above heat level 0 (governor.heat)."""
        return self.prefill_level > 0 or self.decode_level > 0


@dataclass(frozen=True)
class Summary:
    ttft_mean_s: float
    ttft_p99_s: float
    tpot_mean_s: float
    latency_mean_s: float
    energy_per_token_j: float  # total energy over prompt + output tokens
    energy_total_j: float
    requests: int
    throttled_share: float  # of the requests (Outcome.throttled)
    cooled_share: float = 0.0  # of the requests (Outcome.cooled)

    def to_dict(self) -> dict:
        return {k: round(v, 6) if isinstance(v, float) else v for k, v in self.__dict__.items()}


def replay(
    measurer: VirtualMeasurer,
    plan: Plan | None,
    requests: Requests,
    on_request: Callable[[], None] | None = None,
    phone=None,
) -> list[Outcome]:
    """Each request in turn; `phone`: the virtual phone to replay on (default a fresh one of the measurer's),
    given to watch it, e.g. with an engine observer such as android.emulator.sim.timeline.TimelineRecorder.
    The thermal caps a hot phone meets are counted (`Outcome.throttled`) rather than warned of phase by phase."""
    from governor.virtual_runs import decode_run, prefill_run

    phone = measurer.phone(0) if phone is None else phone
    heat = HeatSteps(measurer.trips, plan.levels) if plan and plan.levels else None
    outcomes = []

    def pins(phase) -> tuple[dict[str, int], int]:
        level = heat.update(phone.state.zone_temp_c) if heat else 0  # (a heat level needs a plan)
        return (plan.pins(phase, level), level) if plan else ({}, 0)

    with thermal_caps():
        for prompt, output in requests.pairs():
            prefill_pins, prefill_level = pins(plan.phase_for_prompt(prompt) if plan else None)
            first = prefill_run(phone, measurer.model, prompt, prefill_pins, measurer.cpu, REQUEST_GAP_S)
            energy, tpot, rest, throttled, decode_level = first.energy_j, None, 0.0, capped(phone), 0
            if output > 1:
                decode_pins, decode_level = pins(plan.phase("decode") if plan else None)
                tail = decode_run(phone, measurer.model, prompt, output - 1, decode_pins, measurer.cpu, 0.0)
                energy, tpot, rest = energy + tail.energy_j, tail.latency_s, tail.latency_s * (output - 1)
                throttled = throttled or capped(phone)
            zone, margin = nearest_trip(measurer.trips, phone.state.zone_temp_c)
            outcomes.append(
                Outcome(
                    prompt,
                    output,
                    first.latency_s,
                    tpot,
                    first.latency_s + rest,
                    energy,
                    throttled,
                    prefill_level,
                    decode_level,
                    zone,
                    margin,
                )
            )
            if on_request:
                on_request()
    return outcomes


def capped(phone) -> bool:
    """Whether a cooling device caps one of the phone's clocks now."""
    return any(knob.thermal_cap_hz for knob in phone.knobs.values())


def summarise(outcomes: list[Outcome]) -> Summary:
    import numpy as np

    ttft = np.array([o.ttft_s for o in outcomes])
    tpot = np.array([o.tpot_s for o in outcomes if o.tpot_s is not None])
    tokens = sum(o.prompt_tokens + o.output_tokens for o in outcomes)
    energy = float(sum(o.energy_j for o in outcomes))
    return Summary(
        float(ttft.mean()),
        float(np.percentile(ttft, 99)),
        float(tpot.mean()) if len(tpot) else float("nan"),
        float(np.mean([o.latency_s for o in outcomes])),
        energy / tokens,
        energy,
        len(outcomes),
        float(np.mean([o.throttled for o in outcomes])),
        float(np.mean([o.cooled for o in outcomes])),
    )
