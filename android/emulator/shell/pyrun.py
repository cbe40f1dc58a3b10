"""`python3` on the virtual phone: the host's Python runs the script in a child process, with the
bootstrap (pyboot.py) sending the script's file and time calls here, where they run against the
phone's VirtualFS as the calling user and on the phone's clock. The child is a real process: `kill`
signals it, `ps` lists it, its output goes wherever the shell redirected it."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path

from android.emulator.shell import fileops
from android.emulator.shell.interp import Ctx, Io, Session, command, end_session, new_session
from android.emulator.shell.procs import NotPermitted, Proc, ProcessGone
from android.emulator.shell.pyipc import Interrupt, ScriptIpc
from android.emulator.shell.streams import BufferSink, BytesSource, Sink
from android.emulator.vfs import Attr, Fifo
from android.errors import DeviceError

BOOTSTRAP = Path(__file__).with_name("pyboot.py")
TERMINATE_GRACE_S = 2.0
FLAGS_IGNORED = {"-B", "-E", "-I", "-O", "-OO", "-s", "-S", "-b", "-q", "-v", "-W", "-X"}


class _PythonUsage(Exception):
    pass


def parse_python_args(argv: list[str]) -> tuple[str | None, str, list[str], bool]:
    """(inline code or None, script path ('' for -c or stdin), sys.argv, unbuffered) from python3 argv."""
    args = argv[1:]
    unbuffered = False
    while args and args[0].startswith("-") and args[0] != "-":
        flag = args.pop(0)
        if flag == "-u":
            unbuffered = True
        elif flag == "-c":
            if not args:
                raise _PythonUsage("Argument expected for the -c option")
            return args[0], "", ["-c", *args[1:]], unbuffered
        elif flag == "-m":
            raise _PythonUsage("-m is not supported on the virtual phone: run the module's file")
        elif flag in ("-W", "-X") and args:
            args.pop(0)
        elif flag not in FLAGS_IGNORED:
            raise _PythonUsage(f"unknown option {flag}")
    if not args or args[0] == "-":
        return None, "", ["-", *args[1:]], unbuffered
    return None, args[0], args, unbuffered


@command("python3", "python")
def run_python(ctx: Ctx) -> int:
    session = ctx.session
    try:
        code, script, argv, unbuffered = parse_python_args(ctx.argv)
    except _PythonUsage as exc:
        return ctx.fail(str(exc), 2)
    if code is None and not script:
        code = ctx.io.stdin.read().decode(errors="replace")
        ctx.io = Io(BytesSource(), ctx.io.stdout, ctx.io.stderr)
    script = session.abspath(script) if script else ""
    if script:
        argv = [script, *argv[1:]]
    proc = _attach_proc(session, ctx)
    parent_sock, child_sock = socket.socketpair()
    config = {
        "fd": child_sock.fileno(),
        "pid": proc.pid,
        "ppid": proc.ppid,
        "uid": session.uid,
        "cwd": session.cwd,
        "env": session.env(ctx.env),
        "script": script,
        "code": code,
        "argv": argv,
        "unbuffered": unbuffered,
    }
    # Piped or redirected input reaches the script; a live ADB stream's stdin stays with the shell.
    stdin_data = ctx.io.stdin.read() if isinstance(ctx.io.stdin, BytesSource) else b""
    try:
        popen = subprocess.Popen(
            [sys.executable, "-I", str(BOOTSTRAP), json.dumps(config)],
            stdin=subprocess.PIPE if stdin_data else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(child_sock.fileno(),),
            cwd="/",
            start_new_session=True,
            preexec_fn=_ignore_hup if (ctx.ignore_hup or proc.ignore_hup) else None,
        )
    finally:
        child_sock.close()
    proc.popen = popen
    server = _RpcServer(session, proc, parent_sock, ctx.io)
    threads = [
        threading.Thread(target=server.serve, name=f"py-rpc-{proc.pid}", daemon=True),
        threading.Thread(target=_pump, args=(popen.stdout, ctx.io.stdout), daemon=True),
        threading.Thread(target=_pump, args=(popen.stderr, ctx.io.stderr), daemon=True),
    ]
    if stdin_data:
        threads.append(threading.Thread(target=_feed, args=(popen.stdin, stdin_data), daemon=True))
    for thread in threads:
        thread.start()
    returncode = _wait(popen, session)
    for thread in threads[1:]:
        thread.join(5.0)
    parent_sock.close()
    session.runtime.clock.leave(proc.pid)
    status = 128 - returncode if returncode < 0 else returncode
    if proc is not ctx.exec_proc:
        session.runtime.procs.exited(proc, status)
    return status


def _attach_proc(session: Session, ctx: Ctx) -> Proc:
    """The phone process the script runs as: a background job's own PID (exec), else a new child."""
    cmdline = " ".join(["python3", *ctx.argv[1:]])
    if ctx.exec_proc is not None:
        ctx.exec_proc.name, ctx.exec_proc.cmdline = "python3", cmdline
        return ctx.exec_proc
    proc = session.runtime.procs.spawn(session.proc.pid, session.uid, "python3", cmdline)
    proc.ignore_hup = ctx.ignore_hup
    return proc


def _ignore_hup() -> None:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def _wait(popen: subprocess.Popen, session: Session) -> int:
    """Wait for the script; if the shell running it is stopped, stop the script too."""
    while True:
        try:
            return popen.wait(0.05)
        except subprocess.TimeoutExpired:
            pass
        if session.cancel.is_set():
            popen.send_signal(signal.SIGTERM)
            try:
                return popen.wait(TERMINATE_GRACE_S)
            except subprocess.TimeoutExpired:
                popen.kill()
                return popen.wait()


def _pump(pipe, sink: Sink) -> None:
    fd = pipe.fileno()
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        sink.write(chunk)
    pipe.close()


def _feed(pipe, data: bytes) -> None:
    try:
        pipe.write(data)
        pipe.close()
    except (BrokenPipeError, OSError):
        pass


class _RpcServer:
    """Serves one script's calls in order. Calls that wait (sleep, a blocking pipe read, select, waiting
    for a child) run on their own thread; the next request cuts them short (a signal handler interrupted
    the call and the script moved on: pyboot sends `cancel` first), so a daemon's cleanup never waits on
    the clock."""

    def __init__(self, session: Session, proc: Proc, sock: socket.socket, io: Io):
        self.session, self.proc, self.sock = session, proc, sock
        self.fs = session.phone.fs
        self.uid = session.uid
        self.ipc = ScriptIpc(session, proc, io)
        self._buf = bytearray()
        self._send_lock = threading.Lock()
        self._waiting: tuple[threading.Thread, Interrupt] | None = None

    def serve(self) -> None:
        try:
            while True:
                request = self._receive()
                if request is None:
                    break
                self._finish_waiting()
                header, payload = request
                op = header.get("op")
                if op == "cancel":
                    continue
                if op == "sleep":
                    self._start_waiting(self._sleeper(float(header.get("seconds", 0.0))))
                    continue
                if op in ScriptIpc.OPS:
                    self._ipc(op, header, payload)
                    continue
                self._reply(*self._handle(header, payload))
        except OSError:
            pass
        finally:
            self._finish_waiting()
            self.ipc.close()
            self.session.runtime.clock.leave(self.proc.pid)

    def _ipc(self, op: str, header: dict, payload: bytes) -> None:
        try:
            waiter = self.ipc.waiter(op, header)
            if waiter is not None:
                self._start_waiting(waiter)
                return
            answer = self.ipc.answer_now(op, header) if op in ("pipe_read", "select", "proc_wait") else None
            self._reply(*(answer or self.ipc.call(op, header, payload)))
        except (DeviceError, FileExistsError, OSError) as exc:
            self._reply(*self._error(exc))

    def _error(self, exc: Exception) -> tuple[dict, bytes]:
        if isinstance(exc, DeviceError):
            return {"ok": False, "errno": fileops.error_errno(exc)}, b""
        if isinstance(exc, FileExistsError):
            return {"ok": False, "errno": 17}, b""
        return {"ok": False, "errno": getattr(exc, "errno", None) or 5}, b""

    def _sleeper(self, seconds: float):
        def sleep(interrupt: Interrupt) -> tuple[dict, bytes]:
            clock = self.session.runtime.clock
            target = clock.now_s() + seconds
            clock.sleep(seconds, self.proc.pid, self.session.foreground, interrupt.event)
            if interrupt.cancelled:
                return {"ok": True, "cancelled": True, "left_s": max(0.0, target - clock.now_s())}, b""
            return {"ok": True}, b""

        return sleep

    def _start_waiting(self, waiter) -> None:
        interrupt = Interrupt(self.session.runtime.clock)

        def run() -> None:
            try:
                answer = waiter(interrupt)
            except (DeviceError, OSError) as exc:
                answer = self._error(exc)
            try:
                self._reply(*answer)
            except OSError:
                pass

        thread = threading.Thread(target=run, name=f"py-wait-{self.proc.pid}", daemon=True)
        self._waiting = (thread, interrupt)
        thread.start()

    def _finish_waiting(self) -> None:
        if self._waiting is not None:
            thread, interrupt = self._waiting
            interrupt.cancel()
            thread.join()
            self._waiting = None

    def _receive(self) -> tuple[dict, bytes] | None:
        while True:
            if len(self._buf) >= 4:
                head_len = struct.unpack_from(">I", self._buf, 0)[0]
                if len(self._buf) >= 8 + head_len:
                    body_len = struct.unpack_from(">I", self._buf, 4 + head_len)[0]
                    end = 8 + head_len + body_len
                    if len(self._buf) >= end:
                        header = json.loads(bytes(self._buf[4 : 4 + head_len]))
                        payload = bytes(self._buf[8 + head_len : end])
                        del self._buf[:end]
                        return header, payload
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                return None
            self._buf += chunk

    def _reply(self, header: dict, payload: bytes = b"") -> None:
        head = json.dumps(header).encode()
        with self._send_lock:
            self.sock.sendall(struct.pack(">I", len(head)) + head + struct.pack(">I", len(payload)) + payload)

    def _handle(self, header: dict, payload: bytes) -> tuple[dict, bytes]:
        op, path = header.get("op"), header.get("path", "")
        fs, uid = self.fs, self.uid
        try:
            if op in ("read", "open_write") and fs.exists(path) and isinstance(fs.node(path), Fifo):
                return {"ok": False, "errno": errno.ESPIPE}, b""  # pyboot opens it as a pipe instead
            if op == "read":
                return {"ok": True}, fs.read(path, uid)
            if op == "open_write":
                fileops.may_write(fs, path, uid)
                attr = fs.exists(path) and isinstance(fs.node(path), Attr)
                if not attr and (header.get("truncate") or not fs.exists(path)):
                    fs.write(path, b"", uid)
                return {"ok": True, "attr": attr}, b""
            if op == "write":
                fs.write(path, payload, uid, append=not header.get("attr"))
                return {"ok": True}, b""
            if op == "stat":
                st = fileops.stat(fs, path, follow=bool(header.get("follow", True)))
                return {
                    "ok": True,
                    "mode": st.mode,
                    "size": st.size,
                    "mtime": st.mtime_s,
                    "uid": st.uid,
                    "nlink": st.nlink,
                }, b""
            if op == "listdir":
                return {"ok": True, "names": fs.listdir(path)}, b""
            if op == "remove":
                fileops.remove_file(fs, path, uid)
            elif op == "rmdir":
                fileops.rmdir(fs, path, uid)
            elif op == "mkdir":
                fileops.mkdir(fs, path, uid, int(header.get("mode", 0o755)))
            elif op == "rename":
                fileops.rename(fs, path, header["dst"], uid)
            elif op == "chmod":
                fs.chmod(path, int(header["mode"]), uid)
            elif op == "access":
                return {"ok": True, "allowed": self._access(path, int(header.get("mode", 0)))}, b""
            elif op == "readlink":
                node = fileops._lnode(fs, path)
                target = getattr(node, "target", None)
                if target is None:
                    return {"ok": False, "errno": 22}, b""
                return {"ok": True, "target": target}, b""
            elif op == "time":
                runtime = self.session.runtime
                now_s = runtime.clock.now_s()
                return {
                    "ok": True,
                    "monotonic": self.session.phone.state.boot_offset_s + now_s,
                    "wall": runtime.epoch_at_boot_s + now_s,
                }, b""
            elif op == "kill":
                self.session.runtime.procs.kill(int(header["pid"]), int(header["sig"]), uid)
            elif op == "shell":
                return self._shell(header["command"])
            else:
                return {"ok": False, "errno": 38}, b""  # ENOSYS
            return {"ok": True}, b""
        except DeviceError as exc:
            return {"ok": False, "errno": fileops.error_errno(exc)}, b""
        except FileExistsError:
            return {"ok": False, "errno": 17}, b""
        except ProcessGone:
            return {"ok": False, "errno": 3}, b""
        except NotPermitted:
            return {"ok": False, "errno": 1}, b""
        except OSError as exc:
            return {"ok": False, "errno": exc.errno or 5}, b""

    def _access(self, path: str, mode: int) -> bool:
        fs = self.fs
        if not fs.exists(path):
            return False
        node = fs.node(path)
        for bit, flag in ((0o4, os.R_OK), (0o2, os.W_OK), (0o1, os.X_OK)):
            if mode & flag:
                if not fs.may(node, self.uid, bit):
                    return False
        return True

    def _shell(self, command: str) -> tuple[dict, bytes]:
        """os.system / subprocess.run from the script: the phone's shell runs the command."""
        child = new_session(self.session.phone, self.uid, parent_pid=self.proc.pid, foreground=self.session.foreground)
        out, err = BufferSink(), BufferSink()
        status = child.run(command, Io(BytesSource(), out, err))
        end_session(child, status)
        stdout = out.getvalue()
        return {"ok": True, "status": status, "stdout_len": len(stdout)}, stdout + err.getvalue()
