"""Where commands read from and write to: buffers, the phone's files (with sysfs write semantics: every
write() is one store), /dev/null, and streams fed by an ADB connection."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from android.emulator.shell.fileops import may_write
from android.emulator.vfs import Attr, VirtualFS
from android.errors import DeviceError


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
    """Bytes arriving from elsewhere (an ADB stream's stdin); reads block until data or end of input."""

    def __init__(self) -> None:
        self._chunks: deque[bytes] = deque()
        self._cond = threading.Condition()
        self._closed = False

    def feed(self, data: bytes) -> None:
        with self._cond:
            self._chunks.append(data)
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

    def read(self, n: int = -1) -> bytes:
        with self._cond:
            if n < 0:
                while not self._closed:
                    self._cond.wait()
                data = b"".join(self._chunks)
                self._chunks.clear()
                return data
            if not self._wait():
                return b""
            chunk = self._chunks.popleft()
            if len(chunk) > n:
                self._chunks.appendleft(chunk[n:])
                chunk = chunk[:n]
            return chunk

    def readline(self) -> bytes:
        line = bytearray()
        with self._cond:
            while self._wait():
                chunk = self._chunks.popleft()
                cut = chunk.find(b"\n")
                if cut >= 0:
                    line += chunk[: cut + 1]
                    if cut + 1 < len(chunk):
                        self._chunks.appendleft(chunk[cut + 1 :])
                    return bytes(line)
                line += chunk
        return bytes(line)
