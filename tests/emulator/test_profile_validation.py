"""Profiles are validated completely: each bad field is a ProfileError naming the file and the field, ranges
come from the records' field metadata, and files that are not profiles at all are refused cleanly."""

from __future__ import annotations

import copy
import json
import typing
from dataclasses import fields, is_dataclass

import pytest

from android.emulator.profile import BUILTIN_DIR, load_profile
from android.emulator.ranges import declares_range, parse_interval
from android.emulator.sim.physics import Physics
from android.errors import ProfileError

BASE = json.loads((BUILTIN_DIR / "pixel7.json").read_text())


def _records(cls, seen=None):
    seen = set() if seen is None else seen
    if cls in seen:
        return seen
    seen.add(cls)
    for kind in typing.get_type_hints(cls).values():
        for part in (kind, *typing.get_args(kind)):
            if is_dataclass(part):
                _records(part, seen)
    return seen


def _numeric(kind) -> bool:
    return kind in (int, float) or any(a in (int, float) for a in typing.get_args(kind))


@pytest.mark.parametrize("record", sorted(_records(Physics), key=lambda c: c.__name__), ids=lambda c: c.__name__)
def test_every_numeric_physics_field_declares_its_range(record):
    hints = typing.get_type_hints(record)
    for f in fields(record):
        if _numeric(hints[f.name]):
            assert declares_range(f), f"{record.__name__}.{f.name} declares no range"
            parse_interval(f.metadata["range"])


def test_interval_notation():
    interval = parse_interval("(0, 0.1]")
    assert 0.1 in interval and 0.05 in interval and 0 not in interval and float("nan") not in interval
    assert float("inf") not in parse_interval("[0, inf)") and float("inf") in parse_interval("[0, inf]")
    with pytest.raises(ValueError):
        parse_interval("0..1")


def _set(path: str, value):
    def mutate(raw):
        node = raw
        *parents, last = path.split(".")
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


CASES = [
    ("physics.tick_s", 0, "physics.tick_s must be in [0.0005, 0.1], got 0"),
    ("physics.kernel_jitter", float("nan"), "physics.kernel_jitter must be in [0, 0.5], got nan"),
    (
        "physics.thermal.zones.neutral_therm.passive_delay_s",
        float("inf"),
        "physics.thermal.zones.neutral_therm.passive_delay_s must be in (0, 600], got inf",
    ),
    ("physics.gpu.alu_ops_per_cycle", 10**400, "physics.gpu.alu_ops_per_cycle must be in (0, 1e6]"),
    ("physics.gpu.event_energy_pj.alu_ops", -1, "physics.gpu.event_energy_pj.alu_ops must be in [0, 1e9]"),
    ("physics.gpu.clock_gated_share.alu_ops", 1.5, "physics.gpu.clock_gated_share.alu_ops must be in [0, 1]"),
    ("physics.gpu.clock_gated_share.kernels", 0.1, "physics.gpu.clock_gated_share.kernels is not a gated unit"),
    ("physics.gpu.clock_gated_share.l2_bytes", 0.9, "physics.gpu.clock_gated_share shares must sum to at most 1"),
    ("physics.gpu.clock_gate_hold_cycles", -1, "physics.gpu.clock_gate_hold_cycles must be in [0, 1000]"),
    ("physics.governors.sched_pixel.dvfs_headroom", 3.0, "sched_pixel.dvfs_headroom must be in [1, 2], got 3.0"),
    ("gpu.queue_depth", 0, "gpu.queue_depth must be in [1, 64], got 0"),
    ("cpu.clusters.0.available_governors", ["sched_pixel", "turbo"], "'turbo' is not a governor the virtual phone"),
    ("cpu.clusters.0.available_governors", ["sched_pixel", "quickstep"], "'quickstep' drives a gpu knob"),
    ("cpu.clusters.0.governor", "schedutil2", "'schedutil2' is not in its available_governors"),
    ("cpu.clusters.0.policy", "../../etc", "cpu.clusters[0].policy '../../etc' is not a valid name"),
    ("cpu.clusters.1.cpus", [0, 4, 5], "cpu 0 is already in policy0"),
    ("gpu.sysfs_dir", "/sys/../etc", "gpu.sysfs_dir '/sys/../etc' is not a valid name"),
    ("gpu.opp.0", [151000000, 10**12], "gpu.opp[0] must be [freq_hz, volt_uv]"),
    ("memory_bytes", -5, "memory_bytes must be in"),
    ("power.battery.capacity_pct", 101, "power.battery.capacity_pct must be in [0, 100]"),
    ("physics.thermal.nodes.board.heat_capacity_j_per_k", 0, "heat_capacity_j_per_k must be in (0, inf), got 0"),
    ("thermal.zones.1.type", "BIG", "thermal.zones (type) names BIG more than once"),
    ("power.battery.discharge_current_sign", True, "discharge_current_sign must be one of -1, 1"),
]


@pytest.mark.parametrize("path,value,message", CASES, ids=[f"{c[0]}={str(c[1])[:20]}" for c in CASES])
def test_bad_fields_are_named(tmp_path, path, value, message):
    raw = copy.deepcopy(BASE)
    _set(path, value)(raw)
    file = tmp_path / "bad.json"
    file.write_text(json.dumps(raw))
    with pytest.raises(ProfileError, match="field") as caught:
        load_profile(file)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "content,message",
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        (b"\xff\xfe\x00", "cannot read it"),
        ("[]", "field <top> must be an object"),
        ("x" * 17_000_000, "is too big for a profile"),
    ],
    ids=["deep", "binary", "list", "huge"],
)
def test_files_that_are_not_profiles_are_refused(tmp_path, content, message):
    file = tmp_path / "p.json"
    file.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ProfileError, match=message):
        load_profile(file)


def test_a_directory_or_an_impossible_name_is_refused(tmp_path):
    with pytest.raises(ProfileError, match="not a file"):
        load_profile(str(tmp_path) + "/")
    with pytest.raises(ProfileError, match="cannot read it|does not exist"):
        load_profile("/tmp/" + "x" * 5000 + ".json")
