"""The in-process phone's clock is deterministic on a loaded host: time moves only when a foreground process
sleeps, stepping from one background wake-up to the next and waiting for each woken process to act. A host
that runs the steps or the woken processes late must not change what they see (a trace of the same seed is
the same trace, whatever else the host runs). Here the host is slow on purpose: each step of the phone
takes 20 ms of wall time after the phone's time has moved, and each woken pass 30 ms."""

from __future__ import annotations

import threading
import time

import pytest

from android.emulator.phone import VirtualPhone
from android.emulator.shell import run_shell
from android.emulator.shell.runtime import runtime_of
from android.emulator.vfs import ROOT_UID

PERIOD_S = 0.05


@pytest.fixture
def slow_phone(monkeypatch):
    phone = VirtualPhone("pixel7")
    advance = phone.advance

    def slow_advance(dt_s: float) -> None:
        advance(dt_s)
        time.sleep(0.02)  # the step's work goes on after the phone's time moved (a loaded host)

    monkeypatch.setattr(phone, "advance", slow_advance)
    return phone


def test_a_background_sleeper_acts_at_every_tick_while_the_foreground_sleeps_on(slow_phone):
    clock = runtime_of(slow_phone).clock
    start_s = slow_phone.now_s
    ticks = [start_s + PERIOD_S * (i + 1) for i in range(8)]
    token, seen = object(), []
    clock.hold(PERIOD_S, token)  # asleep on its first tick before the foreground moves time

    def sampler() -> None:
        try:
            for tick in ticks:
                assert clock.sleep_until(tick, token)
                seen.append(slow_phone.now_s)
                time.sleep(0.03)  # its pass takes wall time
        finally:
            clock.leave(token)

    thread = threading.Thread(target=sampler, daemon=True)
    thread.start()
    assert clock.sleep(PERIOD_S * 10, object(), True)
    thread.join(5.0)
    assert seen == pytest.approx(ticks, abs=1e-9)
    assert slow_phone.now_s == pytest.approx(start_s + PERIOD_S * 10, abs=1e-9)


def test_timeout_fires_at_its_phone_time_deadline_counted_from_its_start(slow_phone):
    for _ in range(5):
        start_s = slow_phone.now_s
        result = run_shell(slow_phone, "timeout -s INT 0.3 sleep 5; echo $?", uid=ROOT_UID, timeout_s=30)
        assert result.stdout == "124\n"
        assert slow_phone.now_s - start_s == pytest.approx(0.3, abs=1e-9)


def test_a_process_due_at_the_instant_timeout_cuts_a_run_acts_before_the_run_returns(slow_phone):
    """A sampler's tick at the instant a run is cut belongs to the run: the killed foreground still waits for it."""
    clock = runtime_of(slow_phone).clock
    start_s = slow_phone.now_s
    token, seen, stop = object(), [], threading.Event()
    clock.hold(0.1, token)

    def ticker() -> None:
        tick_s = start_s
        try:
            while True:
                tick_s += 0.1
                if not clock.sleep_until(tick_s, token, stop):
                    return
                time.sleep(0.03)  # its pass takes wall time
                seen.append(slow_phone.now_s - start_s)
        finally:
            clock.leave(token)

    thread = threading.Thread(target=ticker, daemon=True)
    thread.start()
    result = run_shell(slow_phone, "timeout -s INT 0.3 sleep 5; echo $?", uid=ROOT_UID, timeout_s=30)
    at_return = list(seen)
    stop.set()
    thread.join(5.0)
    assert result.stdout == "124\n"
    assert at_return == pytest.approx([0.1, 0.2, 0.3], abs=1e-9)
