"""The served phone's clock and its readings agree: a pushed script reads its clock as the driver's line (no
round trip), which runs on between physics steps, so a file it reads must show the phone's state at that
clock's now, not at the last step (on a loaded host steps come late and woken processes run late; the energy
a sampler then puts in a row belonged to another window). Here the driver's steps are late on purpose: it
never steps while the script runs, so only the script's own file calls can move the physics."""

from __future__ import annotations

import json
import time

import pytest

from android.emulator.phone import VirtualPhone
from android.emulator.shell import run_shell
from android.emulator.shell.clock import RealtimeDriver
from android.emulator.shell.runtime import runtime_of
from android.emulator.vfs import SHELL_UID

ODPM = "/sys/bus/iio/devices/iio:device1/energy_value"
SPEED = 5.0
ROUND_TRIP_S = 0.25  # phone time a call may take on a loaded host (50 ms of wall time at SPEED)
STALE_S = 0.02  # the served default (two 10 ms steps at 1x)
GAP_S = 0.4  # phone seconds between the two readings (> the ODPM driver's 50 ms cache)

READER = f"""
import json, time
def reading():
    t_s = time.monotonic()
    with open("{ODPM}") as f:
        text = f.read()
    t_ms = int(text.split()[0][2:])
    uws = sum(int(line.split(",")[1]) for line in text.splitlines()[1:])
    return t_s, t_ms / 1e3, uws / 1e6
first = reading()
while time.monotonic() < first[0] + {GAP_S}:  # busy: a sleep would wait for a driver step
    pass
print(json.dumps([first, reading()]))
"""


def test_a_reading_shows_the_state_at_the_scripts_clock_when_the_driver_is_late():
    phone = VirtualPhone("pixel7")
    phone.fs.write("/data/local/tmp/reader.py", READER.encode(), SHELL_UID)
    clock = runtime_of(phone).clock
    # its first step would come after a minute; readings may be STALE_S old
    driver = RealtimeDriver(clock, speed=SPEED, step_s=60.0, stale_s=STALE_S).start()
    try:
        result = run_shell(phone, "python3 /data/local/tmp/reader.py", uid=SHELL_UID, timeout_s=30)
    finally:
        driver.stop()
    assert result.exit_code == 0, result.stderr
    (t0_s, meter0_s, e0_j), (t1_s, meter1_s, e1_j) = json.loads(result.stdout)
    # a read shows the state at most STALE_S (and the meter's ms) before the clock said, and after it by no
    # more than the call itself took
    for clock_s, meter_s in ((t0_s, meter0_s), (t1_s, meter1_s)):
        assert clock_s - STALE_S - 0.001 <= meter_s <= clock_s + ROUND_TRIP_S
    # the energy between the readings is the physics' integral over the clock's interval
    assert meter1_s - meter0_s == pytest.approx(t1_s - t0_s, abs=STALE_S + ROUND_TRIP_S)
    assert e1_j > e0_j


def test_the_drivers_steps_leave_the_physics_to_blocks_and_readings():
    """The driver steps every 10 ms; settling power, heat and sensors after each step cost an idle served phone
    ~12% of a core. Its steps leave the open block to end on its own (FLUSH_S of phone time) or to a reading,
    which still sees the state at its clock's now."""
    from android.emulator.sim.engine import FLUSH_S

    phone = VirtualPhone("pixel7")
    blocks = []
    phone.sim.observers.append(lambda block: blocks.append(block.t_end_s[-1]))
    clock = runtime_of(phone).clock
    driver = RealtimeDriver(clock, speed=SPEED, step_s=0.01).start()
    try:
        deadline = time.monotonic() + 10.0
        while phone.now_s < 2.0 and time.monotonic() < deadline:
            time.sleep(0.05)
        steps_s = phone.now_s
        phone.fs.write("/data/local/tmp/reader.py", READER.encode(), SHELL_UID)
        result = run_shell(phone, "python3 /data/local/tmp/reader.py", uid=SHELL_UID, timeout_s=30)
    finally:
        driver.stop()
    assert result.exit_code == 0, result.stderr
    idle_blocks = [t for t in blocks if t <= steps_s]
    # a block per driver step would be ~20 per phone second (a 10 ms step is 50 ms of phone time at SPEED)
    assert len(idle_blocks) <= steps_s / FLUSH_S + 2
    (t0_s, meter0_s, _), (t1_s, meter1_s, _) = json.loads(result.stdout)
    for clock_s, meter_s in ((t0_s, meter0_s), (t1_s, meter1_s)):
        assert clock_s - STALE_S - 0.001 <= meter_s <= clock_s + ROUND_TRIP_S
