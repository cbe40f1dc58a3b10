#!/usr/bin/env python3
"""fusegov's on-device sampler: one stdlib-only file (Python >= 3.8) that the host pushes and starts as root.

    python3 sampler.py run CONFIG.json      sample until stopped (SIGINT/SIGTERM) or the config's deadline
    python3 sampler.py query CONFIG.json    print what the GPU's counter interface offers, as JSON
    python3 sampler.py exec -- CMD ARGS...  run a workload between two CLOCK_MONOTONIC marks (phase labels)

Every `period_s` (default 10 ms, down to 2 ms) it reads the files the host listed in the config (paths from
`fusegov probe`; the sampler knows nothing of any SoC): CPU frequency per policy, /proc/stat, GPU frequency
and busy time, memory-bus frequencies, ODPM energy (first in each sample, with the meter's own timestamps),
the fuel gauge, thermal zones (a file may ask to be read
less often: `every_s`), and GPU counters through
the kernel's own interfaces: kgsl perfcounter ioctls on /dev/kgsl-3d0 (Adreno) or the kbase hardware-counter
reader on /dev/mali0 (Mali). Files are opened once; each sample is one seek + read per file and one batched
counter read.

Output, on stdout and appended to `out_path` on the device (so the host can re-fetch any range it missed):
    #fusegov-sampler {json header: version, pid, channels, period_s, cpu pinned, ...}
    S <seq> <t_ns> <late> <v1> <v2> ...      one sample; values are integers, '-' when a read failed
    E <samples> <late_ticks> <reason> <cpu_s>    the end (cpu_s: the sampler's CPU time while sampling)
    X <message>                              a fatal error (also on stderr; exit status 3)
`t_ns` is CLOCK_MONOTONIC at the sample. `late` counts the sampling ticks missed just before this sample
(the phone was too busy to wake the sampler in time; the schedule re-anchors). Values of interval channels
(counters, /proc/stat jiffies) describe the interval since the previous sample; ODPM channels are the
meter's timestamp and accumulated energies, on rows where the meter had a new reading.

The `Os` class is the only place that touches the kernel; a host can run this file against another
implementation of the same methods (fusegov's in-process virtual phone does).
"""

import array
import errno
import json
import os
import signal
import struct
import sys
import time

VERSION = 1
MIN_PERIOD_S = 0.002
SLOW_SAMPLES = 25  # consecutive samples costing more than the period: the period is too short for the phone
EXIT_ERROR = 3


# --- ioctl numbers (include/uapi/asm-generic/ioctl.h) -------------------------------------------------
def ioc(direction, kind, nr, size):
    return (direction << 30) | (size << 16) | (kind << 8) | nr


def io_w(kind, nr, size):
    return ioc(1, kind, nr, size)


def io_r(kind, nr, size):
    return ioc(2, kind, nr, size)


def io_wr(kind, nr, size):
    return ioc(3, kind, nr, size)


# kgsl (msm_kgsl.h): perfcounter GET/PUT/QUERY/READ on /dev/kgsl-3d0, arm64 layouts
KGSL_IOC_TYPE = 0x09
KGSL_GET = struct.Struct("<5I")  # groupid, countable, offset, offset_hi, __pad
KGSL_PUT = struct.Struct("<4I")  # groupid, countable, __pad[2]
KGSL_QUERY = struct.Struct("<I4xQII8x")  # groupid, (pad), countables*, count, max_counters, __pad[2]
KGSL_READ = struct.Struct("<QI8x4x")  # reads*, count, __pad[2], (tail padding to 8)
KGSL_READ_GROUP = struct.Struct("<IIQ")  # groupid, countable, value
IOCTL_KGSL_PERFCOUNTER_GET = io_wr(KGSL_IOC_TYPE, 0x38, KGSL_GET.size)
IOCTL_KGSL_PERFCOUNTER_PUT = io_w(KGSL_IOC_TYPE, 0x39, KGSL_PUT.size)
IOCTL_KGSL_PERFCOUNTER_QUERY = io_wr(KGSL_IOC_TYPE, 0x3A, KGSL_QUERY.size)
IOCTL_KGSL_PERFCOUNTER_READ = io_wr(KGSL_IOC_TYPE, 0x3B, KGSL_READ.size)
KGSL_NOT_USED = 0xFFFFFFFF

# kbase (mali_kbase_ioctl.h, mali_kbase_hwcnt_reader.h): the legacy "vinstr" reader HWCPipe uses
KBASE_IOCTL_TYPE = 0x80
KBASE_VERSION = struct.Struct("<HH")
KBASE_FLAGS = struct.Struct("<I")
KBASE_READER_SETUP = struct.Struct("<5I")  # buffer_count, fe_bm, shader_bm, tiler_bm, mmu_l2_bm
KBASE_IOCTL_VERSION_CHECK_JM = io_wr(KBASE_IOCTL_TYPE, 0, KBASE_VERSION.size)
KBASE_IOCTL_VERSION_CHECK_CSF = io_wr(KBASE_IOCTL_TYPE, 52, KBASE_VERSION.size)
KBASE_IOCTL_SET_FLAGS = io_w(KBASE_IOCTL_TYPE, 1, KBASE_FLAGS.size)
KBASE_IOCTL_HWCNT_READER_SETUP = io_w(KBASE_IOCTL_TYPE, 8, KBASE_READER_SETUP.size)
HWCNT_READER_TYPE = 0xBE
U32 = struct.Struct("<I")
HWCNT_META = struct.Struct("<QII")  # timestamp, event_id, buffer_idx
HWCNT_READER_GET_HWVER = io_r(HWCNT_READER_TYPE, 0x00, 4)
HWCNT_READER_GET_BUFFER_SIZE = io_r(HWCNT_READER_TYPE, 0x01, 4)
HWCNT_READER_DUMP = io_w(HWCNT_READER_TYPE, 0x10, 4)
HWCNT_READER_CLEAR = io_w(HWCNT_READER_TYPE, 0x11, 4)
HWCNT_READER_GET_BUFFER = ioc(2, HWCNT_READER_TYPE, 0x20, HWCNT_META.size)
HWCNT_READER_PUT_BUFFER = ioc(1, HWCNT_READER_TYPE, 0x21, HWCNT_META.size)
HWCNT_READER_SET_INTERVAL = io_w(HWCNT_READER_TYPE, 0x30, 4)
HWCNT_READER_GET_API_VERSION = io_w(HWCNT_READER_TYPE, 0xFF, 4)
MALI_BLOCK_VALUES = 64  # u32 counters per block (the first 4 are the block header)
MALI_BLOCK_BYTES = MALI_BLOCK_VALUES * 4
MALI_MIN_HWVER = 5  # block layout of 64 counters (older GPUs differ)
MALI_BUFFER_COUNT = 4
MALI_BLOCK_FE, MALI_BLOCK_TILER, MALI_BLOCK_MEMORY, MALI_BLOCK_SHADER = 0, 1, 2, 3


class SamplerError(Exception):
    """A problem the user must fix (permissions, a counter that cannot be opened, a bad config)."""


class Os:
    """The kernel, as the sampler uses it. Files stay open; each read is a seek and one read()."""

    def open(self, path, write=False):
        return os.open(path, os.O_RDWR if write else os.O_RDONLY)

    def read_all(self, fd):
        os.lseek(fd, 0, 0)
        return os.read(fd, 65536)

    def close(self, fd):
        os.close(fd)

    def ioctl(self, fd, request, buf):
        import fcntl

        return fcntl.ioctl(fd, request, buf, True)

    def mmap(self, fd, length):
        import mmap

        return mmap.mmap(fd, length, mmap.MAP_SHARED, mmap.PROT_READ)

    def address(self, buf):
        """Address of an array's memory, for the pointers inside ioctl structs."""
        return buf.buffer_info()[0]

    def open_append(self, path):
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, fd, data):
        os.write(fd, data)

    def pid(self):
        return os.getpid()

    def monotonic_ns(self):
        return time.monotonic_ns()

    def sleep(self, seconds):
        time.sleep(seconds)

    def cpu_time_s(self):
        return time.process_time()

    def pin(self, cpu):
        """Pin this process to one (little) core, as FUSE's profilers were; the error text if it cannot."""
        if cpu is None or not hasattr(os, "sched_setaffinity"):
            return "not asked" if cpu is None else "sched_setaffinity unavailable"
        try:
            os.sched_setaffinity(0, {int(cpu)})
        except OSError as exc:
            return "cpu%s: %s" % (cpu, exc.strerror)
        return ""


def _ints(text):
    """Integers in a sysfs text ('37 %', '  1234  5678', '848000')."""
    out, cur, neg = [], None, False
    for ch in text:
        if "0" <= ch <= "9":
            cur = (cur or 0) * 10 + (ord(ch) - 48)
        else:
            if cur is not None:
                out.append(-cur if neg else cur)
                cur = None
            neg = ch == "-"
    if cur is not None:
        out.append(-cur if neg else cur)
    return out


# --- sysfs channels -------------------------------------------------------------------------------
class FileChannels:
    """Plain files: each gives one or more integers (the first ones of its text). Read every sample, or no
    more often than its `every_s` (slow channels such as temperatures, which move over seconds: between
    readings the last values are repeated)."""

    def __init__(self, sys_os, files):
        self.os = sys_os
        self.names, self.fds, self.widths, self.errors = [], [], [], {}
        self.every_ns, self.read_ns, self.last = [], [], []
        for spec in files:
            try:
                fd = sys_os.open(spec["path"])
            except OSError as exc:
                self.errors[spec["path"]] = exc.strerror or str(exc)
                fd = None
            width = int(spec.get("values", 1))
            self.fds.append(fd)
            self.widths.append(width)
            self.every_ns.append(int(float(spec.get("every_s", 0)) * 1e9))
            self.read_ns.append(None)
            self.last.append([None] * width)
            self.names.extend(spec["names"])

    def read(self, out, now_ns):
        for i, fd in enumerate(self.fds):
            last_ns = self.read_ns[i]
            if fd is not None and (last_ns is None or now_ns - last_ns >= self.every_ns[i]):
                self.read_ns[i] = now_ns
                width = self.widths[i]
                try:
                    values = _ints(self.os.read_all(fd).decode("ascii", "replace"))
                except OSError:
                    values = None
                self.last[i] = [None] * width if values is None or len(values) < width else values[:width]
            out.extend(self.last[i])

    def close(self):
        for fd in self.fds:
            if fd is not None:
                self.os.close(fd)


class ProcStat:
    """/proc/stat: busy and total jiffies per group of CPUs (a policy), as differences per sample."""

    def __init__(self, sys_os, groups):
        self.os = sys_os
        self.groups = [(name, set(int(c) for c in cpus)) for name, cpus in groups]
        self.fd = sys_os.open("/proc/stat")
        self.last = None
        self.names = []
        for name, _ in self.groups:
            self.names += ["cpu_busy:" + name, "cpu_total:" + name]

    def _totals(self):
        busy = [0] * len(self.groups)
        total = [0] * len(self.groups)
        text = self.os.read_all(self.fd).decode("ascii", "replace")
        for line in text.splitlines():
            if not line.startswith("cpu") or line.startswith("cpu "):
                continue
            head, _, rest = line.partition(" ")
            cpu = head[3:]
            if not cpu.isdigit():
                continue
            cpu = int(cpu)
            fields = [int(v) for v in rest.split()]
            if len(fields) < 4:
                continue
            all_time = sum(fields[:8])  # guest time is already inside user
            idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
            for i, (_, cpus) in enumerate(self.groups):
                if cpu in cpus:
                    busy[i] += all_time - idle
                    total[i] += all_time
        return busy, total

    def prime(self):
        self.last = self._totals()

    def read(self, out):
        busy, total = self._totals()
        last_busy, last_total = self.last
        for i in range(len(self.groups)):
            out.append(busy[i] - last_busy[i])
            out.append(total[i] - last_total[i])
        self.last = (busy, total)

    def close(self):
        self.os.close(self.fd)


class Odpm:
    """ODPM energy meters: per device, the meter's own timestamp (ms) and each channel's accumulated energy
    (uWs), on the rows whose read brought a new meter reading ('-' on the others: the driver answers reads
    closer than 50 ms to its last refresh from a cache). The host turns them into power over each row's
    interval (channels.decode), placed by the meter's timestamps."""

    def __init__(self, sys_os, devices):
        self.os = sys_os
        self.devices = []
        self.names = []
        for dev in devices:
            channels = [int(c) for c in dev["channels"]]
            self.devices.append({"fd": sys_os.open(dev["path"]), "channels": channels, "t_ms": None})
            self.names.append("odpm_ms:%s" % dev["name"])
            self.names += ["rail_uws:%s:%d" % (dev["name"], c) for c in channels]

    @staticmethod
    def parse(text):
        """energy_value text -> {channel: (t_ms, energy_uws)}."""
        out = {}
        for line in text.splitlines():
            if not line.startswith("CH"):
                continue
            head, _, energy = line.partition(",")
            t_at = head.find("(T=")
            channel = int(head[2 : head.index("(")] if t_at > 0 else head[2 : head.index("[")])
            t_ms = int(head[t_at + 3 : head.index(")", t_at)]) if t_at > 0 else None
            out[channel] = (t_ms, int(energy.strip()))
        return out

    def prime(self):
        self.read([])

    def read(self, out):
        for dev in self.devices:
            values = self.parse(self.os.read_all(dev["fd"]).decode("ascii", "replace"))
            stamps = [values[c][0] for c in dev["channels"] if c in values and values[c][0] is not None]
            t_ms = max(stamps) if stamps else None
            if t_ms is None or (dev["t_ms"] is not None and t_ms <= dev["t_ms"]):
                out.extend([None] * (1 + len(dev["channels"])))  # the cached reading again: nothing new
                continue
            dev["t_ms"] = t_ms
            out.append(t_ms)
            out.extend(values[c][1] if c in values else None for c in dev["channels"])

    def close(self):
        for dev in self.devices:
            self.os.close(dev["fd"])


# --- GPU counters ---------------------------------------------------------------------------------
class KgslCounters:
    """Adreno counters through kgsl: GET reserves one physical counter per countable (a group has only a
    few), READ fetches every reserved counter in one call (64-bit values that only grow), PUT releases."""

    def __init__(self, sys_os, spec):
        self.os = sys_os
        self.path = spec.get("device", "/dev/kgsl-3d0")
        self.counters = [(int(g), int(c)) for g, c in spec["counters"]]
        self.names = ["pmc:%d" % i for i in range(len(self.counters))]
        self.fd = _open_gpu(sys_os, self.path)
        self.reserved = []
        try:
            for group, countable in self.counters:
                self._get(group, countable, spec.get("labels", {}).get("%d:%d" % (group, countable)))
        except Exception:
            self.close()
            raise
        n = len(self.counters)
        self.reads = array.array("B", bytes(KGSL_READ_GROUP.size * n))
        for i, (group, countable) in enumerate(self.counters):
            KGSL_READ_GROUP.pack_into(self.reads, i * KGSL_READ_GROUP.size, group, countable, 0)
        self.request = bytearray(KGSL_READ.pack(sys_os.address(self.reads), n))
        self.last = None

    def _get(self, group, countable, label):
        buf = bytearray(KGSL_GET.pack(group, countable, 0, 0, 0))
        try:
            self.os.ioctl(self.fd, IOCTL_KGSL_PERFCOUNTER_GET, buf)
        except OSError as exc:
            what = label or "group %#x countable %d" % (group, countable)
            if exc.errno == errno.EBUSY:
                raise SamplerError(
                    "%s: every physical counter of its group is taken (by the driver or another profiler); "
                    "ask for fewer counters of that group per pass" % what
                ) from None
            raise SamplerError("%s: kgsl refused to reserve it (%s)" % (what, exc.strerror)) from None
        self.reserved.append((group, countable))

    def values(self):
        self.os.ioctl(self.fd, IOCTL_KGSL_PERFCOUNTER_READ, self.request)
        return [KGSL_READ_GROUP.unpack_from(self.reads, i * KGSL_READ_GROUP.size)[2] for i in range(len(self.counters))]

    def prime(self):
        self.last = self.values()

    def read(self, out):
        now = self.values()
        out.extend([(a - b) & 0xFFFFFFFFFFFFFFFF for a, b in zip(now, self.last)])
        self.last = now

    def close(self):
        for group, countable in self.reserved:
            try:
                self.os.ioctl(self.fd, IOCTL_KGSL_PERFCOUNTER_PUT, bytearray(KGSL_PUT.pack(group, countable, 0, 0)))
            except OSError:
                pass
        self.reserved = []
        if self.fd is not None:
            self.os.close(self.fd)
            self.fd = None

    @staticmethod
    def query(sys_os, spec):
        """Per group: how many physical counters it has and which countables hold them now."""
        fd = _open_gpu(sys_os, spec.get("device", "/dev/kgsl-3d0"))
        out = {}
        try:
            for group in spec["groups"]:
                group = int(group)
                buf = bytearray(KGSL_QUERY.pack(group, 0, 0, 0))
                try:
                    sys_os.ioctl(fd, IOCTL_KGSL_PERFCOUNTER_QUERY, buf)
                except OSError as exc:
                    out[str(group)] = {"error": exc.strerror}
                    continue
                max_counters = KGSL_QUERY.unpack(bytes(buf))[3]
                used = array.array("B", bytes(4 * max_counters))
                buf = bytearray(KGSL_QUERY.pack(group, sys_os.address(used), max_counters, 0))
                sys_os.ioctl(fd, IOCTL_KGSL_PERFCOUNTER_QUERY, buf)
                held = [U32.unpack_from(used, 4 * i)[0] for i in range(max_counters)]
                out[str(group)] = {"max_counters": max_counters, "held": [c for c in held if c != KGSL_NOT_USED]}
        finally:
            sys_os.close(fd)
        return {"driver": "kgsl", "groups": out}


class MaliCounters:
    """Mali counters through the kbase hardware-counter reader: a dump of every block (front end, tiler,
    one per L2 slice, one per shader core) into an mmap'd buffer; 32-bit values that wrap, differenced per
    block instance, then summed over L2 slices and shader cores as HWCPipe reports them."""

    def __init__(self, sys_os, spec):
        self.os = sys_os
        self.path = spec.get("device", "/dev/mali0")
        self.cores = int(spec["shader_cores"])
        self.counters = [(int(b), int(s)) for b, s in spec["counters"]]
        self.names = ["pmc:%d" % i for i in range(len(self.counters))]
        self.fd = _open_gpu(sys_os, self.path)
        self.reader = None
        self.map = None
        try:
            self._setup()
        except Exception:
            self.close()
            raise
        self.last = None

    def _ioctl(self, fd, request, buf, what):
        try:
            return self.os.ioctl(fd, request, buf)
        except OSError as exc:
            raise SamplerError("%s: %s failed (%s)" % (self.path, what, exc.strerror)) from None

    def _setup(self):
        checked = False
        for request in (KBASE_IOCTL_VERSION_CHECK_CSF, KBASE_IOCTL_VERSION_CHECK_JM):
            try:
                self.os.ioctl(self.fd, request, bytearray(KBASE_VERSION.pack(0, 0)))
                checked = True
                break
            except OSError:
                continue
        if not checked:
            raise SamplerError("%s: the kbase driver answers neither version check (CSF nor JM)" % self.path)
        self._ioctl(self.fd, KBASE_IOCTL_SET_FLAGS, bytearray(KBASE_FLAGS.pack(0)), "SET_FLAGS")
        setup = bytearray(KBASE_READER_SETUP.pack(MALI_BUFFER_COUNT, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF))
        self.reader = self._ioctl(self.fd, KBASE_IOCTL_HWCNT_READER_SETUP, setup, "HWCNT_READER_SETUP")
        word = bytearray(4)
        self._ioctl(self.reader, HWCNT_READER_GET_HWVER, word, "GET_HWVER")
        self.hw_version = U32.unpack(bytes(word))[0]
        if self.hw_version < MALI_MIN_HWVER:
            raise SamplerError("hardware-counter layout version %d is not supported (need >= 5)" % self.hw_version)
        self._ioctl(self.reader, HWCNT_READER_GET_BUFFER_SIZE, word, "GET_BUFFER_SIZE")
        self.buffer_size = U32.unpack(bytes(word))[0]
        blocks = self.buffer_size // MALI_BLOCK_BYTES
        self.l2_slices = blocks - 2 - self.cores
        if self.l2_slices < 1:
            raise SamplerError(
                "a %d-byte sample cannot hold %d shader cores; give the GPU's core count"
                % (self.buffer_size, self.cores)
            )
        self._ioctl(self.reader, HWCNT_READER_SET_INTERVAL, bytearray(U32.pack(0)), "SET_INTERVAL")
        self.map = self.os.mmap(self.reader, MALI_BUFFER_COUNT * self.buffer_size)
        first = {MALI_BLOCK_FE: 0, MALI_BLOCK_TILER: 1, MALI_BLOCK_MEMORY: 2, MALI_BLOCK_SHADER: 2 + self.l2_slices}
        count = {
            MALI_BLOCK_FE: 1,
            MALI_BLOCK_TILER: 1,
            MALI_BLOCK_MEMORY: self.l2_slices,
            MALI_BLOCK_SHADER: self.cores,
        }
        # word index of every instance of each counter, in sample order
        self.offsets = [
            [(first[block] + k) * MALI_BLOCK_VALUES + slot for k in range(count[block])]
            for block, slot in self.counters
        ]
        self.words = struct.Struct("<%dI" % (self.buffer_size // 4))

    def values(self):
        self._ioctl(self.reader, HWCNT_READER_DUMP, bytearray(4), "DUMP")
        meta = bytearray(HWCNT_META.size)
        self._ioctl(self.reader, HWCNT_READER_GET_BUFFER, meta, "GET_BUFFER")
        index = HWCNT_META.unpack(bytes(meta))[2]
        base = index * self.buffer_size
        words = self.words.unpack_from(self.map, base)
        self._ioctl(self.reader, HWCNT_READER_PUT_BUFFER, meta, "PUT_BUFFER")
        return [[words[i] for i in offsets] for offsets in self.offsets]

    def prime(self):
        self.last = self.values()

    def read(self, out):
        now = self.values()
        for after, before in zip(now, self.last):
            out.append(sum((a - b) & 0xFFFFFFFF for a, b in zip(after, before)))
        self.last = now

    def close(self):
        if self.map is not None:
            try:
                self.map.close()
            except (AttributeError, OSError, BufferError):
                pass
            self.map = None
        for fd in (self.reader, self.fd):
            if fd is not None:
                try:
                    self.os.close(fd)
                except OSError:
                    pass
        self.reader = self.fd = None

    @staticmethod
    def query(sys_os, spec):
        counters = MaliCounters(sys_os, dict(spec, counters=[]))
        try:
            return {
                "driver": "mali",
                "hw_version": counters.hw_version,
                "buffer_size": counters.buffer_size,
                "l2_slices": counters.l2_slices,
                "shader_cores": counters.cores,
            }
        finally:
            counters.close()


GPU_READERS = {"kgsl": KgslCounters, "mali": MaliCounters}


def _open_gpu(sys_os, path):
    try:
        return sys_os.open(path, write=True)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise SamplerError(
                "%s: permission denied: GPU counters need root (start the sampler with su)" % path
            ) from None
        raise SamplerError("%s: cannot open the GPU device (%s)" % (path, exc.strerror or exc)) from None


# --- the sampler ----------------------------------------------------------------------------------
class Sampler:
    def __init__(self, config, sys_os=None, stdout=None):
        self.config = config
        self.os = sys_os or Os()
        self.stdout = stdout
        self.period_s = float(config.get("period_s", 0.01))
        if not self.period_s >= MIN_PERIOD_S:
            raise SamplerError("period %.4g s is below the sampler's minimum of %g s" % (self.period_s, MIN_PERIOD_S))
        self.flush_ns = int(float(config.get("flush_s", 0.1)) * 1e9)
        self.stop = False
        self.out_fd = None
        self.pending = []
        self.seq = 0
        self.late_total = 0
        self.parts = []
        self.pin_error = self.os.pin(config.get("cpu"))
        try:
            self.files = FileChannels(self.os, config.get("files", []))
            self.parts.append(self.files)
            self.stat = ProcStat(self.os, config["proc_stat"]) if config.get("proc_stat") else None
            if self.stat:
                self.parts.append(self.stat)
            odpm = config.get("odpm") or []
            self.odpm = Odpm(self.os, odpm) if odpm else None
            if self.odpm:
                self.parts.append(self.odpm)
            gpu = config.get("pmc")
            self.pmc = GPU_READERS[gpu["driver"]](self.os, gpu) if gpu and gpu.get("counters") else None
            if self.pmc:
                self.parts.append(self.pmc)
        except Exception:
            self.close()
            raise

    @property
    def channels(self):
        names = list(self.files.names)
        for part in (self.stat, self.odpm, self.pmc):
            if part is not None:
                names += part.names
        return names

    def header(self):
        return {
            "version": VERSION,
            "pid": self.os.pid(),
            "period_s": self.period_s,
            "channels": self.channels,
            "unreadable": self.files.errors,
            "pinned": "" if not self.pin_error else self.pin_error,
            "cpu": self.config.get("cpu"),
            "run": self.config.get("run", ""),
        }

    def _emit(self, text, force=False):
        self.pending.append(text)
        if force:
            self.flush()

    def flush(self):
        if not self.pending:
            return
        data = "".join(self.pending)
        self.pending = []
        if self.out_fd is not None:
            self.os.write(self.out_fd, data.encode())
        if self.stdout is not None:
            try:
                self.stdout.write(data)
                self.stdout.flush()
            except (OSError, ValueError):
                self.stdout = None  # the host went away; the device file keeps everything

    def sample(self, now_ns, late):
        """One row at `now_ns`. The energy meters are read first, closest to the row's time: their readings
        are differenced over the rows' intervals, where a late read would shift energy into the next row."""
        energy = []
        if self.odpm:
            self.odpm.read(energy)
        values = []
        self.files.read(values, now_ns)
        if self.stat:
            self.stat.read(values)
        values += energy
        if self.pmc:
            self.pmc.read(values)
        fields = ["-" if v is None else str(v) for v in values]
        self._emit("S %d %d %d %s\n" % (self.seq, now_ns, late, " ".join(fields)))
        self.seq += 1

    def run(self, out_path=None, deadline_s=None):
        """Sample until stopped; returns the reason ("stopped", "deadline")."""
        if out_path:
            self.out_fd = self.os.open_append(out_path)
        period_ns = int(self.period_s * 1e9)
        start = self.os.monotonic_ns()
        self.cpu_start_s = self.os.cpu_time_s()
        # priming is one pass in the rows' order, so every row's reads repeat it (a served virtual phone
        # takes a process's read of a file it already read as the start of its next instant:
        # android.emulator.shell.clock.FileCalls)
        if self.odpm:
            self.odpm.prime()
        self.files.read([], start)
        if self.stat:
            self.stat.prime()
        if self.pmc:
            self.pmc.prime()
        # the header says the sampler is ready: primed, about to sleep until its first tick (a phone whose clock
        # moves only while someone sleeps must not start the workload before the sampler waits on it)
        self._emit("#fusegov-sampler %s\n" % json.dumps(self.header()), force=True)
        end_ns = start + int(deadline_s * 1e9) if deadline_s else None
        # the schedule sits on whole multiples of the period (the first tick at least half a period away), so
        # samplers and workloads that keep to the clock's grid wake together
        next_ns = (start + period_ns // 2) // period_ns * period_ns + period_ns
        last_flush = start
        slow = 0
        reason = "stopped"
        now = start
        while not self.stop:
            if now < next_ns:
                self.os.sleep((next_ns - now) / 1e9)
                if self.stop:
                    break
                now = self.os.monotonic_ns()
            late = 0
            if now >= next_ns + period_ns:  # woken a whole period late or more: back onto the grid from here
                late = (now - next_ns) // period_ns
                self.late_total += late
                next_ns = now - now % period_ns
            cpu_before = self.os.cpu_time_s()
            self.sample(now, late)
            cpu_s = self.os.cpu_time_s() - cpu_before
            next_ns += period_ns
            done = self.os.monotonic_ns()
            # Too short for the phone: a sample costs more than the period in the sampler's own work (CPU
            # time: a phone busy elsewhere makes samples late, counted in `late`, but is no reason to stop).
            slow = slow + 1 if done - now > period_ns and cpu_s > self.period_s else 0
            if slow >= SLOW_SAMPLES:
                raise SamplerError(
                    "period %.1f ms is too short for this phone: one sample takes %.1f ms of CPU time; use a longer "
                    "period or fewer counters" % (self.period_s * 1e3, cpu_s * 1e3)
                )
            if done - last_flush >= self.flush_ns:
                self.flush()
                last_flush = done
            if end_ns is not None and done >= end_ns:
                reason = "deadline"
                break
            now = done  # one clock read per sample besides the wake-up's
        self._emit("E %d %d %s %.6f\n" % (self.seq, self.late_total, reason, self.cpu_used_s()), force=True)
        return reason

    def cpu_used_s(self):
        start = getattr(self, "cpu_start_s", None)
        return 0.0 if start is None else self.os.cpu_time_s() - start

    def fail(self, message):
        self._emit("X %s\n" % message.replace("\n", " "), force=True)

    def close(self):
        for part in self.parts:
            try:
                part.close()
            except OSError:
                pass
        self.parts = []
        if self.out_fd is not None:
            self.os.close(self.out_fd)
            self.out_fd = None


def run_marked(command):
    """`exec -- CMD...`: run a workload between two CLOCK_MONOTONIC marks, passing its output through, and
    mark when its stdout first arrived (`output`): a workload's own clock starts after the start mark by its
    process's start-up, which only its output can bound (llama.cpp echoes the prompt as it starts on it)."""
    import select
    import subprocess

    sys.stdout.write("#fusegov-mark start %d\n" % time.monotonic_ns())
    sys.stdout.flush()
    try:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as exc:
        sys.stderr.write("%s: %s\n" % (command[0], exc.strerror or exc))
        sys.stdout.write("#fusegov-mark end %d 127\n" % time.monotonic_ns())
        return 127
    out, err = [], []
    chunks = {proc.stdout.fileno(): out, proc.stderr.fileno(): err}
    first_out = None
    while chunks:
        ready, _, _ = select.select(list(chunks), [], [])
        for fd in ready:
            data = os.read(fd, 65536)
            if not data:
                del chunks[fd]
                continue
            if first_out is None and chunks[fd] is out:
                first_out = time.monotonic_ns()
            chunks[fd].append(data)
    status = proc.wait()
    end = time.monotonic_ns()
    sys.stdout.write(b"".join(out).decode("utf-8", "replace"))
    sys.stderr.write(b"".join(err).decode("utf-8", "replace"))
    if first_out is not None:
        sys.stdout.write("\n#fusegov-mark output %d" % first_out)
    sys.stdout.write("\n#fusegov-mark end %d %d\n" % (end, status))
    return status


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) >= 3 and argv[0] == "exec" and argv[1] == "--":
        return run_marked(argv[2:])
    if len(argv) != 2 or argv[0] not in ("run", "query"):
        sys.stderr.write("usage: sampler.py run|query CONFIG.json | exec -- COMMAND...\n")
        return 2
    mode, config_path = argv
    try:
        with open(config_path) as f:
            config = json.load(f)
    except (OSError, ValueError) as exc:
        sys.stderr.write("sampler: cannot read config %s: %s\n" % (config_path, exc))
        return 2
    if mode == "query":
        gpu = config.get("pmc") or {}
        try:
            answer = GPU_READERS[gpu["driver"]].query(Os(), gpu) if gpu.get("driver") else {}
        except SamplerError as exc:
            answer = {"error": str(exc)}
        sys.stdout.write(json.dumps(answer) + "\n")
        return 0 if "error" not in answer else EXIT_ERROR
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a dropped adb connection must not end the sampling
    sampler = None
    try:
        sampler = Sampler(config, Os(), sys.stdout)

        def stop(signum, frame):
            sampler.stop = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        sampler.run(config.get("out_path"), config.get("deadline_s"))
    except SamplerError as exc:
        sys.stderr.write("sampler: %s\n" % exc)
        if sampler is None:
            _record_failure(config.get("out_path"), str(exc))
        else:
            if sampler.out_fd is None and config.get("out_path"):
                sampler.out_fd = sampler.os.open_append(config["out_path"])
            sampler.fail(str(exc))
        return EXIT_ERROR
    finally:
        if sampler is not None:
            sampler.flush()
            sampler.close()
    return 0


def _record_failure(path, message):
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(fd, ("X %s\n" % message.replace("\n", " ")).encode())
        os.close(fd)


if __name__ == "__main__":
    sys.exit(main())
