"""Pipes on the virtual phone: named pipes (FIFOs, `mkfifo`) in its file system, and the pipes between a
pushed script and the programs it starts (subprocess.Popen).

A Pipe is the kernel's pipe buffer: bytes written at one end are read at the other, in order; writes of
up to PIPE_BUF bytes are atomic, so lines from several writers never interleave. Readers and writers are
counted as the kernel does: a FIFO nobody reads refuses writers (ENXIO, as open(O_WRONLY|O_NONBLOCK)
reports), and a reader sees end-of-file once the buffer is empty and no writer is left. Waiters (a
blocked read, select) register a wake-up callback instead of polling.
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Callable

from android.errors import DeviceError

PIPE_CAPACITY = 65536  # Linux's default pipe buffer
PIPE_BUF = 4096  # writes up to this size are atomic


class PipeError(DeviceError):
    """A pipe operation failed with `errno_code` (ENXIO: no reader; EAGAIN: full; EPIPE: reader gone)."""

    def __init__(self, device: str, path: str, errno_code: int, text: str):
        super().__init__(f"{device}: {path}: {text}")
        self.errno_code = errno_code


class Pipe:
    def __init__(self) -> None:
        self._buf = bytearray()
        self._lock = threading.Condition()
        self.readers = 0
        self.writers = 0
        self._wakers: set[Callable[[], None]] = set()

    # --- ends ---------------------------------------------------------------------------------
    def open(self, read: bool, write: bool) -> None:
        with self._lock:
            self.readers += read
            self.writers += write
        self._wake()

    def close(self, read: bool, write: bool) -> None:
        with self._lock:
            self.readers -= read
            self.writers -= write
            if self.readers <= 0:
                self.readers = 0
                self._buf.clear()  # nobody will read what is left
            self._lock.notify_all()
        self._wake()

    # --- data ---------------------------------------------------------------------------------
    def write(self, data: bytes, device: str = "", path: str = "pipe") -> int:
        """Append `data` (all of it, or an error): no reader -> ENXIO, no room -> EAGAIN."""
        with self._lock:
            if self.readers == 0:
                raise PipeError(device, path, errno.ENXIO, "No such device or address (no reader)")
            if len(self._buf) + len(data) > PIPE_CAPACITY:
                raise PipeError(device, path, errno.EAGAIN, "Resource temporarily unavailable (pipe full)")
            self._buf += data
        self._wake()
        return len(data)

    def write_all(self, data: bytes, cancel: threading.Event) -> None:
        """A blocking writer (a program's stdout into a pipe): waits for room; EPIPE once no reader is left."""
        view = memoryview(data)
        while view:
            with self._lock:
                while self.readers and len(self._buf) >= PIPE_CAPACITY and not cancel.is_set():
                    self._lock.wait(0.05)
                if not self.readers:
                    raise PipeError("", "pipe", errno.EPIPE, "Broken pipe")
                if cancel.is_set():
                    return
                room = PIPE_CAPACITY - len(self._buf)
                self._buf += view[:room]
                view = view[room:]
            self._wake()

    def read(self, n: int) -> bytes | None:
        """Up to n bytes now; b'' at end-of-file; None when a read would block."""
        with self._lock:
            if self._buf:
                chunk = bytes(self._buf[:n])
                del self._buf[:n]
                self._lock.notify_all()
                return chunk
            return b"" if self.writers == 0 else None

    def readable(self) -> bool:
        """select(): data to read, or end-of-file."""
        with self._lock:
            return bool(self._buf) or self.writers == 0

    # --- waiting ------------------------------------------------------------------------------
    def watch(self, wake: Callable[[], None]) -> None:
        with self._lock:
            self._wakers.add(wake)

    def unwatch(self, wake: Callable[[], None]) -> None:
        with self._lock:
            self._wakers.discard(wake)

    def _wake(self) -> None:
        with self._lock:
            wakers = list(self._wakers)
        for wake in wakers:
            wake()
