"""GPU performance counters of the virtual phone: catalogues per GPU family, counters that arise from
the simulated activity, and readers with the constraints of kgsl (Adreno) and hwcnt (Mali)."""

from android.emulator.sim.pmc.catalogue import Counter, PmcError, counter_delta
from android.emulator.sim.pmc.unit import FAMILIES, CounterBusyError, CounterHandle, PmcUnit

__all__ = ["FAMILIES", "Counter", "CounterBusyError", "CounterHandle", "PmcError", "PmcUnit", "counter_delta"]
