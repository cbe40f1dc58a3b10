"""The counter catalogues are sized and numbered like the real ones (REFERENCES.md 2)."""

from __future__ import annotations

from collections import Counter as Tally

import pytest

from android.emulator.profile import builtin_profiles, load_profile
from android.emulator.sim.pmc import FAMILIES, PmcUnit
from android.emulator.sim.pmc.generate import SIGNALS
from android.errors import FusegovError, ProfileError

A6XX_GROUP_SIZES = {
    "SP": 85,
    "TP": 57,
    "CP": 50,
    "RB": 48,
    "PC": 42,
    "UCHE": 40,
    "CMP": 40,
    "CCU": 29,
    "VPC": 28,
    "LRZ": 28,
    "VFD": 23,
    "HLSQ": 21,
    "TSE": 20,
    "RBBM": 14,
    "RAS": 13,
    "VSC": 5,
}
KGSL_GROUP_IDS = {
    "CP": 0x0,
    "RBBM": 0x1,
    "PC": 0x2,
    "VFD": 0x3,
    "HLSQ": 0x4,
    "VPC": 0x5,
    "TSE": 0x6,
    "RAS": 0x7,
    "UCHE": 0x8,
    "TP": 0x9,
    "SP": 0xA,
    "RB": 0xB,
    "LRZ": 0x19,
    "CMP": 0x1A,
}
MALI_BLOCK_SIZES = {"FE": 34, "TILER": 20, "MEMORY": 45, "SHADER_CORE": 57}


def test_adreno_a6xx_has_543_countables_in_the_real_16_groups():
    unit = PmcUnit.for_family("adreno-a6xx", seed=0)
    assert len(unit.catalogue) == 543
    assert dict(Tally(c.group for c in unit.catalogue)) == A6XX_GROUP_SIZES
    assert {g.name: g.n_countables for g in unit.groups.values()} == A6XX_GROUP_SIZES
    for name, group_id in KGSL_GROUP_IDS.items():
        assert unit.groups[name].group_id == group_id
    for group in A6XX_GROUP_SIZES:
        indices = sorted(c.index for c in unit.catalogue if c.group == group)
        assert indices == list(range(A6XX_GROUP_SIZES[group]))
        # only a handful can be read at once
        assert 2 <= unit.groups[group].n_physical < A6XX_GROUP_SIZES[group]
    assert {c.width_bits for c in unit.catalogue} == {64}
    at = {c.name: (c.group, c.index) for c in unit.catalogue}
    assert at["SP_BUSY_CYCLES"] == ("SP", 0)
    assert at["SP_ALU_WORKING_CYCLES"] == ("SP", 1)
    assert at["SP_EFU_WORKING_CYCLES"] == ("SP", 2)
    assert at["TP_L1_CACHELINE_MISSES"] == ("TP", 7)
    assert at["UCHE_VBIF_READ_BEATS_SP"] == ("UCHE", 8)
    assert at["CP_BUSY_CYCLES"] == ("CP", 2)
    assert at["RBBM_ALWAYS_COUNT"] == ("RBBM", 0)


def test_adreno_a7xx_renumbers_with_never_count_at_zero():
    a6 = PmcUnit.for_family("adreno-a6xx", seed=0)
    a7 = PmcUnit.for_family("adreno-a7xx", seed=0)
    for group in A6XX_GROUP_SIZES:
        assert a7.groups[group].n_countables == a6.groups[group].n_countables + 1
        zero = next(c for c in a7.catalogue if c.group == group and c.index == 0)
        assert zero.name == f"{group}_NEVER_COUNT" and zero.derivation.kind == "constant"
    a6_named = {c.name: c.index for c in a6.catalogue if "_COUNTABLE_" not in c.name}
    a7_index = {c.name: c.index for c in a7.catalogue}
    assert len(a6_named) > 150
    for name, index in a6_named.items():
        assert a7_index[name] == index + 1, name


def test_mali_valhall_has_156_hardware_counters_in_four_blocks():
    unit = PmcUnit.for_family("mali-valhall", seed=0)
    assert len(unit.catalogue) == 156
    assert dict(Tally(c.group for c in unit.catalogue)) == MALI_BLOCK_SIZES
    assert {c.width_bits for c in unit.catalogue} == {32}
    names = {c.name: c for c in unit.catalogue}
    for name in (
        "GPU_ACTIVE",
        "FRAG_ACTIVE",
        "COMPUTE_ACTIVE",
        "EXEC_CORE_ACTIVE",
        "TILER_ACTIVE",
        "L2_RD_MSG_IN",
        "L2_EXT_READ_BEATS",
        "L2_EXT_WRITE_BEATS",
    ):
        assert name in names
    for block in MALI_BLOCK_SIZES:  # dump slots 0-3 are the block header
        slots = sorted(c.index for c in unit.catalogue if c.group == block)
        assert slots[0] == 4 and slots[-1] < 64 and len(set(slots)) == len(slots)


def test_every_builtin_profile_names_a_known_family():
    families = {load_profile(name).gpu.pmc_family for name in builtin_profiles()}
    assert families == {"mali-valhall", "adreno-a7xx", "adreno-a6xx"}
    for family in families:
        assert PmcUnit.for_family(family, seed=1).family == family


def test_unknown_family_is_a_profile_error_naming_the_known_ones():
    with pytest.raises(ProfileError) as err:
        PmcUnit.for_family("powervr-rogue", seed=0)
    message = str(err.value)
    assert "powervr-rogue" in message
    for family in FAMILIES:
        assert family in message


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_catalogue_mixes_followers_copies_constants_and_noise(family):
    unit = PmcUnit.for_family(family, seed=0)
    kinds = Tally(c.derivation.kind for c in unit.catalogue)
    assert kinds["signal"] >= 50 and kinds["copy"] >= 3 and kinds["constant"] >= 20 and kinds["noise"] >= 3
    names = {c.name for c in unit.catalogue}
    assert len(names) == len(unit.catalogue)
    for c in unit.catalogue:
        d = c.derivation
        if d.kind == "copy":
            assert d.source in names and d.source != c.name
        if d.kind == "signal":
            assert 1 <= len(d.terms) <= 3 and all(s in SIGNALS and scale > 0 for s, scale in d.terms)


def test_counter_lookup_suggests_close_names():
    unit = PmcUnit.for_family("adreno-a6xx", seed=0)
    with pytest.raises(FusegovError, match="SP_ALU_WORKING_CYCLES"):
        unit.counter("SP_ALU_WORKING_CYCLE")
