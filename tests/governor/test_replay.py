"""The replay marks the requests a throttled phone served: sm8550's stock governors serving the 1.5B model
back to back heat it past its trips within a minute or two, while a few short requests leave it at rest."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

from governor.commands import format_bench
from governor.measure import VirtualMeasurer
from governor.replay import replay, summarise
from governor.requests import Requests


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
