"""/dev/mali0: the kbase driver's hardware-counter reader (the legacy "vinstr" interface HWCPipe uses;
REFERENCES.md section 2), on the phone's own GPU counter unit (android.emulator.sim.pmc).

The context must pass the version check (CSF number on a CSF GPU such as Mali-G710; the Job-Manager number
is ENOTTY there) and set its flags before HWCNT_READER_SETUP, which returns a new reader file. The reader
dumps every block into one of `buffer_count` buffers of an mmap'd ring: blocks of 64 u32 values in the
order front end, tiler, one per L2 slice, one per shader core; values 0-3 of a block are its header (value
2 the enable mask). The unit's 64-bit totals are split over the instances of a block (each L2 slice and
shader core counts its share) and each instance's register is 32 bits wide, so it wraps; summing the
instances' wrap-corrected differences gives back the unit's own increments.
"""

from __future__ import annotations

import errno
import os
import struct
import threading

import numpy as np

from android.emulator.devices.base import CharDevice, DeviceFile, UserMemory, ioc, require_root

KBASE_IOCTL_TYPE = 0x80
VERSION = struct.Struct("<HH")
FLAGS = struct.Struct("<I")
READER_SETUP = struct.Struct("<5I")  # buffer_count, fe_bm, shader_bm, tiler_bm, mmu_l2_bm
KBASE_IOCTL_VERSION_CHECK_JM = ioc(3, KBASE_IOCTL_TYPE, 0, VERSION.size)
KBASE_IOCTL_VERSION_CHECK_CSF = ioc(3, KBASE_IOCTL_TYPE, 52, VERSION.size)
KBASE_IOCTL_SET_FLAGS = ioc(1, KBASE_IOCTL_TYPE, 1, FLAGS.size)
KBASE_IOCTL_HWCNT_READER_SETUP = ioc(1, KBASE_IOCTL_TYPE, 8, READER_SETUP.size)
READER_TYPE = 0xBE
U32 = struct.Struct("<I")
META = struct.Struct("<QII")  # timestamp, event_id, buffer_idx
GET_HWVER = ioc(2, READER_TYPE, 0x00, 4)
GET_BUFFER_SIZE = ioc(2, READER_TYPE, 0x01, 4)
DUMP = ioc(1, READER_TYPE, 0x10, 4)
CLEAR = ioc(1, READER_TYPE, 0x11, 4)
GET_BUFFER = ioc(2, READER_TYPE, 0x20, META.size)
PUT_BUFFER = ioc(1, READER_TYPE, 0x21, META.size)
SET_INTERVAL = ioc(1, READER_TYPE, 0x30, 4)
GET_API_VERSION = ioc(1, READER_TYPE, 0xFF, 4)

API_VERSION = (1, 22)  # the kbase UK interface version a CSF driver reports
READER_API_VERSION = 1
HW_VERSION = 5  # 64-counter blocks
BLOCK_VALUES = 64
HEADER_VALUES = 4
BLOCK_TYPES = {"FE": 0, "TILER": 1, "MEMORY": 2, "SHADER_CORE": 3}
L2_SLICES = 2  # the virtual GPU's memory system has two L2 slices, so readers sum slices as on real parts
MAX_BUFFERS = 32
EVENT_MANUAL = 0  # KBASE_HWCNT_READER_EVENT_MANUAL


def _error(code: int) -> OSError:
    return OSError(code, os.strerror(code))


class MaliDevice(CharDevice):
    path = "/dev/mali0"

    @staticmethod
    def present(phone) -> bool:
        return phone.profile.gpu.driver == "mali"

    def open(self, uid: int) -> DeviceFile:
        require_root(uid, self.path)
        return KbaseContext(self.phone)


class KbaseContext(DeviceFile):
    """One open /dev/mali0: a kbase context."""

    def __init__(self, phone):
        self.phone = phone
        self.version_checked = False
        self.flags_set = False

    def ioctl(self, request: int, arg: bytearray, memory: UserMemory) -> int | DeviceFile:
        if request == KBASE_IOCTL_VERSION_CHECK_CSF:
            if len(arg) < VERSION.size:
                raise _error(errno.EFAULT)
            VERSION.pack_into(arg, 0, *API_VERSION)
            self.version_checked = True
            return 0
        if request == KBASE_IOCTL_SET_FLAGS:
            if not self.version_checked or self.flags_set:
                raise _error(errno.EPERM)
            self.flags_set = True
            return 0
        if request == KBASE_IOCTL_HWCNT_READER_SETUP:
            if not self.flags_set:
                raise _error(errno.EPERM)
            if len(arg) < READER_SETUP.size:
                raise _error(errno.EFAULT)
            buffer_count, *masks = READER_SETUP.unpack_from(arg)
            if not 0 < buffer_count <= MAX_BUFFERS or buffer_count & (buffer_count - 1):
                raise _error(errno.EINVAL)  # a power of two, as vinstr requires
            return HwcntReader(self.phone, buffer_count, masks)
        raise _error(errno.ENOTTY)  # includes the Job-Manager version check on this CSF GPU


class HwcntReader(DeviceFile):
    """The reader file HWCNT_READER_SETUP returns."""

    def __init__(self, phone, buffer_count: int, masks: list[int]):
        unit = phone.pmc
        self.phone, self.unit = phone, unit
        self.lock = threading.Lock()
        self.buffer_count = buffer_count
        fe_mask, shader_mask, tiler_mask, l2_mask = masks
        self.cores = unit.shape.cores
        kinds = ["FE", "TILER", *["MEMORY"] * L2_SLICES, *["SHADER_CORE"] * self.cores]
        self.masks = {"FE": fe_mask, "TILER": tiler_mask, "MEMORY": l2_mask, "SHADER_CORE": shader_mask}
        self.blocks = kinds
        self.buffer_size = len(kinds) * BLOCK_VALUES * 4
        self.map = bytearray(buffer_count * self.buffer_size)
        self.filled: list[tuple[int, int]] = []  # (buffer index, timestamp) dumped, not yet handed out
        self.held: set[int] = set()  # handed out by GET_BUFFER, not yet PUT back
        self.free = list(range(buffer_count))
        self.baseline = np.zeros(len(unit.catalogue), dtype=np.uint64)
        self._dirty: list[tuple[int, int]] = []
        slots = np.array([c.index for c in unit.catalogue])
        groups = np.array([c.group for c in unit.catalogue])
        self.members = {kind: (groups == kind, slots[groups == kind]) for kind in BLOCK_TYPES}  # catalogue rows

    def ioctl(self, request: int, arg: bytearray, memory: UserMemory) -> int | DeviceFile:
        with self.lock:
            if request == GET_HWVER:
                U32.pack_into(arg, 0, HW_VERSION)
            elif request == GET_BUFFER_SIZE:
                U32.pack_into(arg, 0, self.buffer_size)
            elif request == GET_API_VERSION:
                U32.pack_into(arg, 0, READER_API_VERSION)
            elif request == SET_INTERVAL:
                if U32.unpack_from(arg)[0] != 0:
                    raise _error(errno.EINVAL)  # the virtual reader dumps on request only
            elif request == DUMP:
                self._dump()
            elif request == CLEAR:
                self.baseline = self.unit.read_all_totals()
            elif request == GET_BUFFER:
                if not self.filled:
                    raise _error(errno.EAGAIN)
                index, timestamp = self.filled.pop(0)
                self.held.add(index)
                META.pack_into(arg, 0, timestamp, EVENT_MANUAL, index)
            elif request == PUT_BUFFER:
                _, _, index = META.unpack_from(arg)
                if index not in self.held:
                    raise _error(errno.EINVAL)
                self.held.discard(index)
                self.free.append(index)
            else:
                raise _error(errno.ENOTTY)
            return 0

    def _dump(self) -> None:
        if not self.free:
            raise _error(errno.EBUSY)  # every buffer is full: the reader must hand some back first
        index = self.free.pop(0)
        totals = self.unit.read_all_totals() - self.baseline
        values = np.zeros((len(self.blocks), BLOCK_VALUES), dtype=np.uint64)
        start = 0
        for kind in ("FE", "TILER", "MEMORY", "SHADER_CORE"):
            n = self.blocks.count(kind)
            rows = slice(start, start + n)
            start += n
            mine, slots = self.members[kind]
            if not self.masks[kind] or not mine.any():
                continue
            mine_totals = totals[mine]
            for k in range(n):  # instance k's share of the totals: floor((T + n - 1 - k) / n), never falling as T
                # grows (floor(T(k+1)/n) - floor(Tk/n) can fall by one, which a reader takes for a 32-bit wrap)
                values[rows.start + k, slots] = (mine_totals + np.uint64(n - 1 - k)) // np.uint64(n)
            values[rows, 2] = self.masks[kind]
        sample = (values & np.uint64(0xFFFFFFFF)).astype("<u4").tobytes()
        offset = index * self.buffer_size
        self.map[offset : offset + self.buffer_size] = sample
        self._dirty.append((offset, self.buffer_size))
        self.filled.append((index, int(self.phone.state.uptime_s * 1e9)))

    def mmap(self, length: int, offset: int = 0) -> bytearray:
        if offset != 0 or length > len(self.map):
            raise _error(errno.EINVAL)
        return self.map

    def dirty(self) -> list[tuple[int, int]]:
        with self.lock:
            out, self._dirty = self._dirty, []
        return out
