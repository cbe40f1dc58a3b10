"""The phone's process table: shell sessions, background jobs and pushed Python scripts, with phone PIDs.

A background job is a thread running a subshell; a Python script is a real host process. `kill` delivers
a real signal to a host process, and cancels a thread job (which ends with status 128+signal).
"""

from __future__ import annotations

import signal
import subprocess
import threading
from dataclasses import dataclass, field

FIRST_PID = 4100
MAX_PROCS = 512  # live shells, jobs and scripts on one phone (each is a thread or a process of the emulator)
USER_NAMES = {0: "root", 1000: "system", 2000: "shell"}

# Processes every phone has, shown by `ps` (pid, ppid, uid, name).
SYSTEM_PROCS = ((1, 0, 0, "init"), (2, 0, 0, "kthreadd"), (596, 1, 0, "ueventd"), (812, 1, 2000, "adbd"))


class ProcessGone(Exception):
    """No such process (ESRCH)."""


class NotPermitted(Exception):
    """The caller may not signal that process (EPERM)."""


class ProcessLimit(Exception):
    """The phone's process table is full (fork fails with EAGAIN): a shell loop of `&` jobs, or too many
    connections' shells, cannot grow the emulator without bound."""


@dataclass
class Proc:
    pid: int
    ppid: int
    uid: int
    name: str
    cmdline: str
    cancel: threading.Event = field(default_factory=threading.Event)
    popen: subprocess.Popen | None = None
    signal_no: int = 0  # the signal that ended (or is ending) a thread job
    ignore_hup: bool = False
    exit_code: int | None = None
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return self.exit_code is None

    @property
    def state(self) -> str:
        return "S" if self.alive else "Z"


class ProcessTable:
    def __init__(self, max_procs: int = MAX_PROCS) -> None:
        self._lock = threading.Lock()
        self._next_pid = FIRST_PID
        self._procs: dict[int, Proc] = {}
        self.max_procs = max_procs

    def spawn(self, ppid: int, uid: int, name: str, cmdline: str) -> Proc:
        """A new phone process; ProcessLimit when the table is full."""
        with self._lock:
            if len(self._procs) >= self.max_procs:
                raise ProcessLimit(f"Try again ({len(self._procs)} processes, the phone's limit)")
            proc = Proc(self._next_pid, ppid, uid, name, cmdline)
            self._procs[proc.pid] = proc
            self._next_pid += 1
            return proc

    def exited(self, proc: Proc, exit_code: int) -> None:
        with self._lock:
            proc.exit_code = exit_code
            self._procs.pop(proc.pid, None)
        proc.done.set()

    def get(self, pid: int) -> Proc | None:
        with self._lock:
            return self._procs.get(pid)

    def live(self) -> list[Proc]:
        with self._lock:
            procs = list(self._procs.values())
        return [p for p in procs if p.alive]

    def kill(self, pid: int, sig: int, uid: int) -> None:
        """Deliver `sig` to phone process `pid` as user `uid`, with the kernel's permission rule."""
        proc = self.get(pid)
        system = next((s for s in SYSTEM_PROCS if s[0] == pid), None)
        if system is not None:
            if uid != 0 and system[2] != uid:
                raise NotPermitted(pid)
            return  # the phone's own daemons shrug signals off in the virtual phone
        if proc is None or not proc.alive:
            raise ProcessGone(pid)
        if uid != 0 and proc.uid != uid:
            raise NotPermitted(pid)
        if sig == 0:
            return
        if proc.popen is not None:
            try:
                proc.popen.send_signal(sig)
            except ProcessLookupError:
                raise ProcessGone(pid) from None
            return
        if sig == signal.SIGHUP and proc.ignore_hup:
            return
        if sig in (signal.SIGCHLD, signal.SIGWINCH, signal.SIGURG, signal.SIGCONT):
            return  # ignored by default, as by a real sh
        proc.signal_no = sig
        proc.cancel.set()

    def shutdown(self) -> None:
        """End every process (the phone is switching off): SIGTERM, then SIGKILL after a grace period."""
        procs = self.live()
        for proc in procs:
            if proc.popen is not None:
                _signal_quietly(proc.popen, signal.SIGTERM)
            else:
                proc.signal_no = signal.SIGTERM
                proc.cancel.set()
        for proc in procs:
            if proc.popen is not None:
                try:
                    proc.popen.wait(2.0)
                except subprocess.TimeoutExpired:
                    _signal_quietly(proc.popen, signal.SIGKILL)
                    proc.popen.wait(2.0)


def _signal_quietly(popen: subprocess.Popen, sig: int) -> None:
    try:
        popen.send_signal(sig)
    except (ProcessLookupError, OSError):
        pass


def user_name(uid: int) -> str:
    return USER_NAMES.get(uid, f"u0_a{uid - 10000}" if uid >= 10000 else str(uid))
