"""`sync:`: adb push/pull/ls/stat as the adb shell user, against the phone's files. Requests are an id and
a length-prefixed path; SEND data comes in DATA chunks (at most 64 KiB) closed by DONE, and is written to
the phone only when DONE arrives, so a client that drops mid-push leaves the old file untouched. A push
larger than the phone's free storage is refused as a full phone refuses it (No space left on device): its
data is read and dropped from then on, so the daemon never holds more than the storage size."""

from __future__ import annotations

import posixpath
import stat as stat_mod
import struct
from typing import TYPE_CHECKING

from android.emulator.adbd.stream import Stream
from android.emulator.shell import fileops
from android.emulator.vfs import SHELL_UID, Dir, File
from android.errors import DeviceError

if TYPE_CHECKING:
    from android.emulator.phone import VirtualPhone

SYNC_DATA_MAX = 64 * 1024
SYNC_PATH_MAX = 1024
REQUEST = struct.Struct("<4sI")
STAT_V1 = struct.Struct("<4s3I")
STAT_V2 = struct.Struct("<4sIQQIIIIQqqq")
DENT_V1 = struct.Struct("<4s4I")
DENT_V2 = struct.Struct("<4sIQQIIIIQqqqI")


class SyncService:
    def __init__(self, phone: VirtualPhone, stream: Stream, uid: int = SHELL_UID):
        self.phone, self.stream, self.uid = phone, stream, uid
        self.fs = phone.fs

    def serve(self) -> None:
        while True:
            request, length = REQUEST.unpack(self.stream.read_exact(REQUEST.size))
            if request == b"QUIT":
                return
            if length > SYNC_PATH_MAX:
                self._fail(f"path too long: {length} bytes")
                return
            path = self.stream.read_exact(length).decode(errors="replace")
            handler = {
                b"STAT": self._stat_v1,
                b"LSTA": self._stat_v1,
                b"STA2": self._stat_v2,
                b"LST2": self._stat_v2,
                b"LIST": self._list_v1,
                b"LIS2": self._list_v2,
                b"SEND": self._send,
                b"RECV": self._recv,
            }.get(request)
            if handler is None:
                self._fail(f"unknown sync request {request!r}")
                return
            if not handler(path, request):
                return

    # --- replies ----------------------------------------------------------------------------------
    def fail(self, message: str) -> None:
        """Answer with FAIL and a message (what adb prints after `adb: error:`)."""
        self._fail(message)

    def _fail(self, message: str) -> None:
        data = message.encode()
        self.stream.write(REQUEST.pack(b"FAIL", len(data)) + data)

    def _stat(self, path: str, follow: bool) -> fileops.Stat | None:
        try:
            return fileops.stat(self.fs, path, follow=follow)
        except DeviceError:
            return None

    def _stat_v1(self, path: str, request: bytes) -> bool:
        st = self._stat(path, follow=False)
        mode, size, mtime = (st.mode, st.size, int(st.mtime_s)) if st else (0, 0, 0)
        self.stream.write(STAT_V1.pack(b"STAT", mode, size & 0xFFFFFFFF, mtime))
        return True

    def _stat_v2(self, path: str, request: bytes) -> bool:
        st = self._stat(path, follow=request == b"STA2")
        if st is None:
            self.stream.write(STAT_V2.pack(request, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))  # ENOENT
        else:
            t = int(st.mtime_s)
            self.stream.write(STAT_V2.pack(request, 0, 0, 0, st.mode, st.nlink, st.uid, st.uid, st.size, t, t, t))
        return True

    def _entries(self, path: str) -> list[tuple[str, fileops.Stat]]:
        if not self.fs.is_dir(path) or not self.fs.may(self.fs.node(path), self.uid, 0o4):
            return []
        entries = []
        for name in [".", "..", *self.fs.listdir(path)]:
            st = self._stat(posixpath.normpath(posixpath.join(path, name)), follow=False)
            if st is not None:
                entries.append((name, st))
        return entries

    def _list_v1(self, path: str, request: bytes) -> bool:
        out = bytearray()
        for name, st in self._entries(path):
            data = name.encode()
            out += DENT_V1.pack(b"DENT", st.mode, st.size & 0xFFFFFFFF, int(st.mtime_s), len(data)) + data
        out += DENT_V1.pack(b"DONE", 0, 0, 0, 0)
        self.stream.write(bytes(out))
        return True

    def _list_v2(self, path: str, request: bytes) -> bool:
        out = bytearray()
        for name, st in self._entries(path):
            data = name.encode()
            t = int(st.mtime_s)
            out += DENT_V2.pack(b"DNT2", 0, 0, 0, st.mode, st.nlink, st.uid, st.uid, st.size, t, t, t, len(data)) + data
        out += DENT_V2.pack(b"DONE", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        self.stream.write(bytes(out))
        return True

    # --- transfers -------------------------------------------------------------------------------
    def _recv(self, path: str, request: bytes) -> bool:
        try:
            data = self.fs.read(path, self.uid)
        except DeviceError as exc:
            self._fail(f"open failed: {fileops.error_text(exc)}")
            return True
        for start in range(0, len(data), SYNC_DATA_MAX):  # piece by piece: the stream bounds what waits
            chunk = data[start : start + SYNC_DATA_MAX]
            self.stream.write(REQUEST.pack(b"DATA", len(chunk)) + chunk)
        self.stream.write(REQUEST.pack(b"DONE", 0))
        return True

    def _send(self, spec: str, request: bytes) -> bool:
        path, _, mode_text = spec.rpartition(",")
        if not path or not mode_text.isdigit():
            path, mode_text = spec, str(0o100644)
        mode = int(mode_text)
        chunks: list[bytes] = []
        received, room = 0, self._room_for(path)
        while True:
            kind, length = REQUEST.unpack(self.stream.read_exact(REQUEST.size))
            if kind == b"DATA":
                if length > SYNC_DATA_MAX:
                    self._fail(f"data chunk of {length} bytes is over the {SYNC_DATA_MAX} limit")
                    return False
                chunk = self.stream.read_exact(length)
                received += length
                if received <= room:
                    chunks.append(chunk)
                else:
                    chunks.clear()  # the phone is full: read the rest and drop it, then say so
            elif kind == b"DONE":
                break
            else:
                self._fail(f"invalid data message {kind!r}")
                return False
        if received > room:
            self._fail(f"couldn't create file: {path}: No space left on device")
            return True
        error = self._store(path, b"".join(chunks), mode)
        if error:
            self._fail(error)
        else:
            self.stream.write(REQUEST.pack(b"OKAY", 0))
        return True

    def _room_for(self, path: str) -> int:
        """Bytes a push to path may bring: the free storage, plus the file it replaces."""
        fs = self.fs
        with fs.lock:
            try:
                node = fs.node(path)
            except DeviceError:
                node = None
            return fs.free_bytes() + (len(node.data) if isinstance(node, File) else 0)

    def _store(self, path: str, data: bytes, mode: int) -> str:
        """Write the pushed file (making missing parent directories, as fixed_push_mkdir devices do);
        returns an error message, or '' on success."""
        fs = self.fs
        if fs.is_dir(path):
            return f"couldn't create file: {path}: Is a directory"
        try:
            parent = posixpath.dirname(path) or "/"
            if not fs.exists(parent):
                fileops.mkdir(fs, parent, self.uid, 0o775, parents=True)
            elif not isinstance(fs.node(parent), Dir):
                return f"couldn't create file: {parent}: Not a directory"
            fs.write(path, data, self.uid)
            if stat_mod.S_ISREG(mode) or not stat_mod.S_IFMT(mode):
                fs.chmod(path, mode & 0o777, self.uid)
        except DeviceError as exc:
            return f"couldn't create file: {fileops.error_text(exc)}"
        except FileExistsError:
            return f"couldn't create file: {parent}: File exists"
        return ""
