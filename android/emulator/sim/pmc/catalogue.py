"""Records that describe a GPU's performance counters and how each one arises from what the GPU did.

A family (Adreno A6xx, A7xx, Mali Valhall) is a FamilySpec: its counter groups (with how many physical
counters each has), its counters (name, group, countable index, width, derivation) and the GPU's shape
(cores, lanes, wave size, bus beat) that turns events into cycles, lines and beats. The derivations are
data, read once by android.emulator.sim.pmc.generate into a mixing matrix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from android.errors import FusegovError

KINDS = ("signal", "copy", "constant", "noise")


class PmcError(FusegovError):
    """A counter request the hardware (or kgsl) would refuse: unknown counter, wrong reader, released handle."""


@dataclass(frozen=True)
class Derivation:
    """How a counter's increments arise.

    signal:   sum of scale * base signal (names from generate.SIGNALS), times (1 + noise_cv * N(0, 1))
    copy:     `scale` times the (noisy) increments of counter `source`: a duplicate or scaled copy
    constant: never moves (NEVER_COUNT, graphics-only counters while the GPU runs compute)
    noise:    background events unrelated to the workload, at a rate per second with a large spread
    """

    kind: str
    terms: tuple[tuple[str, float], ...] = ()
    noise_cv: float = 0.0
    source: str = ""
    scale: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"derivation kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if any(scale < 0 for _, scale in self.terms) or self.scale < 0 or self.noise_cv < 0:
            raise ValueError(f"derivation {self} has a negative scale: counters only count up")


def signal(cv: float, **terms: float) -> Derivation:
    """A counter that follows base signals with multiplicative noise of coefficient of variation `cv`."""
    return Derivation("signal", tuple(terms.items()), noise_cv=cv)


def exact(**terms: float) -> Derivation:
    """A counter that follows base signals exactly (cycle counters)."""
    return Derivation("signal", tuple(terms.items()))


def copy_of(name: str, scale: float = 1.0) -> Derivation:
    return Derivation("copy", source=name, scale=scale)


def noise(events_per_s: float, cv: float = 0.5) -> Derivation:
    """Background events at a steady rate, unrelated to the workload."""
    return Derivation("noise", (("time_us", events_per_s / 1e6),), noise_cv=cv)


CONSTANT = Derivation("constant")


@dataclass(frozen=True)
class Counter:
    name: str  # unique within the family, e.g. SP_ALU_WORKING_CYCLES, L2_EXT_READ_BEATS
    group: str  # kgsl group (SP, TP, ...) or Mali block (FE, TILER, MEMORY, SHADER_CORE)
    index: int  # countable number (Adreno) or slot in the block's dump (Mali)
    width_bits: int  # 64 for kgsl reads, 32 for Mali hardware counters
    derivation: Derivation


@dataclass(frozen=True)
class CounterGroup:
    name: str
    group_id: int  # kgsl KGSL_PERFCOUNTER_GROUP_* id, or the Mali block type
    n_countables: int
    n_physical: int  # counters of this group readable at once (Mali: every counter of the block)


@dataclass(frozen=True)
class GpuShape:
    """What turns events into cycles, lines and beats on this GPU."""

    gpu: str
    cores: int  # shader cores (Mali) or SP/uSPTP units (Adreno)
    alu_lanes_per_core: int  # FP32 lanes issuing one op per cycle
    efu_lanes_per_core: int  # special-function lanes
    wave_size: int  # threads per wave / warp
    beat_bytes: int  # bytes per beat on the GPU's external bus
    line_bytes: int = 64
    texel_bytes: int = 4
    launch_cycles: int = 2000  # front-end cycles to set up one kernel


@dataclass(frozen=True)
class FamilySpec:
    family: str
    vendor: str  # "adreno" (kgsl reserve/read) or "mali" (hwcnt dumps)
    shape: GpuShape
    groups: tuple[CounterGroup, ...]
    counters: tuple[Counter, ...]
    kernel_reserved: tuple[str, ...] = ()  # counters the driver holds from boot (kgsl busy statistics)

    def __post_init__(self) -> None:
        names = [c.name for c in self.counters]
        if len(set(names)) != len(names):
            dupes = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"{self.family}: duplicate counter names {dupes[:5]}")
        known = set(names)
        for c in self.counters:
            if c.derivation.kind == "copy" and c.derivation.source not in known:
                raise ValueError(f"{self.family}: {c.name} copies unknown counter {c.derivation.source!r}")
        per_group = {g.name: 0 for g in self.groups}
        for c in self.counters:
            if c.group not in per_group:
                raise ValueError(f"{self.family}: {c.name} is in unknown group {c.group!r}")
            per_group[c.group] += 1
        for g in self.groups:
            if per_group[g.name] != g.n_countables:
                raise ValueError(
                    f"{self.family}: group {g.name} has {per_group[g.name]} counters, declared {g.n_countables}"
                )


def fill_group(
    group: CounterGroup,
    known: dict[int, tuple[str, Derivation]],
    width_bits: int,
    first_index: int,
    pool: tuple[str, ...],
    mix: dict[str, float],
    rng: np.random.Generator,
    spare_name: str = "{group}_COUNTABLE_{index}",
) -> list[Counter]:
    """All counters of a group: the known ones at their indices, the rest named by `spare_name` with a
    derivation drawn from `mix` (kind -> probability) over the group's base signals `pool`.

    Drawn derivations give the long tail real catalogues have: counters that follow the group's work
    with their own scale and noise, copies of a named counter, background noise, and counters that
    never move during compute. `rng` is fixed per family, so every phone of a family has one catalogue.
    """
    kinds = list(mix)
    probs = np.array([mix[k] for k in kinds], dtype=float)
    probs /= probs.sum()
    followers = [name for name, d in known.values() if d.kind == "signal" and d.terms]
    counters = []
    for index in range(first_index, first_index + group.n_countables):
        if index in known:
            name, derivation = known[index]
        else:
            name = spare_name.format(group=group.name, index=index)
            derivation = _draw(str(rng.choice(kinds, p=probs)), pool, followers, rng)
        counters.append(Counter(name, group.name, index, width_bits, derivation))
    unused = set(known) - set(range(first_index, first_index + group.n_countables))
    if unused:
        raise ValueError(f"group {group.name}: known countables {sorted(unused)} are outside its range")
    return counters


def _draw(kind: str, pool: tuple[str, ...], followers: list[str], rng: np.random.Generator) -> Derivation:
    if kind == "copy" and followers:
        return copy_of(str(rng.choice(followers)), float(rng.choice([0.25, 0.5, 1.0, 1.0, 2.0])))
    if kind in ("signal", "copy") and pool:
        n_terms = int(rng.integers(1, min(3, len(pool)) + 1))
        names = rng.choice(pool, size=n_terms, replace=False)
        scales = np.exp(rng.uniform(math.log(0.05), math.log(2.0), size=n_terms))
        return signal(float(rng.uniform(0.01, 0.05)), **{str(n): float(s) for n, s in zip(names, scales)})
    if kind == "noise":
        return noise(float(np.exp(rng.uniform(math.log(1e2), math.log(1e5)))), float(rng.uniform(0.3, 0.8)))
    return CONSTANT


def counter_delta(after: int | np.ndarray, before: int | np.ndarray, width_bits: int) -> int | np.ndarray:
    """Increment between two readings of a counter that wraps at 2**width_bits (at most one wrap between
    the readings). Works on ints or on arrays of readings (uint64 arithmetic wraps, the mask trims it)."""
    if isinstance(after, np.ndarray) or isinstance(before, np.ndarray):
        diff = np.asarray(after, dtype=np.uint64) - np.asarray(before, dtype=np.uint64)
        return diff if width_bits >= 64 else diff & np.uint64((1 << width_bits) - 1)
    return (int(after) - int(before)) % (1 << width_bits)
