"""What a running phone has beyond its files: the clock its processes sleep on, the process table, and
whether `su` exists (a rooted phone) — one runtime per VirtualPhone, shared by every shell and stream."""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from android.emulator.shell.clock import PhoneClock
from android.emulator.shell.procs import ProcessTable

if TYPE_CHECKING:
    from android.emulator.phone import VirtualPhone

_RUNTIMES: weakref.WeakKeyDictionary[VirtualPhone, PhoneRuntime] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


@dataclass
class ScriptLimits:
    """What one `python3` process on the phone may use (android/emulator/shell/pyguard.py applies them).
    Generous on purpose: a sampler or a governor daemon runs for hours with a few threads."""

    memory_bytes: int = 1 << 30  # address space (RLIMIT_AS)
    open_files: int = 256  # host descriptors (RLIMIT_NOFILE); phone files are not host descriptors
    max_scripts: int = 16  # python3 processes running at once on the phone


@dataclass
class PhoneRuntime:
    phone: VirtualPhone
    clock: PhoneClock
    procs: ProcessTable = field(default_factory=ProcessTable)
    su_available: bool = True  # a rooted phone (Magisk-style `su -c`); False: a stock user build
    script_limits: ScriptLimits = field(default_factory=ScriptLimits)
    confinement: list[tuple[str, bool, str]] = field(default_factory=list)  # last python3's (layer, active, detail)
    epoch_at_boot_s: float = field(default_factory=lambda: time.time())  # wall time at simulated t=0

    def wall_time_s(self) -> float:
        """time.time() on the phone: wall time moves with simulated time."""
        return self.epoch_at_boot_s + self.phone.now_s


def runtime_of(phone: VirtualPhone) -> PhoneRuntime:
    with _LOCK:
        runtime = _RUNTIMES.get(phone)
        if runtime is None:
            runtime = _RUNTIMES[phone] = PhoneRuntime(phone, PhoneClock(phone))
        return runtime
