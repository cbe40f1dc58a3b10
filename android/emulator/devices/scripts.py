"""The device files for scripts run by the phone's `python3` (android/emulator/shell/pyrun.py, pyboot.py):
the handlers of pyrun.FD_OPS that answer a script's `fcntl.ioctl`, `mmap.mmap` and `os.close` on
/dev/kgsl-3d0 and /dev/mali0 with the same device models the in-process sampler calls directly.

Per request pyboot sends the device path and a `handle`, its number for the open file description; the
first operation on a handle opens the device as the script's user (root only, as for `open_device`).
- ioctl: the payload is the argument struct. For a request whose struct holds pointers
  (`DeviceFile.POINTERS`) the arrays they point at follow it, listed in `regions` ([address, bytes]); a
  call without `regions` is answered with the layout (`pointers`) instead, and pyboot calls again with the
  arrays (it remembers the layout). The reply: `result`, the struct as the driver left it (`arg_len`
  bytes), then the arrays the driver wrote (`written`), then the ranges of the file's mapping it wrote
  (`dirty`, so the script's copy of an mmap'd buffer is refreshed), and `new_fd`, a handle for a file the
  driver handed out (kbase's HWCNT_READER_SETUP).
- mmap: the mapping's bytes (`length` from `offset`).
- close: the file is released (kgsl reservations end); files a script still holds when it exits are
  released then, as the kernel does.
"""

from __future__ import annotations

import errno
import itertools
import os
import struct

from android.emulator.devices import devices_of, open_device
from android.emulator.devices.base import CopiedMemory, DeviceFile
from android.emulator.shell import pyrun

_HANDLES = itertools.count(1 << 30)  # handles the emulator gives out (pyboot's own count from 1)


class ScriptFiles:
    """The device files one script holds, by handle."""

    def __init__(self, server):
        self.server = server
        self.files: dict[int, DeviceFile] = {}
        server.on_exit.append(self.release_all)

    @staticmethod
    def of(server) -> ScriptFiles:
        files = getattr(server, "device_files", None)
        if files is None:
            files = server.device_files = ScriptFiles(server)
        return files

    def get(self, path: str, handle, op: str) -> DeviceFile:
        """The file behind `handle`, opened on first use; a path that is no device answers `op` as a plain
        file does (ENOTTY for ioctl, ENODEV for mmap)."""
        if not isinstance(handle, int):
            raise TypeError("handle")
        found = self.files.get(handle)
        if found is None:
            phone = self.server.session.phone
            if path not in devices_of(phone):
                code = pyrun.FD_OP_DEFAULT_ERRNO.get(op, errno.ENOSYS)
                raise OSError(code, os.strerror(code), path)
            found = self.files[handle] = open_device(phone, path, self.server.uid)
        return found

    def add(self, file: DeviceFile) -> int:
        handle = next(_HANDLES)
        self.files[handle] = file
        return handle

    def release(self, handle) -> None:
        file = self.files.pop(handle, None)
        if file is not None:
            file.close()

    def release_all(self) -> None:
        for handle in list(self.files):
            try:
                self.release(handle)
            except OSError:
                pass


def _ioctl(server, path: str, header: dict, payload: bytes) -> tuple[dict, bytes]:
    files = ScriptFiles.of(server)
    file = files.get(path, header.get("handle"), "ioctl")
    request = int(header["request"])
    if "int_arg" in header:
        result = file.ioctl(
            request, bytearray(struct.pack("<Q", int(header["int_arg"]) & (2**64 - 1))), CopiedMemory({})
        )
        return _reply(files, file, result, b"", CopiedMemory({}))
    layout = file.POINTERS.get(request)
    regions = header.get("regions")
    if layout is not None and regions is None:
        return {"ok": True, "pointers": [list(layout)]}, b""
    sizes = [(int(address), int(length)) for address, length in regions or ()]
    at = len(payload) - sum(length for _, length in sizes)
    if at < 0:
        raise ValueError("regions")
    arg = bytearray(payload[:at])
    copied: dict[int, bytes] = {}
    for address, length in sizes:
        copied[address] = payload[at : at + length]
        at += length
    memory = CopiedMemory(copied)
    result = file.ioctl(request, arg, memory)
    return _reply(files, file, result, bytes(arg), memory)


def _reply(files: ScriptFiles, file: DeviceFile, result, arg: bytes, memory: CopiedMemory) -> tuple[dict, bytes]:
    header: dict = {"ok": True, "result": 0, "arg_len": len(arg)}
    blobs = [arg]
    if isinstance(result, DeviceFile):
        header["new_fd"] = files.add(result)
    else:
        header["result"] = int(result or 0)
    if memory.written:
        header["written"] = [[address, len(data)] for address, data in memory.written.items()]
        blobs += memory.written.values()
    dirty = file.dirty()
    if dirty:
        mapping = file.mmap(max(offset + length for offset, length in dirty))  # the driver's buffer itself
        header["dirty"] = [[offset, length] for offset, length in dirty]
        blobs += [bytes(mapping[offset : offset + length]) for offset, length in dirty]
    return header, b"".join(blobs)


def _mmap(server, path: str, header: dict, payload: bytes) -> tuple[dict, bytes]:
    file = ScriptFiles.of(server).get(path, header.get("handle"), "mmap")
    length, offset = int(header["length"]), int(header.get("offset", 0))
    if length <= 0 or offset < 0:
        raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
    mapping = file.mmap(length, offset)
    file.dirty()  # the script's copy starts from these bytes: later writes come with the ioctl replies
    return {"ok": True}, bytes(mapping[offset : offset + length])


def _close(server, path: str, header: dict, payload: bytes) -> tuple[dict, bytes]:
    ScriptFiles.of(server).release(header.get("handle"))
    return {"ok": True}, b""


def register() -> None:
    for name, handler in (("ioctl", _ioctl), ("mmap", _mmap), ("close", _close)):
        pyrun.register_fd_op(name, handler)


register()
