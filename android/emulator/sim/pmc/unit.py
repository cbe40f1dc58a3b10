"""The virtual phone's GPU counter unit: hidden 64-bit totals that the simulation advances, and the
readers a collector uses, with the constraints of the real interfaces.

Adreno (kgsl): `reserve(group, countable)` is GET (a group has only a few physical counters; the same
countable reserved twice shares one), `release` is PUT, `read` is READ (64-bit totals that only grow).
Mali (hwcnt): `snapshot()` dumps every hardware counter at once, each 32 bits wide, so it wraps.
Readers difference consecutive readings (catalogue.counter_delta handles the wrap).

The virtual unit counts every countable all the time; on hardware only programmed countables count,
so, as on hardware, only differences between two readings under one reservation mean anything.
"""

from __future__ import annotations

import difflib
import functools
import itertools
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from android.emulator.sim.activity import GpuActivity
from android.emulator.sim.pmc import adreno, mali
from android.emulator.sim.pmc.catalogue import Counter, CounterGroup, FamilySpec, GpuShape, PmcError
from android.emulator.sim.pmc.generate import ACTIVITY_FIELDS, MixingModel, base_signals, check_activity
from android.errors import ProfileError

FAMILIES: dict[str, Callable[[], FamilySpec]] = {
    "adreno-a6xx": adreno.a6xx,
    "adreno-a7xx": adreno.a7xx,
    "mali-valhall": mali.valhall,
}
PENDING_STEPS_MAX = 4096  # steps buffered between readings before they are counted anyway
DT, BUSY = ACTIVITY_FIELDS.index("dt_s"), ACTIVITY_FIELDS.index("busy_s")


class CounterBusyError(PmcError):
    """Every physical counter of the group is programmed already (kgsl GET fails with EBUSY)."""


@dataclass(frozen=True)
class CounterHandle:
    """One kgsl reservation: which countable, and which physical counter of the group holds it."""

    group: str
    countable: int
    name: str
    physical: int
    reservation: int  # unique per reserve() call, so a double PUT is caught


@functools.cache
def family_model(family: str) -> tuple[FamilySpec, MixingModel]:
    """A family's catalogue and mixing matrix, built once per process."""
    if family not in FAMILIES:
        raise ProfileError(f"unknown GPU counter family {family!r}: known families are {', '.join(sorted(FAMILIES))}")
    spec = FAMILIES[family]()
    return spec, MixingModel(spec)


class PmcUnit:
    """Counters of one phone's GPU. Thread-safe: the ADB server may read while the simulation runs."""

    def __init__(self, spec: FamilySpec, model: MixingModel, seed: int):
        self.family = spec.family
        self.shape: GpuShape = spec.shape
        self.groups: dict[str, CounterGroup] = {g.name: g for g in spec.groups}
        self.catalogue: list[Counter] = list(spec.counters)
        self._model = model
        self._index = {c.name: i for i, c in enumerate(self.catalogue)}
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        width = min(c.width_bits for c in self.catalogue)
        # Counters have run since boot: start each at an arbitrary value (never-moving ones read 0).
        moving = np.array([c.derivation.kind != "constant" for c in self.catalogue])
        start = self._rng.integers(0, 1 << min(width, 40), size=len(self.catalogue), dtype=np.uint64)
        self._totals = np.where(moving, start, np.uint64(0)).astype(np.uint64)
        self._fraction = np.zeros(len(self.catalogue))
        self._pending: list[np.ndarray] = []  # copies of accumulated activity, one row per GpuActivity field
        self._pending_steps = 0

    @classmethod
    def for_family(cls, family: str, seed: int = 0) -> PmcUnit:
        """The unit for a profile's `gpu.pmc_family`; ProfileError names the known families."""
        spec, model = family_model(family)
        unit_class = AdrenoPmcUnit if spec.vendor == "adreno" else MaliPmcUnit
        return unit_class(spec, model, seed)

    # --- simulation side ------------------------------------------------------------------------
    def accumulate(self, activity: GpuActivity) -> None:
        """Advance every counter by what these steps of activity add.

        The activity is checked now and counted in one vectorised pass over all steps pending when a
        reader next looks (or when PENDING_STEPS_MAX steps have piled up), so calling this once per
        simulation step costs little more than appending to a list.
        """
        if activity.n_steps == 0:
            return
        # a copy, since the caller may reuse its arrays before the steps are counted
        self.accumulate_rows(np.vstack([getattr(activity, name) for name in ACTIVITY_FIELDS]))

    def accumulate_rows(self, rows: np.ndarray) -> None:
        """accumulate() for activity already laid out as rows (ACTIVITY_FIELDS order, one column per step) in
        an array the unit may keep: the engine's path, without a GpuActivity and its copy per block."""
        if not rows.shape[1]:
            return
        if not rows.min() >= 0 or (rows[BUSY] > rows[DT] * (1 + 1e-9)).any():
            check_activity(GpuActivity(*rows))  # names what is wrong
        with self._lock:
            self._pending.append(rows)
            self._pending_steps += rows.shape[1]
            if self._pending_steps >= PENDING_STEPS_MAX:
                self._count_pending()

    def _count_pending(self) -> None:
        """Fold the pending steps into the totals (caller holds the lock)."""
        if not self._pending:
            return
        rows = self._pending[0] if len(self._pending) == 1 else np.hstack(self._pending)
        self._pending, self._pending_steps = [], 0
        activity = GpuActivity(*rows)
        increments = self._model.summed(base_signals(activity, self.shape), self._rng) + self._fraction
        whole = np.floor(increments)
        self._fraction = increments - whole
        self._totals += whole.astype(np.uint64)

    def _current_totals(self) -> np.ndarray:
        """Totals with everything accumulated so far counted (caller holds the lock)."""
        self._count_pending()
        return self._totals

    def read_all_totals(self) -> np.ndarray:
        """Every counter's hidden 64-bit total (uint64, catalogue order): the simulation's ground truth."""
        with self._lock:
            return self._current_totals().copy()

    def counter(self, name: str) -> Counter:
        if name not in self._index:
            near = difflib.get_close_matches(name, self._index, n=3)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise PmcError(f"{self.family} has no counter {name!r}{hint}")
        return self.catalogue[self._index[name]]

    def index_of(self, name: str) -> int:
        """Position of a counter in `catalogue` and in read_all_totals()."""
        self.counter(name)
        return self._index[name]

    # --- readers (each vendor implements its own; the other one's fails clearly) ------------------
    def reserve(self, group: str | int, countable: int) -> CounterHandle:
        raise self._not_kgsl()

    def release(self, handle: CounterHandle) -> None:
        raise self._not_kgsl()

    def read(self, handles: Iterable[CounterHandle]) -> dict[str, int]:
        raise self._not_kgsl()

    def snapshot(self) -> dict[str, int]:
        raise PmcError(
            f"{self.family} counters are read through reserve(group, countable) and "
            "read(handles), like kgsl; snapshot() is the Mali hardware-counter dump"
        )

    def _not_kgsl(self) -> PmcError:
        return PmcError(
            f"{self.family} counters are dumped whole with snapshot(); "
            "reserve/release/read is the kgsl (Adreno) interface"
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.family!r}, {len(self.catalogue)} counters)"


class AdrenoPmcUnit(PmcUnit):
    """kgsl semantics: each group has `n_physical` counters; GET programs one, PUT frees it."""

    def __init__(self, spec: FamilySpec, model: MixingModel, seed: int):
        super().__init__(spec, model, seed)
        self._by_countable = {(c.group, c.index): c for c in self.catalogue}
        self._group_ids = {g.group_id: g.name for g in spec.groups}
        # per group, per physical counter: [countable, reference count] or None when free
        self._physical: dict[str, list[list[int] | None]] = {g.name: [None] * g.n_physical for g in spec.groups}
        self._live: dict[int, CounterHandle] = {}
        self._reservations = itertools.count(1)
        self.kernel_handles = [self.reserve(c.group, c.index) for c in map(self.counter, spec.kernel_reserved)]

    def _group(self, group: str | int) -> CounterGroup:
        name = self._group_ids.get(group, "") if isinstance(group, int) else str(group).upper()
        if name not in self.groups:
            raise PmcError(
                f"{self.family} has no counter group {group!r}: groups are "
                f"{', '.join(f'{g.name} ({g.group_id:#x})' for g in self.groups.values())}"
            )
        return self.groups[name]

    def reserve(self, group: str | int, countable: int) -> CounterHandle:
        g = self._group(group)
        if not 0 <= countable < g.n_countables:
            raise PmcError(
                f"{self.family} group {g.name}: countable {countable} is out of range 0..{g.n_countables - 1}"
            )
        counter = self._by_countable[(g.name, countable)]
        with self._lock:
            slots = self._physical[g.name]
            physical = next((i for i, s in enumerate(slots) if s and s[0] == countable), None)
            if physical is None:
                physical = next((i for i, s in enumerate(slots) if s is None), None)
                if physical is None:
                    held = ", ".join(self._by_countable[(g.name, s[0])].name for s in slots if s)
                    raise CounterBusyError(
                        f"{self.family} group {g.name}: all {g.n_physical} physical counters are taken "
                        f"({held}); release one before reserving {counter.name}"
                    )
                slots[physical] = [countable, 0]
            slots[physical][1] += 1
            handle = CounterHandle(g.name, countable, counter.name, physical, next(self._reservations))
            self._live[handle.reservation] = handle
        return handle

    def release(self, handle: CounterHandle) -> None:
        with self._lock:
            if self._live.pop(handle.reservation, None) is None:
                raise PmcError(
                    f"{handle.name} (reservation {handle.reservation}) is not reserved: "
                    "released twice, or from another unit"
                )
            slot = self._physical[handle.group][handle.physical]
            assert slot is not None
            slot[1] -= 1
            if slot[1] == 0:
                self._physical[handle.group][handle.physical] = None

    def read(self, handles: Iterable[CounterHandle]) -> dict[str, int]:
        """Current 64-bit totals of reserved counters, by counter name."""
        handles = list(handles)
        with self._lock:
            for h in handles:
                if h.reservation not in self._live:
                    raise PmcError(f"cannot read {h.name}: it is not reserved (reserve it first)")
            totals = self._current_totals()
            return {h.name: int(totals[self._index[h.name]]) for h in handles}

    def free_counters(self, group: str | int) -> int:
        """Physical counters of the group not programmed yet."""
        g = self._group(group)
        with self._lock:
            return sum(s is None for s in self._physical[g.name])


class MaliPmcUnit(PmcUnit):
    """hwcnt semantics: one dump holds every counter of every block, 32 bits each."""

    def __init__(self, spec: FamilySpec, model: MixingModel, seed: int):
        super().__init__(spec, model, seed)
        self._masks = np.array([(1 << c.width_bits) - 1 for c in self.catalogue], dtype=np.uint64)

    def snapshot(self) -> dict[str, int]:
        """Every hardware counter by name, block by block, wrapped to its width."""
        with self._lock:
            wrapped = self._current_totals() & self._masks
        return dict(zip(self._index, wrapped.tolist()))
