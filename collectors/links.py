"""Running the sampler on a device and getting its lines back.

- `ShellLink` (any Device: a phone over adb, `fusegov emulate`, the in-process virtual phone): pushes the
  sampler and its config, starts it as root with `su -c 'nohup python3 ... &'` so a dropped connection does
  not end it, and follows the device file (`tail -c +OFFSET`): whatever the host missed while the link was
  down is fetched again from the byte where it stopped. After a lost connection it reconnects and resumes.
- `InProcessLink` (the in-process virtual phone only): the same sampler file, loaded into this process and
  run in a thread against the phone through `PhoneOs` (its files, device nodes and clock), for sweeps that
  must be fast; lines arrive through the sampler's stdout stream.
"""

from __future__ import annotations

import errno
import importlib.util
import itertools
import json
import os
import posixpath
import shlex
import tempfile
import threading
import time
from pathlib import Path

from android.device import Device
from android.errors import ConnectionLostError, DeviceError
from collectors.errors import CollectorError

SAMPLER_PATH = Path(__file__).with_name("device") / "sampler.py"
REMOTE_DIR = "/data/local/tmp/fusegov"
STOP_TIMEOUT_S = 30.0
RECONNECT_TIMEOUT_S = 60.0
_RUNS = itertools.count(1)


def load_sampler_module():
    """The on-device sampler file as a module of this process (the very file that is pushed)."""
    spec = importlib.util.spec_from_file_location("fusegov_device_sampler", SAMPLER_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class LineBuffer:
    """Complete lines out of a byte/text stream; partial last lines wait for their end."""

    def __init__(self) -> None:
        self.partial = ""
        self.lines: list[str] = []
        self.lock = threading.Lock()

    def feed(self, text: str) -> None:
        with self.lock:
            text = self.partial + text
            parts = text.split("\n")
            self.partial = parts.pop()
            self.lines.extend(parts)

    def take(self) -> list[str]:
        with self.lock:
            out, self.lines = self.lines, []
        return out


class SamplerLink:
    """One sampler run on a device."""

    header: dict | None = None
    ended: tuple[int, int, str] | None = None  # (samples, late ticks, reason)
    error: str | None = None
    reconnects = 0
    cpu_s = float("nan")  # the sampler's CPU time while sampling (its end line says)

    def start(self) -> None:
        raise NotImplementedError

    def poll(self) -> list[str]:
        """New sample lines since the last poll (header, end and error lines are absorbed)."""
        raise NotImplementedError

    def stop(self) -> list[str]:
        """Stop the sampler and return the last sample lines."""
        raise NotImplementedError

    def _absorb(self, lines: list[str]) -> list[str]:
        samples = []
        for line in lines:
            if line.startswith("S "):
                samples.append(line)
            elif line.startswith("#fusegov-sampler "):
                self.header = json.loads(line.split(" ", 1)[1])
            elif line.startswith("E "):
                fields = line.split()
                self.ended = (int(fields[1]), int(fields[2]), fields[3])
                self.cpu_s = float(fields[4]) if len(fields) > 4 else float("nan")
            elif line.startswith("X "):
                self.error = line[2:].strip()
        return samples


# ------------------------------------------------------------------------------------- shell link
class ShellLink(SamplerLink):
    def __init__(self, device: Device, config: dict, poll_s: float = 0.2, reopen=None):
        self.device = device
        self.poll_s = poll_s
        self.reopen = reopen  # () -> Device: a new connection to the same phone, after a drop
        run = f"{os.getpid()}-{next(_RUNS)}-{int(time.time() * 1000) % 10**9}"
        self.remote_dir = REMOTE_DIR
        self.sampler = f"{REMOTE_DIR}/sampler.py"
        self.config_path = f"{REMOTE_DIR}/run-{run}.json"
        self.out_path = f"{REMOTE_DIR}/run-{run}.samples"
        self.err_path = f"{REMOTE_DIR}/run-{run}.err"
        self.config = dict(config, out_path=self.out_path)
        self.offset = 0
        self.buffer = LineBuffer()
        self.waiting: list[str] = []  # sample lines that came with the header

    def start(self) -> None:
        device = self.device
        if not device.is_rooted():
            raise CollectorError(
                f"{device.name}: the sampler needs root (GPU counters, ODPM, pinning): `su -c id` does not give "
                "uid 0; root the phone (e.g. Magisk) or use a userdebug build with `adb root`"
            )
        result = device.shell(f"mkdir -p {REMOTE_DIR} && chmod 777 {REMOTE_DIR}")
        if not result.ok:
            raise CollectorError(f"{device.name}: cannot create {REMOTE_DIR}: {result.stderr or result.stdout}")
        with tempfile.TemporaryDirectory() as tmp:
            config_file = Path(tmp) / "config.json"
            config_file.write_text(json.dumps(self.config))
            device.push(SAMPLER_PATH, self.sampler)
            device.push(config_file, self.config_path)
        command = (
            f"nohup python3 {shlex.quote(self.sampler)} run {shlex.quote(self.config_path)} "
            f"> /dev/null 2> {shlex.quote(self.err_path)} &"
        )
        result = device.shell(f"su -c {shlex.quote(command)}")
        if not result.ok:
            raise CollectorError(f"{device.name}: cannot start the sampler: {(result.stderr or result.stdout).strip()}")
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while self.header is None and self.error is None:
            self._fetch()
            self.waiting += self._absorb(self.buffer.take())
            if self.header is None and self.error is None:
                if time.monotonic() > deadline:
                    raise CollectorError(f"{device.name}: the sampler did not start: {self._stderr() or 'no output'}")
                time.sleep(0.05)
        if self.error:
            raise CollectorError(f"{device.name}: sampler: {self.error}")

    def _stderr(self) -> str:
        try:
            return self.device.shell(f"cat {shlex.quote(self.err_path)}").stdout.strip()
        except DeviceError:
            return ""

    def _fetch(self) -> None:
        """Everything past `offset` in the device file (the range a dropped link missed included)."""
        try:
            result = self.device.shell(f"tail -c +{self.offset + 1} {shlex.quote(self.out_path)}")
        except (ConnectionLostError, DeviceError) as exc:
            self._reconnect(exc)
            return
        if not result.ok:
            if "No such file" in result.stderr + result.stdout:
                return  # not created yet
            raise CollectorError(f"{self.device.name}: cannot read {self.out_path}: {result.stderr.strip()}")
        data = result.stdout
        self.offset += len(data.encode())
        self.buffer.feed(data)

    def _reconnect(self, exc: Exception) -> None:
        if self.reopen is None:
            raise CollectorError(f"lost the link to the phone: {exc}") from None
        deadline = time.monotonic() + RECONNECT_TIMEOUT_S
        while True:
            try:
                self.device.close()
                self.device = self.reopen()
                self.reconnects += 1
                return
            except DeviceError as again:
                if time.monotonic() > deadline:
                    raise CollectorError(
                        f"lost the link to the phone and could not reconnect within {RECONNECT_TIMEOUT_S:.0f} s: {again}; "
                        f"the sampler keeps writing {self.out_path} on the phone"
                    ) from None
                time.sleep(0.5)

    def poll(self) -> list[str]:
        self._fetch()
        out, self.waiting = self.waiting, []
        return out + self._absorb(self.buffer.take())

    def stop(self) -> list[str]:
        lines = []
        pid = (self.header or {}).get("pid")
        if pid and self.ended is None and self.error is None:
            self.device.shell(f"su -c {shlex.quote(f'kill -INT {int(pid)}')}")
        deadline = time.monotonic() + STOP_TIMEOUT_S
        period_s = float(self.config.get("period_s", 0.01))
        while self.ended is None and self.error is None:
            lines += self.poll()
            if self.ended is None and self.error is None:
                if time.monotonic() > deadline:
                    raise CollectorError(f"{self.device.name}: the sampler did not stop within {STOP_TIMEOUT_S:.0f} s")
                # Wait a sampling period on the phone's clock: the sampler ends at its next wake-up (a phone
                # whose time moves only while someone sleeps, the in-process virtual phone, needs this).
                self.device.shell(f"sleep {period_s:g}")
        lines += self._absorb(self.buffer.take())
        for path in (self.config_path, self.err_path):
            try:
                self.device.shell(f"rm -f {shlex.quote(path)}")
            except DeviceError:
                pass
        return lines


# ------------------------------------------------------------------------------------ in-process
class PhoneOs:
    """The sampler's `Os` on the in-process virtual phone: files and device nodes of its VirtualFS (as
    root), ioctls answered by android.emulator.devices, sleeps on the phone's clock as a background
    process (the workload in the foreground moves time)."""

    def __init__(self, phone, cancel: threading.Event):
        from android.emulator.shell.runtime import runtime_of

        self.phone = phone
        self.clock = runtime_of(phone).clock
        self.cancel = cancel
        self.token = object()
        self.fds: dict[int, object] = {}
        self.next_fd = 3

    def _new_fd(self, what) -> int:
        fd, self.next_fd = self.next_fd, self.next_fd + 1
        self.fds[fd] = what
        return fd

    def open(self, path, write=False):
        from android.emulator import devices

        if path in devices.devices_of(self.phone):
            return self._new_fd(devices.open_device(self.phone, path, 0))
        if not self.phone.fs.exists(path):
            raise OSError(errno.ENOENT, os.strerror(errno.ENOENT), path)
        return self._new_fd(path)

    def read_all(self, fd):
        try:
            return self.phone.fs.read(self.fds[fd], 0)
        except DeviceError as exc:
            raise OSError(errno.EIO, str(exc)) from None

    def close(self, fd):
        what = self.fds.pop(fd, None)
        if hasattr(what, "close"):
            what.close()

    def ioctl(self, fd, request, buf):
        from android.emulator.devices.base import DeviceFile, LocalMemory

        result = self.fds[fd].ioctl(request, buf, LocalMemory())
        return self._new_fd(result) if isinstance(result, DeviceFile) else result

    def mmap(self, fd, length):
        return self.fds[fd].mmap(length)

    def address(self, buf):
        return buf.buffer_info()[0]

    def open_append(self, path):
        return self._new_fd(("append", path))

    def write(self, fd, data):
        self.phone.fs.write(self.fds[fd][1], data, 0, append=True)

    def pid(self):
        return 0

    def monotonic_ns(self):
        return int(round(self.phone.state.uptime_s * 1e9))

    def sleep(self, seconds):
        if not self.clock.sleep(seconds, self.token, False, self.cancel):
            raise InterruptedError

    def cpu_time_s(self):
        return time.thread_time()

    def pin(self, cpu):
        return "in-process on the host: not pinned"

    def finish(self) -> None:
        self.clock.leave(self.token)


class _TextSink:
    def __init__(self, buffer: LineBuffer):
        self.buffer = buffer

    def write(self, text: str) -> None:
        self.buffer.feed(text)

    def flush(self) -> None:
        pass


class InProcessLink(SamplerLink):
    def __init__(self, device, config: dict):
        self.phone = device.phone
        self.config = dict(config, out_path=None)  # nothing to re-fetch in process: the stream cannot drop
        self.buffer = LineBuffer()
        self.cancel = threading.Event()
        self.thread: threading.Thread | None = None
        self.sampler = None
        self._failure: BaseException | None = None

    def start(self) -> None:
        module = _sampler_module()
        self.os = PhoneOs(self.phone, self.cancel)
        try:
            self.sampler = module.Sampler(self.config, self.os, _TextSink(self.buffer))
        except module.SamplerError as exc:
            raise CollectorError(f"{self.phone.serial}: sampler: {exc}") from None
        ready = threading.Event()

        def run() -> None:
            try:
                ready.set()
                self.sampler.run(None, self.config.get("deadline_s"))
            except InterruptedError:
                sampler = self.sampler
                sampler._emit(f"E {sampler.seq} {sampler.late_total} stopped {sampler.cpu_used_s():.6f}\n", force=True)
            except module.SamplerError as exc:
                self.sampler.fail(str(exc))
            except BaseException as exc:  # reported by stop()
                self._failure = exc
            finally:
                self.sampler.flush()
                self.sampler.close()
                self.os.finish()

        self.thread = threading.Thread(target=run, name="fusegov-sampler", daemon=True)
        self.thread.start()
        ready.wait()
        # The workload may start (and move the phone's time) once the sampler sleeps until its first tick,
        # not merely once it has printed its header: a thread starved between the two on a busy host would
        # wake up after the time it was to sample and miss the start of the run.
        while (self.header is None or not self.os.clock.asleep(self.os.token)) and self.thread.is_alive():
            self._absorb_into(self.buffer.take())
            time.sleep(0.001)
        self.lines_waiting = self._absorb(self.buffer.take())

    def _absorb_into(self, lines):
        self.lines_waiting = getattr(self, "lines_waiting", []) + self._absorb(lines)

    def poll(self) -> list[str]:
        out = getattr(self, "lines_waiting", [])
        self.lines_waiting = []
        return out + self._absorb(self.buffer.take())

    def stop(self) -> list[str]:
        if self.sampler is not None:
            self.sampler.stop = True
        self.cancel.set()
        if self.thread is not None:
            self.thread.join(STOP_TIMEOUT_S)
        if self._failure is not None:
            raise self._failure
        return self.poll()


_MODULE = None


def _sampler_module():
    global _MODULE
    if _MODULE is None:
        _MODULE = load_sampler_module()
    return _MODULE


def remote_path(name: str) -> str:
    return posixpath.join(REMOTE_DIR, name)
