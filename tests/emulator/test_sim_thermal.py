"""Thermal: the RC network integrates exactly, and the kernel's thermal framework throttles as it does on a
phone (step_wise one state per poll with hysteresis, power_allocator on a power budget), at each zone's own
polling interval; back-to-back prompts at top clocks heat the skin to its trip after ~20-32 prompts (MELT)."""

import json
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from android.emulator.knob import KnobState
from android.emulator.phone import VirtualPhone
from android.emulator.profile import BUILTIN_DIR, load_profile, parse_profile
from android.emulator.sim import engine
from android.emulator.sim.llm import LlmRequest
from android.emulator.sim.llm_models import load_model
from android.emulator.sim.physics import ThermalLink, ThermalNode, ThermalPhysics, TripPoint, ZoneThermal
from android.emulator.sim.request import apply_pins
from android.emulator.sim.thermal import Thermal, ThermalFramework, ThermalNetwork
from android.emulator.sysfs.thermal import cooling_state
from android.errors import ProfileError
from android.virtual import VirtualDevice

MHZ = 1_000_000


def _network(nodes: dict, links=()) -> ThermalPhysics:
    zone = ZoneThermal(node=next(iter(nodes)))
    return ThermalPhysics(
        ambient_c=25.0,
        nodes={n: ThermalNode(*v) for n, v in nodes.items()},
        links=tuple(ThermalLink(tuple(a), w) for a, w in links),
        heat_node={},
        default_heat_node=next(iter(nodes)),
        zones={"z": zone},
    )


def test_one_node_heats_exactly_along_its_exponential():
    net = ThermalNetwork(_network({"case": (100.0, 0.1)}), ["cpu"])  # tau = 1000 s, 10 K/W
    dt = np.full(2500, 0.004)
    temps = net.integrate(dt, np.full((2500, 1), 2.0))[:, 0]
    t = np.cumsum(dt)
    assert temps == pytest.approx(25.0 + 20.0 * (1 - np.exp(-t / 1000.0)), rel=1e-9, abs=1e-9)


def test_a_chain_of_nodes_matches_fine_explicit_integration_and_settles_at_its_steady_state():
    th = _network(
        {"die": (2.0, 0.0), "board": (20.0, 0.04), "body": (100.0, 0.07)},
        [(("die", "board"), 0.8), (("board", "body"), 0.2)],
    )
    net = ThermalNetwork(th, ["gpu"])
    rng = np.random.default_rng(0)
    dt = rng.uniform(0.001, 0.004, 400)  # steps of uneven length, as at phase boundaries
    watts = rng.uniform(0.0, 4.0, (400, 1))
    exact = net.integrate(dt, net.node_power(watts))
    capacity, g = np.array([2.0, 20.0, 100.0]), net.conductance
    theta = np.zeros(3)
    for k in range(400):  # reference: explicit Euler on 40 sub-steps
        for _ in range(40):
            theta = theta + dt[k] / 40 * (np.array([watts[k, 0], 0, 0]) - g @ theta) / capacity
    assert exact[-1] == pytest.approx(25.0 + theta, abs=1e-4)
    net.settle(np.array([3.0]))
    again = net.integrate(np.full(10, 1.0), np.tile([3.0, 0.0, 0.0], (10, 1)))
    assert again[-1] == pytest.approx(net.node_c(), abs=1e-9)
    assert again[-1] == pytest.approx(25.0 + np.linalg.solve(g, [3.0, 0.0, 0.0]), abs=1e-9)


def _framework(trip_c=50.0, hysteresis_c=3.0, polling_s=1.0, passive_s=0.5, governor="step_wise", trips=None):
    profile = load_profile("pixel7")
    zone = ZoneThermal(
        node="board",
        polling_delay_s=polling_s,
        passive_delay_s=passive_s,
        governor=governor,
        trips=trips or (TripPoint(trip_c, hysteresis_c, ("gpu",)),),
    )
    knob = KnobState("gpu", "mali", profile.gpu.opps, "quickstep", ("quickstep",))
    ipa = {"skin": profile.physics.thermal.power_allocator["G3D"]} if governor == "power_allocator" else {}
    th = replace(profile.physics.thermal, zones={"skin": zone}, power_allocator=ipa)
    profile = replace(profile, physics=replace(profile.physics, thermal=th))
    return ThermalFramework.build(profile, {"gpu": knob}, now_s=0.0), knob


def _drive(framework, knob, temps_c, dt_s=0.1):
    """Feed a zone temperature per step; record (time, cooling state) after every block of 5 steps."""
    t_end = np.arange(1, len(temps_c) + 1) * dt_s
    states = []
    for start in range(0, len(temps_c), 5):
        block = slice(start, start + 5)
        for _, cap in framework.poll(t_end[block], {"skin": np.asarray(temps_c[block])}, {}):
            knob.thermal_cap_hz = cap
        states.append((float(t_end[block][-1]), cooling_state(knob)))
    return states


def test_step_wise_adds_one_state_per_poll_while_rising_above_the_trip_and_holds_when_it_stops_rising():
    framework, knob = _framework(trip_c=50.0, passive_s=0.5)
    rising = np.concatenate([np.linspace(45.0, 52.0, 80), np.full(40, 52.0)])  # 8 s rising, then 4 s flat
    states = _drive(framework, knob, rising)
    levels = [s for _, s in states]
    assert levels[0] == 0 and max(levels) > 2
    assert all(b - a in (0, 1) for a, b in zip(levels, levels[1:]))  # one state at a time, never back
    crossed = next(t for t, s in states if s > 0)
    assert 5.5 < crossed < 6.6  # 50 C is reached at ~5.7 s; the next poll (1 s polling) throttles
    flat = [s for t, s in states if t > 8.6]
    assert len(set(flat)) == 1  # stable temperature: no further state


def test_step_wise_releases_one_state_per_poll_only_below_trip_minus_hysteresis():
    framework, knob = _framework(trip_c=50.0, hysteresis_c=3.0, passive_s=0.5)
    temps = np.concatenate(
        [
            np.linspace(48.0, 53.0, 50),  # up: throttles
            np.linspace(53.0, 47.5, 60),  # falling through the trip but staying above 47: held
            np.linspace(47.5, 40.0, 60),  # below 47 and falling: released one state per poll
            np.full(20, 40.0),
        ]
    )
    states = _drive(framework, knob, temps)
    t_end = np.arange(1, len(temps) + 1) * 0.1
    peak = max(s for _, s in states)
    in_band = [s for t, s in states if 6.0 < t <= 11.0]
    assert in_band and min(in_band) == peak  # between trip - hysteresis and trip: no release
    below = float(t_end[np.argmax((temps < 47.0) & (t_end > 5))])
    release = [s for t, s in states if t > below]
    assert all(a - b in (0, 1) for a, b in zip(release, release[1:]))  # one state per poll
    assert release[-1] == 0 and knob.thermal_cap_hz == 0


def test_zones_poll_at_their_own_interval_and_at_the_passive_interval_while_throttling():
    framework, knob = _framework(trip_c=50.0, polling_s=2.0, passive_s=0.25)
    zone = framework.zones[0]
    polled = []
    governor = zone.governor

    class Spy:
        wants_power = False

        def throttle(self, z, now_s, power_w):
            polled.append(now_s)
            governor.throttle(z, now_s, power_w)

    zone.governor = Spy()
    _drive(framework, knob, np.concatenate([np.full(60, 45.0), np.linspace(51.0, 55.0, 40)]))
    gaps = np.diff(polled)
    assert gaps[0] == pytest.approx(2.0)  # cool: polling_delay
    assert gaps[-1] == pytest.approx(0.25)  # throttling: passive_delay
    assert polled[0] == pytest.approx(2.0)


def test_power_allocator_caps_a_device_drawing_more_than_its_budget_and_frees_it_below_switch_on():
    trips = (TripPoint(70.0, 2.0), TripPoint(80.0, 5.0, ("gpu",)))
    framework, knob = _framework(governor="power_allocator", trips=trips, passive_s=0.1)  # G3D's IPA tunables
    zone = framework.zones[0]
    t_end = np.arange(1, 101) * 0.1
    draw = {"gpu": np.full(100, 5.0)}  # far above the 2.5 W sustainable power
    for _, cap in framework.poll(t_end, {"skin": np.full(100, 85.0)}, draw):
        knob.thermal_cap_hz = cap
    hot = cooling_state(knob)
    assert hot > 0
    for _, cap in framework.poll(t_end + 10.0, {"skin": np.full(100, 60.0)}, draw):
        knob.thermal_cap_hz = cap
    assert cooling_state(knob) == 0 and zone.governor.err_integral == 0.0


def test_thermal_section_errors_name_the_field():
    raw = json.loads((BUILTIN_DIR / "pixel7.json").read_text())
    raw["physics"]["thermal"]["zones"]["neutral_therm"]["trips"][0]["cooling"] = ["gpu", "turbo"]
    with pytest.raises(ProfileError, match=r"physics\.thermal\.zones\.neutral_therm\.trips\[0\]\.cooling.*turbo"):
        parse_profile(raw, source="bad")
    raw = json.loads((BUILTIN_DIR / "pixel7.json").read_text())
    raw["physics"]["thermal"]["links"] = []
    with pytest.raises(ProfileError, match=r"physics\.thermal\.nodes .*ambient"):
        parse_profile(raw, source="bad")
    raw = json.loads((BUILTIN_DIR / "pixel7.json").read_text())
    raw["physics"]["thermal"]["zones"]["BIG"]["governor"] = "fair_share"
    with pytest.raises(ProfileError, match=r"zones\.BIG\.governor.*step_wise"):
        parse_profile(raw, source="bad")


def _busy_phone(profile="pixel7"):
    phone = VirtualPhone(profile, seed=1)
    phone.start(LlmRequest(load_model("tinyllama-1.1b-q4"), 8, 2000))
    return phone


def test_the_soc_heats_under_load_and_cools_back_towards_ambient():
    phone = _busy_phone()
    start = phone.state.zone_temp_c["BIG"]
    phone.advance(30.0)
    hot = phone.state.zone_temp_c["G3D"]
    assert hot > start + 2
    phone.sim.stop()
    phone.advance(60.0)
    assert phone.state.zone_temp_c["G3D"] < hot - 1
    assert phone.state.zone_temp_c["neutral_therm"] > phone.profile.physics.thermal.ambient_c


@pytest.mark.slow
def test_throttling_caps_frequencies_above_the_trip_and_lifts_below_it():
    raw = json.loads((BUILTIN_DIR / "pixel7.json").read_text())
    g3d = raw["physics"]["thermal"]["zones"]["G3D"]
    g3d.update(governor="step_wise", trips=[{"temp_c": 41.0, "hysteresis_c": 3.0, "cooling": ["gpu"]}])
    del raw["physics"]["thermal"]["power_allocator"]["G3D"]
    phone = VirtualPhone(parse_profile(raw, source="hot-pixel7"), seed=1)
    restore = apply_pins(phone, {"gpu": 848 * MHZ, "policy6": 2401 * MHZ})  # as high as the limits allow
    phone.start(LlmRequest(load_model("tinyllama-1.1b-q4"), 8, 2000))
    gpu, device = phone.gpu, VirtualDevice(phone)
    seen = []  # (G3D temperature, GPU cap) every 0.5 s
    for _ in range(60):
        phone.advance(0.5)
        seen.append((phone.state.zone_temp_c["G3D"], gpu.thermal_cap_hz))
        assert gpu.cur_hz <= (gpu.thermal_cap_hz or gpu.hw_max_hz)
    assert int(device.read("/sys/devices/platform/28000000.mali/cur_freq")) * 1000 == gpu.cur_hz
    first = next(i for i, (_, cap) in enumerate(seen) if cap)
    assert seen[first][0] >= 41.0 - 1.0  # throttling began at the trip
    assert all(0 < cap < 848 * MHZ for _, cap in seen[first:] if cap)
    phone.sim.stop()
    phone.advance(120.0)
    assert gpu.thermal_cap_hz == 0  # cooled below trip - hysteresis: the cap is lifted step by step
    restore()


@pytest.mark.slow
def test_back_to_back_prompts_at_top_clocks_throttle_step_by_step_after_20_to_32_prompts():
    """MELT: phones reach ~48 C after ~20-32 prompts at high clocks, then throttle; here TinyLlama requests
    of 232 prompt and 70 decode tokens, back to back with 0.2 s gaps, at the top GPU, CPU and memory OPPs."""
    phone = VirtualPhone("pixel7", seed=0)
    top = {k: int(phone.knobs[k].table_hz[-1]) for k in ("gpu", "policy6", "mem")}
    restore = apply_pins(phone, top)
    skin = "neutral_therm"
    trip = phone.profile.physics.thermal.zones[skin].trips[0]
    tiny = load_model("tinyllama-1.1b-q4")
    throttled = ["gpu", "policy6", "policy4"]
    energy = {"j": 0.0, "s": 0.0}
    history = []  # (prompt, time, skin C, cooling state per knob) after every block

    def observe(block):
        energy["j"] += float(block.total_w @ block.dt_s)
        energy["s"] += float(block.dt_s.sum())
        history.append(
            (prompt, phone.sim.now_s, phone.state.zone_temp_c[skin], [cooling_state(phone.knobs[k]) for k in throttled])
        )

    phone.sim.observers.append(observe)
    first = None
    for prompt in range(1, 41):
        request = LlmRequest(tiny, 232, 70)
        phone.start(request)
        while not request.done:
            phone.advance(0.5)
        phone.advance(0.2)
        if first is None and any(phone.knobs[k].thermal_cap_hz for k in throttled):
            first = (prompt, phone.state.zone_temp_c[skin], energy["j"] / energy["s"])
            energy.update(j=0.0, s=0.0)
    restore()
    assert first is not None, "no throttling after 40 prompts"
    prompt, skin_c, power_before_w = first
    assert 20 <= prompt <= 32
    assert trip.temp_c - 0.5 <= skin_c <= trip.temp_c + 1.0
    states = np.array([h[3] for h in history])
    steps = np.abs(np.diff(states, axis=0))
    assert steps.max() <= 1  # one OPP at a time per knob (the skin zone polls every 2 s, blocks are 0.5 s)
    deepest = dict(zip(throttled, states.max(axis=0).tolist()))
    assert all(deepest[k] < len(phone.knobs[k].table_hz) - 1 for k in throttled), deepest  # never to the floor
    after = [h[2] for h in history if h[0] > prompt]
    assert max(after) < trip.temp_c + 1.5  # regulated around the trip
    sustained_w = energy["j"] / energy["s"]
    assert sustained_w < power_before_w  # throttled: less power than before
    assert sustained_w < 8.5  # under MELT's sustained envelope


_NAMES = st.sampled_from(["die", "board", "body", "skin", "", "BIG", "gpu", "policy6", "turbo", "power_allocator"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    where=st.sampled_from(["link", "heat", "default", "zone_node", "cooling", "governor", "trip_order", "ipa"]),
    name=_NAMES,
)
def test_any_inconsistent_thermal_section_is_a_profile_error_naming_the_field(where, name):
    raw = json.loads((BUILTIN_DIR / "pixel7.json").read_text())
    th = raw["physics"]["thermal"]
    if where == "link":
        th["links"][0]["nodes"] = ["die", name]
    elif where == "heat":
        th["heat_node"]["gpu"] = name
    elif where == "default":
        th["default_heat_node"] = name
    elif where == "zone_node":
        th["zones"]["G3D"]["node"] = name
    elif where == "cooling":
        th["zones"]["neutral_therm"]["trips"][0]["cooling"] = [name]
    elif where == "governor":
        th["zones"]["ISP"]["governor"] = name
    elif where == "trip_order":
        th["zones"]["neutral_therm"]["trips"].append({"temp_c": 40.0, "hysteresis_c": 1.0, "cooling": ["gpu"]})
    else:
        th["power_allocator"][name or "x"] = dict(th["power_allocator"]["BIG"])
    try:
        profile = parse_profile(raw, source="mutated")
    except ProfileError as exc:
        assert "physics.thermal" in str(exc)
    else:  # a consistent mutation still runs
        VirtualPhone(profile).advance(0.05)


def test_fast_path_spans_end_their_block_at_each_passive_poll_as_ticks_do(monkeypatch):
    """With the inference's knobs all pinned, steps span several ticks; none runs past the step in which a
    throttling zone's passive poll falls, so its cap acts from the next step as on the per-tick path."""
    raw = json.loads((BUILTIN_DIR / "pixel7.json").read_text())
    g3d = raw["physics"]["thermal"]["zones"]["G3D"]
    g3d.update(governor="step_wise", trips=[{"temp_c": 41.0, "hysteresis_c": 3.0, "cooling": ["gpu"]}])
    del raw["physics"]["thermal"]["power_allocator"]["G3D"]
    phone = VirtualPhone(parse_profile(raw, source="hot-pixel7"), seed=1)
    restore = apply_pins(phone, {"gpu": 848 * MHZ, "policy6": 2401 * MHZ, "mem": int(phone.knobs["mem"].table_hz[-1])})
    blocks = []  # (step ends, the passive poll pending when the block was handled)
    advance = Thermal.advance

    def watched(self, t_end_s, dt_s, component_w, power_w):
        blocks.append((t_end_s.copy(), dt_s.copy(), self.due_s))
        return advance(self, t_end_s, dt_s, component_w, power_w)

    monkeypatch.setattr(Thermal, "advance", watched)
    phone.start(LlmRequest(load_model("tinyllama-1.1b-q4"), 8, 2000))
    phone.advance(25.0)
    restore()
    tick = phone.sim.tick_s
    polled = [(t, due) for t, dt, due in blocks if np.isfinite(due)]
    assert len(polled) > 5  # the zone throttled, polling at its passive interval
    assert any((dt > 1.5 * tick).any() for t, dt, due in blocks if np.isfinite(due))  # spans ran meanwhile
    for t_end, due in polled:
        assert due - 1e-9 <= t_end[-1] < due + tick - 1e-9  # ended with the tick the poll falls in
        assert len(t_end) < 2 or t_end[-2] < due - 1e-9


def test_a_governor_a_lifted_cap_releases_starts_its_window_at_the_poll_that_lifted_it(monkeypatch):
    """Caps change at blocks ending inside one advance(): the released governor's window starts there, not
    where that advance began."""
    phone = VirtualPhone("pixel7", seed=1)
    gpu = phone.knobs["gpu"]
    gpu.thermal_cap_hz = int(gpu.table_hz[0])  # capped to its floor: one frequency, the governor rests
    phone.advance(0.1)
    lifted = []

    def lift(self, t_end_s, dt_s, component_w, power_w):
        if not lifted and t_end_s[-1] >= 1.0:
            lifted.append(float(t_end_s[-1]))
            return [("gpu", 0)]
        return []

    monkeypatch.setattr(Thermal, "advance", lift)
    resumed = []
    resume = engine.Simulator._resume
    monkeypatch.setattr(
        engine.Simulator, "_resume", lambda self, name: (resume(self, name), resumed.append(self.gpu_slot.last))
    )
    phone.advance(2.0)
    assert lifted and resumed == [pytest.approx(lifted[0])]
