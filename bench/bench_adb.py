"""Shell round trips and sysfs reads per second through the ADB backend against `fusegov emulate`.

Starts a private adb server and an emulator (as the tests do), then measures, in the same run:
  - shell round trips: AdbDevice's persistent shell vs one adbutils shell connection per command vs one
    `adb shell` process per command;
  - sysfs reads: AdbDevice.read_many (one helper per burst) vs AdbDevice.read per file vs one
    `adb shell cat` process per file; and the in-process VirtualDevice for reference.
Usage: python bench/bench_adb.py [--profile sm8550] [--seconds 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from android.adb import AdbDevice  # noqa: E402
from android.virtual import VirtualDevice  # noqa: E402


def rate(label: str, func, seconds: float, per_call: int = 1) -> float:
    """Calls of func per second (x per_call items), measured for about `seconds`."""
    func()  # warm up
    calls = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        func()
        calls += 1
    elapsed = time.perf_counter() - start
    per_s = calls * per_call / elapsed
    print(f"  {label:<58} {per_s:>10.1f} /s  ({calls} calls in {elapsed:.2f} s)", flush=True)
    return per_s


def sysfs_paths(device) -> list[str]:
    paths = []
    for policy in device.listdir("/sys/devices/system/cpu/cpufreq"):
        base = f"/sys/devices/system/cpu/cpufreq/{policy}"
        paths += [
            f"{base}/{name}"
            for name in (
                "scaling_cur_freq",
                "scaling_min_freq",
                "scaling_max_freq",
                "scaling_governor",
                "stats/time_in_state",
            )
        ]
    for zone in device.listdir("/sys/class/thermal"):
        paths.append(f"/sys/class/thermal/{zone}/temp")
    for name in device.listdir("/sys/class/devfreq"):
        paths += [f"/sys/class/devfreq/{name}/cur_freq", f"/sys/class/devfreq/{name}/governor"]
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="sm8550")
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per figure")
    args = parser.parse_args()
    adb = shutil.which("adb")
    if adb is None:
        print("bench_adb: error: Debian's adb is not installed (apt-get install adb)", file=sys.stderr)
        return 1
    home = tempfile.mkdtemp(prefix="bench-adb-")
    port = _free_port()
    env = {**os.environ, "HOME": home, "ANDROID_ADB_SERVER_PORT": str(port), "PYTHONPATH": str(REPO)}
    subprocess.run([adb, "-P", str(port), "start-server"], env=env, check=True, capture_output=True)
    emulator = subprocess.Popen(
        [sys.executable, "-m", "governor.cli", "emulate", "--profile", args.profile, "--port", "0"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        serial = ""
        while not serial:
            line = emulator.stdout.readline()  # type: ignore[union-attr]
            if not line:
                raise RuntimeError("fusegov emulate exited")
            if line.strip().startswith("serial:"):
                serial = line.split()[1]
        subprocess.run([adb, "-P", str(port), "connect", serial], env=env, check=True, capture_output=True)
        return run(adb, port, env, serial, args)
    finally:
        emulator.send_signal(signal.SIGTERM)
        emulator.wait(15)
        subprocess.run([adb, "-P", str(port), "kill-server"], env=env, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def run(adb: str, port: int, env: dict, serial: str, args) -> int:
    device = AdbDevice(serial, adb_port=port)
    virtual = VirtualDevice(args.profile)
    paths = sysfs_paths(device)
    one = paths[0]
    print(
        f"bench_adb: {args.profile} served by `fusegov emulate` at {serial}, adb server on port {port}, "
        f"{len(paths)} sysfs files per burst\n"
    )

    def adb_process(command: str) -> None:
        subprocess.run([adb, "-P", str(port), "-s", serial, "shell", command], env=env, capture_output=True, check=True)

    print("shell round trips (one short command each):")
    persistent = rate("persistent shell (AdbDevice, one stream kept open)", lambda: device.exists("/"), args.seconds)
    connection = rate("one adbutils shell connection per command", lambda: device.shell("true"), args.seconds)
    process = rate("one `adb shell` process per command", lambda: adb_process("true"), args.seconds)
    print(
        f"  -> persistent shell is {persistent / connection:.1f}x one connection per command, "
        f"{persistent / process:.1f}x one adb process per command\n"
    )

    print("sysfs reads:")
    burst = rate(
        f"AdbDevice.read_many ({len(paths)} files in one round trip)",
        lambda: device.read_many(paths),
        args.seconds,
        per_call=len(paths),
    )
    single = rate("AdbDevice.read (one round trip per file)", lambda: device.read(one), args.seconds)
    per_process = rate("`adb shell cat FILE` process per file", lambda: adb_process(f"cat {one}"), args.seconds)
    in_process = rate(
        "VirtualDevice.read_many in-process (no ADB, reference)",
        lambda: virtual.read_many(paths),
        args.seconds,
        per_call=len(paths),
    )
    print(
        f"  -> read_many is {burst / single:.1f}x read per file and {burst / per_process:.1f}x one adb "
        f"process per file; in-process is {in_process / burst:.1f}x read_many over ADB"
    )
    device.close()
    return 0


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    sys.exit(main())
