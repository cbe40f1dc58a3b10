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
PAUSE_S = 0.01  # served: a process making no file call this long (wall time) starts a new pass (FileCalls)
STALE_STEPS = 2  # served: a file call steps the physics itself when it lags the clock by more (RealtimeDriver)


class PhoneClock:
    """The phone's clock for its processes. Thread-safe."""

    def __init__(self, phone: VirtualPhone):
        self.phone = phone
        self._cond = threading.Condition()
        self._sleepers: dict[object, float] = {}  # token -> simulated wake-up time
        self._woken: set[object] = set()
        self._stepping = 0  # in-process foreground drivers inside a step of the phone (see _drive_to)
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

    def hold(self, dt_s: float, token: object) -> float:
        """Register `token` now as a background sleeper until dt_s from now, before the thread that will wait
        for it runs; returns the wake-up time, for `sleep_until`. In-process, a foreground sleeper steps the
        phone to the next wake-up it knows of: a watchdog whose thread registered itself only once scheduled
        would count its deadline from a later, host-load-dependent time (and fire late)."""
        target_s = self.now_s() + dt_s
        with self._cond:
            self._sleepers[token] = target_s
        return target_s

    def sleep_until(self, target_s: float, token: object, cancel: threading.Event | None = None) -> bool:
        """Background sleep until the simulated time target_s (as from `hold`); False if cancelled first."""
        return self._wait_until(target_s, token, cancel)

    def asleep(self, token: object) -> bool:
        """Whether the process `token` waits on the clock now (in-process, time may move without it only
        then: a process started but not yet asleep would miss the steps taken meanwhile)."""
        with self._cond:
            return token in self._sleepers

    def leave(self, token: object) -> None:
        """A process exited: nobody waits for it any more."""
        self._finish(token)

    def io_activity(self) -> None:
        """A process made a file call (served phone). A physics step holds the phone's lock for a while
        (0.4 ms typically, a few ms at times), and a call that meets one waits for it: on a phone a sysfs
        write takes microseconds, so the driver lets a burst of calls (a daemon pinning knobs, writing and
        reading back a file per call) finish before it steps; the step then covers the time it waited."""
        self._io_until = time.monotonic() + IO_QUIET_S

    def sync(self) -> None:
        """A process is about to act on the phone at its clock's now (a workload starting, a file call of
        its first pass: FileCalls). Its clock is the driver's line, which runs on between physics steps:
        without this, a reading timestamped now would show the state (ODPM energy, fuel gauge, counters) of
        the last step, stale by a woken process's wake-up latency x speed or by a whole late step on a loaded
        host, and a workload started now would start in the past. So the physics is first brought up to the
        clock's now if it lags by more than the driver's `stale_s` (RealtimeDriver), and the open block is
        settled: the driver's steps leave it open (settling after each 10 ms step cost an idle served phone
        ~12% of a core), so readings settle it, once per pass of file calls."""
        driver = self._driver
        if driver is not None:
            driver.catch_up()
            self.phone.settle()  # the driver's steps leave the open block's physics for the readings

    def file_calls(self) -> FileCalls:
        """The tracker of one process's file calls (served phone: see FileCalls)."""
        return FileCalls(self)

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
            if self.phone.now_s >= target_s - 1e-12 and not self._stepping:
                # Due already (time was stepped to a held wake-up before this thread got here): the process
                # stays woken, so a foreground driver waits for it to act before time moves on.
                self._sleepers.pop(token, None)
                return not (cancel is not None and cancel.is_set())
            self._woken.discard(token)
            self._sleepers[token] = target_s
            self._cond.notify_all()
            try:
                # Mid-step, the phone's time may already have passed the target while the driver has not yet
                # marked who is due (and so would not wait for this process before stepping on): wake only
                # once the step is over.
                while self.phone.now_s < target_s - 1e-12 or self._stepping:
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
                self._stepping += 1
            try:
                self.phone.advance(step_to - now)
            except BaseException:
                with self._cond:
                    self._stepping -= 1
                    self._cond.notify_all()
                raise
            with self._cond:
                self._stepping -= 1  # in the same critical section as marking who is due (see _wait_until)
                now = self.phone.now_s
                due = [k for k, t in self._sleepers.items() if t <= now + 1e-12]
                self._woken.update(due)
                self._cond.notify_all()
                # Even if this process was killed meanwhile (a `timeout` due at this instant), the others due
                # now act at it first: a sampler's tick at the instant a run is cut is part of the run.
                deadline = time.monotonic() + WOKEN_GRACE_S
                while self._woken and time.monotonic() < deadline:
                    self._cond.wait(0.01)
                self._woken.clear()


class FileCalls:
    """One process's file calls on the served phone, each pass over its files read at one instant.

    A sampler stamps a row with its clock, then reads its files one call after another; on a phone the pass
    takes microseconds, here each call is a round trip (0.1-0.3 ms of wall time, x speed in phone time). The
    pass must show the phone at the row's stamp: the physics is brought up to the clock at the pass's first
    call (PhoneClock.sync) and not moved by the process's calls during the pass. A pass starts at the
    process's first call, at its first call after it asked the clock (it is about to act at that time),
    after it waited (a sleep, a pipe, a child: `waited`) or made no call for PAUSE_S (it computed
    meanwhile; the driver may be late), and at a read of a file it has
    already read since the last pass started: reading a file again asks for a newer value, the next instant
    (a sampler that is late never waits, so the repeat is what marks its next row).
    One step per pass, never per call: a step costs ~0.4 ms of wall time, more on a loaded host, and steps
    per call (or per pause between calls, which the steps themselves make) would cost more phone time than
    they catch up."""

    def __init__(self, clock: PhoneClock):
        self.clock = clock
        self._read: set[str] = set()  # files read since the pass started
        self._fresh = True  # the next file call starts a pass
        self._last_s = 0.0  # host CLOCK_MONOTONIC of the process's last file call

    def waited(self) -> None:
        """The process waited (sleep, pipe, select, child): its next file call starts a pass."""
        self._fresh = True

    def call(self, op: str, path: str | None) -> None:
        """Before serving a file call: bring the physics up at a pass's start; mark the burst of calls."""
        clock = self.clock
        if clock._driver is None:
            return
        reading = op == "read" and isinstance(path, str)
        paused = time.monotonic() - self._last_s > PAUSE_S
        if self._fresh or paused or (reading and path in self._read):
            self._read.clear()
            clock.sync()
        if reading:
            self._read.add(path)
        self._fresh = op in ("time", "shell")  # about to act at the time it asked for; a child ran a while
        self._last_s = time.monotonic()  # after any step: a step is no pause of the process's
        clock.io_activity()


class RealtimeDriver:
    """Advances the phone with wall time x speed, in steps of about `step_s` of wall time. A file call finds
    the phone's state at most `stale_s` of simulated time older than its clock (default two steps of wall time in
    simulated time, `STALE_STEPS` x `step_s`: more than a 1x phone on a quiet host lags between steps, its
    step deferred for a burst of file calls included, so there a call never steps; at higher speeds, or
    when steps come late on a loaded host, the call steps the physics itself: PhoneClock.sync)."""

    def __init__(self, clock: PhoneClock, speed: float = 1.0, step_s: float = 0.01, stale_s: float | None = None):
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.clock, self.speed, self.step_s = clock, speed, step_s
        self.stale_s = STALE_STEPS * step_s if stale_s is None else stale_s
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

    def catch_up(self) -> None:
        """Step the phone to the line's now if it lags by more than stale_s (PhoneClock.sync). The line
        stays the same: a step always ends on it."""
        if (time.monotonic() - self._base[1]) * self.speed > self.stale_s:
            self._step()

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

    def _step(self) -> None:
        """Advance the phone to the line's now (under the phone's lock, so a driver step and a process's
        catch-up never both cover the same wall time)."""
        phone = self.clock.phone
        with phone.lock:
            simulated, wall = self._base
            now = time.monotonic()
            phone.advance(max(0.0, simulated + (now - wall) * self.speed - phone.now_s), settle=False)
            self._base = (phone.now_s, now)
        self.clock.advanced()

    def _run(self) -> None:
        while not self._stop.wait(self.step_s):
            deadline = time.monotonic() + IO_DEFER_MAX_S
            while True:  # let a burst of file calls finish first (bounded: see PhoneClock.io_activity)
                quiet_in = min(self.clock._io_until, deadline) - time.monotonic()
                if quiet_in <= 0 or self._stop.wait(quiet_in):
                    break
            self._step()
