"""`python3` on the virtual phone: the host's Python runs the script in a child process, confined to the
phone (pyguard.py), with the bootstrap (pyboot.py) sending the script's file, process and time calls
here, where they run against the phone's VirtualFS as the calling user and on the phone's clock. The
child is a real process: `kill` signals it, `ps` lists it, its output goes wherever the shell redirected
it. This side is the phone's "kernel" for the script: every request is checked here, so a script that
speaks the RPC socket directly gets no more than the phone allows its user.

Device files: `FD_OPS` maps an operation on a phone file descriptor (pyboot.FAKE_FD_OPS: "ioctl",
"mmap"; "close" when a descriptor a device answered is closed) to its handler here,
`handler(server, path, header, payload) -> (header, payload)`; register one with `register_fd_op`. Without
a handler, ioctl answers ENOTTY and mmap ENODEV, as for a plain file. A handler that keeps state for the
script (open device files) puts a callable on `server.on_exit`; they run when the script has ended."""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from android.emulator.shell import fileops
from android.emulator.shell.commands.system import KERNEL_RELEASE, KERNEL_VERSION
from android.emulator.shell.interp import Ctx, Io, Session, command, end_session, new_session
from android.emulator.shell.procs import NotPermitted, Proc, ProcessGone, ProcessLimit
from android.emulator.shell.pyipc import Interrupt, ScriptIpc
from android.emulator.shell.streams import BufferSink, BytesSource, Sink
from android.emulator.vfs import Attr, Fifo
from android.errors import DeviceError

BOOTSTRAP = Path(__file__).with_name("pyboot.py")
TERMINATE_GRACE_S = 2.0
MAX_HEADER_BYTES = 64 * 1024  # an RPC header is a small JSON object
MAX_PAYLOAD_BYTES = 4 * 1024 * 1024  # pyboot sends big writes in 1 MiB pieces
MAX_BATCH_CALLS = 256  # file calls in one os.file_batch request (a daemon's phase change makes about a dozen)
RECV_BYTES = 1 << 16  # per recv(): a 1 MiB buffer costs an mmap and page faults on every small answer (~35 us)
CHILD_ENV = {"MALLOC_ARENA_MAX": "2"}  # the host environment of the child: nothing of the emulator's
log = logging.getLogger("fusegov.emulator")

FdHandler = Callable[["_RpcServer", str, dict, bytes], tuple[dict, bytes]]
FD_OPS: dict[str, FdHandler] = {}  # "ioctl" / "mmap" -> the device files' handler (see the module docstring)
FD_OP_DEFAULT_ERRNO = {"ioctl": errno.ENOTTY, "mmap": errno.ENODEV}


def register_fd_op(name: str, handler: FdHandler) -> None:
    """Answer pyboot.FAKE_FD_OPS[name] calls on phone descriptors (the handler dispatches on the path)."""
    FD_OPS[name] = handler


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
    runtime = session.runtime
    limits = runtime.script_limits
    running = sum(1 for p in runtime.procs.live() if p.name == "python3" and p is not ctx.exec_proc)
    if running >= limits.max_scripts:
        return ctx.fail(f"can't fork: Try again ({running} Python processes running, the phone's limit)", 1)
    try:
        proc = _attach_proc(session, ctx)
    except ProcessLimit as exc:
        return ctx.fail(f"can't fork: {exc}", 1)
    parent_sock, child_sock = socket.socketpair()
    phone = session.phone
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
        "limits": {"memory_bytes": limits.memory_bytes, "open_files": limits.open_files},
        "uname": ["Linux", phone.props.get("ro.product.device", "localhost"), KERNEL_RELEASE, KERNEL_VERSION, "aarch64"],
        "cpu_count": sum(len(c.cpus) for c in phone.profile.clusters),
    }  # fmt: skip
    # Piped or redirected input reaches the script; a live ADB stream's stdin stays with the shell.
    stdin_data = ctx.io.stdin.read() if isinstance(ctx.io.stdin, BytesSource) else b""
    try:
        popen = subprocess.Popen(
            [sys.executable, "-I", "-S", "-B", str(BOOTSTRAP), json.dumps(config)],
            stdin=subprocess.PIPE if stdin_data else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(child_sock.fileno(),),
            cwd="/",
            env=CHILD_ENV,
            start_new_session=True,
            preexec_fn=_ignore_hup if (ctx.ignore_hup or proc.ignore_hup) else None,
        )
    except OSError as exc:
        child_sock.close()
        parent_sock.close()
        if proc is not ctx.exec_proc:
            session.runtime.procs.exited(proc, 1)
        return ctx.fail(f"can't fork: {exc.strerror}", 1)
    finally:
        child_sock.close()
    proc.popen = popen
    server = _RpcServer(session, proc, parent_sock, ctx.io)
    server.env = config["env"]
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


OWN_PROC_FILES = ("cmdline", "comm", "environ", "status")


class _BadFrame(Exception):
    """The bytes on the RPC socket are not pyboot's requests."""


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
        self.env: dict[str, str] = {}
        self._confined_seen = False
        self.on_exit: list[Callable[[], None]] = []  # run when the script has ended (device files released)
        self.file_calls = session.runtime.clock.file_calls()  # served: when its calls bring the physics up

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
                    seconds = header.get("seconds", 0.0)
                    if not isinstance(seconds, (int, float)) or not 0 <= seconds < 1e10:
                        self._reply({"ok": False, "errno": errno.EINVAL})
                        continue
                    self._start_waiting(self._sleeper(float(seconds)))
                    continue
                if op in ScriptIpc.OPS:
                    self._ipc(op, header, payload)
                    continue
                self.file_calls.call(op, header.get("path"))  # a pass over files reads the phone at one instant
                self._reply(*self._handle(header, payload))
        except _BadFrame as exc:  # not pyboot talking: end the conversation (the script then exits)
            log.warning("python3 (phone pid %s): %s; its RPC socket is closed", self.proc.pid, exc)
        except OSError:
            pass
        finally:
            self._finish_waiting()
            self.ipc.close()
            for release in self.on_exit:
                release()
            self.session.runtime.clock.leave(self.proc.pid)
            try:  # the script's next request then finds the phone gone and exits, instead of waiting
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _ipc(self, op: str, header: dict, payload: bytes) -> None:
        try:
            waiter = self.ipc.waiter(op, header)
            if waiter is not None:
                self._start_waiting(waiter)
                return
            answer = self.ipc.answer_now(op, header) if op in ("pipe_read", "select", "proc_wait") else None
            self._reply(*(answer or self.ipc.call(op, header, payload)))
        except (DeviceError, OSError, KeyError, TypeError, ValueError, OverflowError, AttributeError) as exc:
            self._reply(*self._error(exc))

    @staticmethod
    def _error(exc: Exception) -> tuple[dict, bytes]:
        if isinstance(exc, DeviceError):
            return {"ok": False, "errno": fileops.error_errno(exc)}, b""
        if isinstance(exc, OSError):
            return {"ok": False, "errno": exc.errno or errno.EIO}, b""
        return {"ok": False, "errno": errno.EINVAL}, b""  # a malformed request

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
        self.file_calls.waited()  # served: after a wait, the script's next file call reads the phone anew
        interrupt = Interrupt(self.session.runtime.clock)

        def run() -> None:
            try:
                answer = waiter(interrupt)
            except (DeviceError, OSError, KeyError, TypeError, ValueError, OverflowError) as exc:
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
                if head_len > MAX_HEADER_BYTES:
                    raise _BadFrame(f"request header of {head_len} bytes")
                if len(self._buf) >= 8 + head_len:
                    body_len = struct.unpack_from(">I", self._buf, 4 + head_len)[0]
                    if body_len > MAX_PAYLOAD_BYTES:
                        raise _BadFrame(f"request payload of {body_len} bytes")
                    end = 8 + head_len + body_len
                    if len(self._buf) >= end:
                        try:
                            header = json.loads(bytes(self._buf[4 : 4 + head_len]))
                        except (ValueError, RecursionError):
                            raise _BadFrame("request header is not JSON") from None
                        if not isinstance(header, dict):
                            raise _BadFrame("request header is not an object")
                        payload = bytes(self._buf[8 + head_len : end])
                        del self._buf[:end]
                        return header, payload
            chunk = self.sock.recv(RECV_BYTES)
            if not chunk:
                return None
            self._buf += chunk

    def _reply(self, header: dict, payload: bytes = b"") -> None:
        head = json.dumps(header).encode()
        with self._send_lock:
            self.sock.sendall(struct.pack(">I", len(head)) + head + struct.pack(">I", len(payload)) + payload)

    def _handle(self, header: dict, payload: bytes) -> tuple[dict, bytes]:
        """One request, answered as the phone's kernel would; malformed requests get EINVAL."""
        try:
            return self._dispatch(header, payload)
        except DeviceError as exc:
            return {"ok": False, "errno": fileops.error_errno(exc)}, b""
        except FileExistsError:
            return {"ok": False, "errno": errno.EEXIST}, b""
        except ProcessGone:
            return {"ok": False, "errno": errno.ESRCH}, b""
        except NotPermitted:
            return {"ok": False, "errno": errno.EPERM}, b""
        except ProcessLimit:
            return {"ok": False, "errno": errno.EAGAIN}, b""
        except OSError as exc:
            return {"ok": False, "errno": exc.errno or errno.EIO}, b""
        except (KeyError, TypeError, ValueError, OverflowError, AttributeError):
            return {"ok": False, "errno": errno.EINVAL}, b""

    def _dispatch(self, header: dict, payload: bytes) -> tuple[dict, bytes]:
        op, path = header.get("op"), header.get("path", "")
        if not isinstance(path, str):
            raise TypeError("path")
        path = self._own_proc_path(path)
        fs, uid = self.fs, self.uid
        own = self._own_proc_file(path)
        if own is not None:
            return self._serve_own_proc(op, path, own)
        if op == "read":  # a FIFO answers ESPIPE: pyboot then opens it as a pipe
            return {"ok": True}, fs.read(path, uid)
        if op == "open_write":
            fileops.may_write(fs, path, uid)
            node = fs.node(path) if fs.exists(path) else None
            if isinstance(node, Fifo):
                return {"ok": False, "errno": errno.ESPIPE}, b""
            attr = isinstance(node, Attr)
            if not attr and (header.get("truncate") or not fs.exists(path)):
                fs.write(path, b"", uid)
            return {"ok": True, "attr": attr}, b""
        if op == "write":
            fs.write(path, payload, uid, append=not header.get("attr"))
            return {"ok": True}, b""
        if op == "pwrite":  # one write() at offset 0 of an open kernel attribute: never creates a file
            with fs.lock:
                if not isinstance(fs.node(path), Attr):
                    return {"ok": False, "errno": errno.EINVAL}, b""
                fs.write(path, payload, uid)
            return {"ok": True}, b""
        if op == "file_batch":
            return self._file_batch(header["groups"])
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
            line = runtime.clock.linear()  # served: the clock is a line in host time, continuous across steps
            now_s = line[0] if line is not None else runtime.clock.now_s()
            reply = {
                "ok": True,
                "monotonic": self.session.phone.state.boot_offset_s + now_s,
                "wall": runtime.epoch_at_boot_s + now_s,
            }
            if line is not None:  # pyboot then reads the clock without asking (one round trip less per reading)
                reply.update(host_s=line[1], speed=line[2])
            return reply, b""
        elif op == "kill":
            self.session.runtime.procs.kill(int(header["pid"]), int(header["sig"]), uid)
        elif op == "shell":
            if not isinstance(header["command"], str):
                raise TypeError("command")
            return self._shell(header["command"])
        elif op == "fd":
            return self._fd_op(str(header["fd_op"]), path, header, payload)
        elif op == "confined":
            self._confined(header["layers"])
        else:
            return {"ok": False, "errno": errno.ENOSYS}, b""
        return {"ok": True}, b""

    def _file_batch(self, groups: list) -> tuple[dict, bytes]:
        """pyboot's os.file_batch: groups of whole-file reads and attribute writes, each answered as the call
        made alone would be (its own permission checks and errno); a group stops at its first failure."""
        if not isinstance(groups, list) or sum(len(group) for group in groups) > MAX_BATCH_CALLS:
            raise ValueError("groups")
        results = []
        for group in groups:
            answers: list[dict] = []
            for kind, path, *data in group:
                if kind not in ("read", "write") or not isinstance(path, str) or len(data) != (kind == "write"):
                    raise ValueError("call")
                op = "read" if kind == "read" else "pwrite"
                header, got = self._handle({"op": op, "path": path}, data[0].encode("latin-1") if data else b"")
                if not header["ok"]:
                    answers.append({"errno": header["errno"]})
                    break
                answers.append({"data": got.decode("latin-1")} if kind == "read" else {})
            results.append(answers)
        return {"ok": True, "results": results}, b""

    def _fd_op(self, name: str, path: str, header: dict, payload: bytes) -> tuple[dict, bytes]:
        """ioctl / mmap on a phone descriptor: the registered device handler, else the plain-file errno."""
        handler = FD_OPS.get(name)
        if handler is None:
            return {"ok": False, "errno": FD_OP_DEFAULT_ERRNO.get(name, errno.ENOSYS)}, b""
        if not self.fs.exists(path):
            return {"ok": False, "errno": errno.EBADF}, b""
        return handler(self, path, header, payload)

    def _confined(self, layers: list) -> None:
        """The script's confinement report, [layer, active, detail] per layer: kept on the runtime, and a
        missing kernel layer logged (once per phone) so a degraded sandbox is never silent."""
        runtime = self.session.runtime
        first = not runtime.confinement
        runtime.confinement = [(str(name), bool(active), str(detail)) for name, active, detail in layers]
        weak = [f"{name}: {detail}" for name, active, detail in runtime.confinement if not active]
        if weak and first:
            log.warning("python3 sandbox degraded on this host: %s", "; ".join(weak))

    # --- /proc/self: the calling script's own process ------------------------------------------
    def _own_proc_path(self, path: str) -> str:
        """/proc/self/... stands for /proc/<the script's phone pid>/..."""
        if path == "/proc/self" or path.startswith("/proc/self/"):
            return f"/proc/{self.proc.pid}" + path[len("/proc/self") :]
        return path

    def _own_proc_file(self, path: str) -> str | None:
        """'' for the script's /proc/<pid> directory, a file name inside it, or None for any other path."""
        base = f"/proc/{self.proc.pid}"
        if path == base:
            return ""
        if path.startswith(base + "/") and path[len(base) + 1 :] in OWN_PROC_FILES:
            return path[len(base) + 1 :]
        return None

    def _serve_own_proc(self, op: str, path: str, name: str) -> tuple[dict, bytes]:
        if op == "listdir":
            return (
                ({"ok": True, "names": sorted(OWN_PROC_FILES)}, b"")
                if not name
                else ({"ok": False, "errno": errno.ENOTDIR}, b"")
            )
        if op == "stat":
            mode = 0o040555 if not name else 0o100444
            return {"ok": True, "mode": mode, "size": 0, "mtime": 0.0, "uid": self.uid, "nlink": 1}, b""
        if op == "read" and name:
            return {"ok": True}, self._own_proc_text(name).encode()
        if op == "access":
            return {"ok": True, "allowed": True}, b""
        return {"ok": False, "errno": errno.EACCES if name else errno.EISDIR}, b""

    def _own_proc_text(self, name: str) -> str:
        proc = self.proc
        if name == "environ":
            return "".join(f"{k}={v}\0" for k, v in self.env.items())
        if name == "cmdline":
            return "".join(part + "\0" for part in proc.cmdline.split())
        if name == "comm":
            return f"{proc.name}\n"
        return (
            f"Name:\t{proc.name}\nState:\tS (sleeping)\nTgid:\t{proc.pid}\nPid:\t{proc.pid}\n"
            f"PPid:\t{proc.ppid}\nUid:\t{proc.uid}\t{proc.uid}\t{proc.uid}\t{proc.uid}\n"
        )

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
