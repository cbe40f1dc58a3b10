"""Adreno counter catalogues as kgsl exposes them: 16 groups, 543 countables on A6xx (REFERENCES.md 2).

Countables that matter for compute carry their real names at their real A6xx indices (CP, RBBM, SP,
TP, UCHE in full or in large part); the rest of each group is named `<GROUP>_COUNTABLE_<i>` and drawn
from the group's signals, so each group has the real number of countables. Graphics-only blocks (PC,
VFD, VPC, TSE, RAS, RB, CCU, LRZ, VSC, CMP) stay still during LLM/CNN compute except for background
noise. A7xx renumbers: index 0 of every group is NEVER_COUNT and the A6xx countables follow from 1
(real A7xx enumerations are longer still, with reserved slots and BV/LPAC countables this model omits).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from android.emulator.sim.pmc.catalogue import (
    CONSTANT,
    CounterGroup,
    Derivation,
    FamilySpec,
    GpuShape,
    copy_of,
    exact,
    fill_group,
    signal,
)

WIDTH_BITS = 64  # kgsl READ returns 64-bit values

Z = CONSTANT

# --- known countables (A6xx numbering) -----------------------------------------------------------
CP = {
    0: ("CP_ALWAYS_COUNT", exact(cycles=1.0)),
    1: ("CP_BUSY_GFX_CORE_IDLE", signal(0.05, kernels=1500.0)),
    2: ("CP_BUSY_CYCLES", signal(0.01, command_cycles=1.0)),
    3: ("CP_NUM_PREEMPTIONS", Z),
    4: ("CP_PREEMPTION_REACTION_DELAY", Z),
    5: ("CP_PREEMPTION_SWITCH_OUT_TIME", Z),
    6: ("CP_PREEMPTION_SWITCH_IN_TIME", Z),
    7: ("CP_DEAD_DRAWS_IN_BIN_RENDER", Z),
    8: ("CP_PREDICATED_DRAWS_KILLED", Z),
    9: ("CP_MODE_SWITCH", signal(0.1, kernels=1.0)),
    10: ("CP_ZPASS_DONE", Z),
    11: ("CP_CONTEXT_DONE", signal(0.05, kernels=1.0)),
    12: ("CP_CACHE_FLUSH", signal(0.1, kernels=0.5)),
    13: ("CP_LONG_PREEMPTIONS", Z),
    14: ("CP_SQE_I_CACHE_STARVE", signal(0.2, kernels=40.0)),
    15: ("CP_SQE_IDLE", signal(0.02, idle_cycles=1.0)),
    45: ("CP_PM4_DATA", signal(0.05, kernels=40.0)),
    46: ("CP_PM4_HEADERS", signal(0.05, kernels=6.0)),
    47: ("CP_VBIF_READ_BEATS", signal(0.08, kernels=24.0)),
    48: ("CP_VBIF_WRITE_BEATS", signal(0.1, kernels=2.0)),
    49: ("CP_SQE_INSTR_COUNTER", signal(0.03, kernels=900.0, command_cycles=0.02)),
}

RBBM = {
    0: ("RBBM_ALWAYS_COUNT", exact(cycles=1.0)),
    1: ("RBBM_ALWAYS_ON", exact(time_us=19.2)),  # the 19.2 MHz always-on clock
    2: ("RBBM_TSE_BUSY", Z),
    3: ("RBBM_RAS_BUSY", Z),
    4: ("RBBM_PC_DCALL_BUSY", signal(0.1, kernels=200.0)),
    5: ("RBBM_PC_VSD_BUSY", Z),
    6: ("RBBM_STATUS_MASKED", exact(active_cycles=1.0)),
    7: ("RBBM_COM_BUSY", copy_of("RBBM_STATUS_MASKED")),
    8: ("RBBM_DCOM_BUSY", Z),
    9: ("RBBM_VBIF_BUSY", signal(0.02, dram_busy_cycles=1.0)),
    10: ("RBBM_VSC_BUSY", Z),
    11: ("RBBM_TESS_BUSY", Z),
    12: ("RBBM_UCHE_BUSY", signal(0.03, active_cycles=0.2, l2_read_lines=0.5, l2_write_lines=0.5)),
    13: ("RBBM_HLSQ_BUSY", signal(0.03, waves=40.0, kernels=500.0)),
}

HLSQ = {
    0: ("HLSQ_BUSY_CYCLES", signal(0.02, waves=32.0, kernels=600.0)),
    1: ("HLSQ_STALL_CYCLES_UCHE", signal(0.05, ls_stall_cycles=0.05)),
    2: ("HLSQ_STALL_CYCLES_SP_STATE", signal(0.05, kernels=200.0)),
    3: ("HLSQ_STALL_CYCLES_SP_FS_STAGE", Z),
    4: ("HLSQ_UCHE_LATENCY_CYCLES", signal(0.05, kernels=400.0)),
    5: ("HLSQ_UCHE_LATENCY_COUNT", signal(0.05, kernels=4.0)),
}

UCHE = {
    0: ("UCHE_BUSY_CYCLES", signal(0.02, active_cycles=0.15, l2_read_lines=0.6, l2_write_lines=0.6)),
    1: ("UCHE_STALL_CYCLES_ARBITER", signal(0.08, dram_busy_cycles=0.05, ls_stall_cycles=0.02)),
    2: ("UCHE_VBIF_LATENCY_CYCLES", signal(0.05, dram_read_beats=45.0)),
    3: ("UCHE_VBIF_LATENCY_SAMPLES", signal(0.02, dram_read_beats=0.25)),
    4: ("UCHE_VBIF_READ_BEATS_TP", signal(0.01, tex_dram_read_beats=1.0)),
    5: ("UCHE_VBIF_READ_BEATS_VFD", Z),
    6: ("UCHE_VBIF_READ_BEATS_HLSQ", signal(0.1, kernels=16.0)),
    7: ("UCHE_VBIF_READ_BEATS_LRZ", Z),
    8: ("UCHE_VBIF_READ_BEATS_SP", signal(0.01, ls_dram_read_beats=1.0)),
    9: ("UCHE_READ_REQUESTS_TP", signal(0.01, tex_miss_lines=1.0)),
    10: ("UCHE_READ_REQUESTS_VFD", Z),
    11: ("UCHE_READ_REQUESTS_HLSQ", signal(0.1, kernels=8.0)),
    12: ("UCHE_READ_REQUESTS_LRZ", Z),
    13: ("UCHE_READ_REQUESTS_SP", signal(0.01, ls_miss_lines=1.0)),
    14: ("UCHE_WRITE_REQUESTS_LRZ", Z),
    15: ("UCHE_WRITE_REQUESTS_SP", signal(0.01, l2_write_lines=1.0)),
    16: ("UCHE_WRITE_REQUESTS_VPC", Z),
    17: ("UCHE_WRITE_REQUESTS_VSC", Z),
    18: ("UCHE_EVICTS", signal(0.04, dram_write_beats=0.5)),
    **{
        19 + bank: (f"UCHE_BANK_REQ{bank}", signal(0.03, l2_read_lines=0.125, l2_write_lines=0.125))
        for bank in range(8)
    },
    27: ("UCHE_VBIF_READ_BEATS_CH0", signal(0.02, dram_read_beats=0.5)),
    28: ("UCHE_VBIF_READ_BEATS_CH1", signal(0.02, dram_read_beats=0.5)),
    29: ("UCHE_GMEM_READ_BEATS", Z),
    30: ("UCHE_TPH_REF_FULL", signal(0.2, ls_stall_cycles=0.002)),
    31: ("UCHE_TPH_VICTIM_FULL", signal(0.2, dram_write_beats=0.01)),
    32: ("UCHE_TPH_EXT_FULL", signal(0.2, dram_busy_cycles=0.003)),
    33: ("UCHE_VBIF_STALL_WRITE_DATA", signal(0.1, dram_write_beats=0.05)),
    34: ("UCHE_DCMP_LATENCY_SAMPLES", Z),
    35: ("UCHE_DCMP_LATENCY_CYCLES", Z),
    36: ("UCHE_VBIF_READ_BEATS_PC", Z),
    37: ("UCHE_READ_REQUESTS_PC", Z),
    38: ("UCHE_RAM_READ_REQ", signal(0.01, l2_read_lines=1.0)),
    39: ("UCHE_RAM_WRITE_REQ", copy_of("UCHE_WRITE_REQUESTS_SP")),
}

TP = {
    0: ("TP_BUSY_CYCLES", signal(0.02, tex_lines=1.0, tex_stall_cycles=0.8)),
    1: ("TP_STALL_CYCLES_UCHE", signal(0.03, tex_stall_cycles=0.6)),
    2: ("TP_LATENCY_CYCLES", signal(0.04, tex_miss_lines=120.0, tex_lines=8.0)),
    3: ("TP_LATENCY_TRANS", signal(0.02, tex_lines=1.0)),
    4: ("TP_FLAG_CACHE_REQUEST_SAMPLES", Z),
    5: ("TP_FLAG_CACHE_REQUEST_LATENCY", Z),
    6: ("TP_L1_CACHELINE_REQUESTS", signal(0.01, tex_lines=1.0)),
    7: ("TP_L1_CACHELINE_MISSES", signal(0.01, tex_miss_lines=1.0)),
    8: ("TP_SP_TP_TRANS", signal(0.02, texture_fetches=1 / 16)),
    9: ("TP_TP_SP_TRANS", copy_of("TP_SP_TP_TRANS")),
    10: ("TP_OUTPUT_PIXELS", signal(0.01, texture_fetches=1.0)),
    11: ("TP_FILTER_WORKLOAD_16BIT", signal(0.03, texture_fetches=0.5)),
    12: ("TP_FILTER_WORKLOAD_32BIT", signal(0.03, texture_fetches=0.5)),
    13: ("TP_QUADS_RECEIVED", signal(0.01, texture_fetches=0.25)),
    14: ("TP_QUADS_OFFSET", Z),
    15: ("TP_QUADS_SHADOW", Z),
    16: ("TP_QUADS_ARRAY", Z),
    17: ("TP_QUADS_GRADIENT", Z),
    18: ("TP_QUADS_1D", Z),
    19: ("TP_QUADS_2D", copy_of("TP_QUADS_RECEIVED")),
    20: ("TP_QUADS_BUFFER", Z),
    21: ("TP_QUADS_3D", Z),
    22: ("TP_QUADS_CUBE", Z),
    23: ("TP_DIVERGENT_QUADS_RECEIVED", signal(0.1, texture_fetches=0.01)),
    24: ("TP_PRT_NON_RESIDENT_EVENTS", Z),
    25: ("TP_OUTPUT_PIXELS_POINT", copy_of("TP_OUTPUT_PIXELS")),
    26: ("TP_OUTPUT_PIXELS_BILINEAR", Z),
    27: ("TP_OUTPUT_PIXELS_MIP", Z),
    28: ("TP_OUTPUT_PIXELS_ANISO", Z),
    29: ("TP_OUTPUT_PIXELS_ZERO_LOD", copy_of("TP_OUTPUT_PIXELS")),
    30: ("TP_FLAG_CACHE_REQUESTS", Z),
    31: ("TP_FLAG_CACHE_MISSES", Z),
    32: ("TP_L1_5_L2_REQUESTS", signal(0.02, tex_miss_lines=1.1)),
}

SP = {
    0: ("SP_BUSY_CYCLES", signal(0.005, active_cycles=1.0)),
    1: ("SP_ALU_WORKING_CYCLES", signal(0.01, alu_cycles=2.0)),  # two ALU pipes per uSPTP
    2: ("SP_EFU_WORKING_CYCLES", signal(0.01, efu_cycles=2.0)),
    3: ("SP_STALL_CYCLES_VPC", Z),
    4: ("SP_STALL_CYCLES_TP", signal(0.03, tex_stall_cycles=1.0)),
    5: ("SP_STALL_CYCLES_UCHE", signal(0.03, ls_stall_cycles=1.0)),
    6: ("SP_STALL_CYCLES_RB", Z),
    7: ("SP_NON_EXECUTION_CYCLES", signal(0.02, stall_cycles=1.0)),
    8: ("SP_WAVE_CONTEXTS", signal(0.01, waves=1.0)),
    9: ("SP_WAVE_CONTEXT_CYCLES", signal(0.03, active_cycles=12.0)),
    **{
        i: (f"SP_{stage}", Z)
        for i, stage in enumerate(
            (
                "FS_STAGE_WAVE_CYCLES",
                "FS_STAGE_WAVE_SAMPLES",
                "VS_STAGE_WAVE_CYCLES",
                "VS_STAGE_WAVE_SAMPLES",
                "FS_STAGE_DURATION_CYCLES",
                "VS_STAGE_DURATION_CYCLES",
            ),
            start=10,
        )
    },
    16: ("SP_WAVE_CTRL_CYCLES", signal(0.03, alu_instructions=0.05)),
    17: ("SP_WAVE_LOAD_CYCLES", signal(0.03, ls_lines=2.0)),
    18: ("SP_WAVE_EMIT_CYCLES", Z),
    19: ("SP_WAVE_NOP_CYCLES", signal(0.05, alu_instructions=0.02)),
    20: ("SP_WAVE_WAIT_CYCLES", signal(0.03, stall_cycles=8.0)),
    21: ("SP_WAVE_FETCH_CYCLES", signal(0.03, tex_lines=2.0)),
    22: ("SP_WAVE_IDLE_CYCLES", signal(0.03, stall_cycles=3.0, active_cycles=0.5)),
    23: ("SP_WAVE_END_CYCLES", signal(0.03, waves=4.0)),
    24: ("SP_WAVE_LONG_SYNC_CYCLES", signal(0.05, ls_stall_cycles=2.0)),
    25: ("SP_WAVE_SHORT_SYNC_CYCLES", signal(0.05, efu_instructions=4.0)),
    26: ("SP_WAVE_JOIN_CYCLES", signal(0.05, waves=2.0)),
    27: ("SP_LM_LOAD_INSTRUCTIONS", signal(0.03, alu_instructions=0.03)),
    28: ("SP_LM_STORE_INSTRUCTIONS", signal(0.03, alu_instructions=0.008)),
    29: ("SP_LM_ATOMICS", Z),
    30: ("SP_GM_LOAD_INSTRUCTIONS", signal(0.02, ls_lines=0.2)),
    31: ("SP_GM_STORE_INSTRUCTIONS", signal(0.03, l2_write_lines=0.3)),
    32: ("SP_GM_ATOMICS", Z),
    **{
        i: (f"SP_{stage}", Z)
        for i, stage in enumerate(
            (
                "VS_STAGE_TEX_INSTRUCTIONS",
                "VS_STAGE_EFU_INSTRUCTIONS",
                "VS_STAGE_FULL_ALU_INSTRUCTIONS",
                "VS_STAGE_HALF_ALU_INSTRUCTIONS",
                "FS_STAGE_TEX_INSTRUCTIONS",
                "FS_STAGE_CFLOW_INSTRUCTIONS",
                "FS_STAGE_EFU_INSTRUCTIONS",
                "FS_STAGE_FULL_ALU_INSTRUCTIONS",
                "FS_STAGE_HALF_ALU_INSTRUCTIONS",
                "FS_STAGE_BARY_INSTRUCTIONS",
                "VS_INSTRUCTIONS",
                "FS_INSTRUCTIONS",
                "ADDR_LOCK_COUNT",
            ),
            start=33,
        )
    },
    46: ("SP_UCHE_READ_TRANS", signal(0.01, ls_miss_lines=1.0)),
    47: ("SP_UCHE_WRITE_TRANS", signal(0.01, l2_write_lines=1.0)),
    48: ("SP_EXPORT_VPC_TRANS", Z),
    49: ("SP_EXPORT_RB_TRANS", Z),
    50: ("SP_PIXELS_KILLED", Z),
    51: ("SP_ICL1_REQUESTS", signal(0.02, alu_instructions=0.1, efu_instructions=0.1)),
    52: ("SP_ICL1_MISSES", signal(0.2, kernels=30.0)),
    53: ("SP_HS_INSTRUCTIONS", Z),
    54: ("SP_DS_INSTRUCTIONS", Z),
    55: ("SP_GS_INSTRUCTIONS", Z),
    56: ("SP_CS_INSTRUCTIONS", signal(0.01, alu_instructions=1.0, efu_instructions=1.0)),
    57: ("SP_GPR_READ", signal(0.02, alu_instructions=2.2)),
    58: ("SP_GPR_WRITE", signal(0.02, alu_instructions=1.0)),
    59: ("SP_FS_STAGE_HALF_EFU_INSTRUCTIONS", Z),
    60: ("SP_VS_STAGE_HALF_EFU_INSTRUCTIONS", Z),
    61: ("SP_LM_BANK_CONFLICTS", signal(0.15, alu_instructions=0.002)),
    62: ("SP_TEX_CONTROL_WORKING_CYCLES", signal(0.02, tex_lines=1.0)),
    63: ("SP_LOAD_CONTROL_WORKING_CYCLES", signal(0.02, ls_lines=1.0)),
    64: ("SP_FLOW_CONTROL_WORKING_CYCLES", signal(0.03, alu_instructions=0.04)),
    65: ("SP_LM_WORKING_CYCLES", signal(0.03, alu_instructions=0.04)),
    66: ("SP_DISPATCHER_WORKING_CYCLES", signal(0.02, waves=16.0)),
    67: ("SP_SEQUENCER_WORKING_CYCLES", signal(0.01, alu_cycles=1.0, efu_cycles=1.0)),
    68: ("SP_LOW_EFFICIENCY_STARVED_BY_TP", signal(0.05, tex_stall_cycles=0.3)),
    69: ("SP_STARVE_CYCLES_HLSQ", signal(0.05, kernels=800.0)),
    70: ("SP_NON_EXECUTION_LS_CYCLES", signal(0.03, ls_stall_cycles=1.0)),
    71: ("SP_WORKING_EU", signal(0.01, alu_cycles=2.0, efu_cycles=2.0)),
    72: ("SP_ANY_EU_WORKING", signal(0.01, alu_cycles=1.0, efu_cycles=0.3)),
    73: ("SP_WORKING_EU_FS_STAGE", Z),
    74: ("SP_ANY_EU_WORKING_FS_STAGE", Z),
    75: ("SP_WORKING_EU_VS_STAGE", Z),
    76: ("SP_ANY_EU_WORKING_VS_STAGE", Z),
    77: ("SP_WORKING_EU_CS_STAGE", copy_of("SP_WORKING_EU")),
    78: ("SP_ANY_EU_WORKING_CS_STAGE", copy_of("SP_ANY_EU_WORKING")),
    79: ("SP_GPR_READ_PREFETCH", signal(0.05, alu_instructions=0.3)),
    80: ("SP_GPR_READ_CONFLICT", signal(0.1, alu_instructions=0.02)),
    81: ("SP_GPR_WRITE_CONFLICT", signal(0.1, alu_instructions=0.01)),
    82: ("SP_GM_LOAD_LATENCY_CYCLES", signal(0.04, ls_miss_lines=200.0, ls_lines=20.0)),
    83: ("SP_GM_LOAD_LATENCY_SAMPLES", copy_of("SP_GM_LOAD_INSTRUCTIONS")),
    84: ("SP_EXECUTABLE_WAVES", signal(0.02, waves=1.0, active_cycles=0.02)),
}


def _busy_only(group: str) -> dict[int, tuple[str, Derivation]]:
    return {0: (f"{group}_BUSY_CYCLES", Z)}


COMPUTE_MIX = {"signal": 0.5, "copy": 0.05, "noise": 0.1, "constant": 0.35}
GRAPHICS_MIX = {"constant": 0.9, "noise": 0.1}


@dataclass(frozen=True)
class _GroupDef:
    name: str
    group_id: int  # KGSL_PERFCOUNTER_GROUP_*
    n_countables: int  # A6xx
    n_physical: int  # kgsl's a6xx perfcounter table
    known: dict[int, tuple[str, Derivation]]
    pool: tuple[str, ...]
    mix: dict[str, float]


A6XX_GROUPS = (
    _GroupDef("SP", 0xA, 85, 24, SP, (), COMPUTE_MIX),
    _GroupDef(
        "TP",
        0x9,
        57,
        12,
        TP,
        ("tex_lines", "tex_miss_lines", "texture_fetches", "tex_stall_cycles", "tex_dram_read_beats"),
        COMPUTE_MIX,
    ),
    _GroupDef("CP", 0x0, 50, 14, CP, ("kernels", "command_cycles", "idle_cycles", "cycles"), COMPUTE_MIX),
    _GroupDef("RB", 0xB, 48, 8, _busy_only("RB"), (), GRAPHICS_MIX),
    _GroupDef("PC", 0x2, 42, 8, {0: ("PC_BUSY_CYCLES", signal(0.1, kernels=50.0))}, (), GRAPHICS_MIX),
    _GroupDef("UCHE", 0x8, 40, 12, UCHE, (), COMPUTE_MIX),
    _GroupDef("CMP", 0x1A, 40, 4, {}, (), GRAPHICS_MIX),
    _GroupDef("CCU", 0x18, 29, 5, _busy_only("CCU"), (), GRAPHICS_MIX),
    _GroupDef("VPC", 0x5, 28, 6, _busy_only("VPC"), (), GRAPHICS_MIX),
    _GroupDef("LRZ", 0x19, 28, 4, _busy_only("LRZ"), (), GRAPHICS_MIX),
    _GroupDef("VFD", 0x3, 23, 8, _busy_only("VFD"), (), GRAPHICS_MIX),
    _GroupDef("HLSQ", 0x4, 21, 6, HLSQ, ("waves", "kernels", "threads", "active_cycles"), COMPUTE_MIX),
    _GroupDef("TSE", 0x6, 20, 4, _busy_only("TSE"), (), GRAPHICS_MIX),
    _GroupDef("RBBM", 0x1, 14, 4, RBBM, (), COMPUTE_MIX),
    _GroupDef("RAS", 0x7, 13, 4, _busy_only("RAS"), (), GRAPHICS_MIX),
    _GroupDef("VSC", 0x17, 5, 2, _busy_only("VSC"), (), GRAPHICS_MIX),
)

# kgsl keeps one RBBM counter on STATUS_MASKED from boot for its busy statistics (gpubusy).
KERNEL_RESERVED = ("RBBM_STATUS_MASKED",)

ADRENO_640 = GpuShape(
    gpu="Adreno 640", cores=2, alu_lanes_per_core=256, efu_lanes_per_core=32, wave_size=64, beat_bytes=32
)
ADRENO_740 = GpuShape(
    gpu="Adreno 740", cores=6, alu_lanes_per_core=256, efu_lanes_per_core=32, wave_size=64, beat_bytes=32
)


def a6xx() -> FamilySpec:
    return _family("adreno-a6xx", ADRENO_640, first_index=0)


def a7xx() -> FamilySpec:
    return _family("adreno-a7xx", ADRENO_740, first_index=1)


def _family(family: str, shape: GpuShape, first_index: int) -> FamilySpec:
    """A family's catalogue; first_index 1 shifts every countable up and puts NEVER_COUNT at 0 (A7xx)."""
    groups, counters = [], []
    for g in A6XX_GROUPS:
        n_countables = g.n_countables + first_index
        group = CounterGroup(g.name, g.group_id, n_countables, g.n_physical)
        known = {i + first_index: entry for i, entry in g.known.items()}
        if first_index:
            known[0] = (f"{g.name}_NEVER_COUNT", CONSTANT)
        rng = np.random.default_rng(zlib.crc32(f"{family}/{g.name}".encode()))
        groups.append(group)
        counters += fill_group(group, known, WIDTH_BITS, 0, g.pool, g.mix, rng)
    return FamilySpec(family, "adreno", shape, tuple(groups), tuple(counters), KERNEL_RESERVED)
