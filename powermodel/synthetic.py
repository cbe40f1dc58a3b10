"""A statistical stand-in for GPU traces, for tests and benchmarks of the fitter (not the virtual phone).

It has the shape of the problem and nothing more: hidden per-unit activity (ALU, texture, memory, ...) that
differs between workloads, counters that are noisy, correlated, redundant, constant or near-constant views
of it, power = leakage(V, T) + clock(V^2 f) + V^2 f * sum(energy per unit activity), and a utilisation that
says how long the GPU was busy but not with what. The virtual phone's physics is the realistic source.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from collectors import trace

UNITS = ("alu", "sfu", "texture", "load_store", "l2", "dram", "tiler", "front_end")
# Dynamic energy per unit activity, W / (V^2 GHz) at full activity: what power depends on.
UNIT_POWER = np.array([1.10, 0.35, 0.55, 0.40, 0.30, 0.70, 0.15, 0.10])


def synthetic_trace(
    n_samples: int = 20_000,
    n_counters: int = 64,
    n_workloads: int = 16,
    levels_mhz: tuple[float, ...] = (151, 302, 471, 701, 848),
    period_s: float = 0.05,
    noise: float = 0.01,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict]:
    """A fusegov-schema trace (`pmc.*` per-interval deltas, `power.gpu_w`, ...) and its metadata."""
    rng = np.random.default_rng(seed)
    k = len(UNITS)
    levels = np.asarray(levels_mhz, dtype=float) * 1e6
    volts = 0.55 + 0.45 * (levels - levels.min()) / max(np.ptp(levels), 1.0)

    # Each workload: mean activity per unit (sparse-ish: some units idle) and a busy fraction.
    mean_act = rng.beta(0.8, 1.6, size=(n_workloads, k)) * (rng.random((n_workloads, k)) < 0.8)
    busy = rng.uniform(0.55, 0.98, size=n_workloads)
    names = [f"wl{w:02d}" for w in range(n_workloads)]

    # Contiguous blocks: each workload at every level, in a shuffled order.
    blocks = [(w, lv) for w in range(n_workloads) for lv in range(len(levels))]
    order = rng.permutation(len(blocks))
    sizes = np.diff(np.linspace(0, n_samples, len(blocks) + 1).astype(int))
    wl = np.repeat([blocks[i][0] for i in order], sizes)
    lv = np.repeat([blocks[i][1] for i in order], sizes)
    n = len(wl)
    freq = levels[lv]
    volt = volts[lv]

    # Per-sample activity: workload mean times a slow phase wobble, per unit.
    wobble = np.exp(0.25 * rng.standard_normal((n, k)))
    act = np.clip(mean_act[wl] * wobble, 0.0, 1.0)
    u = np.clip(busy[wl] * np.exp(0.05 * rng.standard_normal(n)), 0.02, 1.0)
    act *= u[:, None]

    temp = 35.0 + 25.0 * volt + rng.normal(0, 1.0, n)
    f_ghz = freq / 1e9
    power = (
        0.05
        + 0.12 * volt * (1 + 0.02 * (temp - 40))  # leakage
        + 0.25 * volt**2 * f_ghz * u  # clock tree while busy
        + volt**2 * f_ghz * (act @ UNIT_POWER)
    )
    power *= 1.0 + noise * rng.standard_normal(n)

    # Counters: mostly one unit each with some mixing, noisy; plus redundant, constant, near-constant ones.
    cycles = freq * period_s
    n_special = max(3, n_counters // 10)
    n_plain = n_counters - n_special
    loadings = np.zeros((k, n_plain))
    home = np.arange(n_plain) % k
    loadings[home, np.arange(n_plain)] = rng.uniform(0.5, 2.0, n_plain)
    mix = rng.random((k, n_plain)) < 0.15
    loadings += mix * rng.uniform(0.0, 0.4, (k, n_plain))
    per_cycle = act @ loadings * np.exp(0.05 * rng.standard_normal((n, n_plain)))
    counts = np.round(per_cycle * cycles[:, None] * rng.uniform(0.5, 4.0, n_plain))
    special = []
    for j in range(n_special):
        kind = j % 3
        if kind == 0:  # redundant: sum of two others
            a, b = rng.choice(n_plain, 2, replace=False)
            special.append(counts[:, a] + counts[:, b])
        elif kind == 1:  # constant (an unused countable)
            special.append(np.zeros(n))
        else:  # near-constant: fires in under 2% of windows
            special.append(np.where(rng.random(n) < 0.02, rng.integers(1, 50, n), 0).astype(float))
    # Busy-cycle counters (Adreno RBBM/SP busy, Mali GPU_ACTIVE): what utilisation is made of.
    busy_cycles = [
        np.round(u * cycles * np.exp(0.01 * rng.standard_normal(n))),
        np.round((0.7 * u + 0.3 * act[:, 0]) * cycles * np.exp(0.03 * rng.standard_normal(n))),
    ]
    all_counts = np.column_stack([counts[:, : n_plain - 2]] + busy_cycles + special).astype(np.int64)
    group_names = ["SP", "TP", "UCHE", "RB", "CP", "PC", "VFD", "LRZ"]
    cols = [trace.pmc_col(group_names[i % len(group_names)], f"C{i:03d}") for i in range(n_plain - 2)]
    cols += [trace.pmc_col("RBBM", "GPU_BUSY_CYCLES"), trace.pmc_col("SP", "SP_BUSY_CYCLES")]
    cols += [trace.pmc_col(group_names[i % len(group_names)], f"C{i:03d}") for i in range(n_plain, all_counts.shape[1])]

    frame = pd.DataFrame(all_counts, columns=cols)
    frame.insert(0, "seq", np.arange(n))
    frame.insert(1, "t_s", np.arange(1, n + 1) * period_s)
    frame.insert(2, "phase", "run")
    frame.insert(3, "workload", np.asarray(names)[wl])
    frame[trace.freq_col("gpu")] = freq
    frame[trace.util_col("gpu")] = u * 100.0
    frame[trace.volt_col("gpu")] = volt
    frame[trace.temp_col("gpu")] = temp
    frame[trace.power_col("gpu")] = power
    frame[trace.power_col(trace.TOTAL_RAIL)] = power + 1.0
    meta = {
        "device": "synthetic",
        "profile": "synthetic",
        "soc": "synthetic",
        "period_s": period_s,
        "counters": cols,
        "tool": "powermodel.synthetic",
    }
    return frame, meta
