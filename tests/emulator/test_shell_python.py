"""`python3` on the virtual phone: a pushed script runs with the host's Python against the phone's files
(kernel write semantics, permissions), on the phone's clock, as a real process that `kill` signals."""

from __future__ import annotations

import errno
import json
import socket
import time

import pytest

from android.emulator.phone import VirtualPhone
from android.emulator.shell import run_shell
from android.emulator.shell.interp import Io, new_session
from android.emulator.shell.pyrun import _RpcServer
from android.emulator.shell.runtime import runtime_of
from android.emulator.shell.streams import BufferSink, BytesSource
from android.emulator.vfs import ROOT_UID, SHELL_UID

POLICY6 = "/sys/devices/system/cpu/cpufreq/policy6"

PROBE_SCRIPT = f"""
import errno, os, sys, time
path = "{POLICY6}/scaling_max_freq"
out = {{"uid": os.getuid(), "pid": os.getpid(), "argv": sys.argv[1:]}}
try:
    with open(path, "w") as f:
        f.write("1500000\\n")
    out["write"] = "ok"
except PermissionError as exc:
    out["write"] = errno.errorcode[exc.errno]
out["after"] = open(path).read().strip()
try:
    with open(path, "w") as f:
        f.write("fast")
except OSError as exc:
    out["invalid"] = errno.errorcode[exc.errno]
try:
    fd = os.open(path, os.O_WRONLY)
    os.write(fd, b"2850000")
    os.close(fd)
    out["os_write"] = "ok"
except OSError as exc:
    out["os_write"] = errno.errorcode[exc.errno]
t0, w0 = time.monotonic(), time.time()
time.sleep(1.5)
out["slept"] = round(time.monotonic() - t0, 6)
out["wall_slept"] = round(time.time() - w0, 3)
out["policies"] = sorted(os.listdir("/sys/devices/system/cpu/cpufreq"))
out["isdir"] = os.path.isdir("/sys/class/thermal") and not os.path.isfile("/sys/class/thermal")
out["exists"] = [os.path.exists("/sys/nonexistent"), os.path.exists(path)]
out["scandir"] = sorted(e.name for e in os.scandir("{POLICY6}") if e.name.startswith("scaling_m"))
batch = [  # os.file_batch: one round trip, each call answered as if made alone, a group stops at its failure
    [("write", path, b"1500000"), ("read", path), ("write", path, b"2850000")],  # clamped on read-back
    [("write", "{POLICY6}/cpuinfo_max_freq", b"1000"), ("read", path)],  # read-only
    [("write", path, b"fast")],  # rejected value
    [("write", "/sys/class/devfreq/gone.devfreq/max_freq", b"1"), ("read", path)],  # vanished (not created)
    [("write", "/data/local/tmp/plain", b"x")],  # a regular file is not a kernel attribute
    [("read", "/proc/self/comm")],
]
out["batch"] = [[r.decode() if isinstance(r, bytes) else r and [errno.errorcode[r.errno], r.filename] for r in g]
                for g in os.file_batch(batch)]
try:
    os.file_batch([[("read", "/etc/passwd")]])
except PermissionError as exc:
    out["batch_host"] = errno.errorcode[exc.errno]
print(__import__("json").dumps(out))
"""


@pytest.fixture()
def phone() -> VirtualPhone:
    phone = VirtualPhone("pixel7")
    phone.fs.write("/data/local/tmp/probe.py", PROBE_SCRIPT.encode(), SHELL_UID)
    phone.fs.write("/data/local/tmp/plain", b"keep", SHELL_UID)
    return phone


def test_script_as_shell_user_meets_permissions_and_simulated_time(phone):
    start_s = phone.now_s
    result = run_shell(phone, "python3 /data/local/tmp/probe.py a b", uid=SHELL_UID, timeout_s=60)
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["uid"] == 2000 and out["argv"] == ["a", "b"]
    assert (out["write"], out["invalid"], out["os_write"]) == ("EACCES", "EACCES", "EACCES")
    assert out["after"] == "2850000"
    assert out["slept"] == pytest.approx(1.5, abs=1e-6)
    assert out["wall_slept"] == pytest.approx(1.5, abs=0.01)
    assert phone.now_s == pytest.approx(start_s + 1.5, abs=1e-6)
    assert out["policies"] == ["policy0", "policy4", "policy6"]
    assert out["isdir"] and out["exists"] == [False, True]
    assert out["scandir"] == ["scaling_max_freq", "scaling_min_freq"]
    assert out["batch"][0] == [["EACCES", f"{POLICY6}/scaling_max_freq"]] and out["batch_host"] == "EPERM"


def test_script_as_root_sees_clamped_and_rejected_writes(phone):
    result = run_shell(phone, "su -c 'python3 /data/local/tmp/probe.py'", uid=SHELL_UID, timeout_s=60)
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["uid"] == 0
    assert out["write"] == "ok" and out["after"] == "1426000"  # clamped to the table, shown on read-back
    assert out["invalid"] == "EINVAL" and out["os_write"] == "ok"
    assert phone.fs.read(f"{POLICY6}/scaling_max_freq").decode() == "2850000\n"
    gone = "/sys/class/devfreq/gone.devfreq"
    assert out["batch"] == [
        [None, "1426000\n", None],
        [["EACCES", f"{POLICY6}/cpuinfo_max_freq"]],
        [["EINVAL", f"{POLICY6}/scaling_max_freq"]],
        [["ENOENT", f"{gone}/max_freq"]],
        [["EINVAL", "/data/local/tmp/plain"]],
        ["python3\n"],
    ]
    assert not phone.fs.exists(gone) and phone.fs.read("/data/local/tmp/plain") == b"keep"


@pytest.mark.parametrize(
    "groups",
    [None, {"a": 1}, [5], [[5]], [[["read"]]], [[["read", 3]]], [[["write", POLICY6]]], [[["write", POLICY6, 5]]],
     [[["zap", "/data"]]], [[["read", f"{POLICY6}/scaling_max_freq"]] * 257]],
)  # fmt: skip
def test_a_malformed_file_batch_request_gets_einval_and_does_nothing(phone, groups):
    session = new_session(phone, ROOT_UID)
    ours, theirs = socket.socketpair()
    with ours, theirs:
        server = _RpcServer(session, session.proc, ours, Io(BytesSource(), BufferSink(), BufferSink()))
        answer = server._handle({"op": "file_batch", "groups": groups}, b"")
    assert answer == ({"ok": False, "errno": errno.EINVAL}, b"")


def test_inline_code_exit_codes_and_output_redirection(phone):
    result = run_shell(
        phone,
        "python3 -c 'import sys; print(\"to log\"); sys.exit(3)' > /data/local/tmp/o.log; "
        "echo rc=$?; cat /data/local/tmp/o.log",
        uid=SHELL_UID,
        timeout_s=60,
    )
    assert result.stdout == "rc=3\nto log\n"
    missing = run_shell(phone, "python3 /data/local/tmp/none.py", uid=SHELL_UID, timeout_s=60)
    assert missing.exit_code == 2 and "can't open file '/data/local/tmp/none.py'" in missing.stderr
    failing = run_shell(phone, "python3 -c 'x = 1\nopen(\"/sys/nope\")'", uid=SHELL_UID, timeout_s=60)
    assert failing.exit_code == 1
    assert failing.stderr.endswith("FileNotFoundError: [Errno 2] No such file or directory: '/sys/nope'\n")
    assert "pyboot" not in failing.stderr


DAEMON = f"""
import json, os, signal, time
state_path = "/data/local/tmp/daemon.json"
path = "{POLICY6}/scaling_max_freq"
original = open(path).read().strip()
running = True

def stop(signum, frame):
    global running
    running = False

signal.signal(signal.SIGTERM, stop)
with open(path, "w") as f:
    f.write("984000")
ticks = 0
while running:
    ticks += 1
    with open(state_path + ".tmp", "w") as f:
        json.dump({{"pid": os.getpid(), "ticks": ticks, "t": time.monotonic()}}, f)
    os.replace(state_path + ".tmp", state_path)
    if ticks == 1:
        sum(range(3_000_000))  # a loaded host: the daemon reaches its sleep late
    time.sleep(0.1)
with open(path, "w") as f:
    f.write(original)
with open(state_path, "w") as f:
    json.dump({{"pid": os.getpid(), "ticks": ticks, "restored": open(path).read().strip()}}, f)
print("stopped after", ticks, "ticks", flush=True)
"""


def _state(phone: VirtualPhone) -> dict:
    return json.loads(phone.fs.read("/data/local/tmp/daemon.json"))


def test_background_daemon_nohup_ps_kill_and_restore():
    phone = VirtualPhone("pixel7")
    phone.fs.write("/data/local/tmp/daemon.py", DAEMON.encode(), SHELL_UID)
    started = run_shell(
        phone,
        "su -c 'nohup python3 /data/local/tmp/daemon.py > /data/local/tmp/daemon.log 2>&1 & echo $!'",
        uid=SHELL_UID,
        timeout_s=30,
    )
    pid = int(started.stdout)
    deadline = time.monotonic() + 30
    while not phone.fs.exists("/data/local/tmp/daemon.json"):
        assert time.monotonic() < deadline, "the daemon did not start"
        time.sleep(0.02)
    assert f"{pid} python3" in run_shell(phone, "ps -A -o PID,NAME", uid=SHELL_UID).stdout
    assert phone.fs.read(f"{POLICY6}/scaling_max_freq").decode() == "984000\n"
    # The daemon writes its state, then sleeps: time moves on without a process not yet asleep (clock.asleep), so
    # the foreground sleep below waits for that (on a loaded host it drove the clock 2 s while the daemon had not
    # reached its sleep, which then counted 100 ms from the 2 s: no tick in the 2 s)
    while not runtime_of(phone).clock.asleep(pid):
        assert time.monotonic() < deadline, "the daemon did not reach its sleep"
        time.sleep(0.01)
    first = _state(phone)
    # The foreground sleep drives the undriven clock, stepping the daemon's 100 ms sleeps one by one.
    run_shell(phone, "sleep 2", uid=SHELL_UID, timeout_s=60)
    second = _state(phone)
    assert second["ticks"] - first["ticks"] == 20
    assert second["t"] - first["t"] == pytest.approx(2.0, abs=1e-6)
    assert run_shell(phone, f"kill {pid}", uid=SHELL_UID).exit_code == 1  # root's daemon: not the shell user's
    run_shell(phone, f"su -c 'kill {pid}'; sleep 0.2", uid=SHELL_UID, timeout_s=30)
    proc = runtime_of(phone).procs.get(pid)
    deadline = time.monotonic() + 30
    while proc is not None and not proc.done.wait(0.5):
        # the signal may land after that sleep drove the clock: drive it on until the daemon's sleep ends
        assert time.monotonic() < deadline, "the daemon did not stop"
        run_shell(phone, "sleep 0.1", uid=SHELL_UID, timeout_s=30)
    final = _state(phone)
    assert final["restored"] == "2850000"
    assert phone.fs.read("/data/local/tmp/daemon.log").decode() == f"stopped after {final['ticks']} ticks\n"
    assert f"{pid}" not in run_shell(phone, "ps -A -o PID", uid=SHELL_UID).stdout.split()
