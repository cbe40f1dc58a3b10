"""The replay marks the requests a throttled phone served: sm8550's stock governors serving the 1.5B model
back to back heat it past its trips within a minute or two, while a few short requests leave it at rest."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

from android.knobs import thermal_caps
from governor.commands import format_bench
from governor.measure import VirtualMeasurer
from governor.replay import replay, summarise
from governor.requests import Requests
from tests.governor.conftest import TINYLLAMA
from tests.governor.test_plan import sample_plan


def served(profile: str, model: str, pairs: list[tuple[int, int]]):
    requests = Requests("test", tuple(p for p, _ in pairs), tuple(o for _, o in pairs))
    return summarise(replay(VirtualMeasurer(profile, f"llm:{model}"), None, requests))


def test_a_phone_served_back_to_back_until_it_throttles_is_marked_and_one_at_rest_is_not():
    hot = served("sm8550", "qwen-1.5b-q4", [(360, 200)] * 12)
    cool = served("pixel7", "tinyllama-1.1b-q4", [(16, 4)] * 3)
    print(f"\nthrottled: sm8550 {hot.throttled_share:.0%} of {hot.requests}, pixel7 {cool.throttled_share:.0%}")
    assert 0 < hot.throttled_share <= 1 and hot.requests == 12
    assert cool.throttled_share == 0


def test_the_bench_table_says_when_a_plan_was_served_throttled():
    one = served("pixel7", "tinyllama-1.1b-q4", [(16, 4)])

    def result(share: float):
        summary = replace(one, throttled_share=share)
        return SimpleNamespace(summary=summary, plan=SimpleNamespace(search={"measurements": 1, "wall_s": 0.1}))

    args = SimpleNamespace(model="m", virtual="v", requests="r", goal="latency")
    quiet = format_bench({"stock": result(0.5), "fusegov": result(0.0)}, args, 1)
    loud = format_bench({"stock": result(0.5), "fusegov": result(0.25)}, args, 1)
    assert "throttled" in quiet.splitlines()[2] and "note:" not in quiet
    assert "note: the phone throttled during the replay under fusegov" in loud and " 25%" in loud


def test_caps_met_while_replaying_are_counted_by_whoever_asks_and_never_printed(caplog):
    # the demo counts the caps its replay met (android.knobs.thermal_caps around the replay, which also counts
    # them to keep them quiet): the outermost count gets them, and nothing reaches the log
    measurer = VirtualMeasurer("pixel7", f"llm:{TINYLLAMA}")
    cpu = measurer.space.role("cpu")
    requests = Requests("test", (100, 100), (2, 2))  # prefill<=512 pins the CPU at its top
    with caplog.at_level("WARNING", logger="fusegov.knobs"):
        phone = measurer.phone(0)
        phone.knobs[cpu.name].thermal_cap_hz = cpu.table_hz[-4]  # a cooling device holds the CPU three OPPs down
        with thermal_caps() as caps:
            replay(measurer, sample_plan(measurer.space), requests, phone=phone)
        phone.knobs[cpu.name].thermal_cap_hz = cpu.table_hz[-4]
        plain = replay(measurer, sample_plan(measurer.space), requests, phone=phone)  # counted and dropped inside
    print(f"\ncaps counted: {dict(caps)}; throttled: {summarise(plain).throttled_share:.0%}")
    assert caps[cpu.name] >= 1 and set(caps) <= set(measurer.space.tables())
    assert not [r for r in caplog.records if "throttles it" in r.getMessage() or "capped" in r.getMessage()]
