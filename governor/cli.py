"""The single `fusegov` entry point: each package registers its own subcommands."""

from __future__ import annotations

import argparse
import sys

from android import cli as android_cli
from android.daemon import cli as daemon_cli
from android.emulator import cli as emulate_cli
from android.emulator import run as run_cli
from android.errors import FusegovError
from collectors import cli as collectors_cli
from governor import commands as governor_cli
from governor.demo import cli as demo_cli
from powermodel import cli as powermodel_cli

# Each module's register(subparsers) adds its subcommands and sets `func`; registration imports nothing
# heavy (numpy, pandas, the simulator load inside the command functions), so `fusegov --help` is instant.
REGISTRARS = (
    demo_cli.register,  # first in `fusegov --help`: a newcomer's first command
    android_cli.register,
    run_cli.register,
    emulate_cli.register,
    collectors_cli.register,
    powermodel_cli.register,
    governor_cli.register,
    daemon_cli.register,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fusegov",
        description=(
            "fusegov: trace, model and govern CPU/GPU/memory frequencies for on-device LLM and CNN "
            "inference on Android phones, or on the built-in virtual phone."
        ),
        epilog="Run 'fusegov COMMAND --help' for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"fusegov {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in REGISTRARS:
        register(subparsers)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fusegov")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except FusegovError as exc:
        print(f"fusegov {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"fusegov {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
