"""How the virtual phone's workload commands (`llama-cli`, `onnxruntime_perf_test`) spend simulated time:
sleeping on the phone's clock, and waiting for the simulation to finish their work.

A command checks on its work every `step_s` of phone time, at whole multiples of `step_s` on the phone's
clock rather than `step_s` after it started: a sampler that keeps its schedule on multiples of its period
(collectors/device/sampler.py does) then wakes at the same instants, and the in-process phone, which moves
from one sleeper's wake-up to the next, takes one step per sampling period instead of two or three short
ones.
"""

from __future__ import annotations

import math
import signal

from android.emulator.shell.interp import Cancelled, Ctx


def sleep(ctx: Ctx, seconds: float) -> None:
    """Sleep on the phone's clock; a kill (Ctrl-C, SIGTERM) ends the command as the signal would."""
    session = ctx.session
    if not session.runtime.clock.sleep(seconds, session.proc.pid, session.foreground, session.cancel):
        raise Cancelled(session.proc.signal_no or signal.SIGTERM)


def wait_done(ctx: Ctx, work, step_s: float, deadline_s: float | None = None) -> None:
    """Until `work.done` (or `deadline_s` of phone time from now), checking every `step_s` on the grid."""
    phone = ctx.session.phone
    start_s = phone.now_s
    while not work.done:
        now_s = phone.now_s
        next_s = (math.floor(now_s / step_s + 1e-9) + 1) * step_s
        sleep(ctx, next_s - now_s)
        if deadline_s is not None and phone.now_s - start_s >= deadline_s:
            return
