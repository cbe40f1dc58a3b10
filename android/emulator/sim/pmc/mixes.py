"""Random compute mixes that exercise the counters across the space real inference covers.

Each step splits its active cycles between ALU work (prefill GEMMs), DRAM streaming (decode reading
weights) and texture fetches (CNN image loads), so steps at equal utilisation and frequency differ in
what they do. Volumes stay within what the GPU's shape allows (lanes, a beat per cycle, texels per
core per cycle). Used by the counter tests and the benchmark until workload models drive the counters.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from android.emulator.sim.activity import GpuActivity
from android.emulator.sim.pmc.catalogue import GpuShape

DEFAULT_FREQS_HZ = (151e6, 302e6, 471e6, 701e6, 848e6)


def random_mix(
    n_steps: int,
    shape: GpuShape,
    rng: np.random.Generator,
    dt_s: float = 1e-3,
    freqs_hz: Sequence[float] = DEFAULT_FREQS_HZ,
    busy_range: tuple[float, float] = (0.05, 1.0),
) -> GpuActivity:
    n = n_steps
    dt = np.full(n, dt_s)
    freq = rng.choice(np.asarray(freqs_hz, dtype=float), n)
    busy = dt * rng.uniform(*busy_range, n)
    active = freq * busy
    alu_share, mem_share, tex_share = rng.dirichlet([0.7, 0.7, 0.7], n).T
    alu_ops = active * shape.alu_lanes_per_core * shape.cores * alu_share * rng.uniform(0.5, 0.95, n)
    dram_read = active * mem_share * shape.beat_bytes * rng.uniform(0.3, 0.9, n)
    dram_write = dram_read * rng.uniform(0.05, 0.3, n)
    texture_fetches = active * tex_share * shape.cores * rng.uniform(1.0, 4.0, n)
    dram = dram_read + dram_write
    return GpuActivity(
        dt_s=dt,
        freq_hz=freq,
        busy_s=busy,
        alu_ops=alu_ops,
        sfu_ops=alu_ops * rng.uniform(0.0, 0.04, n),  # softmax, GELU
        load_store_bytes=dram * rng.uniform(2.0, 8.0, n) + 0.05 * alu_ops,
        texture_fetches=texture_fetches,
        l2_bytes=dram * rng.uniform(1.2, 3.0, n) + texture_fetches * shape.texel_bytes * rng.uniform(0.05, 0.3, n),
        dram_read_bytes=dram_read,
        dram_write_bytes=dram_write,
        kernels=rng.poisson(busy / 200e-6).astype(float),  # a kernel per ~200 us of work
        threads=alu_ops / rng.uniform(50.0, 500.0, n),
    )
