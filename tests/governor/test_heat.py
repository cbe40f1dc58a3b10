"""The runtime's heat levels (governor.heat): a plan's phases step down to their cooler rungs a hysteresis before
a thermal trip while the phone heats, and back up while it cools; served back to back, sm8550 stays cooler on a
plan with rungs than on the same plan without."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from governor.heat import HeatSteps, Trip
from governor.measure import VirtualMeasurer
from governor.plan import Expected, Plan, PlanPhase, Rung
from governor.replay import replay, summarise
from governor.requests import Requests
from tests.governor.test_space import space_of

SKIN = Trip("skin", 46.0, 2.0)


def test_steps_cooler_near_a_trip_while_heating_and_warmer_below_it_while_cooling():
    steps = HeatSteps((SKIN, Trip("cpu", 95.0, 5.0)), levels=2)
    temps = [40.0, 41.0, 44.0, 45.0, 45.5, 45.2, 43.9, 43.5, 43.8]
    levels = [steps.update({"skin": t, "cpu": 60.0}) for t in temps]
    # 44.0 is the skin trip less its hysteresis: rising at or above it steps cooler (at most `levels`), holding
    # or falling there holds, falling below it steps warmer, rising below it holds
    assert levels == [0, 0, 1, 2, 2, 2, 1, 0, 0]


def test_the_trend_is_over_a_whole_cycle_of_phases_not_from_one_phase_to_the_next():
    """A prefill heats the skin by 1 C and the decode after it cools it back: the phone holds its temperature
    over each request, so the level holds (compared phase to phase, every decode start looked like a rise and
    the level stepped to the coolest rung); once each request ends warmer than the last, it steps cooler."""
    steps = HeatSteps((SKIN,), levels=3)
    held = [steps.update({"skin": t}, kind) for _ in range(6) for t, kind in ((45.0, "prefill"), (46.0, "decode"))]
    assert held == [0] * 12
    rising = [
        steps.update({"skin": 45.0 + 0.2 * i + rise}, kind)
        for i in range(1, 3)
        for rise, kind in ((0.0, "prefill"), (1.0, "decode"))
    ]
    assert rising == [1, 2, 3, 3]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(min_value=-20, max_value=150, allow_nan=False), max_size=60), st.integers(0, 4))
def test_the_level_stays_between_the_plan_and_its_coolest_rung(temps, levels):
    steps = HeatSteps((SKIN,), levels)
    assert all(0 <= steps.update({"skin": t}) <= levels for t in temps)
    if len(temps) > 1 and all(b > a and b >= SKIN.threshold_c for a, b in zip(temps, temps[1:])):
        assert steps.level == min(len(temps) - 1, levels)  # heating past the threshold steps all the way down


def test_the_trips_come_from_the_probe_of_the_phones_sysfs():
    trips = VirtualMeasurer("pixel7", "llm:tinyllama-1.1b-q4").trips
    assert Trip("neutral_therm", 48.0, 2.0) in trips
    assert Trip("G3D", 70.0, 2.0) in trips  # power_allocator's switch-on trip
    assert not any(t.zone in ("battery", "LITTLE") for t in trips)  # zones without trips


def test_a_zone_missing_from_a_reading_is_left_out_of_it():
    steps = HeatSteps((SKIN, Trip("cpu", 95.0, 5.0)), levels=1)
    assert steps.update({"skin": 45.0}) == 0
    assert steps.update({"skin": 45.5}) == 1  # the unreadable cpu zone neither blocks nor counts


def hot_plan(profile: str) -> tuple[Plan, Plan]:
    """A plan pinning every primary knob at its top, without and with one cooler rung: the lowest GPU level."""
    space = space_of(profile)
    top = {k.name: k.max_hz for k in space.primary}
    cool = {**top, "gpu": space.knob("gpu").min_hz}
    expected = Expected(1.0, 1.0)
    phases = [
        PlanPhase("prefill", "prefill<=512", 512, top, expected, expected, True, expected),
        PlanPhase("decode", "decode", None, top, expected, expected, True, expected),
    ]
    device = {"name": space.device, "soc": space.soc, "family": space.family, "knobs": space.tables()}
    plain = Plan(device, "qwen-1.5b-q4", {"goal": "latency"}, {"name": "test", "measurements": 0}, phases)
    rung = (Rung(cool, expected, expected),)
    return plain, replace(plain, phases=[replace(p, cooler=rung) for p in phases])


def test_a_plan_with_a_cooler_rung_keeps_a_phone_served_back_to_back_cooler():
    measurer = VirtualMeasurer("sm8550", "llm:qwen-1.5b-q4")
    requests = Requests("test", (360,) * 12, (200,) * 12)
    plain, stepped = hot_plan("sm8550")
    skin, served = {}, {}
    for name, plan in (("plain", plain), ("stepped", stepped)):
        phone = measurer.phone(0)
        served[name] = replay(measurer, plan, requests, phone=phone)
        skin[name] = (phone.state.zone_temp_c["skin-msm-therm"], summarise(served[name]))
    (hot, plain_summary), (cool, stepped_summary) = skin["plain"], skin["stepped"]
    print(
        f"\nskin after 12 requests: {hot:.1f} C without the rung, {cool:.1f} C with it (cooled "
        f"{stepped_summary.cooled_share:.0%}, throttled {plain_summary.throttled_share:.0%} -> "
        f"{stepped_summary.throttled_share:.0%})"
    )
    assert plain_summary.cooled_share == 0 and stepped_summary.cooled_share > 0
    assert cool < hot
    # per request: the rung served the phases the rule stepped, and held the skin under the trip it crossed
    levels = {name: {(o.prefill_level, o.decode_level) for o in outcomes} for name, outcomes in served.items()}
    assert levels["plain"] == {(0, 0)} and (1, 1) in levels["stepped"] <= {(0, 0), (1, 0), (0, 1), (1, 1)}
    margins = {name: [o.trip_margin_c for o in outcomes] for name, outcomes in served.items()}
    assert {o.trip_zone for o in served["plain"] + served["stepped"]} == {"skin-msm-therm"}
    assert min(margins["plain"]) < 0 <= min(margins["stepped"])
    assert served["stepped"][0].prefill_level == 0  # the phone starts cool
