"""From raw counter values to model features: rates, per-cycle activity, wraps, power alignment, and
APGPM's second variant (inverted and pairwise-combined counters).

Power is energy per second, so counts over a window only relate to it after dividing by the window
length; dividing further by f (per-cycle activity) makes a counter comparable across frequencies, which the
voltage-aware structure needs (dynamic power = C V^2 f * activity per cycle).
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from android.errors import TraceError
from powermodel.design import NORMALISATIONS
from powermodel.ingest import InputWarning, PowerTable

DEFAULT_COUNTER_BITS = 32
# inv(x) = 1 / (x / scale + INV_EPS): bounded when a counter is idle, smooth around its typical value.
INV_EPS = 0.05


# --------------------------------------------------------------------------------------- counts and rates
def counter_deltas(table: PowerTable, counter_bits: int = DEFAULT_COUNTER_BITS) -> np.ndarray:
    """Events in each row's window (n x p). NaN where a window is unknown (first row of a cumulative segment).

    Cumulative counters ("total") are differenced within segments; a negative step is a wrap of a
    `counter_bits`-wide register and gets 2**bits added. Per-interval counts ("delta") that are negative are
    wraps a collector did not undo; they are fixed the same way, with a warning.
    """
    values = table.counters.to_numpy(dtype=float)
    modulus = float(2**counter_bits)
    if table.counter_kind == "total":
        deltas = np.full_like(values, np.nan)
        deltas[1:] = np.diff(values, axis=0)
        first = np.r_[True, table.segment[1:] != table.segment[:-1]]
        deltas[first] = np.nan
        wrapped = deltas < 0
        deltas[wrapped] += modulus
        reset = deltas < 0
        if reset.any():  # fell by more than one wrap: a counter reset, the window is unknown
            rows = np.flatnonzero(reset.any(axis=1))
            warnings.warn(
                f"{len(rows)} window(s) where a cumulative counter fell by more than 2**{counter_bits} "
                f"(counter reset), first at {table.where(int(rows[0]))}; dropped",
                InputWarning,
                stacklevel=2,
            )
            deltas[reset] = np.nan
        return deltas
    if table.counter_kind == "delta":
        deltas = values.copy()
        negative = deltas < 0
        if negative.any():
            rows, cols = np.nonzero(negative)
            warnings.warn(
                f"{negative.sum()} negative per-interval count(s), e.g. {table.where(int(rows[0]))}, column "
                f"{table.counter_names[cols[0]]}: treated as {counter_bits}-bit wraps (+2**{counter_bits})",
                InputWarning,
                stacklevel=2,
            )
            deltas[negative] += modulus
            deltas[deltas < 0] = np.nan
        return deltas
    raise ValueError(f"counter kind {table.counter_kind!r} has no per-window counts")


def counter_rates(table: PowerTable, counter_bits: int = DEFAULT_COUNTER_BITS) -> np.ndarray:
    """Events per second (n x p); NaN where unknown."""
    if table.counter_kind == "rate":
        rates = table.counters.to_numpy(dtype=float, copy=True)
        if (rates < 0).any():
            rows, cols = np.nonzero(rates < 0)
            raise TraceError(
                f"{table.where(int(rows[0]))}, column {table.counter_names[cols[0]]}: "
                f"negative rate {rates[rows[0], cols[0]]:g}"
            )
        return rates
    if table.interval_s is None:
        raise TraceError(
            "counts become rates only with window lengths: the input has no time column; "
            "give --time-col or --interval-s (or use --normalisation count)"
        )
    deltas = counter_deltas(table, counter_bits)
    deltas /= table.interval_s[:, None]  # in place: this array can be the size of the whole trace
    return deltas


def activity(
    table: PowerTable, normalisation: str = "rate", counter_bits: int = DEFAULT_COUNTER_BITS
) -> tuple[pd.DataFrame, np.ndarray]:
    """Counter features normalised as asked, and the mask of rows where they are all known.

    - rate: events per second;
    - per_cycle: events per clock cycle (rate / f);
    - count: events per window as recorded (only sensible with a constant sampling period).
    """
    if normalisation not in NORMALISATIONS:
        raise TraceError(f"unknown normalisation {normalisation!r} (choose from {', '.join(NORMALISATIONS)})")
    if normalisation == "count" and table.counter_kind != "rate":
        values = counter_deltas(table, counter_bits)
    else:
        values = counter_rates(table, counter_bits)
        if normalisation == "per_cycle":
            values /= table.freq_hz[:, None]
        elif normalisation == "count":
            if table.interval_s is None:
                raise TraceError("rates become counts only with window lengths (--interval-s)")
            values *= table.interval_s[:, None]
    valid = np.isfinite(values).all(axis=1)
    return pd.DataFrame(values, columns=table.counter_names, copy=False), valid


def utilisation(table: PowerTable, counter_bits: int = DEFAULT_COUNTER_BITS) -> tuple[np.ndarray | None, str]:
    """Busy fraction for the baseline: the trace's own utilisation, else cycles counter / (f * window)."""
    if table.util is not None:
        return table.util, table.mapping.util or "util"
    if table.cycles_counter and table.cycles_counter in table.counters.columns:
        one = replace(table, counters=table.counters[[table.cycles_counter]])  # rate of one column only
        rates = counter_rates(one, counter_bits)[:, 0]
        return rates / table.freq_hz, f"{table.cycles_counter}/(f*interval)"
    return None, ""


def align_power(table: PowerTable, lag_s: float) -> np.ndarray:
    """Mean power over each counter window shifted by `lag_s` (a power sensor that reports late).

    Power rows are taken as window averages; cumulative energy at the window edges is interpolated, so a
    shifted window gets the exact mean of the piecewise-constant power it overlaps. NaN where the shifted
    window leaves its segment.
    """
    if lag_s == 0:
        return table.power_w.copy()
    if table.t_s is None or table.interval_s is None:
        raise TraceError("power alignment needs a time column (--time-col)")
    out = np.full(len(table), np.nan)
    starts = np.flatnonzero(np.r_[True, table.segment[1:] != table.segment[:-1]])
    bounds = np.r_[starts, len(table)]
    for lo, hi in zip(bounds[:-1], bounds[1:]):  # one vectorised step per contiguous segment
        end = table.t_s[lo:hi]
        dt = table.interval_s[lo:hi]
        edges = np.r_[end[0] - dt[0], end]
        energy = np.r_[0.0, np.cumsum(table.power_w[lo:hi] * dt)]
        a, b = edges[:-1] + lag_s, edges[1:] + lag_s
        inside = (a >= edges[0]) & (b <= edges[-1])
        mean = (np.interp(b, edges, energy) - np.interp(a, edges, energy)) / dt
        out[lo:hi] = np.where(inside, mean, np.nan)
    return out


# ------------------------------------------------------------------------------------- derived features
@dataclass(frozen=True)
class FeatureSpec:
    """One model input: a counter, an inverted counter, or the product of two (APGPM's second variant)."""

    name: str
    op: str  # "counter" | "inv" | "mul"
    counters: tuple[str, ...]
    scale: tuple[float, ...] = ()

    def to_dict(self) -> dict:
        return {"name": self.name, "op": self.op, "counters": list(self.counters), "scale": list(self.scale)}

    @classmethod
    def from_dict(cls, data: dict) -> FeatureSpec:
        return cls(
            name=data["name"],
            op=data["op"],
            counters=tuple(data["counters"]),
            scale=tuple(float(s) for s in data.get("scale", ())),
        )


def counter_specs(names: list[str]) -> list[FeatureSpec]:
    return [FeatureSpec(name=n, op="counter", counters=(n,)) for n in names]


def derived_specs(train: pd.DataFrame, names: list[str], invert: bool = True, pairs: bool = True) -> list[FeatureSpec]:
    """Inverted counters and pairwise products among `names`, scaled by their train means."""
    scale = {n: float(train[n].mean()) for n in names}
    usable = [n for n in names if scale[n] > 0]
    specs: list[FeatureSpec] = []
    if invert:
        specs += [FeatureSpec(f"inv({n})", "inv", (n,), (scale[n],)) for n in usable]
    if pairs:
        specs += [
            FeatureSpec(f"{a}*{b}", "mul", (a, b), (scale[a], scale[b])) for a, b in itertools.combinations(usable, 2)
        ]
    return specs


def compute_features(values: pd.DataFrame, specs: list[FeatureSpec]) -> np.ndarray:
    """Evaluate feature specs on normalised counter values (n x len(specs))."""
    missing = sorted({c for s in specs for c in s.counters} - set(values.columns))
    if missing:
        raise TraceError(f"the input lacks counter(s) the model needs: {', '.join(missing)}")
    if all(s.op == "counter" for s in specs) and [s.name for s in specs] == list(values.columns):
        return values.to_numpy(dtype=float, copy=False)  # plain counters: no copy of a large table
    out = np.empty((len(values), len(specs)))
    for j, spec in enumerate(specs):
        x = values[spec.counters[0]].to_numpy(dtype=float)
        if spec.op == "counter":
            out[:, j] = x
        elif spec.op == "inv":
            out[:, j] = 1.0 / (x / spec.scale[0] + INV_EPS)
        elif spec.op == "mul":
            out[:, j] = (x / spec.scale[0]) * (values[spec.counters[1]].to_numpy(dtype=float) / spec.scale[1])
        else:
            raise TraceError(f"unknown feature operation {spec.op!r} in {spec.name!r}")
    return out


def counters_used(specs: list[FeatureSpec]) -> list[str]:
    """Distinct hardware counters behind a list of features, in first-use order."""
    seen: dict[str, None] = {}
    for spec in specs:
        for c in spec.counters:
            seen.setdefault(c, None)
    return list(seen)
