"""Argument types for the command line: numbers checked against their range when they are parsed, so a bad
value gets `fusegov CMD: error: argument --X: ...` naming the range, before any work starts."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from android.errors import FusegovError
from android.units import format_size, parse_size_bytes

SEED_MAX = 2**63 - 1


def int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    """An int in [low, high] (no upper bound when high is None)."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip(), 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text[:60]!r}") from None
        if value < low or (high is not None and value > high):
            span = f"{low}..{high}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"must be {span}, got {text[:60]}")
        return value

    parse.__name__ = "int"
    return parse


def float_in(low: float, high: float) -> Callable[[str], float]:
    """A finite float in [low, high]."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text[:60]!r}") from None
        if not math.isfinite(value) or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be a number from {low:g} to {high:g}, got {text[:60]}")
        return value

    parse.__name__ = "float"
    return parse


def size_in(low: int, high: int) -> Callable[[str], int]:
    """A size in bytes ('256MiB', '1GiB', '4096') in [low, high]."""

    def parse(text: str) -> int:
        try:
            value = parse_size_bytes(text)
        except FusegovError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {format_size(low)}..{format_size(high)}, got {text[:60]}")
        return value

    parse.__name__ = "size"
    return parse


def ip_address(text: str) -> str:
    """An IPv4 or IPv6 address (`localhost` means 127.0.0.1): never a name to look up."""
    import ipaddress

    if text == "localhost":
        return "127.0.0.1"
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an IP address: {text[:60]!r} (e.g. 127.0.0.1 or 0.0.0.0)") from None


seed = int_in(0, SEED_MAX)
port = int_in(0, 65535)
