"""`fusegov emulate`: serve the virtual phone as an adbd on loopback TCP until stopped."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time

from android.errors import FusegovError

SWITCH_INTERVAL_S = 0.0005  # sys.setswitchinterval while serving (default 5 ms): see run_emulate


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "emulate",
        help="serve the virtual phone over ADB (adb connect 127.0.0.1:PORT)",
        description=(
            "Serve the built-in virtual phone as an adbd on 127.0.0.1:PORT, reachable like a phone on "
            "the network: `adb connect 127.0.0.1:PORT`, then `adb shell`, `adb push/pull`, adbutils or "
            "`fusegov ... --serial 127.0.0.1:PORT`. The phone is rooted through `su -c` (the adb shell "
            "user is uid 2000), runs pushed Python scripts with python3, and its simulation advances in "
            "real time (or --speed times faster) while served. Runs until Ctrl-C or SIGTERM."
        ),
    )
    parser.add_argument(
        "--profile",
        required=True,
        metavar="NAME|FILE",
        help="phone profile: a built-in name (pixel7, sm8550, pixel4) or a profile JSON path",
    )
    parser.add_argument(
        "--port", type=int, default=5555, help="TCP port on 127.0.0.1 (default 5555; 0 picks a free port and prints it)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulation (default 0)")
    parser.add_argument(
        "--speed", type=float, default=1.0, help="simulated seconds per wall-clock second (default 1: real time)"
    )
    parser.add_argument(
        "--no-su", action="store_true", help="serve a stock, unrooted phone: there is no su, so root-only writes fail"
    )
    parser.add_argument(
        "--unauthorized",
        action="store_true",
        help="ask every host for authentication and never grant it (adb lists the phone "
        "as 'unauthorized'); for testing how tools report it",
    )
    parser.set_defaults(func=run_emulate)


def run_emulate(args: argparse.Namespace) -> int:
    from android.emulator.adbd import AdbServer
    from android.emulator.shell.clock import RealtimeDriver
    from android.emulator.shell.runtime import runtime_of

    if not args.speed > 0:
        raise FusegovError(f"--speed must be positive, got {args.speed}")
    if not 0 <= args.port <= 65535:
        raise FusegovError(f"--port must be 0..65535, got {args.port}")
    logging.basicConfig(level=logging.INFO, format="fusegov emulate: %(message)s", stream=sys.stderr)
    from android.emulator.phone import VirtualPhone

    phone = VirtualPhone(args.profile, seed=args.seed)
    runtime = runtime_of(phone)
    runtime.su_available = not args.no_su
    try:
        server = AdbServer(phone, port=args.port, reject_auth=args.unauthorized)
    except OSError as exc:
        raise FusegovError(
            f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror} (pick another --port, or 0 for a free one)"
        ) from None
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    # The phone's processes (a pushed script's file and ioctl requests, adbd's streams) wait for the GIL while
    # the realtime driver steps the simulation: a short switch interval keeps each request under a millisecond.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    driver = RealtimeDriver(runtime.clock, speed=args.speed).start()
    server.start()
    started = time.monotonic()
    notes = "".join([", not rooted" if args.no_su else "", ", unauthorized" if args.unauthorized else ""])
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
    print("  stop:    Ctrl-C or SIGTERM", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        runtime.procs.shutdown()
        driver.stop()
        signal.signal(signal.SIGTERM, previous)
    wall_s = time.monotonic() - started
    print(f"fusegov emulate: stopped after {wall_s:.1f} s ({phone.now_s:.1f} simulated s)", file=sys.stderr, flush=True)
    return 0
