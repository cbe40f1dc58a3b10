"""/dev/kgsl-3d0: the Adreno driver's perfcounter ioctls (msm_kgsl.h, REFERENCES.md section 2), on the phone's
own GPU counter unit (android.emulator.sim.pmc), so values come from the same GPU events that draw power.

GET reserves a physical counter of a group for a countable (the same countable twice shares one; a full
group is EBUSY), PUT releases it, QUERY tells a group's physical counters and which countables hold them,
READ returns the 64-bit totals of reserved countables in one call. Reservations belong to the open file
and are released when it is closed, as kgsl does when a process exits.
"""

from __future__ import annotations

import errno
import os
import struct
import threading

from android.emulator.devices.base import CharDevice, DeviceFile, UserMemory, ioc, require_root
from android.emulator.sim.pmc import CounterBusyError, CounterHandle, PmcError

KGSL_IOC_TYPE = 0x09
GET = struct.Struct("<5I")  # groupid, countable, offset, offset_hi, __pad
PUT = struct.Struct("<4I")  # groupid, countable, __pad[2]
QUERY = struct.Struct("<I4xQII8x")  # groupid, countables*, count, max_counters, __pad[2]
READ = struct.Struct("<QI8x4x")  # reads*, count, __pad[2]
READ_GROUP = struct.Struct("<IIQ")  # groupid, countable, value
IOCTL_KGSL_PERFCOUNTER_GET = ioc(3, KGSL_IOC_TYPE, 0x38, GET.size)
IOCTL_KGSL_PERFCOUNTER_PUT = ioc(1, KGSL_IOC_TYPE, 0x39, PUT.size)
IOCTL_KGSL_PERFCOUNTER_QUERY = ioc(3, KGSL_IOC_TYPE, 0x3A, QUERY.size)
IOCTL_KGSL_PERFCOUNTER_READ = ioc(3, KGSL_IOC_TYPE, 0x3B, READ.size)
NOT_USED = 0xFFFFFFFF
REGISTER_BASE = 0x400  # register offsets GET reports: a block of 2 words per physical counter per group
MAX_READS = 1024


def _error(code: int) -> OSError:
    return OSError(code, os.strerror(code))


class KgslDevice(CharDevice):
    path = "/dev/kgsl-3d0"

    @staticmethod
    def present(phone) -> bool:
        return phone.profile.gpu.driver == "kgsl"

    def __init__(self, phone):
        super().__init__(phone)
        self.lock = threading.Lock()
        self.files: set[KgslFile] = set()

    @property
    def unit(self):
        return self.phone.pmc

    def open(self, uid: int) -> DeviceFile:
        require_root(uid, self.path)
        handle = KgslFile(self)
        with self.lock:
            self.files.add(handle)
        return handle

    def live_handles(self) -> list[CounterHandle]:
        """Every reservation: the driver's own and every open file's."""
        with self.lock:
            return list(self.unit.kernel_handles) + [h for f in self.files for h in f.handles]


class KgslFile(DeviceFile):
    POINTERS = {
        IOCTL_KGSL_PERFCOUNTER_READ: (0, 8, READ_GROUP.size),
        IOCTL_KGSL_PERFCOUNTER_QUERY: (8, 16, 4),
    }

    def __init__(self, device: KgslDevice):
        self.device = device
        self.handles: list[CounterHandle] = []

    def ioctl(self, request: int, arg: bytearray, memory: UserMemory) -> int:
        handler = {
            IOCTL_KGSL_PERFCOUNTER_GET: self._get,
            IOCTL_KGSL_PERFCOUNTER_PUT: self._put,
            IOCTL_KGSL_PERFCOUNTER_QUERY: self._query,
            IOCTL_KGSL_PERFCOUNTER_READ: self._read,
        }.get(request)
        if handler is None:
            raise _error(errno.ENOTTY)
        expected = {
            IOCTL_KGSL_PERFCOUNTER_GET: GET,
            IOCTL_KGSL_PERFCOUNTER_PUT: PUT,
            IOCTL_KGSL_PERFCOUNTER_QUERY: QUERY,
            IOCTL_KGSL_PERFCOUNTER_READ: READ,
        }[request]
        if len(arg) < expected.size:
            raise _error(errno.EFAULT)
        return handler(arg, memory)

    def _group(self, group_id: int):
        unit = self.device.unit
        name = next((g.name for g in unit.groups.values() if g.group_id == group_id), None)
        if name is None:
            raise _error(errno.EINVAL)
        return unit.groups[name]

    def _get(self, arg: bytearray, memory: UserMemory) -> int:
        group_id, countable, _, _, _ = GET.unpack_from(arg)
        group = self._group(group_id)
        try:
            handle = self.device.unit.reserve(group_id, countable)
        except CounterBusyError:
            raise _error(errno.EBUSY) from None
        except PmcError:
            raise _error(errno.EINVAL) from None
        with self.device.lock:
            self.handles.append(handle)
        group_index = sorted(g.group_id for g in self.device.unit.groups.values()).index(group.group_id)
        offset = REGISTER_BASE + (group_index * 32 + handle.physical) * 2
        GET.pack_into(arg, 0, group_id, countable, offset, offset + 1, 0)
        return 0

    def _put(self, arg: bytearray, memory: UserMemory) -> int:
        group_id, countable, _, _ = PUT.unpack_from(arg)
        group = self._group(group_id)
        with self.device.lock:
            handle = next((h for h in self.handles if h.group == group.name and h.countable == countable), None)
            if handle is None:
                raise _error(errno.EINVAL)
            self.handles.remove(handle)
        self.device.unit.release(handle)
        return 0

    def _query(self, arg: bytearray, memory: UserMemory) -> int:
        group_id, pointer, count, _ = QUERY.unpack_from(arg)
        group = self._group(group_id)
        QUERY.pack_into(arg, 0, group_id, pointer, count, group.n_physical)
        if pointer and count:
            held = [NOT_USED] * group.n_physical
            for handle in self.device.live_handles():
                if handle.group == group.name:
                    held[handle.physical] = handle.countable
            shown = held[: min(count, group.n_physical)]
            memory.write(pointer, struct.pack(f"<{len(shown)}I", *shown))
        return 0

    def _read(self, arg: bytearray, memory: UserMemory) -> int:
        pointer, count = READ.unpack_from(arg)
        if count == 0 or count > MAX_READS:
            raise _error(errno.EINVAL)
        raw = bytearray(memory.read(pointer, count * READ_GROUP.size))
        live = {}
        for handle in self.device.live_handles():
            live.setdefault((self.device.unit.groups[handle.group].group_id, handle.countable), handle)
        wanted = []
        for i in range(count):
            group_id, countable, _ = READ_GROUP.unpack_from(raw, i * READ_GROUP.size)
            handle = live.get((group_id, countable))
            if handle is None:  # kgsl only reads countables some physical counter is programmed with
                raise _error(errno.EINVAL)
            wanted.append(handle)
        values = self.device.unit.read(wanted)
        for i, handle in enumerate(wanted):
            group_id, countable, _ = READ_GROUP.unpack_from(raw, i * READ_GROUP.size)
            READ_GROUP.pack_into(raw, i * READ_GROUP.size, group_id, countable, values[handle.name])
        memory.write(pointer, bytes(raw))
        return 0

    def close(self) -> None:
        with self.device.lock:
            handles, self.handles = self.handles, []
            self.device.files.discard(self)
        for handle in handles:
            self.device.unit.release(handle)
