"""devfreq devices at /sys/class/devfreq/<name> (memory buses, interconnects), in each device's unit.

Tensor's Exynos devfreq also offers scaling_devfreq_min/max in the platform device directory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from android.emulator.knob import KnobState
from android.emulator.sysfs.values import parse_uint, parse_word, spaced
from android.errors import InvalidValueError
from android.units import from_native, to_native

if TYPE_CHECKING:
    from android.emulator.phone import VirtualPhone
    from android.emulator.vfs import VirtualFS

NO_MAX = 2**31 - 1


def build(phone: VirtualPhone) -> None:
    for device in phone.profile.devfreq:
        platform = f"/sys/devices/platform/{device.name}"
        base = f"{platform}/devfreq/{device.name}"
        add_devfreq_dir(phone.fs, phone.serial, base, phone.knobs[device.knob], device.unit)
        phone.fs.symlink(f"/sys/class/devfreq/{device.name}", base)
        if phone.profile.family == "tensor":
            knob, unit = phone.knobs[device.knob], device.unit
            _limit_pair(phone.fs, phone.serial, platform, "scaling_devfreq_min", "scaling_devfreq_max", knob, unit)


def add_devfreq_dir(fs: VirtualFS, dev: str, base: str, knob: KnobState, unit: str) -> None:
    """The standard devfreq attribute set; also used for the kgsl GPU's devfreq directory."""
    native = [to_native(int(f), unit) for f in knob.table_hz]

    def store_governor(text: str, path=f"{base}/governor") -> None:
        name = parse_word(text)
        if name not in knob.available_governors:
            raise InvalidValueError(dev, path, text.strip(), " ".join(knob.available_governors))
        knob.set_governor(name)

    def show_userspace() -> str:
        return f"{to_native(knob.cur_hz, unit)}\n" if knob.governor == "userspace" else "<unsupported>\n"

    def store_userspace(text: str, path=f"{base}/userspace/set_freq") -> None:
        value = from_native(parse_uint(dev, path, text), unit)
        if knob.governor != "userspace":
            raise InvalidValueError(dev, path, text.strip(), "only with the userspace governor")
        knob.target_hz = value

    def show_trans_stat() -> str:
        head = "     From  :   To\n           :" + "".join(f"{v:>10}" for v in native) + "   time(ms)\n"
        rows = "".join(
            f"{'*' if i == knob.level else ' '}{v:>10}:"
            + "".join(f"{0:>10}" for _ in native)
            + f"{int(knob.time_in_state_s[i] * 1000):>10}\n"
            for i, v in enumerate(native)
        )
        return head + rows + f"Total transition : {knob.transitions}\n"

    fs.attr(f"{base}/name", lambda: base.rsplit("/", 1)[-1] + "\n")
    fs.attr(f"{base}/available_frequencies", lambda s=spaced(native, False): s)
    fs.attr(f"{base}/available_governors", lambda: spaced(knob.available_governors, False))
    fs.attr(f"{base}/governor", lambda: f"{knob.governor}\n", store_governor)
    fs.attr(f"{base}/cur_freq", lambda: f"{to_native(knob.cur_hz, unit)}\n")
    fs.attr(f"{base}/target_freq", lambda: f"{to_native(knob.cur_hz, unit)}\n")
    fs.attr(f"{base}/polling_interval", lambda: "20\n", lambda text: None)
    fs.attr(f"{base}/trans_stat", show_trans_stat)
    fs.attr(f"{base}/userspace/set_freq", show_userspace, store_userspace)
    _limit_pair(fs, dev, base, "min_freq", "max_freq", knob, unit)


def _limit_pair(fs: VirtualFS, dev: str, base: str, min_name: str, max_name: str, knob: KnobState, unit: str) -> None:
    """min/max request files: 0 lifts a limit (as devfreq's PM QoS does); reads show the effective one."""

    def store_min(text: str) -> None:
        value = parse_uint(dev, f"{base}/{min_name}", text)
        knob.min_request_hz = from_native(value, unit) if value else knob.hw_min_hz

    def store_max(text: str) -> None:
        value = parse_uint(dev, f"{base}/{max_name}", text)
        knob.max_request_hz = from_native(value, unit) if value and value < NO_MAX else knob.hw_max_hz

    fs.attr(f"{base}/{min_name}", lambda: f"{to_native(knob.min_hz, unit)}\n", store_min)
    fs.attr(f"{base}/{max_name}", lambda: f"{to_native(knob.max_hz, unit)}\n", store_max)
