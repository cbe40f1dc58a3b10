"""Files every Android phone has that tools look at: build.prop, /proc/version, /proc/uptime, /proc/stat, and
the GPU's character device (android.emulator.devices)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from android.emulator import devices
from android.emulator.sysfs import procstat

if TYPE_CHECKING:
    from android.emulator.phone import VirtualPhone


def build(phone: VirtualPhone) -> None:
    fs = phone.fs
    fs.attr("/system/build.prop", lambda: "".join(f"{k}={v}\n" for k, v in sorted(phone.props.items())))
    fs.attr("/proc/version", lambda: f"Linux version 5.10.149-android13 (fusegov virtual {phone.profile.soc})\n")
    fs.attr("/proc/uptime", lambda: f"{phone.state.uptime_s:.2f} {phone.state.uptime_s * 6:.2f}\n")
    fs.attr("/proc/meminfo", lambda: f"MemTotal:       {phone.profile.memory_bytes // 1024} kB\n")
    fs.mkdir("/system/bin")
    fs.mkdir("/sdcard", mode=0o777)  # shared storage: the shell user may write here, as on a phone
    fs.attr("/dev/null", lambda: "", lambda text: None, mode=0o666)
    procstat.build(phone)
    devices.install(phone)
