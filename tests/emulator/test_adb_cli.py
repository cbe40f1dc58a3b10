"""`fusegov emulate` driven with Debian's `adb` command line through a real adb server."""

from __future__ import annotations

import json
import os
import pty
import select
import threading
import time

from tests.helpers.adb import ADB, Emulator

POLICY6 = "/sys/devices/system/cpu/cpufreq/policy6"


def test_connect_lists_the_phone_with_its_banner(adb_server, pixel7: Emulator):  # noqa: F811
    assert pixel7.banner[0].startswith("fusegov emulate: serving virtual phone 'pixel7'")
    assert f"adb connect {pixel7.serial}" in "\n".join(pixel7.banner)
    listing = adb_server.adb("devices", "-l").stdout.decode()
    line = next(row for row in listing.splitlines() if row.startswith(pixel7.serial))
    assert "device product:panther model:Pixel_7 device:panther" in line
    assert pixel7.adb("get-state").stdout.decode().strip() == "device"


def test_shell_reads_sysfs(sm8550: Emulator):  # noqa: F811
    result = sm8550.adb("shell", "cat", "/sys/class/kgsl/kgsl-3d0/gpuclk")
    assert result.returncode == 0
    assert int(result.stdout) in (
        124800000,
        220000000,
        295000000,
        348000000,
        401000000,
        475000000,
        550000000,
        615000000,
        680000000,
        719000000,
    )


def test_su_writes_and_shell_user_is_denied(pixel7: Emulator):  # noqa: F811
    denied = pixel7.shell(f"echo 1500000 > {POLICY6}/scaling_max_freq")
    assert denied.returncode == 1
    assert b"Permission denied" in denied.stderr
    written = pixel7.adb("shell", "su", "-c", f"'echo 1500000 > {POLICY6}/scaling_max_freq'")
    assert written.returncode == 0, written.stderr
    assert pixel7.shell(f"cat {POLICY6}/scaling_max_freq").stdout == b"1426000\n"
    restored = pixel7.adb("shell", "su", "-c", f"'echo 2850000 > {POLICY6}/scaling_max_freq'")
    assert restored.returncode == 0
    assert pixel7.shell(f"cat {POLICY6}/scaling_max_freq").stdout == b"2850000\n"


def test_exit_codes_stderr_and_unknown_commands(pixel7: Emulator):  # noqa: F811
    result = pixel7.shell("echo out; echo err >&2; exit 7")
    assert (result.returncode, result.stdout, result.stderr) == (7, b"out\n", b"err\n")
    missing = pixel7.shell("frobnicate")
    assert missing.returncode == 127
    assert missing.stderr == b"/system/bin/sh: frobnicate: inaccessible or not found\n"


def test_push_and_pull_5_mb_byte_identical(pixel7: Emulator, tmp_path):  # noqa: F811
    payload = os.urandom(5 * 1024 * 1024)
    local = tmp_path / "blob.bin"
    local.write_bytes(payload)
    pushed = pixel7.adb("push", str(local), "/data/local/tmp/blob.bin")
    assert pushed.returncode == 0, pushed.stderr
    assert pixel7.shell("wc -c /data/local/tmp/blob.bin").stdout.split()[0] == str(len(payload)).encode()
    back = tmp_path / "back.bin"
    pulled = pixel7.adb("pull", "/data/local/tmp/blob.bin", str(back))
    assert pulled.returncode == 0, pulled.stderr
    assert back.read_bytes() == payload
    refused = pixel7.adb("push", str(local), "/sys/blob.bin")
    assert refused.returncode != 0


def test_interactive_shell_reads_commands_from_stdin(pixel7: Emulator):  # noqa: F811
    result = pixel7.adb("shell", input=b"cd /sys/class\npwd\nfor i in 1 2; do\n echo line$i\ndone\nexit 4\n")
    assert result.stdout == b"/sys/class\nline1\nline2\n"
    assert result.returncode == 4


def test_terminal_session_with_echo_line_editing_and_ctrl_c(pixel7: Emulator):  # noqa: F811
    """`adb shell` from a terminal: a pty session with a prompt, echo, backspace and Ctrl-C."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe(ADB, [ADB, "-P", str(pixel7.server.port), "-s", pixel7.serial, "shell"], pixel7.server.env)
    screen = bytearray()

    def expect(text: bytes, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while text not in screen:
            assert time.monotonic() < deadline, f"{text!r} never appeared in {bytes(screen)!r}"
            if select.select([fd], [], [], 0.1)[0]:
                screen.extend(os.read(fd, 4096))

    try:
        expect(b"panther:/ $ ")
        os.write(fd, b"echo hxx\x7f\x7fi there\r")
        expect(b"hi there\r\npanther:/ $ ")
        os.write(fd, b"sleep 100\r")
        expect(b"sleep 100\r\n")
        os.write(fd, b"\x03")
        expect(b"^C\r\npanther:/ $ ")
        os.write(fd, b"exit 3\r")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 3
    finally:
        os.close(fd)


def test_several_clients_at_once(pixel7: Emulator):  # noqa: F811
    results: dict[int, bytes] = {}

    def client(k: int) -> None:
        results[k] = pixel7.shell(f"echo client{k}; getprop ro.product.device").stdout

    threads = [threading.Thread(target=client, args=(k,)) for k in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == {k: f"client{k}\npanther\n".encode() for k in range(6)}


DAEMON = """
import json, os, signal, time
path = "/sys/devices/system/cpu/cpufreq/policy4/scaling_max_freq"
original = open(path).read().strip()
running = True

def stop(signum, frame):
    global running
    running = False

for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(sig, stop)
with open(path, "w") as f:
    f.write("1024000")
start = time.monotonic()
while running:
    with open("/data/local/tmp/d.json.tmp", "w") as f:
        json.dump({"pid": os.getpid(), "uptime_s": time.monotonic() - start}, f)
    os.replace("/data/local/tmp/d.json.tmp", "/data/local/tmp/d.json")
    time.sleep(0.05)
with open(path, "w") as f:
    f.write(original)
print("restored", open(path).read().strip(), flush=True)
"""


def test_pushed_daemon_runs_in_real_time_and_stops_on_kill(pixel7: Emulator, tmp_path):  # noqa: F811
    script = tmp_path / "d.py"
    script.write_text(DAEMON)
    assert pixel7.adb("push", str(script), "/data/local/tmp/d.py").returncode == 0
    started = pixel7.adb(
        "shell", "su", "-c", "'nohup python3 /data/local/tmp/d.py > /data/local/tmp/d.log 2>&1 & echo $!'"
    )
    pid = int(started.stdout)
    deadline = time.monotonic() + 20
    while pixel7.shell("cat /data/local/tmp/d.json").returncode != 0:
        assert time.monotonic() < deadline, "the daemon did not start"
        time.sleep(0.05)
    assert f"{pid} python3".encode() in pixel7.shell("ps -A -o PID,NAME").stdout
    assert pixel7.shell("cat /sys/devices/system/cpu/cpufreq/policy4/scaling_max_freq").stdout == b"1024000\n"
    first = json.loads(pixel7.shell("cat /data/local/tmp/d.json").stdout)
    time.sleep(0.5)
    second = json.loads(pixel7.shell("cat /data/local/tmp/d.json").stdout)
    assert second["uptime_s"] - first["uptime_s"] > 0.3  # it saw simulated time move with the wall clock
    assert pixel7.shell(f"kill {pid}").returncode == 1  # a root process: the shell user may not signal it
    assert pixel7.adb("shell", "su", "-c", f"'kill {pid}'").returncode == 0
    deadline = time.monotonic() + 20
    while str(pid).encode() in pixel7.shell("ps -A -o PID").stdout.split():
        assert time.monotonic() < deadline, "the daemon did not stop"
        time.sleep(0.05)
    assert pixel7.shell("cat /data/local/tmp/d.log").stdout == b"restored 2348000\n"
