"""How fast fusegovd applies a phase hint on the virtual phone, against the naive way from the host.

Starts a private Debian adb server and `fusegov emulate --speed 1` (so the phone's clock runs with the wall
clock), deploys the daemon with a plan, and sends phase hints (prefill / decode / idle in turn) through its
FIFO, each from its own `adb shell echo` (--sender adb, the default) or all from one script on the phone
that writes them as the hint protocol says, as the llama.cpp wrapper does (--sender phone). The daemon
itself measures each hint, from the moment it read it to the moment every knob is
written and verified by reading back (its log: `..., N knob(s) written, X ms, cpu Y ms`; on the virtual
phone a phase change's writes and read-backs go to the emulator in one os.file_batch round trip, which
the output names); CPU is the
daemon process's own (time.process_time). The emulator's CPU per hint (the virtual kernel's side of
those file operations, and of delivering the hint: an adb shell, or the sender script's calls) is measured
from /proc over the burst, minus its idle rate.

Baselines, same settings in the same order, measured in the same run:
  - naive: one `adb shell` process per knob (su -c: write min and max in the safe order, read back);
  - host: AdbDevice + android.knobs from the host (one persistent adb shell, one round trip per file).
Usage: python bench/bench_daemon.py [--hints 150] [--profile pixel7] [--all-knobs] [--sender adb|phone]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from android.adb import AdbDevice  # noqa: E402
from android.daemon.config import GuardOptions  # noqa: E402
from android.daemon.remote import DaemonRemote  # noqa: E402
from android.knobs import KnobController  # noqa: E402
from android.probe import probe_device  # noqa: E402
from android.units import to_native  # noqa: E402
from governor.plan import plan_from_dict  # noqa: E402
from tests.daemon.plans import phase_setting, pinned_knobs, plan_document, simple_plan  # noqa: E402
from tests.helpers.adb import AdbServer, free_port, require_adb, start_emulator, stop_emulator  # noqa: E402

HINT_LINE = re.compile(r"hint '([^']*)' -> .*; (\d+) knob\(s\) written, ([0-9.]+) ms, cpu ([0-9.]+) ms")
GAP_S = 0.02  # between hints, so each is measured on a quiet phone
PHONE_SENDER = """
import os, sys, time
fifo, gap_s, lines = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
for line in lines:  # the hint protocol (fusegov_hint.py): one line, one write, O_WRONLY|O_NONBLOCK
    fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    os.write(fd, (line + "\\n").encode())
    os.close(fd)
    time.sleep(gap_s)
"""


def every_knob_plan(info) -> dict:
    """A plan that pins every knob the phone has, at its top / middle / bottom level per phase."""

    def level(fraction: float) -> dict[str, int]:
        return {k: sorted(c.table_hz)[int(round(fraction * (len(c.table_hz) - 1)))] for k, c in info.knobs.items()}

    return plan_document(info, "tinyllama-1.1b-q4", prefill=[(512, level(1.0))], decode=level(0.5), cnn=level(0.0))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def summary(label: str, latencies_s: list[float], baseline_s: float | None = None) -> float:
    median = statistics.median(latencies_s)
    ratio = f"   x{median / baseline_s:6.1f} the daemon's median" if baseline_s else ""
    print(
        f"  {label:<48} median {median * 1e3:8.3f} ms   p99 {percentile(latencies_s, 99) * 1e3:8.3f} ms"
        f"   ({len(latencies_s)} hints){ratio}",
        flush=True,
    )
    return median


def settings_sequence(plan: dict, hints: int) -> list[tuple[str, dict[str, int | None]]]:
    cycle = [
        ("prefill 300", phase_setting(plan, "prefill")),
        ("decode", phase_setting(plan, "decode")),
        ("idle", {}),
    ]
    return [cycle[k % len(cycle)] for k in range(hints)]


def run(args: argparse.Namespace) -> None:
    require_adb()
    home = Path(tempfile.mkdtemp(prefix="bench-daemon-"))
    env = {**os.environ, "HOME": str(home), "ANDROID_ADB_SERVER_PORT": str(free_port())}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    server = AdbServer(int(env["ANDROID_ADB_SERVER_PORT"]), env)
    server.adb("start-server", check=True)
    emulator = start_emulator(server, args.profile, "--speed", "1")
    device = AdbDevice(emulator.serial, adb_port=server.port)
    try:
        info = probe_device(device)
        plan = every_knob_plan(info) if args.all_knobs else simple_plan(info)
        knobs = pinned_knobs(plan)
        print(f"virtual {args.profile} over adb at 1x real time; plan pins {len(knobs)} knobs: {', '.join(knobs)}")
        controller = KnobController(device, info)
        found = controller.snapshot(knobs)
        sequence = settings_sequence(plan, args.hints)

        remote = DaemonRemote(device, "/data/local/tmp/fusegov-bench")
        remote.deploy([plan_from_dict(plan, "bench plan")], GuardOptions(watchdog_s=3600))
        remote.start()
        fifo = remote.path("hints")
        if args.sender == "phone":
            local = home / "sender.py"
            local.write_text(PHONE_SENDER)
            device.push(local, remote.path("sender.py"))
        daemon_cpu = emulator_cpu_idle = 0.0
        idle_start = cpu_s(emulator.proc.pid)
        time.sleep(2.0)
        emulator_idle_rate = (cpu_s(emulator.proc.pid) - idle_start) / 2.0
        burst_start, wall_start = cpu_s(emulator.proc.pid), time.monotonic()
        if args.sender == "adb":
            for line, _ in sequence:
                remote.root(f"echo '{line}' > {fifo}")
                time.sleep(GAP_S)
        else:
            lines = " ".join(f"'{line}'" for line, _ in sequence)
            sent = remote.root(f"{remote.python()} {remote.path('sender.py')} {fifo} {GAP_S} {lines}", timeout_s=600)
            if not sent.ok:
                raise SystemExit(f"the hint sender failed: {sent.stderr}")
        time.sleep(0.5)
        burst_cpu = cpu_s(emulator.proc.pid) - burst_start
        emulator_cpu_idle = emulator_idle_rate * (time.monotonic() - wall_start)
        logs = remote.logs()
        records = [m.groups() for m in HINT_LINE.finditer(logs)]
        calls = re.search(r"knob file calls: ([^\n]*)", logs)
        remote.stop()
        applied = [(float(ms) / 1e3, float(cpu) / 1e3) for _, written, ms, cpu in records if int(written) > 0]
        if len(applied) < 0.9 * len(sequence):
            raise SystemExit(f"the daemon logged {len(applied)} of {len(sequence)} hints")
        daemon_latency = [lat for lat, _ in applied]
        daemon_cpu = [cpu for _, cpu in applied]
        per_hint_emulator = max(0.0, burst_cpu - emulator_cpu_idle) / len(applied)

        def naive(setting: dict[str, int | None]) -> float:
            """One `adb shell` process per knob, as a host script would do it."""
            start = time.perf_counter()
            for knob in knobs:
                target = setting.get(knob)
                control = info.knobs[knob]
                base = {s.knob: s for s in found}[knob]
                low, high = (target, target) if target is not None else (base.min_hz, base.max_hz)
                low_n, high_n = to_native(low, control.unit), to_native(high, control.unit)
                cur_max = int(device.read(control.path(control.max_file)))
                order = [(control.min_file, low_n), (control.max_file, high_n)]
                if low_n > cur_max:
                    order.reverse()
                writes = " && ".join(f"echo {v} > {control.path(f)}" for f, v in order)
                script = f"{writes} && cat {control.path(control.min_file)} {control.path(control.max_file)}"
                out = server.adb("-s", emulator.serial, "shell", f"su -c '{script}'", check=True).stdout.split()
                if [int(v) for v in out] != [low_n, high_n]:
                    raise SystemExit(f"naive write of {knob} reads back {out}, not {[low_n, high_n]}")
            return time.perf_counter() - start

        def host(setting: dict[str, int | None]) -> float:
            """AdbDevice's persistent shell with android.knobs: the best a host-side governor can do."""
            start = time.perf_counter()
            for knob in knobs:
                target = setting.get(knob)
                base = {s.knob: s for s in found}[knob]
                if target is None:
                    controller.set_limits(knob, base.min_hz, base.max_hz)
                else:
                    controller.pin(knob, target)
            return time.perf_counter() - start

        baselines = {}
        for name, apply in (("naive: one `adb shell` per knob", naive), ("host: AdbDevice + android.knobs", host)):
            samples = []
            for _, setting in sequence[: args.baseline_hints]:
                samples.append(apply(setting))
            baselines[name] = samples
            controller.restore(found)

        print(
            f"\ntime from a hint to every knob written and verified (the daemon's knob file calls: "
            f"{calls.group(1) if calls else 'not logged'}):"
        )
        median = summary("daemon on the phone (fusegovd)", daemon_latency)
        for name, samples in baselines.items():
            summary(name, samples, median)
        print("\nCPU per hint:")
        print(
            f"  daemon process (time.process_time)               median {statistics.median(daemon_cpu) * 1e3:8.3f} ms"
            f"   p99 {percentile(daemon_cpu, 99) * 1e3:8.3f} ms"
        )
        print(
            f"  emulator side (file calls + hint delivery)       mean   {per_hint_emulator * 1e3:8.3f} ms"
            f"   (burst {burst_cpu:.2f} s CPU - idle {emulator_cpu_idle:.2f} s, over {len(applied)} hints)"
        )
        verdict = "meets" if median < 2e-3 else "MISSES"
        print(f"\ntarget: median under 2 ms on the virtual phone: {verdict} ({median * 1e3:.3f} ms)")
        assert controller.snapshot(knobs) == found, "the knobs did not end as found"
    finally:
        device.close()
        stop_emulator(emulator)
        server.adb("kill-server")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hints", type=int, default=150, help="hints sent to the daemon (default 150)")
    parser.add_argument("--baseline-hints", type=int, default=30, help="hints applied each baseline way (default 30)")
    parser.add_argument("--profile", default="pixel7", help="virtual phone profile (default pixel7)")
    parser.add_argument("--all-knobs", action="store_true", help="pin every knob the phone has, not just the plan's")
    parser.add_argument(
        "--sender",
        choices=("adb", "phone"),
        default="adb",
        help="who writes the hints: one `adb shell echo` each (default), or one script on the phone, as the "
        "llama.cpp wrapper does",
    )
    run(parser.parse_args())


if __name__ == "__main__":
    main()
