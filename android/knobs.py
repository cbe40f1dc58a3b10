"""Read and set knob frequencies in Hz on any Device, verified by reading back.

The one place that knows the write order and the unit of each knob's files (from probing). Pinning
writes min = max in the order that never asks the kernel for min > max: raising writes max first,
lowering writes min first.
"""

from __future__ import annotations

from dataclasses import dataclass

from android.device import Device
from android.errors import FusegovError, InvalidValueError, WriteVerifyError
from android.soc.records import DeviceInfo, FreqControl
from android.units import format_hz, from_native, to_native


@dataclass(frozen=True)
class KnobSetting:
    """What a knob's limits and governor were, so they can be put back exactly."""

    knob: str
    min_hz: int
    max_hz: int
    governor: str


class KnobController:
    def __init__(self, device: Device, info: DeviceInfo):
        self.device, self.info = device, info

    def control(self, knob: str) -> FreqControl:
        try:
            return self.info.knobs[knob]
        except KeyError:
            raise FusegovError(
                f"{self.device.name}: no knob {knob!r}; this device has {', '.join(self.info.knobs)}"
            ) from None

    def _read_hz(self, control: FreqControl, file: str) -> int:
        text = self.device.read(control.path(file)).strip()
        if not text.isdigit():
            raise FusegovError(f"{self.device.name}: {control.path(file)}: not a number: {text!r}")
        return from_native(int(text), control.unit)

    def cur_hz(self, knob: str) -> int:
        return self._read_hz(self.control(knob), self.control(knob).cur_file)

    def limits_hz(self, knob: str) -> tuple[int, int]:
        control = self.control(knob)
        return self._read_hz(control, control.min_file), self._read_hz(control, control.max_file)

    def snapshot(self, knobs: list[str] | None = None) -> list[KnobSetting]:
        settings = []
        for knob in knobs or list(self.info.knobs):
            control = self.control(knob)
            low, high = self.limits_hz(knob)
            governor = self.device.read(control.path(control.governor_file)).strip()
            settings.append(KnobSetting(knob, low, high, governor))
        return settings

    def table_entry(self, knob: str, freq_hz: int) -> int:
        """The table frequency a request means: exact match, else an error listing the table."""
        control = self.control(knob)
        native = to_native(freq_hz, control.unit)
        for entry in control.table_hz:
            if to_native(entry, control.unit) == native:
                return entry
        table = ", ".join(format_hz(f) for f in control.table_hz)
        raise FusegovError(f"{knob}: {format_hz(freq_hz)} is not one of its frequencies ({table})")

    def set_limits(self, knob: str, min_hz: int, max_hz: int) -> None:
        """Write min and max (in the safe order) and verify both by reading back."""
        if min_hz > max_hz:
            raise FusegovError(f"{knob}: min {format_hz(min_hz)} above max {format_hz(max_hz)}")
        control = self.control(knob)
        _, cur_max = self.limits_hz(knob)
        order = [(control.max_file, max_hz), (control.min_file, min_hz)]
        if min_hz <= cur_max:
            order.reverse()
        for file, value in order:
            self._write(control, file, value)
        got = self.limits_hz(knob)
        want = (
            from_native(to_native(min_hz, control.unit), control.unit),
            from_native(to_native(max_hz, control.unit), control.unit),
        )
        if got != want:
            raise WriteVerifyError(
                f"{self.device.name}: {knob}: asked for {format_hz(want[0])}..{format_hz(want[1])}, "
                f"reads back {format_hz(got[0])}..{format_hz(got[1])} (thermal cap or another writer?)"
            )

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
        for setting in settings:
            self.set_governor(setting.knob, setting.governor)
            self.set_limits(setting.knob, setting.min_hz, setting.max_hz)

    def _write(self, control: FreqControl, file: str, freq_hz: int) -> None:
        path = control.path(file)
        try:
            self.device.write(path, str(to_native(freq_hz, control.unit)))
        except InvalidValueError as exc:
            table = " ".join(str(to_native(f, control.unit)) for f in control.table_hz)
            raise InvalidValueError(self.device.name, path, exc.value, table) from None


class pinned:  # noqa: N801  (used like contextlib's context managers: `with pinned(...)`)
    """Pin knobs (min = max) for the duration of a with-block and put back what was there on the way out.

    Every caller that pins a phone (fusegov run, collector sweeps, the governor's measurements) goes through
    here, so restoring is one mechanism. Unknown knobs fail before anything is written; `__enter__` returns
    the settings found before pinning. A class rather than a generator, so the pins never depend on when the
    garbage collector closes a generator (`enter()`/`exit()` hold pins across calls, as `apply_pins` does)."""

    def __init__(self, controller: KnobController, pins_hz: dict[str, int]):
        self.controller, self.pins_hz = controller, dict(pins_hz)
        self.saved: list[KnobSetting] | None = None

    def __enter__(self) -> list[KnobSetting]:
        for knob in self.pins_hz:
            self.controller.control(knob)
        self.saved = self.controller.snapshot(list(self.pins_hz))
        try:
            for knob, freq_hz in self.pins_hz.items():
                self.controller.pin(knob, freq_hz)
        except BaseException:
            self.__exit__()
            raise
        return self.saved

    def __exit__(self, *exc_info) -> None:
        saved, self.saved = self.saved, None
        if saved is not None:
            self.controller.restore(saved)
