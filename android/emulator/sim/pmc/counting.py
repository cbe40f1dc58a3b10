"""Counters count what the hardware issues, not what costs energy.

A GPU counter counts warp instructions, cache lines or bus messages; the energy follows the lanes that
were active, the bytes that were used and the texels that were filtered. Per kernel the ratio depends
on its shape: lane occupancy (partial warps, divergence), access width (a 4-byte load still moves and
counts a line), texture filtering (a bilinear fetch filters four texels, a point fetch one). The power
model charges the events a kernel really does; the counter unit is fed the events as counted:

    counted ALU and SFU operations = operations / lane occupancy      occupancy in [lane_occupancy_min, 1]
    counted load/store and L2 bytes = bytes / access efficiency        efficiency in [access_efficiency_min, 1]
    counted texture fetches = texels / texels per fetch                texels per fetch in [1, texel_weight_max]

DRAM beats, kernels and threads are counted exactly. The factors are drawn once per kernel shape from a
hash of its events (physics.gpu_variation gives the ranges), so they are the same in every run and on
every phone of a profile, and differ between kernels, networks and models, as real kernels do.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np

from android.emulator.sim.activity import EVENT_FIELDS
from android.emulator.sim.physics import GpuVariation

CACHE_STREAMS = 4096  # distinct kernel streams remembered (LLM layer shapes x context buckets, CNNs)
EV = {name: i for i, name in enumerate(EVENT_FIELDS)}


class CountingModel:
    def __init__(self, variation: GpuVariation):
        self.v = variation
        self._cache: OrderedDict[tuple, np.ndarray] = OrderedDict()

    def factors(self, events: np.ndarray) -> np.ndarray:
        """(kernels, len(EVENT_FIELDS)) counted-per-real-event factors of kernels with these events."""
        v = self.v
        rows = np.ascontiguousarray(np.atleast_2d(events), dtype=np.float64)
        by_shape: dict[bytes, tuple[float, ...]] = {}  # a model's layers repeat: each shape hashed once
        draws = np.array(
            [
                by_shape[b] if (b := row.tobytes()) in by_shape else by_shape.setdefault(b, _uniforms(row))
                for row in rows
            ]
        )  # (kernels, 4) in [0, 1)
        occupancy = v.lane_occupancy_min + (1.0 - v.lane_occupancy_min) * draws[:, 0]
        ls_eff = v.access_efficiency_min + (1.0 - v.access_efficiency_min) * draws[:, 1]
        l2_eff = v.access_efficiency_min + (1.0 - v.access_efficiency_min) * draws[:, 2]
        texels = 1.0 + (v.texel_weight_max - 1.0) * draws[:, 3]
        out = np.ones((len(draws), len(EVENT_FIELDS)))
        out[:, EV["alu_ops"]] = out[:, EV["sfu_ops"]] = 1.0 / occupancy
        out[:, EV["load_store_bytes"]] = 1.0 / ls_eff
        out[:, EV["l2_bytes"]] = 1.0 / l2_eff
        out[:, EV["texture_fetches"]] = 1.0 / texels
        return out

    def counted(self, stream) -> np.ndarray:
        """Events of one unit of a KernelStream as the counters see them, (len(EVENT_FIELDS),)."""
        key = (stream.name, stream.events.shape, stream.total_events.tobytes())
        found = self._cache.get(key)
        if found is None:
            found = (stream.events * self.factors(stream.events)).sum(axis=0)
            self._cache[key] = found
            if len(self._cache) > CACHE_STREAMS:
                self._cache.popitem(last=False)
        return found


def _uniforms(row: np.ndarray) -> tuple[float, ...]:
    """Four deterministic uniforms from a kernel's events (its shape)."""
    digest = hashlib.blake2b(np.ascontiguousarray(row, dtype=np.float64).tobytes(), digest_size=16).digest()
    return tuple(int.from_bytes(digest[i : i + 4], "little") / 2**32 for i in range(0, 16, 4))
