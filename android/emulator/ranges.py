"""Valid ranges of numeric record fields, in interval notation, declared as dataclass field metadata:

    tick_s: float = field(metadata={"range": "(0, 0.1]"})
    util_min_pct: tuple[float, ...] = field(metadata={"range": "[0, 100]"})  # each element

`(` and `)` exclude the bound, `[` and `]` include it, `inf`/`-inf` are allowed as bounds (and only a
closed `inf]` admits infinity itself). NaN is never in range. The profile validator reads these
(android.emulator.sim.physics), so a field's range lives next to its definition and nowhere else.
"""

from __future__ import annotations

import math
import re
from dataclasses import Field, dataclass
from functools import cache

_INTERVAL = re.compile(r"^\s*([\[(])\s*([^,\s]+)\s*,\s*([^\]\s)]+)\s*([\])])\s*$")


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    low_closed: bool
    high_closed: bool
    text: str

    def __contains__(self, value: float) -> bool:
        if isinstance(value, float) and math.isnan(value):
            return False
        above = value >= self.low if self.low_closed else value > self.low
        below = value <= self.high if self.high_closed else value < self.high
        return above and below

    def __str__(self) -> str:
        return self.text


@cache
def parse_interval(text: str) -> Interval:
    """'(0, 0.1]' -> Interval; ValueError for anything else (a programming error in a record)."""
    match = _INTERVAL.match(text)
    if not match:
        raise ValueError(f"not an interval: {text!r} (write e.g. '(0, 0.1]' or '[0, inf)')")
    opening, low, high, closing = match.groups()
    interval = Interval(float(low), float(high), opening == "[", closing == "]", text.strip())
    if math.isnan(interval.low) or math.isnan(interval.high) or interval.low > interval.high:
        raise ValueError(f"not an interval: {text!r}")
    return interval


DEFAULT = parse_interval("[0, inf)")  # a numeric field that declares no range: finite and not negative


def field_range(f: Field) -> Interval:
    """The declared range of a dataclass field (DEFAULT when it declares none)."""
    text = f.metadata.get("range")
    return parse_interval(text) if text is not None else DEFAULT


def declares_range(f: Field) -> bool:
    return "range" in f.metadata
