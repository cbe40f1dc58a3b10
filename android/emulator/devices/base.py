"""What every character device of the virtual phone shares: the caller's memory behind ioctl pointers,
open file descriptions, device nodes, and the root check."""

from __future__ import annotations

import ctypes
import errno
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from android.emulator.phone import VirtualPhone


class UserMemory:
    """The calling process's memory behind ioctl pointers."""

    def read(self, address: int, size: int) -> bytes:
        raise NotImplementedError

    def write(self, address: int, data: bytes) -> None:
        raise NotImplementedError


class LocalMemory(UserMemory):
    """The caller runs in this process: pointers are addresses here."""

    def read(self, address: int, size: int) -> bytes:
        if not address:
            raise OSError(errno.EFAULT, os.strerror(errno.EFAULT))
        return ctypes.string_at(address, size)

    def write(self, address: int, data: bytes) -> None:
        if not address:
            raise OSError(errno.EFAULT, os.strerror(errno.EFAULT))
        ctypes.memmove(address, data, len(data))


class CopiedMemory(UserMemory):
    """The caller runs in another process and copied the pointed-to arrays across ({address: bytes});
    writes are kept in `written` to be copied back."""

    def __init__(self, regions: dict[int, bytes]):
        self.regions = regions
        self.written: dict[int, bytes] = {}

    def read(self, address: int, size: int) -> bytes:
        data = self.regions.get(address)
        if data is None or len(data) < size:
            raise OSError(errno.EFAULT, os.strerror(errno.EFAULT))
        return data[:size]

    def write(self, address: int, data: bytes) -> None:
        if address not in self.regions or len(self.regions[address]) < len(data):
            raise OSError(errno.EFAULT, os.strerror(errno.EFAULT))
        self.written[address] = bytes(data)


class DeviceFile:
    """One open file description of a character device."""

    POINTERS: dict[int, tuple[int, int, int]] = {}  # request -> (pointer offset, count offset, element bytes)

    def ioctl(self, request: int, arg: bytearray, memory: UserMemory) -> int | DeviceFile:
        raise OSError(errno.ENOTTY, os.strerror(errno.ENOTTY))

    def mmap(self, length: int, offset: int = 0) -> bytearray:
        raise OSError(errno.ENODEV, os.strerror(errno.ENODEV))

    def dirty(self) -> list[tuple[int, int]]:
        """(offset, length) ranges of the mapping the driver wrote since the last call."""
        return []

    def close(self) -> None:
        pass


class CharDevice:
    """A device node: whether a phone has it, and how to open it."""

    path = ""

    @staticmethod
    def present(phone: VirtualPhone) -> bool:
        raise NotImplementedError

    def __init__(self, phone: VirtualPhone):
        self.phone = phone

    def open(self, uid: int) -> DeviceFile:
        raise NotImplementedError


def require_root(uid: int, path: str) -> None:
    """SELinux keeps the adb shell away from GPU devices on a phone: only root opens them here."""
    if uid != 0:
        raise OSError(errno.EACCES, os.strerror(errno.EACCES), path)


def ioc(direction: int, kind: int, nr: int, size: int) -> int:
    """_IOC() of include/uapi/asm-generic/ioctl.h (direction 1 = write, 2 = read, 3 = both)."""
    return (direction << 30) | (size << 16) | (kind << 8) | nr
