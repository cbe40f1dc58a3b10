"""Mali Valhall (Mali-G710) hardware counters: 156 in four blocks (REFERENCES.md 2), read as whole dumps.

Blocks follow the kbase hardware-counter reader (kinstr_prfcnt): front end 34, tiler 20, memory system
45, shader core 57. Each counter has a slot in its block's dump; slots 0-3 hold the block header, so
counters start at slot 4 (real layouts leave gaps between them, this one packs them). Shader-core
values are summed over the cores, as HWCPipe reports them. Hardware counters are 32 bits and wrap.
During LLM/CNN compute the tiler and the fragment counters stay at zero.
"""

from __future__ import annotations

import zlib

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

WIDTH_BITS = 32
FIRST_SLOT = 4  # slots 0-3: block header
SLOTS_PER_BLOCK = 64

MALI_G710_MP7 = GpuShape(
    gpu="Mali-G710 MP7", cores=7, alu_lanes_per_core=64, efu_lanes_per_core=8, wave_size=16, beat_bytes=16
)
CORES = MALI_G710_MP7.cores
Z = CONSTANT

FRONT_END = [
    ("GPU_ACTIVE", exact(active_cycles=1.0)),
    ("GPU_IRQ_ACTIVE", signal(0.1, kernels=400.0)),
    ("ITER_TILER_ACTIVE", Z),
    ("ITER_TILER_JOB_COMPLETED", Z),
    ("ITER_TILER_IDVS_TASK_COMPLETED", Z),
    ("ITER_COMP_ACTIVE", signal(0.005, active_cycles=0.98, kernels=300.0)),
    ("ITER_COMP_JOB_COMPLETED", exact(kernels=1.0)),
    ("ITER_COMP_TASK_COMPLETED", signal(0.02, threads=1 / 256)),
    ("ITER_FRAG_ACTIVE", Z),
    ("ITER_FRAG_JOB_COMPLETED", Z),
    ("ITER_FRAG_TASK_COMPLETED", Z),
    ("CEU_ACTIVE", signal(0.02, command_cycles=1.0)),
    ("LSU_ACTIVE", signal(0.05, kernels=600.0)),
]

TILER = [
    (name, Z)
    for name in (
        "TILER_ACTIVE",
        "JOBS_PROCESSED",
        "TRIANGLES",
        "LINES",
        "POINTS",
        "FRONT_FACING",
        "BACK_FACING",
        "PRIM_VISIBLE",
        "PRIM_CULLED",
        "PRIM_CLIPPED",
        "PRIM_SAT_CULLED",
        "BIN_ALLOC_INIT",
        "BIN_ALLOC_OVERFLOW",
        "BUS_READ",
        "BUS_WRITE",
        "LOADING_DESC",
        "IDVS_POS_SHAD_REQ",
        "IDVS_POS_SHAD_STALL",
        "IDVS_POS_FIFO_FULL",
        "PREFETCH_STALL",
    )
]

# A 64-byte line moves as four 16-byte beats on the external bus.
MEMORY = [
    ("L2_RD_MSG_IN", signal(0.01, l2_read_lines=1.0)),
    ("L2_RD_MSG_IN_STALL", signal(0.05, ls_stall_cycles=0.05, tex_stall_cycles=0.05)),
    ("L2_WR_MSG_IN", signal(0.01, l2_write_lines=1.0)),
    ("L2_WR_MSG_IN_STALL", signal(0.08, dram_write_beats=0.02)),
    ("L2_SNP_MSG_IN", Z),
    ("L2_SNP_MSG_IN_STALL", Z),
    ("L2_RD_MSG_OUT", signal(0.01, dram_read_beats=0.25)),
    ("L2_RD_MSG_OUT_STALL", signal(0.1, dram_busy_cycles=0.02)),
    ("L2_WR_MSG_OUT", signal(0.02, dram_write_beats=0.25)),
    ("L2_ANY_LOOKUP", signal(0.01, l2_read_lines=1.0, l2_write_lines=1.0)),
    ("L2_READ_LOOKUP", copy_of("L2_RD_MSG_IN")),
    ("L2_WRITE_LOOKUP", copy_of("L2_WR_MSG_IN")),
    ("L2_EXT_SNOOP_LOOKUP", Z),
    ("L2_EXT_READ", copy_of("L2_RD_MSG_OUT")),
    ("L2_EXT_READ_NOSNP", copy_of("L2_EXT_READ")),
    ("L2_EXT_READ_UNIQUE", Z),
    ("L2_EXT_READ_BEATS", exact(dram_read_beats=1.0)),
    ("L2_EXT_AR_STALL", signal(0.08, dram_busy_cycles=0.1)),
    ("L2_EXT_AR_CNT_Q1", signal(0.05, dram_read_beats=0.15)),
    ("L2_EXT_AR_CNT_Q2", signal(0.05, dram_read_beats=0.07)),
    ("L2_EXT_AR_CNT_Q3", signal(0.08, dram_read_beats=0.03)),
    ("L2_EXT_RRESP_0_127", signal(0.05, dram_read_beats=0.12)),
    ("L2_EXT_RRESP_128_191", signal(0.06, dram_read_beats=0.08)),
    ("L2_EXT_RRESP_192_255", signal(0.08, dram_read_beats=0.04)),
    ("L2_EXT_RRESP_256_319", signal(0.1, dram_read_beats=0.01)),
    ("L2_EXT_RRESP_320_383", signal(0.2, dram_read_beats=0.002)),
    ("L2_EXT_WRITE", signal(0.02, dram_write_beats=0.25)),
    ("L2_EXT_WRITE_NOSNP_FULL", copy_of("L2_EXT_WRITE", 0.9)),
    ("L2_EXT_WRITE_NOSNP_PTL", signal(0.1, dram_write_beats=0.025)),
    ("L2_EXT_WRITE_SNP_FULL", Z),
    ("L2_EXT_WRITE_SNP_PTL", Z),
    ("L2_EXT_WRITE_BEATS", exact(dram_write_beats=1.0)),
    ("L2_EXT_W_STALL", signal(0.1, dram_write_beats=0.05)),
    ("L2_EXT_AW_CNT_Q1", signal(0.05, dram_write_beats=0.15)),
    ("L2_EXT_AW_CNT_Q2", signal(0.06, dram_write_beats=0.06)),
    ("L2_EXT_AW_CNT_Q3", signal(0.1, dram_write_beats=0.02)),
    ("L2_EXT_SNOOP", Z),
    ("L2_EXT_SNOOP_STALL", Z),
    ("L2_EXT_SNOOP_RESP_CLEAN", Z),
    ("L2_EXT_SNOOP_RESP_DATA", Z),
    ("L2_EXT_SNOOP_INTERNAL", Z),
    ("MMU_REQUESTS", signal(0.05, dram_read_beats=0.004, dram_write_beats=0.004)),
    ("MMU_TABLE_READS_L3", signal(0.2, dram_read_beats=0.0002)),
    ("MMU_TABLE_READS_L2", signal(0.3, dram_read_beats=0.00002)),
]

SHADER_CORE = [
    *(
        (name, Z)
        for name in (
            "FRAG_ACTIVE",
            "FRAG_PRIMITIVES_OUT",
            "FRAG_PRIM_RAST",
            "FRAG_FPK_ACTIVE",
            "FRAG_STARVING",
            "FRAG_WARPS",
            "FRAG_PARTIAL_QUADS_RAST",
            "FRAG_QUADS_RAST",
            "FRAG_QUADS_EZS_TEST",
            "FRAG_QUADS_EZS_UPDATE",
            "FRAG_QUADS_EZS_KILL",
            "FRAG_LZS_TEST",
            "FRAG_LZS_KILL",
            "FRAG_TRANS_ELIM",
            "QUAD_FPK_KILLER",
            "FULL_QUAD_WARPS",
        )
    ),
    ("COMPUTE_ACTIVE", signal(0.005, core_active_cycles=1.0)),
    ("COMPUTE_TASKS", signal(0.02, threads=1 / 256)),
    ("COMPUTE_WARPS", signal(0.005, waves=1.0)),
    ("COMPUTE_STARVING", signal(0.05, kernels=2000.0 * CORES)),
    ("EXEC_CORE_ACTIVE", signal(0.01, core_active_cycles=0.97)),
    ("EXEC_INSTR_FMA", signal(0.01, alu_instructions=1.0)),
    ("EXEC_INSTR_CVT", signal(0.05, alu_instructions=0.08)),
    ("EXEC_INSTR_SFU", signal(0.01, efu_instructions=1.0)),
    ("EXEC_INSTR_MSG", signal(0.02, ls_lines=0.25, tex_lines=0.25)),
    ("EXEC_INSTR_DIVERGED", signal(0.15, alu_instructions=0.005)),
    ("EXEC_ICACHE_MISS", signal(0.2, kernels=50.0)),
    ("EXEC_STARVE_ARITH", signal(0.03, stall_cycles=0.5 * CORES)),
    ("CALL_BLEND_SHADER", Z),
    ("TEX_MSGI_NUM_FLITS", signal(0.02, texture_fetches=0.25)),
    ("TEX_DFCH_CLK_STALLED", signal(0.05, tex_stall_cycles=0.3 * CORES)),
    ("TEX_TFCH_CLK_STALLED", signal(0.05, tex_stall_cycles=0.2 * CORES)),
    ("TEX_TFCH_STARVED_PENDING_DATA_FETCH", signal(0.05, tex_stall_cycles=0.4 * CORES)),
    ("TEX_FILT_NUM_OPERATIONS", signal(0.01, texture_fetches=1.0)),
    ("TEX_FILT_NUM_FXR_OPERATIONS", signal(0.03, texture_fetches=0.5)),
    ("TEX_FILT_NUM_FST_OPERATIONS", signal(0.03, texture_fetches=0.5)),
    ("TEX_MSGO_NUM_MSG", signal(0.02, texture_fetches=1 / 16)),
    ("TEX_MSGO_NUM_FLITS", signal(0.02, texture_fetches=0.25)),
    ("LS_MEM_READ_FULL", signal(0.01, ls_lines=0.8)),
    ("LS_MEM_READ_SHORT", signal(0.05, ls_lines=0.2)),
    ("LS_MEM_WRITE_FULL", signal(0.02, l2_write_lines=0.9)),
    ("LS_MEM_WRITE_SHORT", signal(0.08, l2_write_lines=0.1)),
    ("LS_MEM_ATOMIC", signal(0.2, kernels=4.0)),
    ("VARY_INSTR", Z),
    ("VARY_SLOT_32", Z),
    ("VARY_SLOT_16", Z),
    ("ATTR_INSTR", Z),
    ("BEATS_RD_FTC", Z),
    ("BEATS_RD_FTC_EXT", Z),
    ("BEATS_RD_LSC", signal(0.01, ls_miss_lines=4.0)),
    ("BEATS_RD_LSC_EXT", signal(0.02, ls_dram_read_beats=1.0)),
    ("BEATS_RD_TEX", signal(0.01, tex_miss_lines=4.0)),
    ("BEATS_RD_TEX_EXT", signal(0.02, tex_dram_read_beats=1.0)),
    ("BEATS_RD_OTHER", signal(0.1, kernels=64.0)),
    ("BEATS_WR_LSC", signal(0.01, l2_write_lines=4.0)),
    ("BEATS_WR_TIB", Z),
    ("WARP_REG_SIZE_64", signal(0.05, waves=0.5)),
]

COMPUTE_MIX = {"signal": 0.5, "copy": 0.1, "noise": 0.1, "constant": 0.3}

# (name, block type as in kinstr_prfcnt, counters, known, pool of signals for the unnamed rest)
BLOCKS = (
    ("FE", 0, 34, FRONT_END, ("kernels", "command_cycles", "active_cycles", "idle_cycles")),
    ("TILER", 1, 20, TILER, ()),
    (
        "MEMORY",
        2,
        45,
        MEMORY,
        ("l2_read_lines", "l2_write_lines", "dram_read_beats", "dram_write_beats", "dram_busy_cycles"),
    ),
    (
        "SHADER_CORE",
        3,
        57,
        SHADER_CORE,
        ("alu_instructions", "waves", "ls_lines", "tex_lines", "core_active_cycles", "efu_instructions"),
    ),
)


def valhall() -> FamilySpec:
    groups, counters = [], []
    for name, block_type, n_counters, known, pool in BLOCKS:
        group = CounterGroup(name, block_type, n_counters, n_counters)
        slots: dict[int, tuple[str, Derivation]] = {FIRST_SLOT + i: entry for i, entry in enumerate(known)}
        rng = np.random.default_rng(zlib.crc32(f"mali-valhall/{name}".encode()))
        groups.append(group)
        counters += fill_group(
            group, slots, WIDTH_BITS, FIRST_SLOT, pool, COMPUTE_MIX, rng, spare_name="{group}_SLOT_{index}"
        )
    if max(c.index for c in counters) >= SLOTS_PER_BLOCK:
        raise ValueError("a Mali block has more counters than dump slots")
    return FamilySpec("mali-valhall", "mali", MALI_G710_MP7, tuple(groups), tuple(counters))
