"""Plans: versioned JSON, validated on load with the bad field named; a plan from another phone is refused."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from governor.errors import GovernorError
from governor.plan import Expected, Plan, PlanPhase, Rung, check_device, load_plan, plan_from_dict
from tests.governor.conftest import HEXA6
from tests.governor.test_space import space_of


def sample_plan(space) -> Plan:
    gpu, cpu = space.knob("gpu"), space.role("cpu")
    phases = [
        PlanPhase(
            "prefill",
            "prefill<=64",
            64,
            {gpu.name: gpu.max_hz, "mem": None},
            Expected(1.0, 0.1),
            Expected(1.5, 0.1),
            True,
        ),
        PlanPhase(
            "prefill", "prefill<=512", 512, {cpu.name: cpu.max_hz}, Expected(9.0, 0.1), Expected(12.0, 0.1), True
        ),
        PlanPhase(
            "decode",
            "decode",
            None,
            {gpu.name: gpu.table_hz[-2]},
            Expected(0.12, 0.4),
            Expected(0.2, 0.41),
            False,
            Expected(0.6, 0.98),
            (
                Rung({gpu.name: gpu.table_hz[-3], "mem": None}, Expected(0.13, 0.38), Expected(0.65, 0.93)),
                Rung({gpu.name: gpu.table_hz[-4]}, Expected(0.15, 0.37), Expected(0.75, 0.9)),
            ),
        ),
    ]
    device = {"name": space.device, "soc": space.soc, "family": space.family, "knobs": space.tables()}
    return Plan(
        device,
        "tinyllama-1.1b-q4",
        {"goal": "latency", "budget": "stock"},
        {"name": "fusegov", "measurements": 3},
        phases,
    )


def test_round_trip_and_lookup(tmp_path):
    space = space_of(HEXA6)
    plan = sample_plan(space)
    path = tmp_path / "plan.json"
    plan.write(path)
    raw = json.loads(path.read_text())
    assert raw["format"] == "fusegov.plan" and raw["version"] == 3
    loaded = load_plan(path)
    assert loaded == plan
    version2 = {**raw, "version": 2, "phases": [{k: v for k, v in p.items() if k != "cooler"} for p in raw["phases"]]}
    assert plan_from_dict(version2).levels == 0  # a version-2 plan (no cooler rungs) still loads
    older = {
        **version2,
        "version": 1,
        "phases": [{k: v for k, v in p.items() if k != "vs_stock"} for p in version2["phases"]],
    }
    assert [p.setting for p in plan_from_dict(older).phases] == [p.setting for p in plan.phases]
    assert loaded.phase_for_prompt(10).bucket == "prefill<=64"
    assert loaded.phase_for_prompt(100).bucket == "prefill<=512"
    assert loaded.phase_for_prompt(4000).bucket == "prefill<=512"
    assert loaded.pins(loaded.phases[0]) == {"gpu": space.knob("gpu").max_hz}
    assert not loaded.met
    # heat levels: each phase steps to its rungs, and stays on its coolest beyond them
    table, decode, prefill = space.knob("gpu").table_hz, loaded.phase("decode"), loaded.phases[0]
    assert loaded.levels == 2
    assert [loaded.pins(decode, level) for level in range(4)] == [
        {"gpu": table[-2]},
        {"gpu": table[-3]},
        {"gpu": table[-4]},
        {"gpu": table[-4]},
    ]
    assert loaded.pins(prefill, 2) == loaded.pins(prefill)  # no rungs: the phase's own setting at every level
    check_device(loaded, space)


def test_a_plan_from_another_phone_is_refused():
    plan = sample_plan(space_of(HEXA6))
    with pytest.raises(GovernorError, match="made for virtual-hexa6"):
        check_device(plan, space_of("pixel7"))
    other = copy.deepcopy(plan)
    other.device["knobs"]["gpu"] = other.device["knobs"]["gpu"][:-1]
    with pytest.raises(GovernorError, match="knob gpu has other frequencies"):
        check_device(other, space_of(HEXA6))


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("format",), "fusegov.profile", "format"),
        (("version",), 99, "version"),
        (("device", "knobs", "gpu"), [], "device.knobs.gpu"),
        (("goal", "goal"), "speed", "goal.goal"),
        (("phases",), [], "phases"),
        (("phases", 0, "phase"), "warmup", "phases[0].phase"),
        (("phases", 0, "max_prompt_tokens"), 0, "phases[0].max_prompt_tokens"),
        (("phases", 0, "setting", "gpu"), 123, "phases[0].setting.gpu"),
        (("phases", 1, "expected", "latency_s"), -1, "phases[1].expected."),
        (("phases", 2, "met"), "yes", "phases[2].met"),
        (("phases", 2, "cooler"), {}, "phases[2].cooler"),
        (("phases", 2, "cooler", 0), 7, "phases[2].cooler[0]"),
        (("phases", 2, "cooler", 1, "setting", "gpu"), 5, "phases[2].cooler[1].setting.gpu"),
        (("phases", 2, "cooler", 1, "vs_stock"), None, "phases[2].cooler[1].vs_stock"),
    ],
)
def test_errors_name_the_field(path, value, field):
    data = json.loads(json.dumps(sample_plan(space_of(HEXA6)).to_dict()))
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(GovernorError, match=f"field {field.replace('[', '.').replace(']', '.')}".replace(".", "\\W?")):
        plan_from_dict(data)


def test_unreadable_files_are_governor_errors(tmp_path):
    with pytest.raises(GovernorError, match="no such file"):
        load_plan(tmp_path / "missing.json")
    with pytest.raises(GovernorError, match="cannot read"):
        load_plan(tmp_path)  # a directory
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(GovernorError, match="not valid JSON"):
        load_plan(bad)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
BASE = sample_plan(space_of(HEXA6)).to_dict()


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["format", "version", "device", "model", "goal", "search", "phases", "notes"]), JSONISH)
def test_any_damage_is_a_clear_error_never_a_traceback(key, value):
    data = copy.deepcopy(BASE)
    data[key] = value
    try:
        plan_from_dict(data)
    except GovernorError as exc:
        assert "plan:" in str(exc)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 2),
    st.sampled_from(["phase", "bucket", "max_prompt_tokens", "setting", "expected", "stock", "met"]),
    JSONISH,
)
def test_damaged_phases_are_clear_errors(index, key, value):
    data = copy.deepcopy(BASE)
    data["phases"][index][key] = value
    try:
        plan_from_dict(data)
    except GovernorError as exc:
        assert f"phases[{index}]" in str(exc) or "phases" in str(exc)
