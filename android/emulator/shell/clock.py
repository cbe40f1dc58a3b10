"""Simulated time as the phone's processes see it: `sleep` in the shell and `time.sleep` in a pushed script.

Two ways time moves:
- In-process (no driver): time stands still until someone sleeps. A foreground sleeper drives the clock,
  stepping the phone from one background wake-up to the next and letting each woken process run until it
  sleeps again (bounded in wall time), so a daemon sampling every 10 ms sees 10 ms steps even when the
  foreground sleeps for a minute in one call. Background sleepers only wait.
- Served (`fusegov emulate`): a `RealtimeDriver` advances the phone by wall time x speed in small steps, and
  every sleeper simply waits for simulated time to reach its wake-up.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from android.emulator.phone import VirtualPhone

WOKEN_GRACE_S = 1.0  # wall time a woken process gets to reach its next sleep before time moves on
POLL_S = 0.01  # background sleepers re-check the clock (and their kill flag) this often
IO_QUIET_S = 0.001  # served: a physics step waits until the processes' file calls have paused this long...
IO_DEFER_MAX_S = 0.003  # ...but never longer than this (wall time), so the simulation always moves on


class PhoneClock:
    """The phone's clock for its processes. Thread-safe."""

    def __init__(self, phone: VirtualPhone):
        self.phone = phone
        self._cond = threading.Condition()
        self._sleepers: dict[object, float] = {}  # token -> simulated wake-up time
        self._woken: set[object] = set()
        self._driver: RealtimeDriver | None = None
        self._io_until = 0.0  # host CLOCK_MONOTONIC until which a process is in a burst of file calls

    @property
    def driven(self) -> bool:
        return self._driver is not None

    def now_s(self) -> float:
        """Simulated seconds as a process reads its clock: served, between the driver's steps time moves
        on continuously (a phone's CLOCK_MONOTONIC does not jump in 10 ms steps); in-process it is the
        phone's time."""
        driver = self._driver
        return driver.now_s() if driver is not None else self.phone.now_s

    def linear(self) -> tuple[float, float, float] | None:
        """Served: (simulated s, host CLOCK_MONOTONIC s, speed) read together; the phone's clock is then
        simulated + (host now - host) x speed, which a process may compute itself instead of asking.
        In-process (None): time moves only when someone sleeps, so every reading must ask."""
        driver = self._driver
        return driver.linear() if driver is not None else None

    def sleep(self, dt_s: float, token: object, foreground: bool, cancel: threading.Event | None = None) -> bool:
        """Sleep dt_s of simulated time; False if cancelled first."""
        if dt_s <= 0:
            self._finish(token)
            return not (cancel and cancel.is_set())
        target_s = self.now_s() + dt_s
        if foreground and not self.driven:
            return self._drive_to(target_s, token, cancel)
        return self._wait_until(target_s, token, cancel)

    def leave(self, token: object) -> None:
        """A process exited: nobody waits for it any more."""
        self._finish(token)

    def io_activity(self) -> None:
        """A process made a file call (served phone). A physics step holds the phone's lock for a while
        (0.4 ms typically, a few ms at times), and a call that meets one waits for it: on a phone a sysfs
        write takes microseconds, so the driver lets a burst of calls (a daemon pinning knobs, writing and
        reading back a file per call) finish before it steps; the step then covers the time it waited."""
        self._io_until = time.monotonic() + IO_QUIET_S

    def advanced(self) -> None:
        """Wake sleepers whose time has come (called after every step of the phone)."""
        with self._cond:
            self._cond.notify_all()

    # --- internals ----------------------------------------------------------------------------
    def _finish(self, token: object) -> None:
        with self._cond:
            self._sleepers.pop(token, None)
            if token in self._woken:
                self._woken.discard(token)
                self._cond.notify_all()

    def _wait_until(self, target_s: float, token: object, cancel: threading.Event | None) -> bool:
        with self._cond:
            self._woken.discard(token)
            self._sleepers[token] = target_s
            self._cond.notify_all()
            try:
                while self.phone.now_s < target_s - 1e-12:
                    if cancel is not None and cancel.is_set():
                        return False
                    self._cond.wait(POLL_S)
            finally:
                self._sleepers.pop(token, None)
        return True

    def _drive_to(self, target_s: float, token: object, cancel: threading.Event | None) -> bool:
        while True:
            if cancel is not None and cancel.is_set():
                return False
            with self._cond:
                now = self.phone.now_s
                if now >= target_s - 1e-12:
                    return True
                pending = [t for k, t in self._sleepers.items() if k != token and t > now]
                step_to = min([target_s, *pending])
            self.phone.advance(step_to - now)
            with self._cond:
                now = self.phone.now_s
                due = [k for k, t in self._sleepers.items() if t <= now + 1e-12]
                self._woken.update(due)
                self._cond.notify_all()
                deadline = time.monotonic() + WOKEN_GRACE_S
                while self._woken and time.monotonic() < deadline:
                    if cancel is not None and cancel.is_set():
                        return False
                    self._cond.wait(0.01)
                self._woken.clear()


class RealtimeDriver:
    """Advances the phone with wall time x speed, in steps of about `step_s` of wall time."""

    def __init__(self, clock: PhoneClock, speed: float = 1.0, step_s: float = 0.01):
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.clock, self.speed, self.step_s = clock, speed, step_s
        self._base = (clock.phone.now_s, time.monotonic())  # (simulated s, wall s) after the last step
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="phone-clock", daemon=True)

    def now_s(self) -> float:
        return self.linear()[0]

    def linear(self) -> tuple[float, float, float]:
        """(simulated s now, the host CLOCK_MONOTONIC it was read at, speed): between steps, and across
        them, the phone's clock is that line (each step advances by exactly the elapsed wall time x speed)."""
        simulated, wall = self._base
        host_s = time.monotonic()
        return simulated + max(0.0, host_s - wall) * self.speed, host_s, self.speed

    def start(self) -> RealtimeDriver:
        self._base = (self.clock.phone.now_s, time.monotonic())
        self.clock._driver = self
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2.0)
        self.clock._driver = None
        self.clock.advanced()

    def _run(self) -> None:
        last = self._base[1]
        while not self._stop.wait(self.step_s):
            deadline = time.monotonic() + IO_DEFER_MAX_S
            while True:  # let a burst of file calls finish first (bounded: see PhoneClock.io_activity)
                quiet_in = min(self.clock._io_until, deadline) - time.monotonic()
                if quiet_in <= 0 or self._stop.wait(quiet_in):
                    break
            now = time.monotonic()
            self.clock.phone.advance((now - last) * self.speed)
            last = now
            self._base = (self.clock.phone.now_s, now)
            self.clock.advanced()
