"""Parsing written values the way the kernel's kstrto* helpers do, shared by every sysfs module."""

from __future__ import annotations

from android.errors import InvalidValueError


def parse_uint(device: str, path: str, text: str, allowed: str = "") -> int:
    """kstrtouint: optional surrounding whitespace and one trailing newline, decimal digits only."""
    value = text.strip()
    if not value.isdigit():
        raise InvalidValueError(device, path, text.rstrip("\n"), allowed)
    return int(value)


def parse_word(text: str) -> str:
    """A governor name or similar: the first whitespace-delimited word."""
    parts = text.split()
    return parts[0] if parts else ""


def spaced(values, trailing: bool) -> str:
    """'a b c \\n' (cpufreq, kgsl) or 'a b c\\n' (devfreq)."""
    body = " ".join(str(v) for v in values)
    return body + (" \n" if trailing else "\n")
