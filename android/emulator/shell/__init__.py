"""The virtual phone's shell: what `adb shell` and VirtualDevice.shell run.

`run_shell` runs one command line as a user (2000 for the adb shell user, 0 for root) and returns its
exit status and output; `Session` (interp.py) is the long-lived shell an interactive ADB stream uses.
"""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING

from android.device import ShellResult
from android.emulator.shell import commands  # noqa: F401  (registers the commands)
from android.emulator.shell.interp import Io, end_session, new_session
from android.emulator.shell.procs import ProcessLimit
from android.emulator.shell.streams import BufferSink, BytesSource
from android.errors import DeviceError

if TYPE_CHECKING:
    from android.emulator.phone import VirtualPhone


def run_shell(phone: VirtualPhone, command: str, uid: int, timeout_s: float | None = None) -> ShellResult:
    """Run `command` as `uid` on the phone. Background jobs it starts keep running afterwards.
    A command still running after timeout_s of wall time is stopped and DeviceError raised."""
    try:
        session = new_session(phone, uid)
    except ProcessLimit as exc:
        raise DeviceError(f"{phone.serial}: cannot start a shell: {exc}") from None
    out, err = BufferSink(), BufferSink()
    timed_out = threading.Event()

    def expire() -> None:
        timed_out.set()
        session.proc.signal_no = signal.SIGKILL
        session.cancel.set()

    timer = threading.Timer(timeout_s, expire) if timeout_s else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    status = 1
    try:
        status = session.run(command, Io(BytesSource(), out, err))
    finally:
        if timer is not None:
            timer.cancel()
        end_session(session, status)
    if timed_out.is_set():
        raise DeviceError(f"{phone.serial}: shell command timed out after {timeout_s} s: {command[:200]!r}")
    return ShellResult(status, out.getvalue().decode(errors="replace"), err.getvalue().decode(errors="replace"))
