"""Where commands read from and write to: buffers, the phone's files (with sysfs write semantics: every
write() is one store), /dev/null, and streams fed by an ADB connection."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from android.emulator.shell.fileops import may_write
from android.emulator.vfs import Attr, VirtualFS
from android.errors import DeviceError

MAX_LINE_BYTES = 1 << 20  # readline on a live stream returns at most this much of a line
READ_ALL_MAX_BYTES = 64 << 20  # what a command reading all of a live stream's input gets at most


class Sink:
    """A write end. `error` keeps the first failed write (the command then reports 'write error')."""

    error: DeviceError | None = None

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class NullSink(Sink):
    def write(self, data: bytes) -> None:
        pass


class BufferSink(Sink):
    def __init__(self) -> None:
        self._buf = bytearray()
        self._lock = threading.Lock()

    def write(self, data: bytes) -> None:
        with self._lock:
            self._buf += data

    def getvalue(self) -> bytes:
        with self._lock:
            return bytes(self._buf)


class CallbackSink(Sink):
    """Hands every write to a function (an ADB stream); a closed peer makes writes vanish."""

    def __init__(self, send: Callable[[bytes], None]):
        self._send = send

    def write(self, data: bytes) -> None:
        if data:
            try:
                self._send(data)
            except (OSError, EOFError):
                pass


class FileSink(Sink):
    """`> path` / `>> path`: opening checks permission (and truncates a regular file); each write goes to
    the file, so a sysfs attribute parses every write on its own as the kernel does."""

    def __init__(self, fs: VirtualFS, path: str, uid: int, append: bool = False):
        self.fs, self.path, self.uid = fs, path, uid
        with fs.lock:
            may_write(fs, path, uid)
            self._attr = isinstance(fs.node(path), Attr) if fs.exists(path) else False
            if not self._attr:
                fs.write(path, b"", uid, append=append)

    def write(self, data: bytes) -> None:
        if self.error is not None or not data:
            return
        try:
            self.fs.write(self.path, data, self.uid, append=not self._attr)
        except DeviceError as exc:
            self.error = exc


class Source:
    """A read end."""

    def read(self, n: int = -1) -> bytes:
        raise NotImplementedError

    def readline(self) -> bytes:
        raise NotImplementedError


class BytesSource(Source):
    def __init__(self, data: bytes = b""):
        self._data, self._pos = data, 0

    def read(self, n: int = -1) -> bytes:
        end = len(self._data) if n < 0 else min(len(self._data), self._pos + n)
        chunk, self._pos = self._data[self._pos : end], end
        return chunk

    def readline(self) -> bytes:
        end = self._data.find(b"\n", self._pos)
        end = len(self._data) if end < 0 else end + 1
        chunk, self._pos = self._data[self._pos : end], end
        return chunk


class QueueSource(Source):
    """Bytes arriving from elsewhere (an ADB stream's stdin); reads block until data or end of input.

    Flow control: with `capacity`, `feed` waits while that many bytes wait unread (so a client typing into a
    command that never reads stdin stops at a bounded buffer); `on_drained` is called each time a read
    empties the queue (an ADB stream acknowledges the client's data then)."""

    def __init__(self, capacity: int | None = None, on_drained: Callable[[], None] | None = None) -> None:
        self._chunks: deque[bytes] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._size = 0
        self.capacity = capacity
        self.on_drained = on_drained

    @property
    def queued_bytes(self) -> int:
        with self._cond:
            return self._size

    def feed(self, data: bytes) -> None:
        if not data:
            return
        with self._cond:
            while self.capacity and self._size and self._size + len(data) > self.capacity and not self._closed:
                self._cond.wait()
            if self._closed:
                return
            self._chunks.append(data)
            self._size += len(data)
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _wait(self) -> bool:
        """Wait until data is queued; False at end of input."""
        while not self._chunks and not self._closed:
            self._cond.wait()
        return bool(self._chunks)

    def _took(self, n: int) -> bool:
        """Account for n bytes read (caller holds the lock); True when that emptied the queue."""
        self._size -= n
        self._cond.notify_all()
        return n > 0 and self._size == 0

    def _drained(self, emptied: bool) -> None:
        if emptied and self.on_drained is not None:
            self.on_drained()

    def read(self, n: int = -1) -> bytes:
        """Up to n bytes as soon as any are there (b"" at end of input). n < 0: everything until the end of
        input, taken as it arrives (so the sender is acknowledged), at most READ_ALL_MAX_BYTES: a command
        that buffers its whole input (the phone's cat, grep, wc...) ends there as if the input did."""
        if n < 0:
            out = bytearray()
            while len(out) < READ_ALL_MAX_BYTES:
                chunk = self.read(READ_ALL_MAX_BYTES - len(out))
                if not chunk:
                    break
                out += chunk
            return bytes(out)
        with self._cond:
            if not self._wait():
                return b""
            data = self._chunks.popleft()
            if len(data) > n:
                self._chunks.appendleft(data[n:])
                data = data[:n]
            emptied = self._took(len(data))
        self._drained(emptied)
        return data

    def readline(self) -> bytes:
        """One line, or MAX_LINE_BYTES of one (a client sending no newline cannot grow the reader)."""
        line = bytearray()
        taken = 0
        with self._cond:
            while len(line) < MAX_LINE_BYTES and self._wait():
                chunk = self._chunks.popleft()
                cut = chunk.find(b"\n")
                if cut >= 0:
                    line += chunk[: cut + 1]
                    if cut + 1 < len(chunk):
                        self._chunks.appendleft(chunk[cut + 1 :])
                    taken += cut + 1
                    break
                if len(line) + len(chunk) > MAX_LINE_BYTES:
                    keep = MAX_LINE_BYTES - len(line)
                    self._chunks.appendleft(chunk[keep:])
                    chunk = chunk[:keep]
                line += chunk
                taken += len(chunk)
            emptied = self._took(taken)
        self._drained(emptied)
        return bytes(line)
