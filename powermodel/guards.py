"""Ingest guards: which columns of a table should not become counters, found from their values and names.

A plain CSV says nothing about what its columns are, and taking every numeric column as a counter lets a row
index, a clock, an energy column (power x time: the target itself) or a temperature into the regression. Each
function here looks at candidate columns and returns {column: reason}; ingest leaves those columns out of the
counters and says so. Pure functions over arrays: no I/O, no warnings.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from powermodel.options import FREQ_UNITS

# |correlation| at which a column counts as a function of power (measured counters stay well below it)
LEAK_CORR = 0.995
# A column that never falls within runs (this share of steps, allowing a reset now and then) and rises in at
# least half of them is a clock, an index or a running total, not a per-interval count (which goes up and
# down with activity, or sits at zero when its event is rare).
NONDECREASING_SHARE = 0.97
RISING_SHARE = 0.5
# a clock reading in Hz outside this range has the wrong unit: processor, GPU and memory-bus clocks run
# between tens of MHz and a few GHz
PLAUSIBLE_HZ = (3e7, 1e10)

# Columns whose name says what they are: (pattern, what it looks like, the option that maps it)
NAMED = (
    (r"\btemp(erature)?\b|\bthermal\b", "a temperature", "--temp-col"),
    (r"\bvolt(s|age)?\b|\bvdd\b", "a voltage", "--volt-col"),
    (r"\butili[sz]ation\b|\butil\b|\b(busy|load) (pct|percent)\b", "a utilisation", "--util-col"),
    (r"\b(time|timestamp|elapsed|duration|runtime)\b", "a time", "--time-col"),
    (r"\bfreq(uency)?\b|\b[kmg]hz\b|\bclock\b", "a clock frequency", "--freq-col"),
)
LEAK_NAMES = (
    (r"\benergy\b|\bjoules?\b", "an energy (power x time)"),
    (r"\bcurrent\b|\bamps?\b|\bamperes?\b", "a current (power = V x I)"),
    (r"\bpower\b|\bwatts?\b", "a power"),
)


def _tokens(name: str) -> str:
    """Lower-case name with separators as spaces, so `\\b` finds words in `A15_Current(A)` or `time_ms`."""
    return re.sub(r"[^a-z0-9]+", " ", name.lower())


def constant_columns(frame: pd.DataFrame, cols: list[str]) -> dict[str, str]:
    """Columns holding one value in every row."""
    out = {}
    for c in cols:
        x = frame[c].to_numpy(dtype=float)
        finite = x[np.isfinite(x)]
        if finite.size and np.ptp(finite) == 0:
            out[c] = f"constant ({finite[0]:g} in every row)"
    return out


def identifier_columns(frame: pd.DataFrame, cols: list[str], segment: np.ndarray, cumulative: bool) -> dict[str, str]:
    """Row indexes and clocks: columns that step by one constant amount, or (unless the counters are
    cumulative) never fall and mostly rise within runs."""
    out = {}
    same = segment[1:] == segment[:-1]
    for c in cols:
        x = frame[c].to_numpy(dtype=float)
        if len(x) < 3 or not np.isfinite(x).all():
            continue
        step = np.diff(x)
        if step[0] != 0 and np.all(step == step[0]):
            out[c] = f"an index (steps by {step[0]:g} in every row)"
        elif not cumulative and same.sum() >= 2:
            within = step[same]
            rising = float(np.mean(within > 0))
            if np.mean(within >= 0) >= NONDECREASING_SHARE and rising >= RISING_SHARE:
                out[c] = (
                    f"a clock, an index or a running total (never falls, rises in {rising:.0%} of steps within runs)"
                )
    return out


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return 0.0
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    den = np.sqrt((a @ a) * (b @ b))
    return float(abs(a @ b) / den) if den > 0 else 0.0


def target_leaks(
    frame: pd.DataFrame, cols: list[str], power_w: np.ndarray, interval_s: np.ndarray | None, segment: np.ndarray
) -> dict[str, str]:
    """Columns that are a function of the power being modelled: by name (energy, current, power), or by value
    (|r| >= LEAK_CORR with power, with power x window length, or, differenced within runs, with power)."""
    out = {}
    for c in cols:
        words = _tokens(c)
        named = next((what for pattern, what in LEAK_NAMES if re.search(pattern, words)), None)
        if named:
            out[c] = f"{named} by its name: a function of the target"
            continue
        x = frame[c].to_numpy(dtype=float)
        checks = [("power", _corr(x, power_w))]
        if interval_s is not None:
            checks.append(("power x window length (an energy)", _corr(x, power_w * interval_s)))
            rate = np.full(len(x), np.nan)
            same = np.r_[False, segment[1:] == segment[:-1]]
            rate[1:] = np.diff(x) / interval_s[1:]
            checks.append(
                ("power once differenced (a cumulative energy)", _corr(np.where(same, rate, np.nan), power_w))
            )
        what, r = max(checks, key=lambda item: item[1])
        if r >= LEAK_CORR:
            out[c] = f"a function of the target (|r| = {r:.4f} with {what})"
    return out


def named_context(cols: list[str], mapped: dict[str, str | None] | None = None) -> dict[str, str]:
    """Columns whose name says they are a temperature, voltage, utilisation, time or clock, not a counter.
    `mapped` ({option: column}) says which of those roles a column already fills."""
    mapped = mapped or {}
    out = {}
    for c in cols:
        words = _tokens(c)
        for pattern, what, option in NAMED:
            if re.search(pattern, words):
                role = mapped.get(option)
                how = f"{option} is {role}" if role else f"give {option} {c} to use it as one"
                out[c] = f"{what} by its name ({how})"
                break
    return out


def state_like(frame: pd.DataFrame, cols: list[str], max_values: int = 16) -> dict[str, str]:
    """Columns holding a few small whole numbers, never zero, like a count of active cores or online CPUs (a
    rarely firing event counter also holds small whole numbers, but mostly zeros): a hint for --state-cols."""
    out = {}
    for c in cols:
        x = frame[c].to_numpy(dtype=float)
        x = x[np.isfinite(x)]
        if not x.size or (x != np.round(x)).any() or x.min() < 1 or x.max() > 256:
            continue
        values = np.unique(x)
        if 2 <= len(values) <= max_values:
            shown = ", ".join(f"{v:g}" for v in values[:6]) + (" ..." if len(values) > 6 else "")
            out[c] = f"takes only the values {shown}"
    return out


def frequency_unit_hint(raw: np.ndarray, unit: str) -> str | None:
    """If clock readings in `unit` are implausible in Hz, the unit that makes them plausible (else None)."""
    raw = raw[np.isfinite(raw) & (raw > 0)]
    if not raw.size:
        return None
    lo, hi = float(raw.min()), float(raw.max())

    def plausible(u: str) -> bool:
        return PLAUSIBLE_HZ[0] <= lo * FREQ_UNITS[u] and hi * FREQ_UNITS[u] <= PLAUSIBLE_HZ[1]

    if plausible(unit):
        return None
    return next((u for u in FREQ_UNITS if plausible(u)), "?")
