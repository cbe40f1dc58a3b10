"""Pins by phase, decode alone, the fast path for pinned knobs and event-driven governor evaluation: each
changes what the engine does, never what the phone would do."""

import pytest

from android.emulator.phone import VirtualPhone
from android.emulator.sim import engine
from android.emulator.sim.governors import schedutil, walt
from android.emulator.sim.request import run_llm_decode, run_llm_request
from android.errors import WorkloadError

MHZ = 1_000_000
TINY = "tinyllama-1.1b-q4"
PINS = {"policy6": 2401 * MHZ, "gpu": 848 * MHZ, "mem": 2028 * MHZ}


def _limits(phone, knob):
    state = phone.knobs[knob]
    return state.min_request_hz, state.max_request_hz, state.governor


def test_pins_by_phase_switch_exactly_at_the_first_token_and_release_what_the_next_phase_does_not_name():
    phone = VirtualPhone("pixel7")
    before = {k: _limits(phone, k) for k in ("policy6", "gpu", "mem")}
    seen = {"prefill": set(), "decode": set()}

    def watch(block):  # every step's clocks, by phase
        for phase, gpu, cpu in zip(block.phase, block.freq_hz["gpu"], block.freq_hz["policy6"]):
            if phase in seen:
                seen[phase].add((int(gpu), int(cpu)))

    by_phase = {"prefill": {"policy6": 2850 * MHZ, "gpu": 848 * MHZ}, "decode": {"gpu": 400 * MHZ}}
    r = run_llm_request(phone, TINY, 40, 12, pins_by_phase=by_phase, idle_before_s=0.2, observers=[watch])
    assert seen["prefill"] == {(848 * MHZ, 2850 * MHZ)}  # from the first prefill step
    assert {gpu for gpu, _ in seen["decode"]} == {400 * MHZ}  # from the first decode step on
    assert max(cpu for _, cpu in seen["decode"]) < 2850 * MHZ  # policy6 went back to sched_pixel
    assert r.pins_by_phase_hz == {p: dict(v) for p, v in by_phase.items()} and r.pins_hz == {}
    assert {k: _limits(phone, k) for k in before} == before  # restored afterwards


def test_pins_for_the_request_and_by_phase_do_not_mix():
    with pytest.raises(WorkloadError, match="not both"):
        run_llm_request(VirtualPhone("pixel7"), TINY, 8, 2, pins={"gpu": 848 * MHZ}, pins_by_phase={"decode": {}})


def test_decode_alone_times_the_tokens_of_the_same_request_without_its_prefill():
    full = run_llm_request(VirtualPhone("pixel7", seed=1), TINY, 96, 16, pins=PINS)
    alone = run_llm_decode(VirtualPhone("pixel7", seed=1), TINY, 96, 16, pins=PINS)
    assert alone.ttft_s is None and set(alone.phases) == {"decode"}
    assert alone.tpot_s == pytest.approx(full.tpot_s, rel=0.03)  # noise draws differ, the work does not
    assert alone.energy_per_token_j["decode"] == pytest.approx(full.energy_per_token_j["decode"], rel=0.05)
    with pytest.raises(WorkloadError, match="at least 1 token"):
        run_llm_decode(VirtualPhone("pixel7"), TINY, 96, 0)


def _per_tick(monkeypatch):
    monkeypatch.setattr(engine.Simulator, "_span", lambda self, now, end: min(self.tick_s, end - now))


def test_the_fast_path_for_pinned_knobs_gives_the_per_tick_results(monkeypatch):
    spans = []
    step = engine.Simulator._span_step

    def counted(self, now, span):
        spans.append(span)
        return step(self, now, span)

    monkeypatch.setattr(engine.Simulator, "_span_step", counted)
    fast = run_llm_request(VirtualPhone("pixel7", seed=2), TINY, 48, 16, pins=PINS, idle_before_s=0.2)
    assert len(spans) > 50  # the fast path ran
    _per_tick(monkeypatch)
    slow = run_llm_request(VirtualPhone("pixel7", seed=2), TINY, 48, 16, pins=PINS, idle_before_s=0.2)
    assert fast.ttft_s == pytest.approx(slow.ttft_s, rel=1e-9)  # the inference runs exactly as per tick
    assert fast.tpot_s == pytest.approx(slow.tpot_s, rel=1e-9)
    assert fast.energy_j == pytest.approx(slow.energy_j, rel=0.005)  # side knobs' governors act at span ends


def test_skipping_governors_that_cannot_decide_changes_nothing(monkeypatch):
    def run():
        r = run_llm_request(VirtualPhone("pixel7", seed=3), TINY, 24, 24, idle_before_s=0.3)
        return r.ttft_s, r.tpot_s, r.energy_j, r.mean_freq_hz

    event_driven = run()
    monkeypatch.setattr(schedutil.Sugov, "_band", lambda self, table, scale: None)  # evaluate every tick
    monkeypatch.setattr(engine.Simulator, "_quiet_at_floor", lambda self, slot, now: False)
    assert run() == event_driven  # bit for bit


def test_walt_ticks_carried_without_an_update_change_nothing(monkeypatch):
    def run():
        r = run_llm_request(VirtualPhone("sm8550", seed=3), TINY, 24, 24, idle_before_s=0.3)
        return r.ttft_s, r.tpot_s, r.energy_j, r.mean_freq_hz

    carried = []
    carry = walt.Walt.carry

    def counting(self, *args):
        took = carry(self, *args)
        carried.append(took)
        return took

    monkeypatch.setattr(walt.Walt, "carry", counting)
    event_driven = run()
    assert sum(carried) > 100  # most ticks inside a window were carried
    monkeypatch.setattr(walt.Walt, "carry", lambda self, *args: False)  # an update every tick
    assert run() == event_driven  # bit for bit


@pytest.mark.timeout(60)
def test_a_governor_due_a_hair_past_a_spans_start_runs_and_the_span_advances(monkeypatch):
    """Float noise can put a governor's due time a hair (~1e-13 s) past the start of a span; rounded to the tick
    it would run at the span's start, where it is not yet due, and the span loop never advanced (the demo hung
    replaying a plan that pins gpu, mem and policy6)."""
    step = engine.Simulator._span_step
    nudged = []

    def nudging(self, now, span):
        if not nudged:
            slots = [s for s in self.periodic_slots if s.due < float("inf")]
            for slot in slots:
                slot.due = now + 2.2e-13
            self.next_gov_due = now + 2.2e-13
            nudged.extend(slot.name for slot in slots)
        return step(self, now, span)

    monkeypatch.setattr(engine.Simulator, "_span_step", nudging)
    result = run_llm_request(VirtualPhone("pixel7", seed=2), TINY, 48, 16, pins=PINS, idle_before_s=0.2)
    assert nudged  # the unpinned governors were due a hair past a span's start
    assert result.tpot_s > 0 and result.ttft_s > 0  # and the request ran to its end
