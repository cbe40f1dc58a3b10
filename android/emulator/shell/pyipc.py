"""Pipes, FIFOs, select and child programs for a pushed script (the server side of pyboot's calls).

A script on the virtual phone reaches the phone's FIFOs (mkfifo, open, read, write, select) and starts
programs the way it would on a phone (subprocess.Popen with pipes: the phone's shell runs them, as a
child process in the phone's process table, with their output streamed through a pipe). Nothing here
starts a host process. Calls that wait (a blocking read, select, waiting for a child) run off the request
loop and end early when the script moves on (a signal handler interrupted the call).
"""

from __future__ import annotations

import errno
import posixpath
import threading
from collections.abc import Callable
from dataclasses import dataclass

from android.emulator.pipes import Pipe, PipeError
from android.emulator.shell.interp import Io, Session
from android.emulator.shell.procs import Proc, ProcessLimit
from android.emulator.shell.streams import BytesSource, NullSink, Sink
from android.emulator.vfs import Fifo

CHILD_POLL_S = 0.01  # how often a wait for a child program rechecks (child exits have no wake-up)


@dataclass
class _Handle:
    pipe: Pipe
    read: bool
    write: bool
    path: str


class Interrupt:
    """Ends a waiting call: data arrived (re-check) or the script moved on (cancelled)."""

    def __init__(self, clock) -> None:
        self.event = threading.Event()
        self.cancelled = False
        self._clock = clock

    def wake(self) -> None:
        self.event.set()
        self._clock.advanced()  # a sleeper on the phone's clock re-checks at once

    def cancel(self) -> None:
        self.cancelled = True
        self.wake()


class PipeSink(Sink):
    """A child program's stdout or stderr into a pipe (blocks while the pipe is full)."""

    def __init__(self, pipe: Pipe, cancel: threading.Event):
        self.pipe, self.cancel = pipe, cancel

    def write(self, data: bytes) -> None:
        if data and self.error is None:
            try:
                self.pipe.write_all(data, self.cancel)
            except PipeError as exc:
                self.error = exc


class ScriptIpc:
    """The pipes and children of one script. `call` answers at once; `waiter` returns a function that
    waits (run on its own thread by the RPC server) or None when the answer is ready now."""

    def __init__(self, session: Session, proc: Proc, io: Io):
        self.session, self.proc, self.io = session, proc, io
        self.fs = session.phone.fs
        self.clock = session.runtime.clock
        self.handles: dict[int, _Handle] = {}
        self.children: dict[int, Proc] = {}
        self._next = 1
        self._lock = threading.Lock()

    OPS = (
        "mkfifo",
        "pipe_open",
        "pipe_read",
        "pipe_write",
        "pipe_close",
        "select",
        "spawn",
        "proc_poll",
        "proc_wait",
        "fsync",
    )

    # --- immediate calls ----------------------------------------------------------------------
    def call(self, op: str, header: dict, payload: bytes) -> tuple[dict, bytes]:
        return getattr(self, f"_op_{op}")(header, payload)

    def _op_fsync(self, header: dict, payload: bytes) -> tuple[dict, bytes]:
        persist = self.session.runtime.persist
        if persist is not None:
            persist.flush()  # durable now, as fsync(2) makes it on flash
        return {"ok": True}, b""

    def _op_mkfifo(self, header: dict, payload: bytes) -> tuple[dict, bytes]:
        self.fs.mkfifo(header["path"], int(header.get("mode", 0o666)) & ~0o022, self.session.uid)
        return {"ok": True}, b""

    def _add(self, handle: _Handle) -> int:
        with self._lock:
            key = self._next
            self._next += 1
            self.handles[key] = handle
        return key

    def _op_pipe_open(self, header: dict, payload: bytes) -> tuple[dict, bytes]:
        path, read, write = header["path"], bool(header.get("read")), bool(header.get("write"))
        with self.fs.lock:
            node = self.fs.node(path)
            if not isinstance(node, Fifo):
                return {"ok": False, "errno": errno.EINVAL}, b""
            for wanted, bit in ((read, 0o4), (write, 0o2)):
                if wanted and not self.fs.may(node, self.session.uid, bit):
                    return {"ok": False, "errno": errno.EACCES}, b""
            if write and not read and node.pipe.readers == 0:
                return {"ok": False, "errno": errno.ENXIO}, b""  # as O_NONBLOCK; a blocking open would hang
            node.pipe.open(read, write)
        return {"ok": True, "id": self._add(_Handle(node.pipe, read, write, path))}, b""

    def _handle(self, header: dict) -> _Handle:
        handle = self.handles.get(int(header.get("id", -1)))
        if handle is None:
            raise OSError(errno.EBADF, "Bad file descriptor")
        return handle

    def _op_pipe_write(self, header: dict, payload: bytes) -> tuple[dict, bytes]:
        handle = self._handle(header)
        if not handle.write:
            raise OSError(errno.EBADF, "Bad file descriptor")
        if len(payload) > 0:
            handle.pipe.write(payload, self.fs.device_name, handle.path)
        return {"ok": True, "written": len(payload)}, b""

    def _op_pipe_close(self, header: dict, payload: bytes) -> tuple[dict, bytes]:
        with self._lock:
            handle = self.handles.pop(int(header.get("id", -1)), None)
        if handle is not None:
            handle.pipe.close(handle.read, handle.write)
        return {"ok": True}, b""

    def _op_proc_poll(self, header: dict, payload: bytes) -> tuple[dict, bytes]:
        child = self._child(header)
        return {"ok": True, "status": child.exit_code}, b""

    def _child(self, header: dict) -> Proc:
        child = self.children.get(int(header.get("pid", -1)))
        if child is None:
            raise OSError(errno.ECHILD, "No child processes")
        return child

    def _op_spawn(self, header: dict, payload: bytes) -> tuple[dict, bytes]:
        """Run a command line in the phone's shell as a child of the script, its output piped or shared."""
        command = header["command"]
        runtime = self.session.runtime
        name = posixpath.basename(command.split()[0]) if command.split() else "sh"
        try:
            child = runtime.procs.spawn(self.proc.pid, self.session.uid, name, command)
        except ProcessLimit:
            raise OSError(
                errno.EAGAIN, "Resource temporarily unavailable (the phone's process table is full)"
            ) from None
        shell = Session(
            self.session.phone,
            self.session.uid,
            child,
            runtime=runtime,
            foreground=False,
            env=dict(header.get("env") or self.session.env()),
            cwd=header.get("cwd") or self.session.cwd,
        )
        reply: dict = {"ok": True, "pid": child.pid}
        ends: list[Pipe] = []

        def sink(mode: str, inherited: Sink, key: str) -> Sink:
            if mode == "pipe":
                pipe = Pipe()
                pipe.open(read=True, write=True)  # the script reads, the child writes
                ends.append(pipe)
                reply[key] = self._add(_Handle(pipe, True, False, f"pipe:[{child.pid}]"))
                return PipeSink(pipe, child.cancel)
            return NullSink() if mode == "null" else inherited

        stdout = sink(header.get("stdout", "inherit"), self.io.stdout, "stdout_id")
        stderr_mode = header.get("stderr", "inherit")
        stderr = stdout if stderr_mode == "stdout" else sink(stderr_mode, self.io.stderr, "stderr_id")

        def run() -> None:
            status = 1
            try:
                status = shell.run(command, Io(BytesSource(), stdout, stderr))
            except Exception as exc:  # a child must never take the phone down with it
                stderr.write(f"sh: internal error: {exc}\n".encode())
            finally:
                for pipe in ends:
                    pipe.close(read=False, write=True)  # the reader sees end-of-file
                runtime.clock.leave(child.pid)
                runtime.procs.exited(child, status)

        self.children[child.pid] = child
        threading.Thread(target=run, name=f"spawn-{child.pid}", daemon=True).start()
        return reply, b""

    # --- calls that may wait ------------------------------------------------------------------
    def waiter(self, op: str, header: dict) -> Callable[[Interrupt], tuple[dict, bytes]] | None:
        if op == "pipe_read":
            handle = self._handle(header)
            n = max(1, int(header.get("n", 65536)))
            if handle.pipe.readable():
                return None
            if not header.get("block", True):
                raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

            def read(interrupt: Interrupt) -> tuple[dict, bytes]:
                self._wait([handle.pipe], lambda: handle.pipe.readable(), None, interrupt)
                got = handle.pipe.read(n)
                if got is None:
                    return {"ok": True, "cancelled": True}, b""
                return {"ok": True, "eof": got == b""}, got

            return read
        if op == "select":
            handles = [(int(k), self.handles.get(int(k))) for k in header.get("ids", [])]
            if any(h is None for _, h in handles):
                raise OSError(errno.EBADF, "Bad file descriptor")

            def ready() -> list[int]:
                return [k for k, h in handles if h.pipe.readable()]  # type: ignore[union-attr]

            timeout = header.get("timeout")
            if ready() or timeout == 0:
                return None

            def select(interrupt: Interrupt) -> tuple[dict, bytes]:
                left = self._wait([h.pipe for _, h in handles], lambda: bool(ready()), timeout, interrupt)  # type: ignore[union-attr]
                found = ready()
                if interrupt.cancelled and not found:
                    return {"ok": True, "cancelled": True, "left_s": left, "ready": []}, b""
                return {"ok": True, "ready": found}, b""

            return select
        if op == "proc_wait":
            child = self._child(header)
            if child.exit_code is not None:
                return None

            def wait(interrupt: Interrupt) -> tuple[dict, bytes]:
                left = self._wait([], lambda: child.done.is_set(), header.get("timeout"), interrupt, CHILD_POLL_S)
                if interrupt.cancelled and child.exit_code is None:
                    return {"ok": True, "cancelled": True, "left_s": left, "status": None}, b""
                return {"ok": True, "status": child.exit_code}, b""

            return wait
        return None

    def answer_now(self, op: str, header: dict) -> tuple[dict, bytes]:
        """The answer of a waiting call whose condition already holds."""
        if op == "pipe_read":
            handle = self._handle(header)
            got = handle.pipe.read(max(1, int(header.get("n", 65536)))) or b""
            return {"ok": True, "eof": got == b""}, got
        if op == "select":
            ready = [int(k) for k in header.get("ids", []) if self.handles[int(k)].pipe.readable()]
            return {"ok": True, "ready": ready}, b""
        return {"ok": True, "status": self._child(header).exit_code}, b""

    def _wait(
        self,
        pipes: list[Pipe],
        ready: Callable[[], bool],
        timeout_s: float | None,
        interrupt: Interrupt,
        poll_s: float | None = None,
    ) -> float | None:
        """Until ready(), the timeout passes (simulated seconds) or the script moves on. Returns the
        timeout left (None without one)."""
        for pipe in pipes:
            pipe.watch(interrupt.wake)
        target = None if timeout_s is None else self.clock.now_s() + max(0.0, float(timeout_s))
        try:
            while not ready() and not interrupt.cancelled:
                if target is None:
                    interrupt.event.wait(poll_s)
                else:
                    left = target - self.clock.now_s()
                    if left <= 0:
                        break
                    if poll_s is not None:
                        left = min(left, poll_s)
                    self.clock.sleep(left, self.proc.pid, self.session.foreground, interrupt.event)
                interrupt.event.clear()
        finally:
            for pipe in pipes:
                pipe.unwatch(interrupt.wake)
        return None if target is None else max(0.0, target - self.clock.now_s())

    def close(self) -> None:
        """The script ended: its ends of pipes and FIFOs close (its children run on)."""
        with self._lock:
            handles, self.handles = list(self.handles.values()), {}
        for handle in handles:
            handle.pipe.close(handle.read, handle.write)
