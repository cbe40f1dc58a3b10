"""Open the Device a command names: --virtual NAME|FILE, --root DIR, or --serial SERIAL (ADB)."""

from __future__ import annotations

import argparse

from android import cliargs
from android.device import Device
from android.errors import UsageError


def add_device_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument(
        "--virtual",
        metavar="NAME|FILE",
        help="the built-in virtual phone: a profile name (pixel7, sm8550, pixel4) or a profile JSON path",
    )
    group.add_argument("--root", metavar="DIR", help="a directory laid out like a phone's / (a captured sysfs tree)")
    group.add_argument("--serial", metavar="SERIAL", help="a phone (or `fusegov emulate`) reached through adb")
    parser.add_argument("--seed", type=cliargs.seed, default=0, help="seed of the virtual phone (default 0)")
    parser.add_argument(
        "--adb-port",
        type=cliargs.int_in(1, 65535),
        metavar="PORT",
        help="port of the adb server for --serial (default $ANDROID_ADB_SERVER_PORT or 5037)",
    )


def open_device(args: argparse.Namespace) -> Device:
    if getattr(args, "virtual", None):
        from android.virtual import VirtualDevice

        return VirtualDevice(args.virtual, seed=args.seed)
    if getattr(args, "root", None):
        from android.local import LocalDevice

        return LocalDevice(args.root)
    if getattr(args, "serial", None):
        from android.adb import AdbDevice

        return AdbDevice(args.serial, adb_port=getattr(args, "adb_port", None))
    raise UsageError("name a device: --virtual NAME, --root DIR or --serial SERIAL")
