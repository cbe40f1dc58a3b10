"""`timeout [-s SIGNAL] DURATION COMMAND...` (toybox's, on every Android since 6): run a command and send it
SIGNAL (default TERM) once DURATION of phone time has passed. Exit status 124 when it timed out (the
command's own status otherwise), 125 for a usage error.

The watchdog sleeps on the phone's clock as a background process, so on the in-process phone (time moves
while the command sleeps) and under `fusegov emulate` (time moves with the wall clock) alike it fires at
the command's phone-time deadline. Commands the shell runs in its own thread (llama-cli,
onnxruntime_perf_test, sleep...) receive the signal; a `python3` script is ended as the shell ends it.
"""

from __future__ import annotations

import signal
import threading

from android.emulator.shell.interp import Cancelled, Ctx, command
from android.emulator.shell.procs import ProcessGone

USAGE = "usage: timeout [-s SIGNAL] DURATION COMMAND..."
TIMED_OUT = 124


def _seconds(text: str) -> float | None:
    """DURATION: a number with an optional unit s, m, h or d."""
    scale = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}.get(text[-1:], None)
    try:
        value = float(text[:-1] if scale else text) * (scale or 1.0)
    except ValueError:
        return None
    return value if value >= 0 and value == value else None


def _signal(text: str) -> int | None:
    name = text.upper().removeprefix("SIG")
    if name.isdigit():
        return int(name)
    return getattr(signal, "SIG" + name, None)


@command("timeout")
def cmd_timeout(ctx: Ctx) -> int:
    args = ctx.argv[1:]
    sig = signal.SIGTERM
    while args and args[0].startswith("-") and args[0] != "-":
        flag = args.pop(0)
        if flag == "-s" and args:
            sig = _signal(args.pop(0))
            if sig is None:
                return ctx.fail(f"unknown signal\n{USAGE}", 125)
        elif flag == "--preserve-status" or flag == "--foreground":
            continue
        else:
            return ctx.fail(f"unknown option {flag}\n{USAGE}", 125)
    seconds = _seconds(args[0]) if args else None
    if seconds is None or len(args) < 2:
        return ctx.fail(USAGE, 125)
    session = ctx.session
    proc, clock = session.proc, session.runtime.clock
    finished = threading.Event()
    fired = threading.Event()
    token = object()
    deadline_s = clock.hold(seconds, token)  # counted from now, whenever the watchdog's thread gets to run

    def watchdog() -> None:
        try:
            if seconds > 0 and clock.sleep_until(deadline_s, token, finished) and not finished.is_set():
                fired.set()
                session.runtime.procs.kill(proc.pid, int(sig), 0)
        except ProcessGone:
            pass
        finally:
            clock.leave(token)

    thread = threading.Thread(target=watchdog, name=f"timeout-{proc.pid}", daemon=True)
    thread.start()
    ctx.argv = args[1:]
    try:
        status = session.run_argv(ctx)
    except Cancelled:
        if not fired.is_set():
            raise  # a signal from elsewhere ends the shell as it would have
        status = 128 + int(sig)
    finally:
        finished.set()
        thread.join()
    if fired.is_set():
        proc.signal_no = 0  # the signal was the command's, not the shell's: the shell goes on
        proc.cancel.clear()
        return TIMED_OUT
    return status
