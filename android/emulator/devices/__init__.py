"""Character devices of the virtual phone (/dev/kgsl-3d0, /dev/mali0): files that answer ioctls and mmap.

One registry by path (`DEVICES`): each entry is a `CharDevice` class that says whether this phone has it
(`present`), and opens a `DeviceFile` for a caller (refusing non-root callers as SELinux does for the adb
shell on a phone). A `DeviceFile` answers `ioctl(request, arg, memory)` with the kernel's semantics:
`arg` is the ioctl's argument struct (a bytearray the driver may change, as copy_to_user would),
`memory` reads and writes the caller's memory behind pointers inside the struct, and the return value is
the ioctl's result (an int, or a new DeviceFile when the driver hands back a new file descriptor, as
kbase's HWCNT_READER_SETUP does). `mmap(length, offset)` returns the driver's buffer as a bytearray the
caller reads and the driver fills; `dirty()` lists the ranges written since the last call, so a caller in
another process can mirror them.

`POINTERS` of a DeviceFile names, per ioctl request, where the struct holds a pointer to an array and its
element count, so a caller in another process can copy that memory across with the call.
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

from android.emulator.devices.base import CharDevice, DeviceFile
from android.emulator.devices.kgsl import KgslDevice
from android.emulator.devices.mali import MaliDevice
from android.emulator.vfs import Attr
from android.errors import InvalidValueError

if TYPE_CHECKING:
    from android.emulator.phone import VirtualPhone


DEVICES: dict[str, type[CharDevice]] = {cls.path: cls for cls in (KgslDevice, MaliDevice)}


def devices_of(phone: VirtualPhone) -> dict[str, CharDevice]:
    """The phone's device nodes by path (made once per phone)."""
    found = getattr(phone, "_char_devices", None)
    if found is None:
        found = phone._char_devices = {path: cls(phone) for path, cls in DEVICES.items() if cls.present(phone)}
    return found


def install(phone: VirtualPhone) -> None:
    """Put the phone's device nodes into /dev. Only root opens them (on a phone SELinux keeps the adb shell
    out; here the node's mode does, so a script's open fails as there); reading or writing one is EINVAL:
    a script opens it and uses ioctl and mmap (android.emulator.devices.scripts answers them)."""
    for path in devices_of(phone):

        def refuse(*_, path=path) -> str:
            raise InvalidValueError(phone.serial, path, "", "a character device: open it and use ioctl")

        phone.fs.add(path, Attr(mode=0o600, show=refuse, store=refuse))


def open_device(phone: VirtualPhone, path: str, uid: int) -> DeviceFile:
    """Open a device node as `uid`; OSError with the kernel's errno on refusal."""
    device = devices_of(phone).get(path)
    if device is None:
        raise OSError(errno.ENOENT, os.strerror(errno.ENOENT), path)
    return device.open(uid)
