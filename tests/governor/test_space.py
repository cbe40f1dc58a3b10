"""Configuration space from a probe: roles by what a knob does, never by a profile's name."""

from __future__ import annotations

import pytest

from android.emulator.phone import VirtualPhone
from android.probe import probe_device
from android.virtual import VirtualDevice
from governor.errors import GovernorError
from governor.space import ConfigSpace, Setting
from tests.governor.conftest import HEXA6
from tests.helpers.profiles import four_cluster_profile


def space_of(profile: str, cpu: int | None = None) -> ConfigSpace:
    return ConfigSpace.from_device(probe_device(VirtualDevice(VirtualPhone(profile))), cpu)


@pytest.mark.parametrize(
    ("profile", "cpu_knob", "sizes"),
    [("pixel7", "policy6", (18, 12, 13)), ("sm8550", "policy7", (21, 10, 10)), (HEXA6, "policy5", (8, 7, 8))],
)
def test_roles_and_tables_come_from_the_probe(profile, cpu_knob, sizes):
    space = space_of(profile)
    primary = space.primary
    assert [k.role for k in primary] == ["cpu", "gpu", "mem"]
    assert primary[0].name == cpu_knob
    assert tuple(len(k.table_hz) for k in primary) == sizes
    assert all(list(k.table_hz) == sorted(k.table_hz) for k in space.knobs)
    assert {k.role for k in space.side} == {"side"} and space.side


def test_hexa6_prime_cluster_is_one_core_and_another_cpu_can_be_chosen():
    space = space_of(HEXA6)
    assert space.role("cpu").cpus == (5,) and space.inference_cpu == 5
    mid = space_of(HEXA6, cpu=3)
    assert mid.role("cpu").name == "policy2" and mid.knob("policy5").role == "side"
    with pytest.raises(GovernorError, match="no CPU 9"):
        space_of(HEXA6, cpu=9)


def test_a_four_cluster_phone_tunes_its_prime_core_and_keeps_the_other_clusters_as_side_knobs(tmp_path):
    space = space_of(str(four_cluster_profile(tmp_path / "quad4.json")))
    assert [k.name for k in space.primary] == ["policy7", "gpu", "mem"]
    assert space.role("cpu").cpus == (7,) and space.inference_cpu == 7
    assert {"policy0", "policy3", "policy5"} <= {k.name for k in space.side}


def test_settings_pin_table_frequencies_and_leave_the_rest_stock():
    space = space_of(HEXA6)
    gpu = space.knob("gpu")
    setting = Setting.of({"gpu": gpu.max_hz, "mem": None})
    assert setting.as_dict() == {"gpu": gpu.max_hz} and setting == Setting.of({"gpu": gpu.max_hz})
    assert space.validate(setting) is setting
    with pytest.raises(GovernorError, match="not in its table"):
        space.validate(Setting.of({"gpu": gpu.max_hz + 1}))
    with pytest.raises(GovernorError, match="no knob 'npu'"):
        space.validate(Setting.of({"npu": 1}))
    grid = space.grid(space.primary, with_stock=["mem"])
    assert len(grid) == 8 * 7 * 9 and len(set(grid)) == len(grid)
