"""How fast the collector samples, over adb against `fusegov emulate` and on the in-process virtual phone,
against the naive way of reading the same files (one `adb shell cat FILE` per file, as a script would do
without a sampler on the phone), measured in the same run.

    python bench/bench_collect.py                         # pixel7 and sm8550, 10 s per figure
    python bench/bench_collect.py --profiles sm8550 --seconds 5 --pmcs 64

Per profile (a private adb server and `fusegov emulate`, started as the tests start them):
  - over adb: `collect` of an idle phone at 10 ms and at 5 ms with the counters asked (--pmcs, default one
    kgsl pass or all Mali counters, >= 64): samples per second sustained (samples / trace duration), gaps
    (sequence numbers that never arrived), late ticks; the phone's CPU per sample (`fusegov emulate` and the
    scripts it ran, beyond its idle rate measured first: for the sampler that is the sampler process and
    the emulator answering its reads, as a phone's kernel would) and the sampler's own CPU per sample (its
    process, from its end line);
  - in process: the same on the in-process virtual phone, whose clock runs as fast as the host allows, so
    samples per second are per wall-clock second and include simulating the phone (phone CPU: this
    process's; sampler: its thread's);
  - the naive way over adb and in process: one `cat` per file of the sampler's file list per sample (GPU
    counters need ioctls, which `cat` cannot do: the naive way reads fewer channels; in process also one
    `sleep` of the period per sample, as time moves there only while someone sleeps).
Printed: a table per profile, then the ratios sampler / naive. The issue's targets: >= 200 Hz with 64 PMCs
in process and >= 100 Hz over adb, with 0 gaps.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from android.adb import AdbDevice  # noqa: E402
from android.probe import probe_device  # noqa: E402
from android.virtual import VirtualDevice  # noqa: E402
from collectors import channels  # noqa: E402
from collectors.collect import collect  # noqa: E402
from tests.helpers.adb import AdbServer, free_port, start_emulator, stop_emulator  # noqa: E402


def process_cpu_s(pid: int | None = None) -> float:
    """CPU time of a process and its reaped children (the emulator and the scripts it ran); this one if None."""
    if pid is None:
        own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


class PhoneCpu:
    """CPU the phone spends beyond idling: `fusegov emulate`'s (with the scripts it ran) over its idle rate,
    or, in process, this process's (the simulation of the same phone time is in both ways alike)."""

    def __init__(self, pid: int | None, seconds: float):
        self.pid, self.idle_per_s = pid, 0.0
        if pid is not None:
            start = process_cpu_s(pid)
            time.sleep(seconds)
            self.idle_per_s = (process_cpu_s(pid) - start) / seconds

    def __enter__(self) -> PhoneCpu:
        self.cpu, self.wall = process_cpu_s(self.pid), time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        wall = time.perf_counter() - self.wall
        self.used_s = process_cpu_s(self.pid) - self.cpu - self.idle_per_s * wall


def sampled(device, seconds: float, period_s: float, pmcs: str, phone: PhoneCpu) -> dict:
    """One idle collection: samples per second (trace time and wall time), gaps, late ticks, CPU/sample."""
    wall = time.perf_counter()
    with phone:
        result = collect(device, [f"idle:{seconds}"], period_s=period_s, pmcs=pmcs)
    wall = time.perf_counter() - wall
    summary = result.summary()
    samples = max(summary["samples"], 1)
    return {
        "samples": summary["samples"],
        "pmcs": len(result.meta["counters"]),
        "per_s": samples / max(summary["duration_s"], 1e-9),
        "per_wall_s": samples / wall,
        "gaps": summary["dropped"],
        "late": summary["late_ticks"],
        "phone_ms": 1e3 * phone.used_s / samples,
        "sampler_ms": 1e3 * result.meta["sampler_cpu_s"] / samples,
    }


def naive(shell, paths: list[str], seconds: float, phone: PhoneCpu, period_s: float | None = None) -> dict:
    """One `cat` per file per sample for about `seconds` (and, on a phone whose clock moves only while
    someone sleeps, a sleep of one period per sample): samples per second and the phone's CPU per sample."""
    samples = 0
    with phone:
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            for path in paths:
                shell(f"cat {path}")
            if period_s is not None:
                shell(f"sleep {period_s}")
            samples += 1
        elapsed = time.perf_counter() - start
    return {"samples": samples, "per_s": samples / elapsed, "phone_ms": 1e3 * phone.used_s / max(samples, 1)}


def file_list(device) -> list[str]:
    """The files the sampler reads on this phone (its config), in the order it reads them."""
    info = probe_device(device)
    plan = channels.build_plan(info, 0.01, [], None, None)
    paths = [f["path"] for f in plan.config["files"]] + ["/proc/stat"]
    return paths + [d["path"] for d in plan.config["odpm"]]


def row(label: str, figures: dict) -> None:
    extra = "".join(f"  {key} {figures[key]}" for key in ("pmcs", "gaps", "late") if key in figures)
    sampler = f"  sampler {figures['sampler_ms']:.3f} ms" if "sampler_ms" in figures else ""
    print(
        f"  {label:<46} {figures['per_s']:>7.1f} samples/s  phone CPU {figures['phone_ms']:>7.3f} ms/sample"
        f"{sampler}  ({figures['samples']} samples){extra}",
        flush=True,
    )


def bench_profile(server: AdbServer, profile: str, seconds: float, pmcs: str) -> dict:
    emulator = start_emulator(server, profile)
    out = {}
    try:
        device = AdbDevice(emulator.serial, adb_port=server.port)
        paths = file_list(device)
        phone = PhoneCpu(emulator.proc.pid, min(seconds, 3.0))
        print(
            f"\n{profile}: `fusegov emulate` at {emulator.serial} (idles at {phone.idle_per_s * 1e3:.0f} ms CPU/s); "
            f"{len(paths)} files per sample, --pmcs {pmcs}"
        )
        out["adb 10 ms"] = sampled(device, seconds, 0.01, pmcs, phone)
        row("sampler over adb, period 10 ms", out["adb 10 ms"])
        out["adb 5 ms"] = sampled(device, seconds, 0.005, pmcs, phone)
        row("sampler over adb, period 5 ms", out["adb 5 ms"])
        adb = shutil.which("adb")

        def adb_shell(command: str) -> None:
            subprocess.run(
                [adb, "-P", str(server.port), "-s", emulator.serial, "shell", command],
                env=server.env,
                capture_output=True,
            )

        out["adb naive"] = naive(adb_shell, paths, seconds, phone)
        row("naive over adb: `adb shell cat` per file", out["adb naive"])
        device.close()
    finally:
        stop_emulator(emulator)
    virtual = VirtualDevice(profile, seed=1)
    here = PhoneCpu(None, 0.0)
    process = sampled(virtual, seconds, 0.005, pmcs, here)
    process["per_s"] = process.pop("per_wall_s")  # the in-process phone runs as fast as the host lets it
    out["in-process 5 ms"] = process
    row("sampler in process, period 5 ms (per wall s)", process)
    out["in-process naive"] = naive(virtual.shell, paths, seconds, here, period_s=0.005)
    row("naive in process: shell `cat` per file (per wall s)", out["in-process naive"])
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", nargs="+", default=["pixel7", "sm8550"])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measurement (default 10)")
    parser.add_argument("--pmcs", default="pass", help="GPU counters (default: one pass; >= 64 on both families)")
    args = parser.parse_args()
    if shutil.which("adb") is None:
        print("bench_collect: error: Debian's adb is not installed (apt-get install adb)", file=sys.stderr)
        return 1
    home = Path(tempfile.mkdtemp(prefix="bench-collect-"))
    port = free_port()
    env = {**os.environ, "HOME": str(home), "ANDROID_ADB_SERVER_PORT": str(port), "PYTHONPATH": str(REPO)}
    server = AdbServer(port, env)
    server.adb("start-server", timeout=60, check=True)
    print(f"bench_collect: load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs at the start")
    try:
        results = {profile: bench_profile(server, profile, args.seconds, args.pmcs) for profile in args.profiles}
    finally:
        server.adb("kill-server", timeout=30)
        shutil.rmtree(home, ignore_errors=True)
    print("\nratios (sampler / naive, same run):")
    for profile, out in results.items():
        pairs = (("adb", "adb 10 ms", "adb naive"), ("in process", "in-process 5 ms", "in-process naive"))
        for where, sampler, plain in pairs:
            s, n = out[sampler], out[plain]
            print(
                f"  {profile:<8} {where:<11} {s['per_s'] / n['per_s']:>7.1f}x samples/s, "
                f"{n['phone_ms'] / max(s['phone_ms'], 1e-9):>6.1f}x less phone CPU per sample "
                f"(sampler: {s['pmcs']} counters, {s['gaps']} gaps; the naive way reads no counters)"
            )
    print(f"bench_collect: load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
