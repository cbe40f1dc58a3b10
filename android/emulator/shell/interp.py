"""The interpreter: runs parsed shell text against the virtual phone, the way Android's /system/bin/sh
runs it on a rooted phone (sequences, and-or lists, pipelines, redirections, loops, functions,
background jobs), with every file operation going through the phone's VirtualFS.

Pipelines run their stages one after another, each stage's output buffered as the next one's input.
Background jobs (`&`) are threads with their own phone PID; an external program that is the whole job
(`nohup python3 x.py &`) takes that PID over, as exec would.
"""

from __future__ import annotations

import logging
import posixpath
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from android.emulator.shell.arith import ArithmeticError_
from android.emulator.shell.expand import Expander, ExpansionError
from android.emulator.shell.fileops import error_text
from android.emulator.shell.procs import Proc, ProcessLimit
from android.emulator.shell.runtime import PhoneRuntime, runtime_of
from android.emulator.shell.streams import BufferSink, BytesSource, FileSink, NullSink, Sink, Source
from android.emulator.shell.syntax import ShellSyntaxError, parse
from android.emulator.vfs import ROOT_UID
from android.errors import DeviceError

if TYPE_CHECKING:
    from android.emulator.phone import VirtualPhone

SH = "/system/bin/sh"
MAX_REMEMBERED_JOBS = 256
MAX_COMMAND_BYTES = 1 << 20  # one command read from a terminal or a stream (a phone's ARG_MAX is far lower)
ADBD_PID = 812
PATH = "/product/bin:/apex/com.android.runtime/bin:/system_ext/bin:/system/bin:/system/xbin:/odm/bin:/vendor/bin"


@dataclass
class Io:
    stdin: Source
    stdout: Sink
    stderr: Sink


@dataclass
class Ctx:
    """What a command gets: its session, arguments, streams and environment."""

    session: Session
    argv: list[str]
    io: Io
    env: dict[str, str]
    exec_proc: Proc | None = None  # a background job's PID that an external program may take over
    ignore_hup: bool = False  # started under nohup
    opened: list[Sink] = field(default_factory=list)

    def out(self, text: str | bytes) -> None:
        self.io.stdout.write(text.encode() if isinstance(text, str) else text)

    def err(self, text: str) -> None:
        self.io.stderr.write(text.encode())

    def fail(self, message: str, code: int = 1) -> int:
        """Print `argv0: message` to stderr and return `code`."""
        self.err(f"{self.argv[0]}: {message}\n")
        return code


class ShellExit(Exception):
    def __init__(self, code: int):
        self.code = code


class Cancelled(Exception):
    """The session's process was signalled (kill, a dropped connection, a timeout)."""

    def __init__(self, signal_no: int):
        self.signal_no = signal_no


class _Break(Exception):
    def __init__(self, levels: int):
        self.levels = levels


class _Continue(Exception):
    def __init__(self, levels: int):
        self.levels = levels


class _Return(Exception):
    def __init__(self, code: int):
        self.code = code


CommandFunc = Callable[[Ctx], int]
EXEC_FILE = "<run a file>"  # the command that runs a path (a pushed script)
COMMANDS: dict[str, CommandFunc] = {}
SHELL_BUILTINS = {
    "echo",
    "printf",
    "print",
    "read",
    "pwd",
    "cd",
    "export",
    "unset",
    "set",
    "test",
    "[",
    "true",
    "false",
    ":",
    "exit",
    "return",
    "break",
    "continue",
    "shift",
    "wait",
    "kill",
    "eval",
    ".",
    "source",
    "command",
    "type",
    "local",
    "sleep",
    "exec",
    "umask",
    "trap",
    "let",
}


def command(*names: str) -> Callable[[CommandFunc], CommandFunc]:
    """Register a command implementation under one or more names."""

    def register(func: CommandFunc) -> CommandFunc:
        for name in names:
            COMMANDS[name] = func
        return func

    return register


def default_env(phone: VirtualPhone, uid: int) -> dict[str, str]:
    user = "root" if uid == ROOT_UID else "shell"
    return {
        "PATH": PATH,
        "HOME": "/",
        "SHELL": "/bin/sh",
        "USER": user,
        "LOGNAME": user,
        "TMPDIR": "/data/local/tmp",
        "ANDROID_DATA": "/data",
        "ANDROID_ROOT": "/system",
        "ANDROID_STORAGE": "/storage",
        "EXTERNAL_STORAGE": "/sdcard",
        "HOSTNAME": phone.props.get("ro.product.device", "localhost"),
    }


class Session:
    """One shell process: variables, functions, cwd, positional parameters, and its phone process."""

    def __init__(
        self,
        phone: VirtualPhone,
        uid: int,
        proc: Proc,
        *,
        runtime: PhoneRuntime | None = None,
        foreground: bool = True,
        env: dict[str, str] | None = None,
        cwd: str = "/",
    ):
        self.phone, self.uid, self.proc = phone, uid, proc
        self.runtime = runtime or runtime_of(phone)
        self.foreground = foreground  # whether this shell's sleeps drive an undriven clock
        self.vars: dict[str, str] = dict(env) if env is not None else default_env(phone, uid)
        self.exported: set[str] = set(self.vars)
        self.functions: dict[str, tuple[object, str]] = {}
        self.positional: list[str] = []
        self.arg0 = SH
        self.status = 0
        self.last_bg_pid: int | None = None
        self.jobs: dict[int, Proc] = {}  # background jobs this shell started, kept until `wait` reports them
        self.cwd = cwd
        self.expander = Expander(self)
        self._source = ""
        self._cmdsub_status = 0
        self._stderr_for_subst: Sink = NullSink()  # where `$(...)` sends its stderr: the caller's
        self.exec_proc: Proc | None = None
        self.errexit = False  # set -e
        self.xtrace = False  # set -x
        self.traps: dict[str, str] = {}  # EXIT or a signal name -> command
        self._in_condition = 0  # inside if/while/until conditions and && || chains, set -e does not exit

    # --- state the expander and commands use ---------------------------------------------------
    @property
    def cancel(self) -> threading.Event:
        return self.proc.cancel

    def lookup(self, name: str) -> str | None:
        if name == "?":
            return str(self.status)
        if name == "$":
            return str(self.proc.pid)
        if name == "!":
            return str(self.last_bg_pid) if self.last_bg_pid is not None else ""
        if name == "#":
            return str(len(self.positional))
        if name == "0":
            return self.arg0
        if name == "-":
            return "h"
        if name.isdigit():
            index = int(name)
            return self.positional[index - 1] if 0 < index <= len(self.positional) else None
        return self.vars.get(name)

    def set_var(self, name: str, value: str) -> None:
        self.vars[name] = value

    def env(self, overrides: dict[str, str] | None = None) -> dict[str, str]:
        """The environment a program started from this shell sees."""
        env = {k: v for k, v in self.vars.items() if k in self.exported}
        env.update(overrides or {})
        return env

    def abspath(self, path: str) -> str:
        return posixpath.normpath(posixpath.join(self.cwd, path)) if path else self.cwd

    def check_cancel(self) -> None:
        if self.cancel.is_set():
            raise Cancelled(self.proc.signal_no or signal.SIGTERM)

    def capture(self, text: str) -> str:
        """`$(...)`: run in a subshell, return stdout without trailing newlines."""
        out = BufferSink()
        child = self.subshell()
        status = child.run(text, Io(BytesSource(), out, self._stderr_for_subst))
        self._cmdsub_status = status
        return out.getvalue().decode(errors="replace").rstrip("\n")

    def subshell(self, proc: Proc | None = None, foreground: bool | None = None) -> Session:
        child = Session(
            self.phone,
            self.uid,
            proc or self.proc,
            runtime=self.runtime,
            foreground=self.foreground if foreground is None else foreground,
            env=self.vars,
            cwd=self.cwd,
        )
        child.exported = set(self.exported)
        child.functions = dict(self.functions)
        child.positional = list(self.positional)
        child.arg0, child.status, child.last_bg_pid = self.arg0, self.status, self.last_bg_pid
        child.errexit, child.xtrace = self.errexit, self.xtrace
        child._stderr_for_subst = self._stderr_for_subst
        return child

    # --- running text ---------------------------------------------------------------------------
    def run(self, text: str, io: Io) -> int:
        """Parse and run shell text; returns the exit status (`exit N` ends it early)."""
        self._stderr_for_subst = io.stderr
        try:
            script = parse(text)
        except ShellSyntaxError as exc:
            io.stderr.write(f"{SH}: {exc}\n".encode())
            self.status = 1 if not exc.incomplete else 2
            return self.status
        saved = self._source
        self._source = script.source
        ended_by = "EXIT"
        try:
            for node in script.nodes:
                status = self.execute(node, io)
                self.status = status if _negated(node) else self.checked(status)
        except ShellExit as exc:
            self.status = exc.code
        except Cancelled as exc:
            self.status = 128 + exc.signal_no
            ended_by = signal.Signals(exc.signal_no).name[3:]
        except (_Break, _Continue):
            pass
        except _Return as exc:
            self.status = exc.code
        finally:
            self._source = saved
        self._run_traps(ended_by, io)
        return self.status

    def checked(self, status: int) -> int:
        """`set -e`: a failing command outside a condition ends the shell."""
        if status and self.errexit and not self._in_condition:
            raise ShellExit(status)
        return status

    def _run_traps(self, ended_by: str, io: Io) -> None:
        """A shell ended by a signal runs that signal's trap; every ending runs the EXIT trap."""
        for name in dict.fromkeys([ended_by, "EXIT"]):
            handler = self.traps.pop(name, None)
            if handler:
                if self.cancel.is_set():
                    self.cancel.clear()  # let the handler run (it may be cleanup after a kill)
                status = self.status
                self.run(handler, io)
                self.status = status

    def execute(self, node, io: Io) -> int:
        self.check_cancel()
        handler = getattr(self, f"_exec_{node.kind}", None)
        if handler is None:
            return self.status  # reserved words, operators
        return handler(node, io)

    def _raw(self, node) -> str:
        return self._source[node.pos[0] : node.pos[1]]

    # --- lists and pipelines ----------------------------------------------------------------------
    def _exec_list(self, node, io: Io) -> int:
        groups: list[tuple[list[tuple[str | None, object]], str]] = []
        current: list[tuple[str | None, object]] = []
        pending: str | None = None
        for part in node.parts:
            if part.kind == "operator":
                if part.op in ("&&", "||"):
                    pending = part.op
                else:
                    groups.append((current, part.op))
                    current = []
            else:
                current.append((pending, part))
                pending = None
        if current:
            groups.append((current, ";"))
        status = self.status
        for andor, terminator in groups:
            if not andor:
                continue
            if terminator == "&":
                self._background(andor, io)
                status = self.status = 0
            else:
                status = self.status = self._andor(andor, io)
        return status

    def _andor(self, andor: list[tuple[str | None, object]], io: Io) -> int:
        """a && b || c: only the last command of the chain can end the shell under set -e."""
        last = len(andor) - 1
        self._in_condition += last > 0
        try:
            status = self.execute(andor[0][1], io)
            ran_last = last == 0
            for k, (op, part) in enumerate(andor[1:], 1):
                self.status = status
                if (op == "&&" and status != 0) or (op == "||" and status == 0):
                    continue
                if k == last:
                    self._in_condition -= 1
                    ran_last = True
                    try:
                        status = self.execute(part, io)
                    finally:
                        self._in_condition += 1
                else:
                    status = self.execute(part, io)
        finally:
            self._in_condition -= last > 0
        return self.checked(status) if ran_last and not _negated(andor[-1][1]) else status

    def _background(self, andor: list[tuple[str | None, object]], io: Io) -> None:
        procs = self.runtime.procs
        try:
            proc = procs.spawn(self.proc.pid, self.uid, "sh", self._raw(andor[0][1]))
        except ProcessLimit as exc:
            io.stderr.write(f"{SH}: can't fork: {exc}\n".encode())
            self.status = 1
            return
        child = self.subshell(proc=proc, foreground=False)
        simple = len(andor) == 1 and getattr(andor[0][1], "kind", "") == "command"
        child.exec_proc = proc if simple else None
        child._source = self._source
        job_io = Io(BytesSource(), io.stdout, io.stderr)  # no job control: stdin is /dev/null

        def run_job() -> None:
            status, ended_by = 0, "EXIT"
            try:
                status = child._andor(andor, job_io)
            except ShellExit as exc:
                status = exc.code
            except Cancelled as exc:
                status, ended_by = 128 + exc.signal_no, signal.Signals(exc.signal_no).name[3:]
            except (_Break, _Continue, _Return):
                pass
            except Exception as exc:  # a job must never take the phone down with it
                job_io.stderr.write(f"{SH}: internal error: {exc}\n".encode())
                status = 1
            finally:
                child.status = status
                child._run_traps(ended_by, job_io)
                self.runtime.clock.leave(proc.pid)
                procs.exited(proc, status)

        threading.Thread(target=run_job, name=f"job-{proc.pid}", daemon=True).start()
        self.last_bg_pid = proc.pid
        if len(self.jobs) >= MAX_REMEMBERED_JOBS:  # a long interactive shell: forget jobs that have ended
            self.jobs = {pid: job for pid, job in self.jobs.items() if job.exit_code is None}
        self.jobs[proc.pid] = proc

    def _exec_pipeline(self, node, io: Io) -> int:
        negate = False
        stages = []
        for part in node.parts:
            if part.kind == "reservedword" and part.word == "!":
                negate = not negate
            elif part.kind != "pipe":
                stages.append(part)
        stdin = io.stdin
        status = 0
        self._in_condition += negate
        try:
            status = self._run_stages(stages, stdin, io)
        finally:
            self._in_condition -= negate
        return int(status == 0) if negate else status

    def _run_stages(self, stages, stdin: Source, io: Io) -> int:
        status = 0
        for k, stage in enumerate(stages):
            last = k == len(stages) - 1
            out: Sink = io.stdout if last else BufferSink()
            status = self.execute(stage, Io(stdin, out, io.stderr))
            if not last:
                stdin = BytesSource(out.getvalue())  # type: ignore[attr-defined]
        return status

    # --- simple commands --------------------------------------------------------------------------
    def _exec_command(self, node, io: Io) -> int:
        assignments: list[str] = []
        words: list[str] = []
        redirects = []
        for part in node.parts:
            if part.kind == "assignment":
                assignments.append(self._raw(part))
            elif part.kind == "word":
                words.append(self._raw(part))
            elif part.kind == "redirect":
                redirects.append(part)
        self._cmdsub_status = 0
        try:
            argv = self.expander.words(words)
            values = [(a.partition("=")[0], self.expander.word(a.partition("=")[2])) for a in assignments]
        except (ExpansionError, ArithmeticError_) as exc:
            io.stderr.write(f"{SH}: {exc}\n".encode())
            return 1
        ctx = Ctx(self, argv, io, {})
        try:
            ctx.io = self.redirect(redirects, io, ctx.opened)
        except _RedirectError as exc:
            io.stderr.write(f"{SH}: {exc}\n".encode())
            return 1
        if not argv:
            for name, value in values:
                self.set_var(name, value)
            return self._cmdsub_status
        ctx.env = dict(values)
        ctx.exec_proc = self.exec_proc
        if self.xtrace:
            io.stderr.write(("+ " + " ".join(argv) + "\n").encode())
        status = self.run_argv(ctx)
        for sink in ctx.opened:
            sink.close()
            if sink.error is not None:
                prefix = f"{SH}: " if argv[0] in SHELL_BUILTINS else ""
                io.stderr.write(f"{prefix}{argv[0]}: write error: {error_text(sink.error)}\n".encode())
                status = status or 1
        return status

    def run_argv(self, ctx: Ctx) -> int:
        """Run an expanded command line: a function, a command, or a file on the phone."""
        name = ctx.argv[0]
        if name in self.functions:
            return self._call_function(name, ctx)
        func = COMMANDS.get(name)
        if func is None and name.startswith(("/system/bin/", "/system/xbin/", "/bin/")):
            func = COMMANDS.get(posixpath.basename(name))
        if func is None and "/" in name:
            func = COMMANDS[EXEC_FILE]
        if func is None:
            ctx.err(f"{SH}: {name}: inaccessible or not found\n")
            return 127
        try:
            return func(ctx)
        except (
            ShellExit,
            Cancelled,
            _Break,
            _Continue,
            _Return,
            ExpansionError,
            ArithmeticError_,
            DeviceError,
            KeyboardInterrupt,
        ):
            raise  # the shell's own control flow and errors, handled by the caller
        except Exception:  # a bug in one command must not take the phone's shell (or adbd) down
            logging.getLogger("fusegov.emulator").exception("shell command %r failed", ctx.argv)
            ctx.err(f"{SH}: {name}: internal error of the virtual phone (logged by fusegov emulate)\n")
            return 1

    def _call_function(self, name: str, ctx: Ctx) -> int:
        body, source = self.functions[name]
        saved_positional, saved_source = self.positional, self._source
        self.positional, self._source = ctx.argv[1:], source
        try:
            return self.execute(body, ctx.io)
        except _Return as exc:
            return exc.code
        finally:
            self.positional, self._source = saved_positional, saved_source

    def _exec_function(self, node, io: Io) -> int:
        name = node.parts[0].word
        body = next(p for p in node.parts[1:] if p.kind not in ("reservedword",))
        self.functions[name] = (body, self._source)
        return 0

    # --- redirections -----------------------------------------------------------------------------
    def redirect(self, redirects, io: Io, opened: list[Sink]) -> Io:
        if not redirects:
            return io
        fds: dict[int, object] = {0: io.stdin, 1: io.stdout, 2: io.stderr}
        for r in redirects:
            kind = r.type
            fd = r.input if isinstance(getattr(r, "input", None), int) else None
            target = r.output
            if kind in (">", ">|", ">>", "&>"):
                sink = self._open_out(self.expander.word(self._raw(target)), append=kind == ">>")
                opened.append(sink)
                if kind == "&>":
                    fds[1] = fds[2] = sink
                else:
                    fds[1 if fd is None else fd] = sink
            elif kind in (">&", "<&"):
                default_fd = 1 if kind == ">&" else 0
                if isinstance(target, int):
                    fds[default_fd if fd is None else fd] = fds.get(target, NullSink())
                else:
                    word = self.expander.word(self._raw(target))
                    if word == "-":
                        fds[default_fd if fd is None else fd] = NullSink() if kind == ">&" else BytesSource()
                    elif word.isdigit():
                        fds[default_fd if fd is None else fd] = fds.get(int(word), NullSink())
                    else:
                        sink = self._open_out(word, append=False)
                        opened.append(sink)
                        fds[1] = fds[2] = sink
            elif kind == "<":
                fds[0 if fd is None else fd] = self._open_in(self.expander.word(self._raw(target)))
            elif kind in ("<<", "<<-"):
                body = r.heredoc.value
                body = body[: body.rfind("\n") + 1] if "\n" in body else ""
                if kind == "<<-":
                    body = "".join(line.lstrip("\t") for line in body.splitlines(True))
                quoted = any(q in self._raw(target) for q in "'\"\\")
                fds[0] = BytesSource((body if quoted else self.expander.text(body)).encode())
            elif kind == "<<<":
                fds[0] = BytesSource((self.expander.word(self._raw(target)) + "\n").encode())
        return Io(fds[0], fds[1], fds[2])  # type: ignore[arg-type]

    def _open_out(self, path: str, append: bool) -> Sink:
        if path == "/dev/null":
            return NullSink()
        try:
            return FileSink(self.phone.fs, self.abspath(path), self.uid, append=append)
        except DeviceError as exc:
            raise _RedirectError(f"can't create {path}: {error_text(exc)}") from None

    def _open_in(self, path: str) -> Source:
        try:
            return BytesSource(self.phone.fs.read(self.abspath(path), self.uid))
        except DeviceError as exc:
            raise _RedirectError(f"can't open {path}: {error_text(exc)}") from None

    # --- compound commands ----------------------------------------------------------------------
    def _exec_compound(self, node, io: Io) -> int:
        opened: list[Sink] = []
        try:
            io = self.redirect(getattr(node, "redirects", []) or [], io, opened)
        except _RedirectError as exc:
            io.stderr.write(f"{SH}: {exc}\n".encode())
            return 1
        parts = node.list
        try:
            if parts and parts[0].kind == "reservedword" and parts[0].word == "(":
                child = self.subshell()
                child._source = self._source
                status = 0
                try:
                    for part in parts[1:-1]:
                        status = child.status = child.execute(part, io)
                except ShellExit as exc:
                    status = child.status = exc.code
                except Cancelled as exc:
                    child.status = 128 + exc.signal_no
                    child._run_traps(signal.Signals(exc.signal_no).name[3:], io)
                    raise
                child._run_traps("EXIT", io)
                return status
            status = self.status
            for part in parts:
                if part.kind != "reservedword":
                    status = self.status = self.execute(part, io)
            return status
        finally:
            for sink in opened:
                sink.close()

    def _body(self, parts, start: int, stop_words: tuple[str, ...]) -> tuple[list, int]:
        """Nodes from parts[start] up to the next reserved word in stop_words; returns (nodes, index)."""
        nodes = []
        k = start
        while k < len(parts) and not (parts[k].kind == "reservedword" and parts[k].word in stop_words):
            if parts[k].kind != "reservedword":
                nodes.append(parts[k])
            k += 1
        return nodes, k

    def _run_nodes(self, nodes, io: Io) -> int:
        status = 0
        for node in nodes:
            status = self.status = self.execute(node, io)
        return status

    def _condition(self, nodes, io: Io) -> int:
        self._in_condition += 1
        try:
            return self._run_nodes(nodes, io)
        finally:
            self._in_condition -= 1

    def _exec_if(self, node, io: Io) -> int:
        parts = node.parts
        k = 1
        while k < len(parts):
            cond, k = self._body(parts, k, ("then",))
            body, k = self._body(parts, k + 1, ("elif", "else", "fi"))
            if self._condition(cond, io) == 0:
                return self._run_nodes(body, io)
            word = parts[k].word
            if word == "else":
                body, k = self._body(parts, k + 1, ("fi",))
                return self._run_nodes(body, io)
            if word == "fi":
                return 0
            k += 1
        return 0

    def _exec_while(self, node, io: Io, until: bool = False) -> int:
        parts = node.parts
        cond, k = self._body(parts, 1, ("do",))
        body, _ = self._body(parts, k + 1, ("done",))
        status = 0
        while True:
            self.check_cancel()
            if (self._condition(cond, io) == 0) == until:
                return status
            try:
                status = self._run_nodes(body, io)
            except _Break as exc:
                if exc.levels > 1:
                    raise _Break(exc.levels - 1) from None
                return 0
            except _Continue as exc:
                if exc.levels > 1:
                    raise _Continue(exc.levels - 1) from None

    def _exec_until(self, node, io: Io) -> int:
        return self._exec_while(node, io, until=True)

    def _exec_for(self, node, io: Io) -> int:
        parts = node.parts
        name = parts[1].word
        k = 2
        if k < len(parts) and parts[k].kind == "reservedword" and parts[k].word == "in":
            words = []
            k += 1
            while not (parts[k].kind == "reservedword" and parts[k].word in (";", "do", "\n")):
                words.append(self._raw(parts[k]))
                k += 1
            items = self.expander.words(words)
        else:
            items = list(self.positional)
        while not (parts[k].kind == "reservedword" and parts[k].word == "do"):
            k += 1
        body, _ = self._body(parts, k + 1, ("done",))
        status = 0
        for item in items:
            self.check_cancel()
            self.set_var(name, item)
            try:
                status = self._run_nodes(body, io)
            except _Break as exc:
                if exc.levels > 1:
                    raise _Break(exc.levels - 1) from None
                return 0
            except _Continue as exc:
                if exc.levels > 1:
                    raise _Continue(exc.levels - 1) from None
        return status

    # --- interactive input --------------------------------------------------------------------
    def interact(self, io: Io, prompt: Callable[[], str] | None = None) -> int:
        """Read commands from stdin line by line (a multi-line construct waits for its end) until EOF
        or `exit`. `prompt` is shown before each command when the session has a terminal."""
        pending = ""
        while True:
            if prompt is not None and not pending:
                io.stdout.write(prompt().encode())
            line = io.stdin.readline()
            if not line:
                return self.status
            pending += line.decode(errors="replace")
            if len(pending) > MAX_COMMAND_BYTES:
                io.stderr.write(f"{SH}: command too long (over {MAX_COMMAND_BYTES} bytes), discarded\n".encode())
                pending, self.status = "", 1
                continue
            try:
                parse(pending)
            except ShellSyntaxError as exc:
                if exc.incomplete:
                    continue
            text, pending = pending, ""
            self._stderr_for_subst = io.stderr
            try:
                script = parse(text)
            except ShellSyntaxError as exc:
                io.stderr.write(f"{SH}: {exc}\n".encode())
                self.status = 1
                continue
            self._source = script.source
            if self.proc.signal_no == signal.SIGINT:  # a Ctrl-C typed at the prompt interrupts nothing
                self.proc.signal_no = 0
                self.cancel.clear()
            try:
                for node in script.nodes:
                    self.status = self.execute(node, io)
            except ShellExit as exc:
                return exc.code
            except Cancelled as exc:
                if exc.signal_no != signal.SIGINT or prompt is None:
                    return 128 + exc.signal_no
                self.status = 128 + exc.signal_no  # Ctrl-C ends the command, not the terminal's shell
            except (_Break, _Continue, _Return):
                pass


class _RedirectError(Exception):
    pass


def _negated(node) -> bool:
    """`! pipeline`: its status never ends a shell under set -e."""
    return getattr(node, "kind", "") == "pipeline" and any(
        p.kind == "reservedword" and p.word == "!" for p in node.parts
    )


def new_session(
    phone: VirtualPhone,
    uid: int,
    parent_pid: int = ADBD_PID,
    name: str = "sh",
    cmdline: str = SH,
    foreground: bool = True,
) -> Session:
    """A shell process on the phone (registered in its process table)."""
    runtime = runtime_of(phone)
    proc = runtime.procs.spawn(parent_pid, uid, name, cmdline)
    return Session(phone, uid, proc, runtime=runtime, foreground=foreground)


def end_session(session: Session, status: int) -> None:
    session.runtime.clock.leave(session.proc.pid)
    session.runtime.procs.exited(session.proc, status)
