"""The runtime's heat levels (governor.heat): a plan's phases step down to their cooler rungs in proportion to how
far a zone is into its trip's hysteresis band, and back up as it cools; served back to back, sm8550 stays cooler
on a plan with rungs than on the same plan without."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from governor.heat import HeatSteps, Trip
from governor.measure import VirtualMeasurer
from governor.plan import Expected, Plan, PlanPhase, Rung
from governor.replay import replay, summarise
from governor.requests import Requests
from tests.governor.conftest import HEXA6
from tests.governor.test_space import space_of

SKIN = Trip("skin", 46.0, 2.0)


def test_the_level_follows_how_far_the_hottest_zone_is_into_its_trips_band():
    steps = HeatSteps((SKIN, Trip("cpu", 95.0, 5.0)), levels=4)
    # the skin's band runs from 44.0 (the trip less its hysteresis: level 0) to 45.75 (an eighth of the
    # hysteresis below the trip: the coolest level), a quarter of it per level; going back down it retraces
    temps = [40.0, 44.0, 44.1, 44.5, 45.0, 45.4, 45.75, 47.0, 45.0, 44.3, 43.0]
    assert [steps.update({"skin": t, "cpu": 60.0}) for t in temps] == [0, 0, 1, 2, 3, 4, 4, 4, 3, 1, 0]
    # the zone deepest into its own band decides: the cpu zone's band is 90..94.375 C
    assert steps.update({"skin": 40.0, "cpu": 92.0}) == 2
    assert steps.update({"skin": 44.5, "cpu": 92.0}) == 2 and steps.update({"skin": 45.4, "cpu": 92.0}) == 4


def test_a_trip_without_hysteresis_has_no_band():
    steps = HeatSteps((Trip("skin", 46.0, 0.0),), levels=3)
    assert [steps.update({"skin": t}) for t in (45.9, 46.0, 50.0, 45.0)] == [0, 3, 3, 0]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.floats(-20, 150), st.just(float("nan"))), max_size=60), st.integers(0, 4))
def test_the_level_stays_between_the_plan_and_its_coolest_rung_and_never_warms_as_the_zone_heats(temps, levels):
    steps = HeatSteps((SKIN,), levels)
    seen = [(t, steps.update({"skin": t})) for t in temps]
    assert all(0 <= level <= levels for _, level in seen)
    readable = sorted((t, level) for t, level in seen if t == t)  # a NaN reading is left out, as a missing zone
    assert all(a[1] <= b[1] for a, b in zip(readable, readable[1:]))
    assert all(level == levels for t, level in readable if t >= SKIN.coolest_c)
    assert all(level == 0 for t, level in readable if t <= SKIN.threshold_c)


def test_the_trips_come_from_the_probe_of_the_phones_sysfs():
    trips = VirtualMeasurer("pixel7", "llm:tinyllama-1.1b-q4").trips
    assert Trip("neutral_therm", 48.0, 2.0) in trips
    assert Trip("G3D", 70.0, 2.0) in trips  # power_allocator's switch-on trip, from which it budgets power
    assert Trip("G3D", 90.0, 5.0) in trips  # its control trip, where the GPU's cooling device is bound
    hexa6 = VirtualMeasurer(HEXA6, "llm:tinyllama-1.1b-q4").trips
    assert Trip("G3D", 70.0, 2.0) not in hexa6  # step_wise there: nothing is bound to it, it only warns
    assert not any(t.zone in ("battery", "LITTLE") for t in trips)  # zones without trips


def test_a_zone_missing_from_a_reading_is_left_out_of_it():
    steps = HeatSteps((SKIN, Trip("cpu", 95.0, 5.0)), levels=1)
    assert steps.update({"skin": 43.0}) == 0
    assert steps.update({"skin": 45.0}) == 1  # the unreadable cpu zone neither blocks nor counts
    assert steps.update({}) == 0


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
