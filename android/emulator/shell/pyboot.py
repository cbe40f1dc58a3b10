"""Bootstrap of `python3` on the virtual phone: runs in the host's Python, in a child process, before the
pushed script. It confines the process (pyguard.py: resource limits, Landlock, seccomp, an audit hook)
and redirects the script's view of the phone's files (/sys, /proc, /data, /sdcard, /dev, relative
paths...), processes (os.kill, os.system, subprocess.run), environment and time to the emulator, over a
socket given as an inherited file descriptor, so the script meets the virtual phone's kernel semantics
and simulated clock. Standard library only: it must not import fusegov.

The boundary (what a pushed script can reach):
- the phone: its files through the RPC below (as the calling user, with the phone's permissions), its
  processes (`os.kill` signals phone PIDs), its shell (`os.system`, `subprocess.run`, `subprocess.Popen`
  with pipes), its FIFOs (`os.mkfifo`, select on their descriptors), `os.file_batch` (many small file calls
  in one round trip, each checked as if made alone), its environment
  (`os.environ`, `/proc/self/environ`), its clock (`time.*`);
- read-only, the interpreter's own standard library (imports; site-packages are not part of the phone);
- its own stdin/stdout/stderr (pipes into the phone shell's redirections) and threads, signals to
  itself, unix stream socket pairs, anonymous mmap, select.
Everything else is refused with a PermissionError naming what was refused. Guaranteed by the kernel
where it offers it (Landlock, seccomp: no host file opened but the standard library and system
libraries, no write to any host file, no new process, no network, no signal outside the sandbox);
the audit hook gives the clear errors and is defence in depth on its own (pyguard.py's docstring says
what holds without Landlock or seccomp).

Device files: phone file descriptors (from `os.open`, numbered from PHONE_FD_BASE) answer `fcntl.ioctl`
and `mmap.mmap` through FAKE_FD_OPS below, which forward to the emulator's handlers (pyrun.FD_OPS);
host descriptors are refused. Each descriptor a device answered carries a `handle` (its open file
description on the emulator's side); an ioctl struct's pointer fields are marshalled (the arrays they point
at are copied over and back: a script without ctypes takes an address only from `array.buffer_info()`,
so pyboot's `array.array` remembers the array behind each address it gave out); a descriptor a device
hands back from an ioctl becomes a phone descriptor; mappings are refreshed with the ranges the device
wrote; closing the descriptor releases the device file.

Wire format, both ways: u32 header length, JSON header, u32 payload length, payload bytes.
"""

from __future__ import annotations

import array
import builtins
import errno
import fcntl
import io
import itertools
import json
import linecache
import mmap
import os
import posixpath
import select
import signal
import socket
import stat as stat_mod
import struct
import subprocess
import sys
import threading
import time
import traceback
import types
import weakref

PHONE_ROOTS = (
    "/sys",
    "/proc",
    "/data",
    "/sdcard",
    "/storage",
    "/dev",
    "/system",
    "/vendor",
    "/product",
    "/odm",
    "/mnt",
    "/apex",
    "/cache",
    "/config",
    "/acct",
    "/metadata",
    "/system_ext",
)
FAKE_FD_BASE = 1 << 20  # phone file descriptors (os.open of a phone path) start here; the host's never do
_real_signal, _real_getsignal = signal.signal, signal.getsignal
_MAIN_THREAD = threading.get_ident()  # pyboot runs on the main thread; signal handlers run there


class _Rpc:
    """Request/response over the socket, one at a time, replies in order.

    The script's Python-level signal handlers never run in the middle of a call (a handler raising there,
    or calling the phone itself, would leave the stream out of step): a signal during a call is held and
    its handler runs when the call is done. If the call is waiting on the phone (sleep, select, a blocking
    pipe read, waiting for a child), the signal also sends `cancel`, so the phone ends the wait early; once
    the handler has run without raising, the call waits again for what is left, as PEP 475 has it."""

    RETRIED = {"sleep": "seconds", "select": "timeout", "proc_wait": "timeout", "pipe_read": None}

    def __init__(self, fd: int):
        self.sock = socket.socket(fileno=fd)
        self.buf = bytearray()
        self.lock = threading.RLock()
        self.signals = _Signals(self)

    def _frame(self) -> tuple[dict, bytes] | None:
        if len(self.buf) < 4:
            return None
        head_len = struct.unpack_from(">I", self.buf, 0)[0]
        if len(self.buf) < 8 + head_len:
            return None
        body_len = struct.unpack_from(">I", self.buf, 4 + head_len)[0]
        end = 8 + head_len + body_len
        if len(self.buf) < end:
            return None
        header = json.loads(bytes(self.buf[4 : 4 + head_len]))
        payload = bytes(self.buf[8 + head_len : end])
        del self.buf[:end]
        return header, payload

    def send(self, header: dict, payload: bytes = b"") -> None:
        head = json.dumps(header).encode()
        self.sock.sendall(struct.pack(">I", len(head)) + head + struct.pack(">I", len(payload)) + payload)

    def _receive(self) -> tuple[dict, bytes]:
        signals = self.signals
        while True:
            frame = self._frame()
            if frame is not None:
                return frame
            signals.waiting_start()
            try:
                chunk = self.sock.recv(RECV_BYTES)
            finally:
                signals.waiting = False
            if not chunk:
                os._exit(1)  # the phone went away
            self.buf += chunk

    def call(self, op: str, payload: bytes = b"", **args) -> tuple[dict, bytes]:
        signals = self.signals
        while True:
            with self.lock:
                main = signals.enter()
                try:
                    self.send({"op": op, **args}, payload)
                    header, data = self._receive()
                finally:
                    signals.depth -= main
            if signals.held_signals:
                signals.run_held()  # a handler may raise here, between calls
            if not (header.get("cancelled") and op in self.RETRIED):
                break
            key = self.RETRIED[op]
            if key is not None and args.get(key) is not None:
                args[key] = header.get("left_s", 0.0)
        if not header.get("ok"):
            code = header.get("errno", errno.EIO)
            raise OSError(code, os.strerror(code), args.get("path"))
        return header, data


class _Signals:
    """The script's signal handlers, installed behind a trampoline that holds them during phone calls."""

    def __init__(self, rpc: _Rpc):
        self.rpc = rpc
        self.handlers: dict[int, object] = {}
        self.held_signals: list[int] = []
        self.depth = 0  # phone calls in progress on the main thread
        self.waiting = False
        self.cancel_sent = False

    def enter(self) -> bool:
        """A phone call starts; True on the main thread (where handlers run), whose depth it counts."""
        main = threading.get_ident() == _MAIN_THREAD
        self.depth += main
        if main and self.depth == 1:
            self.cancel_sent = False
        return main

    def waiting_start(self) -> None:
        self.waiting = threading.get_ident() == _MAIN_THREAD
        if self.waiting and self.held_signals:
            self._cancel()  # a signal came just before the wait began

    def _cancel(self) -> None:
        if not self.cancel_sent:
            self.cancel_sent = True
            self.rpc.send({"op": "cancel"})

    def trampoline(self, signum: int, frame) -> None:
        if self.depth:
            self.held_signals.append(signum)
            if self.waiting:
                self._cancel()
            return
        self._run(signum, frame)

    def _run(self, signum: int, frame) -> None:
        handler = self.handlers.get(signum)
        if callable(handler):
            handler(signum, frame)

    def run_held(self) -> None:
        while self.held_signals and not self.depth:
            self._run(self.held_signals.pop(0), None)

    def signal(self, signum, handler):
        signum = signal.Signals(signum)
        previous = self.handlers.get(signum, _real_getsignal(signum))
        if callable(handler):
            _real_signal(signum, self.trampoline)
            self.handlers[signum] = handler
        else:
            _real_signal(signum, handler)
            self.handlers.pop(signum, None)
        return previous

    def getsignal(self, signum):
        return self.handlers.get(signal.Signals(signum), _real_getsignal(signum))


class _PhoneRaw(io.RawIOBase):
    """An open phone file. Reads snapshot the content at the first read from offset 0 (so seek(0) and
    read again shows fresh sysfs values, as on a kernel); each write is one write() to the file."""

    def __init__(self, rpc: _Rpc, path: str, mode: str):
        self.rpc, self.path, self.name = rpc, path, path
        self.mode = mode
        self._readable = "r" in mode or "+" in mode
        self._writable = any(c in mode for c in "wax+")
        self._pos = 0
        self._data: bytes | None = None
        self._attr = False
        if self._writable:
            if "x" in mode and _stat(path, True) is not None:
                raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), path)
            header, _ = rpc.call("open_write", path=path, append="a" in mode, truncate="w" in mode or "x" in mode)
            self._attr = header["attr"]
        else:
            self._load()

    def _load(self) -> None:
        _, self._data = self.rpc.call("read", path=self.path)

    def readable(self) -> bool:
        return self._readable

    def writable(self) -> bool:
        return self._writable

    def seekable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        """As readinto, without RawIOBase.read's buffer of `size` bytes (a sysfs read asks for 4096)."""
        if not self._readable:
            raise io.UnsupportedOperation("not readable")
        if self._data is None or self._pos == 0:
            self._load()
        end = len(self._data) if size is None or size < 0 else self._pos + size  # type: ignore[arg-type]
        chunk = self._data[self._pos : end]  # type: ignore[index]
        self._pos += len(chunk)
        return chunk

    def readinto(self, buffer) -> int:
        chunk = self.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)

    def write(self, data) -> int:
        if not self._writable:
            raise io.UnsupportedOperation("not writable")
        data = bytes(data)
        # a sysfs attribute parses each write() on its own (one request); a file takes big writes in pieces
        pieces = [data] if self._attr else [data[i : i + WRITE_CHUNK] for i in range(0, len(data), WRITE_CHUNK)]
        for piece in pieces:
            self.rpc.call("write", piece, path=self.path, attr=self._attr)
        self._pos += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 0:
            self._pos = offset
        elif whence == 1:
            self._pos += offset
        else:
            if self._data is None:
                self._load()
            self._pos = len(self._data) + offset  # type: ignore[arg-type]
        return self._pos

    def tell(self) -> int:
        return self._pos

    def fileno(self) -> int:
        raise io.UnsupportedOperation("a virtual phone file has no host file descriptor")


class _PhonePipe(io.RawIOBase):
    """One end of a phone pipe: a FIFO opened by path, or a child program's stdout/stderr. Reads wait for
    data (or return None when opened O_NONBLOCK); select() on its descriptor waits on the phone."""

    def __init__(self, rpc: _Rpc, pipe_id: int, name: str, readable: bool, writable: bool, nonblock: bool = False):
        self.rpc, self.pipe_id, self.name = rpc, pipe_id, name
        self._readable, self._writable, self.nonblock = readable, writable, nonblock
        self.fd: int | None = None

    @classmethod
    def open_fifo(cls, rpc: _Rpc, path: str, readable: bool, writable: bool, nonblock: bool) -> _PhonePipe:
        header, _ = rpc.call("pipe_open", path=path, read=readable, write=writable)
        return cls(rpc, header["id"], path, readable, writable, nonblock)

    def readable(self) -> bool:
        return self._readable

    def writable(self) -> bool:
        return self._writable

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer) -> int | None:
        if not self._readable:
            raise io.UnsupportedOperation("not readable")
        try:
            _, data = self.rpc.call("pipe_read", id=self.pipe_id, n=len(buffer), block=not self.nonblock)
        except OSError as exc:
            if exc.errno == errno.EAGAIN:
                return None
            raise
        buffer[: len(data)] = data
        return len(data)

    def write(self, data) -> int:
        if not self._writable:
            raise io.UnsupportedOperation("not writable")
        data = bytes(data)
        self.rpc.call("pipe_write", data, id=self.pipe_id)
        return len(data)

    def close(self) -> None:
        if not self.closed:
            try:
                self.rpc.call("pipe_close", id=self.pipe_id)
            finally:
                if self.fd is not None:
                    _fds.pop(self.fd, None)
                super().close()

    def fileno(self) -> int:
        if self.fd is None:
            self.fd = _new_fd(self)
        return self.fd


_rpc: _Rpc
_cwd = "/"
_fds: dict[int, _PhoneRaw] = {}
_real: dict = {}  # the os functions pyboot wraps, as they were once pyguard had guarded them (_install)
_real_select = select.select
_real_open = builtins.open
WRITE_CHUNK = 1 << 20  # a big write to a phone file goes over in pieces (the emulator caps one request)
RECV_BYTES = 1 << 16  # per recv(): a 1 MiB buffer costs an mmap and page faults on every small answer (~35 us)
_WRAPPED = ("stat", "lstat", "listdir", "scandir", "remove", "unlink", "rmdir", "mkdir", "rename", "replace",
            "chmod", "access", "readlink", "open", "read", "write", "close", "lseek", "fstat", "getcwd", "chdir",
            "kill", "system", "fsync", "mkfifo")  # fmt: skip


def _phone_path(path) -> str | None:
    """The absolute phone path a host path argument stands for, or None when it is the host's."""
    if isinstance(path, int):
        return None
    try:
        text = os.fsdecode(os.fspath(path))
    except TypeError:
        return None
    if not text.startswith("/"):
        return posixpath.normpath(posixpath.join(_cwd, text))
    if text == "/" or text.startswith(tuple(r + "/" for r in PHONE_ROOTS)) or text in PHONE_ROOTS:
        return posixpath.normpath(text)
    return None


def _stat(path: str, follow: bool):
    try:
        header, _ = _rpc.call("stat", path=path, follow=follow)
    except FileNotFoundError:
        return None
    return header


def _stat_result(header: dict) -> os.stat_result:
    mtime = header["mtime"]
    return os.stat_result(
        (
            header["mode"],
            header.get("ino", 0),
            0,
            header["nlink"],
            header["uid"],
            header["uid"],
            header["size"],
            int(mtime),
            int(mtime),
            int(mtime),
            float(mtime),
            float(mtime),
            float(mtime),
        )
    )


def _open(file, mode="r", buffering=-1, encoding=None, errors=None, newline=None, closefd=True, opener=None):
    if isinstance(file, int) and file in _fds:
        raw = _fds[file]
    else:
        path = _phone_path(file)
        if path is None:
            if not isinstance(file, int):
                file = str.__str__(os.fsdecode(os.fspath(file)))  # the guard sees the path that is opened
            return _real_open(file, mode, buffering, encoding, errors, newline, closefd, opener)
        try:
            raw = _PhoneRaw(_rpc, path, mode)
        except OSError as exc:
            if exc.errno != errno.ESPIPE:
                raise
            writes = any(c in mode for c in "wax+")
            raw = _PhonePipe.open_fifo(_rpc, path, "r" in mode or "+" in mode, writes, False)
    binary = "b" in mode
    if buffering == 0:
        return raw
    if raw.writable() and raw.readable():
        buffered = io.BufferedRandom(raw)
    elif raw.writable():
        buffered = io.BufferedWriter(raw)
    else:
        buffered = io.BufferedReader(raw)
    if binary:
        return buffered
    text = io.TextIOWrapper(buffered, encoding or "utf-8", errors, newline, line_buffering=buffering == 1)
    text.mode = mode
    return text


def _wrap_path_call(name: str, op: str, **fixed):
    real = _real[name]

    def call(path, *args, **kwargs):
        phone = _phone_path(path)
        if phone is None or kwargs.get("dir_fd") is not None:
            return real(path, *args, **kwargs)
        _rpc.call(op, path=phone, **fixed)
        return None

    return call


def _stat_fn(follow: bool):
    real = _real["stat" if follow else "lstat"]

    def stat(path, *args, dir_fd=None, follow_symlinks=True):
        phone = _phone_path(path)
        if phone is None or dir_fd is not None:
            if isinstance(path, int) and path in _fds:
                return _stat_result(_rpc.call("stat", path=_fds[path].path, follow=True)[0])
            return (
                real(path, *args, dir_fd=dir_fd, follow_symlinks=follow_symlinks)
                if follow
                else real(path, *args, dir_fd=dir_fd)
            )
        return _stat_result(_rpc.call("stat", path=phone, follow=follow and follow_symlinks)[0])

    return stat


def _listdir(path="."):
    phone = _phone_path(path)
    if phone is None:
        return _real["listdir"](path)
    names = _rpc.call("listdir", path=phone)[0]["names"]
    return [os.fsencode(n) for n in names] if isinstance(path, bytes) else names


class _DirEntry:
    def __init__(self, directory: str, name: str):
        self.name = name
        self.path = posixpath.join(directory, name)
        self._stat: os.stat_result | None = None

    def stat(self, *, follow_symlinks=True) -> os.stat_result:
        return os.stat(self.path) if follow_symlinks else os.lstat(self.path)

    def is_dir(self, *, follow_symlinks=True) -> bool:
        try:
            return stat_mod.S_ISDIR(self.stat(follow_symlinks=follow_symlinks).st_mode)
        except OSError:
            return False

    def is_file(self, *, follow_symlinks=True) -> bool:
        try:
            return stat_mod.S_ISREG(self.stat(follow_symlinks=follow_symlinks).st_mode)
        except OSError:
            return False

    def is_symlink(self) -> bool:
        return stat_mod.S_ISLNK(self.stat(follow_symlinks=False).st_mode)

    def inode(self) -> int:
        return 0

    def __fspath__(self) -> str:
        return self.path


class _ScandirIterator:
    def __init__(self, entries):
        self._it = iter(entries)

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._it)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def close(self):
        pass


def _scandir(path="."):
    phone = _phone_path(path)
    if phone is None:
        return _real["scandir"](path)
    shown = os.fspath(path)
    return _ScandirIterator([_DirEntry(shown, n) for n in _listdir(path)])


def _rename(src, dst, *args, **kwargs):
    phone_src, phone_dst = _phone_path(src), _phone_path(dst)
    if phone_src is None and phone_dst is None:
        return _real["replace"](src, dst, *args, **kwargs)
    if phone_src is None or phone_dst is None:
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), src)
    _rpc.call("rename", path=phone_src, dst=phone_dst)


def _mkdir(path, mode=0o777, *args, **kwargs):
    phone = _phone_path(path)
    if phone is None:
        return _real["mkdir"](path, mode, *args, **kwargs)
    _rpc.call("mkdir", path=phone, mode=mode & 0o7777 & ~0o022)


def _chmod(path, mode, *args, **kwargs):
    phone = _phone_path(path)
    if phone is None:
        return _real["chmod"](path, mode, *args, **kwargs)
    _rpc.call("chmod", path=phone, mode=mode)


def _access(path, mode, *args, **kwargs):
    phone = _phone_path(path)
    if phone is None:
        return _real["access"](path, mode, *args, **kwargs)
    return bool(_rpc.call("access", path=phone, mode=mode)[0]["allowed"])


def _readlink(path, *args, **kwargs):
    phone = _phone_path(path)
    if phone is None:
        return _real["readlink"](path, *args, **kwargs)
    return _rpc.call("readlink", path=phone)[0]["target"]


def _os_open(path, flags, mode=0o777, *, dir_fd=None):
    phone = _phone_path(path)
    if phone is None or dir_fd is not None:
        return _real["open"](path, flags, mode, dir_fd=dir_fd)
    access = flags & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR)
    text_mode = (
        "r"
        if access == os.O_RDONLY
        else "a"
        if flags & os.O_APPEND
        else ("w" if flags & os.O_TRUNC else "r+")
        if access == os.O_WRONLY or access == os.O_RDWR
        else "r"
    )
    if text_mode == "r+" and flags & os.O_CREAT and _stat(phone, True) is None:
        text_mode = "w"
    try:
        raw = _PhoneRaw(_rpc, phone, text_mode + "b")
    except OSError as exc:
        if exc.errno != errno.ESPIPE:
            raise
        nonblock = bool(flags & os.O_NONBLOCK)
        raw = _PhonePipe.open_fifo(_rpc, phone, access != os.O_WRONLY, access != os.O_RDONLY, nonblock)
    fd = _new_fd(raw)
    if isinstance(raw, _PhonePipe):
        raw.fd = fd
    return fd


def _new_fd(raw) -> int:
    """A descriptor number for a phone file object (far above the host's own descriptors)."""
    fd = FAKE_FD_BASE + len(_fds) + 1
    while fd in _fds:
        fd += 1
    _fds[fd] = raw
    return fd


def _fd_call(name: str, handler):
    real = _real[name]

    def call(fd, *args, **kwargs):
        if fd in _fds:
            return handler(_fds[fd], *args)
        return real(fd, *args, **kwargs)

    return call


def _fd_close(raw) -> None:
    for fd, value in list(_fds.items()):
        if value is raw:
            del _fds[fd]
    handle = getattr(raw, "handle", None)
    if handle is not None:  # a device file the emulator opened for this descriptor: release it
        raw.handle = None
        try:
            _rpc.call("fd", b"", fd_op="close", path=raw.path, handle=handle)
        except OSError:
            pass  # nothing to release (no device answers this path): close itself succeeds
    if isinstance(raw, _PhonePipe):
        raw.close()


def _fd_read(raw, n: int) -> bytes:
    data = raw.read(n)
    if data is None:
        raise BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))
    return data


def _mkfifo(path, mode=0o666, *args, **kwargs):
    phone = _phone_path(path)
    if phone is None or kwargs.get("dir_fd") is not None:
        return _real["mkfifo"](path, mode, *args, **kwargs)
    _rpc.call("mkfifo", path=phone, mode=mode)


def _fd_of(obj) -> int:
    return obj if isinstance(obj, int) else obj.fileno()


def _select(rlist, wlist, xlist, timeout=None):
    """select() over phone pipes waits on the phone (regular phone files are always ready, as on Linux);
    host descriptors use the host's select. The two cannot be mixed in one call."""
    fds = [(obj, _fd_of(obj)) for obj in list(rlist) + list(wlist) + list(xlist)]
    phone = [fd for _, fd in fds if fd in _fds]
    if not phone:
        return _real_select(rlist, wlist, xlist, timeout)
    if len(phone) != len(fds):
        raise OSError(errno.EINVAL, "select() over both phone files and host descriptors", None)
    always = [obj for obj in rlist if not isinstance(_fds[_fd_of(obj)], _PhonePipe)]
    pipes = {_fds[_fd_of(obj)].pipe_id: obj for obj in rlist if isinstance(_fds[_fd_of(obj)], _PhonePipe)}
    if always or wlist:
        timeout = 0.0
    if not pipes:
        return always, list(wlist), []
    header, _ = _rpc.call("select", ids=list(pipes), timeout=None if timeout is None else float(timeout))
    return always + [pipes[k] for k in header["ready"]], list(wlist), []


class _PhonePopen:
    """subprocess.Popen on the phone: the phone's shell runs the command as a child of the script, with
    stdout/stderr piped (PIPE), discarded (DEVNULL), merged (stderr=STDOUT) or shared with the script."""

    def __init__(self, args, bufsize=-1, executable=None, stdin=None, stdout=None, stderr=None, *popenargs, **kwargs):
        if stdin not in (None, subprocess.DEVNULL):
            raise OSError(errno.EINVAL, "stdin pipes to a child program are not supported on the virtual phone", None)
        streams = {None: "inherit", subprocess.PIPE: "pipe", subprocess.DEVNULL: "null", subprocess.STDOUT: "stdout"}
        if stdout not in streams or stderr not in streams or stdout == subprocess.STDOUT:
            raise OSError(errno.EINVAL, "stdout/stderr may be PIPE, DEVNULL, STDOUT or inherited", None)
        if isinstance(args, (str, bytes)):
            command = os.fsdecode(args)
        else:
            command = " ".join(_quote(os.fsdecode(a)) for a in args)
        env = kwargs.get("env")
        cwd = kwargs.get("cwd")
        header, _ = _rpc.call(
            "spawn",
            command=command,
            stdout=streams[stdout],
            stderr=streams[stderr],
            env=dict(os.environ if env is None else env),
            cwd=_phone_path(cwd) if cwd is not None else _cwd,
        )
        self.args, self.pid, self.returncode = args, header["pid"], None
        text = kwargs.get("text") or kwargs.get("universal_newlines") or kwargs.get("encoding") or kwargs.get("errors")
        self.stdin = None
        self.stdout = self._stream(header.get("stdout_id"), text, kwargs)
        self.stderr = self._stream(header.get("stderr_id"), text, kwargs)

    def _stream(self, pipe_id, text, kwargs):
        if pipe_id is None:
            return None
        raw = _PhonePipe(_rpc, pipe_id, f"pipe:[{self.pid}]", True, False)
        raw.fileno()
        buffered = io.BufferedReader(raw)
        if not text:
            return buffered
        return io.TextIOWrapper(buffered, kwargs.get("encoding") or "utf-8", kwargs.get("errors"))

    def poll(self):
        if self.returncode is None:
            self.returncode = _rpc.call("proc_poll", pid=self.pid)[0]["status"]
        return self.returncode

    def wait(self, timeout=None):
        if self.returncode is None:
            status = _rpc.call("proc_wait", pid=self.pid, timeout=timeout)[0]["status"]
            if status is None:
                raise subprocess.TimeoutExpired(self.args, timeout)
            self.returncode = status
        return self.returncode

    def communicate(self, input=None, timeout=None):
        out = self.stdout.read() if self.stdout is not None else None
        err = self.stderr.read() if self.stderr is not None else None
        self.wait(timeout)
        return out, err

    def send_signal(self, sig) -> None:
        if self.returncode is None:
            try:
                _kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for stream in (self.stdout, self.stderr):
            if stream is not None:
                stream.close()
        self.wait()
        return False


def _file_batch(groups):
    """os.file_batch(groups) on the virtual phone: many small file calls in one round trip to the emulator.

    groups: lists of calls, ("read", path) (the whole file, as a read from offset 0: a fresh sysfs value)
    or ("write", path, data) (one write() at offset 0 of an existing kernel attribute: a sysfs or procfs file,
    never a regular one); each call is made on the phone as it would be alone (as the calling user, with
    the phone's permissions), in order. Returns the same shape: bytes for a read, None for a write, an
    OSError (with the path) for a call that failed, after which the rest of its group is not made (and has
    no entry). A real phone has no os.file_batch: there each call is its own syscall, microseconds; here
    each would be a round trip to the emulator (0.1-0.2 ms), which a daemon pinning knobs pays a dozen
    times per phase change."""
    wire = []
    for group in groups:
        calls = []
        for call in group:
            kind, path = call[0], _phone_path(call[1])
            if path is None:
                raise PermissionError(errno.EPERM, "file_batch: not a phone file", call[1])
            if kind == "read":
                calls.append(["read", path])
            elif kind == "write":
                calls.append(["write", path, bytes(call[2]).decode("latin-1")])
            else:
                raise ValueError(f"file_batch: unknown call {kind!r} (read or write)")
        wire.append(calls)
    header, _ = _rpc.call("file_batch", groups=wire)
    results = []
    for group, answers in zip(groups, header["results"]):
        done = []
        for call, answer in zip(group, answers):
            if "errno" in answer:
                done.append(OSError(answer["errno"], os.strerror(answer["errno"]), call[1]))
            else:
                done.append(answer["data"].encode("latin-1") if call[0] == "read" else None)
        results.append(done)
    return results


def _fd_fstat(raw: _PhoneRaw) -> os.stat_result:
    return _stat_result(_rpc.call("stat", path=raw.path, follow=True)[0])


def _phone_ioctl(raw: _PhoneRaw, request: int, arg=0, mutate_flag: bool = True):
    """fcntl.ioctl on a phone descriptor, with fcntl's argument conventions: an int goes as an int and the
    result is the call's return value; a bytes-like argument goes as the buffer and the (possibly changed)
    buffer comes back, copied into a mutable one when mutate_flag is set. The emulator's handler for
    `ioctl` (pyrun.FD_OPS) answers {"result": int} with the buffer as payload; ENOTTY when it has none."""
    if isinstance(arg, int):
        header, _ = _device_call(raw, request, b"", int_arg=int(arg))
        return _ioctl_result(raw, header)
    header, data = _device_call(raw, request, bytes(arg))
    if isinstance(arg, (bytes, str)) or not mutate_flag:
        return data
    memoryview(arg).cast("B")[: len(data)] = data
    return _ioctl_result(raw, header)


# --- device descriptors: handles, pointer fields, handed-out descriptors, refreshed mappings ---------------
_handles = itertools.count(1)
_pointer_layouts: dict[tuple[str, int], list] = {}  # (device path, request) -> [[pointer off, count off, size]]
_arrays: dict[int, weakref.ref] = {}  # address -> the array whose buffer_info() gave it


class _Array(array.array):
    """array.array as the script sees it: the same type, except that buffer_info() remembers the array
    behind the address, so an ioctl pointer to it can be copied to the device and back."""

    def buffer_info(self):
        info = super().buffer_info()
        for address in [a for a, ref in _arrays.items() if ref() is None]:
            del _arrays[address]
        _arrays[info[0]] = weakref.ref(self)
        return info


_Array.__name__ = _Array.__qualname__ = "array"
_Array.__module__ = "array"


def _user_memory(address: int, size: int) -> memoryview:
    """The script's bytes [address, address + size), as a kernel's copy_from_user finds them; EFAULT else."""
    for start, ref in list(_arrays.items()):
        buffer = ref()
        if buffer is not None:
            view = memoryview(buffer).cast("B")
            if start <= address and address + size <= start + len(view):
                return view[address - start : address - start + size]
    raise OSError(errno.EFAULT, os.strerror(errno.EFAULT))


def _handle(raw: _PhoneRaw) -> int:
    handle = getattr(raw, "handle", None)
    if handle is None:
        handle = raw.handle = next(_handles)
    return handle


def _device_call(raw: _PhoneRaw, request: int, arg: bytes, **extra) -> tuple[dict, bytes]:
    """One ioctl on the device behind `raw`: the struct, and the arrays its pointer fields point at when
    the request has any (the emulator names the layout the first time); copies back what the device wrote."""
    key = (raw.path, int(request))
    while True:
        layout = _pointer_layouts.get(key)
        regions, blobs = [], [arg]
        for pointer_at, count_at, size in layout or ():
            address = struct.unpack_from("<Q", arg, pointer_at)[0]
            length = struct.unpack_from("<I", arg, count_at)[0] * size
            if address and length:
                blobs.append(bytes(_user_memory(address, length)))
                regions.append([address, length])
        fields = dict(extra, regions=regions) if layout is not None else extra
        header, data = _rpc.call(
            "fd", b"".join(blobs), fd_op="ioctl", path=raw.path, handle=_handle(raw), request=int(request), **fields
        )
        if "pointers" not in header:
            break
        _pointer_layouts[key] = header["pointers"]  # the emulator wants the pointed-to arrays: call again
    at = header.get("arg_len", len(data))
    out = data[:at]
    for address, length in header.get("written", ()):
        _user_memory(address, length)[:] = data[at : at + length]
        at += length
    for offset, length in header.get("dirty", ()):
        for mapping, start in getattr(raw, "maps", ()):
            low, high = max(offset, start), min(offset + length, start + len(mapping))
            if low < high and not mapping.closed:
                mapping[low - start : high - start] = data[at + low - offset : at + high - offset]
        at += length
    return header, out


def _ioctl_result(raw: _PhoneRaw, header: dict) -> int:
    """The call's return value; a descriptor when the device handed out a new file (kbase's reader)."""
    handle = header.get("new_fd")
    if handle is None:
        return int(header.get("result", 0))
    child = _DeviceRaw(raw.path, int(handle))
    return _new_fd(child)


class _DeviceRaw(_PhoneRaw):
    """A descriptor a device handed out from an ioctl: no file behind it, only ioctl, mmap and close."""

    def __init__(self, path: str, handle: int):
        io.RawIOBase.__init__(self)
        self.rpc, self.path, self.name, self.mode = _rpc, path, path, "rb"
        self._readable = self._writable = self._attr = False
        self._pos, self._data = 0, b""
        self.handle = handle


def _phone_mmap(raw: _PhoneRaw, length: int, *args, **kwargs):
    """mmap.mmap on a phone descriptor: the emulator's `mmap` handler (pyrun.FD_OPS) gives the mapping's
    bytes, served here as an anonymous mapping (refreshed with what the device writes, see _device_call);
    ENODEV when the device has none."""
    offset = int(kwargs.get("offset", args[-1] if len(args) >= 3 else 0))
    _, data = _rpc.call("fd", b"", fd_op="mmap", path=raw.path, handle=_handle(raw), length=int(length), offset=offset)
    mapping = mmap.mmap(-1, max(int(length), len(data), 1))
    mapping.write(data)
    mapping.seek(0)
    raw.maps = [m for m in getattr(raw, "maps", []) if not m[0].closed] + [(mapping, offset)]
    return mapping


# Operations on phone file descriptors that have no file-system meaning (device files such as
# /dev/kgsl-3d0 and /dev/mali0): name -> function(raw, *args) run in the script. Each forwards to the
# emulator as RPC op "fd" with fd_op=name, where pyrun.FD_OPS[name] answers for the device at raw.path.
FAKE_FD_OPS = {"ioctl": _phone_ioctl, "mmap": _phone_mmap}


def _fd_dispatch(op: str, real):
    """A wrapper for fcntl.ioctl / mmap.mmap: phone descriptors go to FAKE_FD_OPS[op], the host's to the
    real call (which the audit hook refuses for ioctl and for any mmap but an anonymous one)."""

    def call(fd, *args, **kwargs):
        number = fd if isinstance(fd, int) else getattr(fd, "fileno", lambda: -1)()
        if number in _fds:
            return FAKE_FD_OPS[op](_fds[number], *args, **kwargs)
        return real(fd, *args, **kwargs)

    call.__name__ = op
    return call


def _getcwd() -> str:
    return _cwd


def _chdir(path) -> None:
    global _cwd
    phone = _phone_path(path)
    if phone is None:
        return _real["chdir"](path)
    header = _stat(phone, True)
    if header is None:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
    if not stat_mod.S_ISDIR(header["mode"]):
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
    _cwd = phone


def _kill(pid: int, sig: int) -> None:
    _rpc.call("kill", pid=int(pid), sig=int(sig))


def _shell(command: str) -> tuple[int, bytes, bytes]:
    header, data = _rpc.call("shell", command=command)
    return header["status"], data[: header["stdout_len"]], data[header["stdout_len"] :]


def _system(command: str) -> int:
    status, out, err = _shell(command)
    sys.stdout.flush()
    os.write(1, out)
    os.write(2, err)
    return status << 8


def _run(args, *popenargs, input=None, capture_output=False, timeout=None, check=False, **kwargs):
    """subprocess.run through the phone's shell (no host programs run on the phone)."""
    command = args if isinstance(args, str) else " ".join(_quote(str(a)) for a in args)
    status, out, err = _shell(command)
    text = kwargs.get("text") or kwargs.get("universal_newlines") or kwargs.get("encoding")
    stdout_target, stderr_target = kwargs.get("stdout"), kwargs.get("stderr")
    keep_out = capture_output or stdout_target == subprocess.PIPE
    keep_err = capture_output or stderr_target == subprocess.PIPE
    if not keep_out and stdout_target != subprocess.DEVNULL:
        sys.stdout.flush()
        os.write(1, out)
    if stderr_target == subprocess.STDOUT and keep_out:
        out, err, keep_err = out + err, b"", False
    elif not keep_err and stderr_target != subprocess.DEVNULL:
        os.write(2, err)
    decode = (lambda b: b.decode(kwargs.get("encoding") or "utf-8")) if text else (lambda b: b)
    result = subprocess.CompletedProcess(
        args, status, decode(out) if keep_out else None, decode(err) if keep_err else None
    )
    if check and status:
        raise subprocess.CalledProcessError(status, args, result.stdout, result.stderr)
    return result


def _check_output(args, **kwargs):
    kwargs.setdefault("stdout", subprocess.PIPE)
    return _run(args, check=True, **kwargs).stdout


def _call(args, **kwargs):
    return _run(args, **kwargs).returncode


def _check_call(args, **kwargs):
    _run(args, check=True, **kwargs)
    return 0


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _install_time() -> None:
    host_clock = time.monotonic  # the host's CLOCK_MONOTONIC, before the script's time is the phone's
    line: list = []  # (phone monotonic, phone wall, host s, speed) once the phone says its clock is driven

    def now() -> tuple[float, float]:
        """The phone's (monotonic, wall) clocks. A served phone's clock runs at a fixed speed of the host's,
        so after one answer saying so they are computed here (a read costs no round trip, as with a vDSO);
        an in-process phone's clock moves only when someone sleeps, so each reading asks."""
        if line:
            mono, wall, host_s, speed = line
            elapsed = max(0.0, host_clock() - host_s) * speed
            return mono + elapsed, wall + elapsed
        header = _rpc.call("time")[0]
        if header.get("speed"):
            line[:] = [header["monotonic"], header["wall"], header["host_s"], header["speed"]]
        return header["monotonic"], header["wall"]

    def monotonic() -> float:
        return now()[0]

    def wall() -> float:
        return now()[1]

    def sleep(seconds: float) -> None:
        seconds = float(seconds)
        if seconds != seconds:
            raise ValueError("Invalid value NaN (not a number)")
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        if seconds > 1e9:
            raise OverflowError("sleep length is too large")
        _rpc.call("sleep", seconds=seconds)

    time.monotonic = monotonic
    time.perf_counter = monotonic
    time.time = wall
    time.monotonic_ns = lambda: int(monotonic() * 1e9)
    time.perf_counter_ns = time.monotonic_ns
    time.time_ns = lambda: int(wall() * 1e9)
    time.sleep = sleep


def _install(config: dict, guarded: dict) -> None:
    """Point the script's os, io, builtins, time, socket and subprocess at the phone."""
    global _rpc, _cwd
    _cwd = config["cwd"]
    _real.update({name: guarded.get(name, getattr(os, name)) for name in _WRAPPED})
    builtins.open = _open
    io.open = _open
    os.stat, os.lstat = _stat_fn(True), _stat_fn(False)
    os.listdir, os.scandir = _listdir, _scandir
    os.remove = os.unlink = _wrap_path_call("remove", "remove")
    os.rmdir = _wrap_path_call("rmdir", "rmdir")
    os.mkdir, os.chmod, os.access, os.readlink = _mkdir, _chmod, _access, _readlink
    os.rename = os.replace = _rename
    os.open = _os_open
    os.read = _fd_call("read", _fd_read)
    os.fsync = _fd_call("fsync", lambda raw: _rpc.call("fsync") and None)
    os.mkfifo = _mkfifo
    select.select = _select
    subprocess.Popen = _PhonePopen
    os.write = _fd_call("write", lambda raw, data: raw.write(data))
    os.lseek = _fd_call("lseek", lambda raw, pos, how: raw.seek(pos, how))
    os.close = _fd_call("close", _fd_close)
    os.fstat = _fd_call("fstat", _fd_fstat)
    os.file_batch = _file_batch  # the phone's own extra: see _file_batch
    os.getcwd, os.chdir = _getcwd, _chdir
    os.kill, os.system = _kill, _system
    os.getpid = lambda: config["pid"]
    os.getppid = lambda: config["ppid"]
    for name in ("getuid", "geteuid", "getgid", "getegid"):
        setattr(os, name, lambda uid=config["uid"]: uid)
    signal.signal, signal.getsignal = _rpc.signals.signal, _rpc.signals.getsignal
    if _real_getsignal(signal.SIGINT) is signal.default_int_handler:
        _rpc.signals.signal(signal.SIGINT, signal.default_int_handler)  # KeyboardInterrupt, held like the rest
    uname = os.uname_result(tuple(config["uname"]))
    for module in (os, sys.modules["posix"]):  # the phone's kernel and CPUs, not the host's
        module.uname = lambda: uname
        module.cpu_count = lambda: config["cpu_count"]
    socket.gethostname = lambda: uname.nodename
    fcntl.ioctl = _fd_dispatch("ioctl", fcntl.ioctl)
    array.array = _Array  # type: ignore[misc]
    mmap.mmap = _fd_dispatch("mmap", mmap.mmap)  # type: ignore[misc]
    subprocess.run, subprocess.call = _run, _call
    subprocess.check_call, subprocess.check_output = _check_call, _check_output
    no_fork = types.ModuleType("_posixsubprocess", "host process creation is refused on the virtual phone")

    def fork_exec(*args, **kwargs):
        raise PermissionError(
            errno.EPERM, "_posixsubprocess.fork_exec refused: host programs cannot run on the virtual phone"
        )

    no_fork.fork_exec = fork_exec  # type: ignore[attr-defined]
    subprocess._posixsubprocess = no_fork  # type: ignore[attr-defined]
    sys.modules["_posixsubprocess"] = no_fork
    _install_time()
    os.environ.clear()
    os.environ.update(config["env"])


def _load_guard():
    """pyguard.py beside this file, loaded before anything of the script runs (and before the audit hook)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "_phone_pyguard", os.path.join(os.path.dirname(__file__), "pyguard.py")
    )
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def main() -> None:
    global _rpc
    config = json.loads(sys.argv[1])
    _rpc = _Rpc(config["fd"])
    guard = _load_guard()
    limits = config["limits"]
    report = guard.confine(limits["memory_bytes"], limits["open_files"])
    roots = guard.stdlib_roots()
    guarded = guard.guard_unaudited(roots)
    _rpc.call("confined", layers=report)
    _install(config, guarded)
    if config.get("unbuffered"):
        sys.stdout.reconfigure(write_through=True)
        sys.stderr.reconfigure(write_through=True)
    script, argv = config["script"], config["argv"]
    if config.get("code") is not None:
        source, filename = config["code"], "<string>"
    else:
        filename = script
        try:
            _, data = _rpc.call("read", path=script)
        except OSError as exc:
            sys.stderr.write(f"python3: can't open file '{script}': [Errno {exc.errno}] {exc.strerror}\n")
            sys.exit(2)
        source = data.decode("utf-8", errors="replace")
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    sys.argv = argv
    module = types.ModuleType("__main__")
    module.__file__ = filename
    sys.modules["__main__"] = module  # the script, not this bootstrap, is __main__ (pickle, warnings)
    code = compile(source, filename, "exec")
    guard.install_hook(roots)  # last: from here on, every audited event goes through the phone's guard
    del guard
    _finish(_run_script(code, module))


def _run_script(code, module: types.ModuleType) -> int:
    """Run the script; its exit status, as `python3 script.py` would end."""
    try:
        exec(code, module.__dict__)
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        sys.stderr.write(f"{exc.code}\n")
        return 1
    except KeyboardInterrupt as exc:
        _print_traceback(exc)
        return -signal.SIGINT
    except BaseException as exc:
        _print_traceback(exc)
        return 1
    return 0


def _finish(status: int) -> None:
    """End as the interpreter would (threads joined, atexit run, output flushed) but skip finalisation:
    audit hooks are cleared before modules are torn down, and no script code may run unguarded."""
    try:
        threading._shutdown()  # type: ignore[attr-defined]  # wait for non-daemon threads, as Py_Finalize does
    except KeyboardInterrupt:
        status = -signal.SIGINT
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    if status < 0:  # killed by Ctrl-C: end by the signal, so the shell sees 130
        signal.signal(-status, signal.SIG_DFL)
        signal.raise_signal(-status)
    os._exit(status & 0xFF)


def _print_traceback(exc: BaseException) -> None:
    """A traceback as the script would show on the phone: its own frames, with source lines."""
    ours = (__file__, os.path.join(os.path.dirname(__file__), "pyguard.py"), "<virtual phone guard>")
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename not in ours]
    sys.stderr.write(
        "Traceback (most recent call last):\n"
        + "".join(traceback.format_list(frames))
        + "".join(traceback.format_exception_only(type(exc), exc))
    )


if __name__ == "__main__":
    main()
