"""`fusegov emulate`: serve the virtual phone as an adbd on TCP until stopped."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import signal
import sys
import threading
import time
from pathlib import Path

from android import cliargs
from android.errors import FusegovError, UsageError

SWITCH_INTERVAL_S = 0.0002
# Defaults of the phone's limits (android/emulator/adbd/server.AdbLimits, vfs, shell/runtime.ScriptLimits)
STORAGE_DEFAULT = "256MiB"
SCRIPT_MEMORY_DEFAULT = "1GiB"
DEFAULT_KEY = Path("~/.android/adbkey.pub")
SWITCH_INTERVAL_S = 0.0005  # sys.setswitchinterval while serving (default 5 ms): see run_emulate


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "emulate",
        help="serve the virtual phone over ADB (adb connect 127.0.0.1:PORT)",
        description=(
            "Serve the built-in virtual phone as an adbd on 127.0.0.1:PORT, reachable like a phone on "
            "the network: `adb connect 127.0.0.1:PORT`, then `adb shell`, `adb push/pull`, adbutils or "
            "`fusegov ... --serial 127.0.0.1:PORT`. The phone is rooted through `su -c` (the adb shell "
            "user is uid 2000), runs pushed Python scripts with python3 (confined to the phone), and its "
            "simulation advances in real time (or --speed times faster) while served. It is a sandbox with "
            "a phone's limits: storage, connections, streams and script memory below. Runs until Ctrl-C or "
            "SIGTERM."
        ),
    )
    parser.add_argument(
        "--profile",
        required=True,
        metavar="NAME|FILE",
        help="phone profile: a built-in name (pixel7, sm8550, pixel4) or a profile JSON path",
    )
    parser.add_argument(
        "--host",
        type=cliargs.ip_address,
        default="127.0.0.1",
        help="IP address to listen on (default 127.0.0.1, this computer only; 0.0.0.0 for every interface, "
        "which needs --auth)",
    )
    parser.add_argument(
        "--port",
        type=cliargs.port,
        default=5555,
        help="TCP port (default 5555; 0 picks a free port and prints it)",
    )
    parser.add_argument("--seed", type=cliargs.seed, default=0, help="seed of the simulation (default 0)")
    parser.add_argument(
        "--speed",
        type=cliargs.float_in(0.01, 100.0),
        default=1.0,
        help="simulated seconds per wall-clock second, 0.01..100 (default 1: real time)",
    )
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="keep the phone's /data in DIR (DIR/data.tar) across runs, as flash survives a reboot; sysfs and "
        "/proc start fresh every run (default: /data starts empty)",
    )
    parser.add_argument(
        "--no-su", action="store_true", help="serve a stock, unrooted phone: there is no su, so root-only writes fail"
    )
    parser.add_argument(
        "--auth",
        metavar="KEYFILE.pub",
        help="ask every host for adb's RSA authentication and accept the keys in this file (the adb "
        "client's ~/.android/adbkey.pub, one key per line as in adb_keys). Without it a loopback phone "
        "trusts every local host; with --host other than loopback it defaults to ~/.android/adbkey.pub",
    )
    parser.add_argument(
        "--unauthorized",
        action="store_true",
        help="ask every host for authentication and never grant it (adb lists the phone "
        "as 'unauthorized'); for testing how tools report it",
    )
    limits = parser.add_argument_group("limits (what one client can make the emulator hold)")
    limits.add_argument(
        "--storage",
        type=cliargs.size_in(1 << 20, 64 << 30),
        default=STORAGE_DEFAULT,
        metavar="SIZE",
        help=f"the phone's writable storage for /data and /sdcard (default {STORAGE_DEFAULT}); a push or write "
        "beyond it fails with 'No space left on device'. It lives in the emulator's memory",
    )
    limits.add_argument(
        "--max-connections",
        type=cliargs.int_in(1, 4096),
        default=16,
        metavar="N",
        help="ADB connections open at once (default 16; the adb server needs one per phone)",
    )
    limits.add_argument(
        "--max-streams",
        type=cliargs.int_in(1, 4096),
        default=64,
        metavar="N",
        help="streams (shells, pushes...) open at once on one connection (default 64)",
    )
    limits.add_argument(
        "--script-memory",
        type=cliargs.size_in(64 << 20, 1 << 40),
        default=SCRIPT_MEMORY_DEFAULT,
        metavar="SIZE",
        help=f"address space of each python3 process on the phone (default {SCRIPT_MEMORY_DEFAULT})",
    )
    limits.add_argument(
        "--max-scripts",
        type=cliargs.int_in(1, 1024),
        default=16,
        metavar="N",
        help="python3 processes running at once on the phone (default 16)",
    )
    parser.set_defaults(func=run_emulate)


def _auth_keys(args: argparse.Namespace):
    """None (no AUTH), () (--unauthorized: nobody), or the trusted keys."""
    from android.emulator.adbd.auth import load_public_keys

    if args.unauthorized:
        if args.auth:
            raise UsageError("--unauthorized refuses every host: it cannot go with --auth")
        return ()
    if args.auth:
        return load_public_keys(Path(args.auth).expanduser())
    if not _loopback(args.host):
        default = DEFAULT_KEY.expanduser()
        if not default.exists():
            raise UsageError(
                f"--host {args.host} serves the phone beyond this computer: give --auth KEYFILE.pub (the adb "
                f"client's ~/.android/adbkey.pub); {default} does not exist"
            )
        return load_public_keys(default)
    return None


def _loopback(host: str) -> bool:
    return ipaddress.ip_address(host).is_loopback


def run_emulate(args: argparse.Namespace) -> int:
    from android.emulator.adbd import AdbServer
    from android.emulator.adbd.server import AdbLimits
    from android.emulator.shell.clock import RealtimeDriver
    from android.emulator.shell.runtime import ScriptLimits, runtime_of

    keys = _auth_keys(args)
    logging.basicConfig(level=logging.INFO, format="fusegov emulate: %(message)s", stream=sys.stderr)
    from android.emulator.phone import VirtualPhone

    phone = VirtualPhone(args.profile, seed=args.seed)
    # A served phone answers many small requests (adb streams, pushed scripts' file calls) while the clock
    # thread runs the physics: hand the GIL over sooner than Python's default 5 ms, or a sysfs read waits
    # behind a physics step.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    phone.fs.capacity_bytes = args.storage
    runtime = runtime_of(phone)
    runtime.su_available = not args.no_su
    runtime.script_limits = ScriptLimits(memory_bytes=args.script_memory, max_scripts=args.max_scripts)
    limits = AdbLimits(max_connections=args.max_connections, max_streams=args.max_streams)
    if args.data_dir:
        from android.emulator.persist import DataDir

        runtime.persist = DataDir(args.data_dir, phone.fs)
        restored = runtime.persist.load()
        runtime.persist.start()
    try:
        server = AdbServer(phone, host=args.host, port=args.port, auth_keys=keys, limits=limits)
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc} (pick another --port, or 0 for a "
            "free one)"
        ) from None
    sandbox = _sandbox_status(phone)
    stop = threading.Event()
    handlers = {sig: signal.signal(sig, lambda signum, frame: stop.set()) for sig in (signal.SIGTERM, signal.SIGHUP)}
    # The phone's processes (a pushed script's file and ioctl requests, adbd's streams) wait for the GIL while
    # the realtime driver steps the simulation: a short switch interval keeps each request under a millisecond.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    driver = RealtimeDriver(runtime.clock, speed=args.speed).start()
    server.start()
    started = time.monotonic()
    auth = "" if keys is None else ", unauthorized" if not keys else f", adb keys from {args.auth or DEFAULT_KEY}"
    kept = f", /data kept in {args.data_dir} ({restored} entries restored)" if args.data_dir else ""
    notes = "".join([", not rooted" if args.no_su else "", auth, kept])
    print(
        f"fusegov emulate: serving virtual phone {phone.profile.name!r} ({phone.profile.model}), seed "
        f"{args.seed}{notes}, at {args.speed:g}x real time",
        flush=True,
    )
    print(f"  serial:  {server.serial}", flush=True)
    print(
        f"  connect: adb connect {server.serial}   (with a private adb server: adb -P ADB_PORT connect "
        f"{server.serial})",
        flush=True,
    )
    print(f"  python3: {sandbox}", flush=True)
    print("  stop:    Ctrl-C or SIGTERM", flush=True)
    try:
        wait_for_stop(stop)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        runtime.procs.shutdown()
        driver.stop()
        if runtime.persist is not None:
            runtime.persist.stop()
        for sig, previous in handlers.items():
            signal.signal(sig, previous)
    wall_s = time.monotonic() - started
    print(f"fusegov emulate: stopped after {wall_s:.1f} s ({phone.now_s:.1f} simulated s)", file=sys.stderr, flush=True)
    return 0


def wait_for_stop(stop: threading.Event) -> None:
    """Serve until SIGTERM/SIGHUP sets `stop` (or Ctrl-C raises KeyboardInterrupt)."""
    while not stop.wait(0.5):
        pass


def _sandbox_status(phone) -> str:
    """Start one python3 on the phone to learn which confinement layers this host gives (a missing kernel
    layer is also logged as a warning): the banner says so rather than leaving it silent."""
    from android.emulator.shell import run_shell
    from android.emulator.shell.runtime import runtime_of
    from android.emulator.vfs import SHELL_UID

    try:
        run_shell(phone, "python3 -c pass", uid=SHELL_UID, timeout_s=30)
    except FusegovError as exc:
        return f"could not start: {exc}"
    layers = runtime_of(phone).confinement
    active = [name for name, on, _ in layers if on]
    missing = [name for name, on, _ in layers if not on]
    text = "confined (" + ", ".join(active + ["audit hook"]) + ")"
    return text + (f"; missing on this host: {', '.join(missing)}" if missing else "")
