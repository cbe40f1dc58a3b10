"""Read and set knob frequencies in Hz on any Device, verified by reading back.

The one place that knows the write order and the unit of each knob's files (from probing). Pinning
writes min = max in the order that never asks the kernel for min > max: raising writes max first,
lowering writes min first.

A hot phone: while a cooling device throttles a knob (/sys/class/thermal/cooling_deviceN with cur_state
above 0), the kernel shows the capped maximum in the limit files, not what the user set. So a snapshot
taken then records the table's top for a maximum that reads as the cap (the user's own limit is at least
the cap and unknowable; the kernel's default is the top), and a write whose read-back is lowered exactly
by the active cap is accepted. Restoring puts back every knob even when one fails, and reports all the
failures together.
"""

from __future__ import annotations

import logging
import re
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from android.device import Device
from android.errors import DeviceError, FusegovError, InvalidValueError, UsageError, WriteVerifyError
from android.soc.records import DeviceInfo, FreqControl
from android.units import format_hz, from_native, to_native

log = logging.getLogger("fusegov.knobs")
THERMAL_DIR = "/sys/class/thermal"


@contextmanager
def thermal_caps() -> Iterator[Counter[str]]:
    """Count the warnings that a cooling device capped a knob, by knob, instead of logging them, meanwhile: a
    replay serving requests back to back on a hot phone meets a cap at nearly every phase, hundreds of lines
    over 50 requests, and reports the throttled requests itself. Other warnings go out as usual. Nested, the
    outermost counts (its filter comes first and drops the record)."""
    by_knob: Counter[str] = Counter()

    def count(record: logging.LogRecord) -> bool:
        knob = getattr(record, "thermal_cap", None)  # the capped knob, on the warnings about a cap
        if knob is None:
            return True
        by_knob[knob] += 1
        return False

    log.addFilter(count)
    try:
        yield by_knob
    finally:
        log.removeFilter(count)


@dataclass(frozen=True)
class KnobSetting:
    """What a knob's limits and governor were, so they can be put back exactly."""

    knob: str
    min_hz: int
    max_hz: int
    governor: str
    capped: bool = False  # read while a cooling device capped the knob: max is the table's top, not the cap


@dataclass(frozen=True)
class CoolingDevice:
    path: str  # /sys/class/thermal/cooling_deviceN
    type: str
    max_state: int


class RestoreError(DeviceError):
    """Some knobs could not be put back; every other knob was. `measured` keeps what the work that ran
    before produced (a harness attaches its results), so no measurement is lost to a restore error."""

    def __init__(self, device: str, failures: list[str], during: BaseException | None = None):
        text = f"{device}: could not restore {len(failures)} knob(s), the others were restored: " + "; ".join(failures)
        if during is not None:
            text += f" (while stopping after: {during})"
        super().__init__(text)
        self.failures = failures
        self.measured: object = None


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived while knobs were pinned: raised like Ctrl-C's KeyboardInterrupt, so the
    pins are undone on the way out and the command ends as interrupted."""

    def __init__(self, signum: int):
        super().__init__(f"{signal.Signals(signum).name} received")
        self.signum = signum


# Cooling-device types -> the knob they throttle: (pattern, how the match names the knob).
_COOLING_TYPES = (
    (re.compile(r"thermal-cpufreq-(\d+)$"), lambda m, info: _nth(info.clusters, int(m.group(1)))),
    (re.compile(r"cpufreq-cpu(\d+)$"), lambda m, info: _with_cpu(info, int(m.group(1)))),
    (re.compile(r"(thermal-gpufreq-\d+|gpu|devfreq-gpu|kgsl-3d0)$"), lambda m, info: "gpu"),
    (re.compile(r"thermal-devfreq-(\d+)$"), lambda m, info: _nth(info.memory, int(m.group(1)))),
    (re.compile(r"devfreq-(.+)$"), lambda m, info: _named(info.memory, m.group(1))),
)


def _nth(controls: list[FreqControl], index: int) -> str | None:
    return controls[index].knob if index < len(controls) else None


def _with_cpu(info: DeviceInfo, cpu: int) -> str | None:
    return next((c.knob for c in info.clusters if cpu in c.cpus), None)


def _named(controls: list[FreqControl], name: str) -> str | None:
    return next((c.knob for c in controls if c.directory.rsplit("/", 1)[-1] == name), None)


class KnobController:
    def __init__(self, device: Device, info: DeviceInfo):
        self.device, self.info = device, info
        self._cooling: dict[str, CoolingDevice] | None = None

    def control(self, knob: str) -> FreqControl:
        try:
            return self.info.knobs[knob]
        except KeyError:
            raise UsageError(
                f"{self.device.name}: no knob {knob!r}; this device has {', '.join(self.info.knobs)}"
            ) from None

    def _read_hz(self, control: FreqControl, file: str) -> int:
        text = self.device.read(control.path(file)).strip()
        if not text.isdigit():
            raise DeviceError(f"{self.device.name}: {control.path(file)}: not a number: {text!r}")
        return from_native(int(text), control.unit)

    def cur_hz(self, knob: str) -> int:
        return self._read_hz(self.control(knob), self.control(knob).cur_file)

    def limits_hz(self, knob: str) -> tuple[int, int]:
        control = self.control(knob)
        return self._read_hz(control, control.min_file), self._read_hz(control, control.max_file)

    # --- thermal caps -----------------------------------------------------------------------------
    def cooling_devices(self) -> dict[str, CoolingDevice]:
        """knob -> its cooling device, found once: a type naming the knob and a max_state that matches its
        table (so a guess never pairs a device with the wrong knob)."""
        if self._cooling is None:
            self._cooling = {}
            names = self.device.listdir(THERMAL_DIR) if self.device.is_dir(THERMAL_DIR) else []
            for name in sorted(n for n in names if n.startswith("cooling_device")):
                path = f"{THERMAL_DIR}/{name}"
                try:
                    kind = self.device.read(f"{path}/type").strip()
                    max_state = int(self.device.read(f"{path}/max_state").strip())
                except (DeviceError, ValueError):
                    continue
                for pattern, knob_of in _COOLING_TYPES:
                    match = pattern.match(kind)
                    if match:
                        knob = knob_of(match, self.info)
                        if knob and max_state == len(self.control(knob).table_hz) - 1:
                            self._cooling.setdefault(knob, CoolingDevice(path, kind, max_state))
                        break
        return self._cooling

    def thermal_cap_hz(self, knob: str) -> int | None:
        """The maximum a cooling device holds the knob to now, or None when none throttles it."""
        device = self.cooling_devices().get(knob)
        if device is None:
            return None
        try:
            state = int(self.device.read(f"{device.path}/cur_state").strip())
        except (DeviceError, ValueError):
            return None
        if state <= 0:
            return None
        table = self.control(knob).table_hz
        return int(table[max(len(table) - 1 - state, 0)])

    # --- reading and writing limits -------------------------------------------------------------------
    def snapshot(self, knobs: list[str] | None = None) -> list[KnobSetting]:
        """What the user set on each knob: a maximum that reads as the thermal cap is recorded as the
        table's top (the kernel's default; the user's own limit is hidden by the cap)."""
        settings = []
        for knob in knobs or list(self.info.knobs):
            control = self.control(knob)
            low, high = self.limits_hz(knob)
            governor = self.device.read(control.path(control.governor_file)).strip()
            cap = self.thermal_cap_hz(knob)
            capped = cap is not None and high == self._as_read(control, cap)
            if capped:
                top = control.table_hz[-1]
                log.warning(
                    "%s: %s is thermally capped at %s: recording its maximum as %s (the cap hides the user's limit)",
                    self.device.name,
                    knob,
                    format_hz(cap),
                    format_hz(top),
                    extra={"thermal_cap": knob},
                )
                high = top
                low = control.table_hz[0] if low == self._as_read(control, cap) else low
            settings.append(KnobSetting(knob, low, high, governor, capped))
        return settings

    def table_entry(self, knob: str, freq_hz: int) -> int:
        """The table frequency a request means: exact match, else an error listing the table."""
        control = self.control(knob)
        native = to_native(freq_hz, control.unit)
        for entry in control.table_hz:
            if to_native(entry, control.unit) == native:
                return entry
        table = ", ".join(format_hz(f) for f in control.table_hz)
        raise UsageError(f"{knob}: {format_hz(freq_hz)} is not one of its frequencies ({table})")

    def set_limits(self, knob: str, min_hz: int, max_hz: int) -> None:
        """Write min and max (in the safe order) and verify both by reading back. A read-back lowered
        exactly by an active cooling device is what the kernel does to any limit above the cap: accepted."""
        if min_hz > max_hz:
            raise UsageError(f"{knob}: min {format_hz(min_hz)} above max {format_hz(max_hz)}")
        control = self.control(knob)
        _, cur_max = self.limits_hz(knob)
        order = [(control.max_file, max_hz), (control.min_file, min_hz)]
        if min_hz <= cur_max:
            order.reverse()
        for file, value in order:
            self._write(control, file, value)
        got = self.limits_hz(knob)
        want = (self._as_read(control, min_hz), self._as_read(control, max_hz))
        if got == want:
            return
        cap = self.thermal_cap_hz(knob)
        if cap is not None:
            capped_max = min(want[1], self._as_read(control, cap))
            if got == (min(want[0], capped_max), capped_max):
                log.warning(
                    "%s: %s asked for %s..%s runs at most %s while its cooling device throttles it",
                    self.device.name,
                    knob,
                    format_hz(want[0]),
                    format_hz(want[1]),
                    format_hz(capped_max),
                    extra={"thermal_cap": knob},
                )
                return
        raise WriteVerifyError(
            f"{self.device.name}: {knob}: asked for {format_hz(want[0])}..{format_hz(want[1])}, "
            f"reads back {format_hz(got[0])}..{format_hz(got[1])} "
            + (
                "(no cooling device throttles it: another writer?)"
                if cap is None
                else f"(thermal cap {format_hz(cap)})"
            )
        )

    @staticmethod
    def _as_read(control: FreqControl, freq_hz: int) -> int:
        """A frequency as the knob's files show it (rounded to their unit)."""
        return from_native(to_native(freq_hz, control.unit), control.unit)

    def pin(self, knob: str, freq_hz: int) -> int:
        """Pin a knob at one table frequency (min = max); returns the frequency pinned."""
        entry = self.table_entry(knob, freq_hz)
        self.set_limits(knob, entry, entry)
        return entry

    def set_governor(self, knob: str, governor: str) -> None:
        control = self.control(knob)
        path = control.path(control.governor_file)
        self.device.write(path, governor)
        got = self.device.read(path).strip()
        if got != governor:
            raise WriteVerifyError(f"{self.device.name}: {path}: wrote {governor!r}, reads back {got!r}")

    def restore(self, settings: list[KnobSetting]) -> None:
        """Put every knob back; a knob that fails does not stop the others. RestoreError lists every
        failure at the end."""
        failures = []
        for setting in settings:
            try:
                self.set_governor(setting.knob, setting.governor)
                self.set_limits(setting.knob, setting.min_hz, setting.max_hz)
            except FusegovError as exc:
                failures.append(f"{setting.knob}: {exc}")
        if failures:
            raise RestoreError(self.device.name, failures)

    def _write(self, control: FreqControl, file: str, freq_hz: int) -> None:
        path = control.path(file)
        try:
            self.device.write(path, str(to_native(freq_hz, control.unit)))
        except InvalidValueError as exc:
            table = " ".join(str(to_native(f, control.unit)) for f in control.table_hz)
            raise InvalidValueError(self.device.name, path, exc.value, table) from None


class _StopSignals:
    """SIGTERM and SIGHUP become Terminated (like Ctrl-C's KeyboardInterrupt) while knobs are pinned, and
    wait while knobs are being restored, so no signal leaves a phone pinned. Main thread only (where
    Python delivers signals); elsewhere the caller's own handling applies."""

    SIGNALS = (signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.pending: int | None = None
        self.deferring = False
        self._previous: dict[int, object] = {}

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._handle) for sig in self.SIGNALS}

    def uninstall(self) -> None:
        previous, self._previous = self._previous, {}
        for sig, handler in previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]

    def _handle(self, signum: int, frame) -> None:
        if self.deferring:
            self.pending = self.pending or signum
            return
        raise Terminated(signum)


class pinned:  # noqa: N801  (used like contextlib's context managers: `with pinned(...)`)
    """Pin knobs (min = max) for the duration of a with-block and put back what was there on the way out.

    Every caller that pins a phone (fusegov run, collector sweeps, the governor's measurements) goes through
    here, so restoring is one mechanism. Unknown knobs and frequencies not in a knob's table fail before
    anything is written; `__enter__` returns the settings found before pinning. SIGTERM and SIGHUP end the
    block like Ctrl-C (Terminated), and wait while the knobs are restored. A restore that fails for some
    knobs still restores the others, then raises RestoreError. A class rather than a generator, so the
    pins never depend on when the garbage collector closes a generator (`__enter__`/`__exit__` hold pins
    across calls, as `apply_pins` does)."""

    def __init__(self, controller: KnobController, pins_hz: dict[str, int]):
        self.controller, self.pins_hz = controller, dict(pins_hz)
        self.saved: list[KnobSetting] | None = None
        self._stop = _StopSignals()

    def __enter__(self) -> list[KnobSetting]:
        entries = {knob: self.controller.table_entry(knob, freq_hz) for knob, freq_hz in self.pins_hz.items()}
        self._stop.install()
        try:
            self.saved = self.controller.snapshot(list(entries))
            for knob, entry in entries.items():
                self.controller.set_limits(knob, entry, entry)
        except BaseException as exc:
            self.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self.saved

    def __exit__(self, exc_type=None, exc=None, tb=None) -> None:
        saved, self.saved = self.saved, None
        stop = self._stop
        stop.deferring = True
        try:
            if saved is not None:
                try:
                    self.controller.restore(saved)
                except RestoreError as error:
                    raise RestoreError(self.controller.device.name, error.failures, during=exc) from exc
        finally:
            stop.deferring = False
            stop.uninstall()
        if stop.pending is not None and exc is None:
            pending, stop.pending = stop.pending, None
            raise Terminated(pending)
