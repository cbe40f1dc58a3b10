"""From raw counter values to model features: rates, per-cycle activity, wraps, power alignment, state
columns, APGPM's second variant (inverted and pairwise-combined counters), and counter x clock interactions.

Power is energy per second, so counts over a window only relate to it after dividing by the window
length; dividing further by f (per-cycle activity) makes a counter comparable across frequencies, which the
voltage-aware structure needs (dynamic power = C V^2 f * activity per cycle).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from android.errors import TraceError
from powermodel.design import NORMALISATIONS
from powermodel.errors import PowerModelError
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
        raise PowerModelError(
            "counts become rates only with window lengths, and the input has no time column: give --time-col "
            "COL (with --time-unit) or --interval-s SECONDS, or --counter-kind rate if the counters already "
            "are events per second, or --normalisation count to model raw counts per window"
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
        raise PowerModelError(f"unknown normalisation {normalisation!r} (choose from {', '.join(NORMALISATIONS)})")
    if normalisation == "count" and table.counter_kind != "rate":
        values = counter_deltas(table, counter_bits)
    else:
        values = counter_rates(table, counter_bits)
        if normalisation == "per_cycle":
            values /= table.freq_hz[:, None]
        elif normalisation == "count":
            if table.interval_s is None:
                raise PowerModelError(
                    "rates become counts only with window lengths: give --time-col COL or --interval-s SECONDS, "
                    "or use --normalisation rate"
                )
            values *= table.interval_s[:, None]
    valid = np.isfinite(values).all(axis=1)
    return pd.DataFrame(values, columns=table.counter_names, copy=False), valid


def utilisation(table: PowerTable, counter_bits: int = DEFAULT_COUNTER_BITS) -> tuple[np.ndarray | None, str]:
    """Busy fraction for the baseline: the trace's own utilisation, else cycles counter / (f * window); divided
    by the number of active cores when the table has it (cycles or busy time summed over several cores)."""
    if table.util is not None:
        util, source = table.util, table.mapping.util or "util"
    elif table.cycles_counter and table.cycles_counter in table.counters.columns:
        one = replace(table, counters=table.counters[[table.cycles_counter]])  # rate of one column only
        util, source = counter_rates(one, counter_bits)[:, 0] / table.freq_hz, f"{table.cycles_counter}/(f*interval)"
    else:
        return None, ""
    if table.util_cores is not None:
        util = util / table.util_cores
        source = f"{source}/{table.mapping.util_cores}"
    return util, source


def align_power(table: PowerTable, lag_s: float) -> np.ndarray:
    """Mean power over each counter window shifted by `lag_s` (a power sensor that reports late).

    Power rows are taken as window averages; cumulative energy at the window edges is interpolated, so a
    shifted window gets the exact mean of the piecewise-constant power it overlaps. NaN where the shifted
    window leaves its segment.
    """
    if lag_s == 0:
        return table.power_w.copy()
    if table.t_s is None or table.interval_s is None:
        raise PowerModelError("--power-lag-s needs a time column: give --time-col COL, or leave out --power-lag-s")
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
    """One model input: a counter, a state column, an inverted counter, the product of two (APGPM's second
    variant), or a counter times the clock (f) or V^2 (energy per event that follows the voltage)."""

    name: str
    op: str  # a key of FEATURE_OPS
    counters: tuple[str, ...]  # input columns (counters, or the state column for op "state")
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


@dataclass(frozen=True)
class FeatureOp:
    """How one kind of feature is computed: `compute(columns, scale, freq_hz, volt_v)`."""

    n_inputs: int
    n_scale: int
    compute: Callable[[list[np.ndarray], tuple[float, ...], np.ndarray | None, np.ndarray | None], np.ndarray]
    needs: str = ""  # "freq" | "volt": context the feature reads
    hardware: bool = True  # its input is a hardware counter (counts against the counter budget)


def _needs(context: np.ndarray | None, what: str) -> np.ndarray:
    if context is None:
        raise PowerModelError(f"a clock-interaction feature needs the {what} of every sample")
    return context


FEATURE_OPS: dict[str, FeatureOp] = {
    "counter": FeatureOp(1, 0, lambda x, s, f, v: x[0]),
    "state": FeatureOp(1, 0, lambda x, s, f, v: x[0], hardware=False),
    "inv": FeatureOp(1, 1, lambda x, s, f, v: 1.0 / (x[0] / s[0] + INV_EPS)),
    "mul": FeatureOp(2, 2, lambda x, s, f, v: (x[0] / s[0]) * (x[1] / s[1])),
    "mul_f": FeatureOp(1, 2, lambda x, s, f, v: (x[0] / s[0]) * (_needs(f, "frequency") / s[1]), needs="freq"),
    "mul_v2": FeatureOp(1, 2, lambda x, s, f, v: (x[0] / s[0]) * (_needs(v, "voltage") ** 2 / s[1]), needs="volt"),
}


def counter_specs(names: list[str]) -> list[FeatureSpec]:
    return [FeatureSpec(name=n, op="counter", counters=(n,)) for n in names]


def state_specs(names: list[str]) -> list[FeatureSpec]:
    """State columns (active cores, online CPUs): their value enters as it is, never as a rate."""
    return [FeatureSpec(name=n, op="state", counters=(n,)) for n in names]


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


def clock_specs(
    train: pd.DataFrame, names: list[str], freq_hz: np.ndarray, volt_v: np.ndarray | None = None
) -> list[FeatureSpec]:
    """Counter x clock interactions: x*f, and x*V^2 when the voltage is known (scaled by train means), so
    the power an event costs can change with the clock and its voltage."""
    specs: list[FeatureSpec] = []
    f_ref = float(np.mean(freq_hz))
    v2_ref = float(np.mean(volt_v**2)) if volt_v is not None else 0.0
    for n in names:
        scale = float(train[n].mean())
        if not scale > 0:
            continue
        specs.append(FeatureSpec(f"{n}*f", "mul_f", (n,), (scale, f_ref)))
        if v2_ref > 0:
            specs.append(FeatureSpec(f"{n}*V^2", "mul_v2", (n,), (scale, v2_ref)))
    return specs


def compute_features(
    values: pd.DataFrame,
    specs: list[FeatureSpec],
    freq_hz: np.ndarray | None = None,
    volt_v: np.ndarray | None = None,
) -> np.ndarray:
    """Evaluate feature specs on normalised counter values and state columns (n x len(specs))."""
    missing = sorted({c for s in specs for c in s.counters} - set(values.columns))
    if missing:
        raise PowerModelError(f"the input lacks column(s) the model needs: {', '.join(missing)}")
    if all(s.op == "counter" for s in specs) and [s.name for s in specs] == list(values.columns):
        return values.to_numpy(dtype=float, copy=False)  # plain counters: no copy of a large table
    out = np.empty((len(values), len(specs)))
    for j, spec in enumerate(specs):
        op = FEATURE_OPS.get(spec.op)
        if op is None:
            raise PowerModelError(f"unknown feature operation {spec.op!r} in {spec.name!r}")
        columns = [values[c].to_numpy(dtype=float) for c in spec.counters]
        out[:, j] = op.compute(columns, spec.scale, freq_hz, volt_v)
    return out


def counters_used(specs: list[FeatureSpec]) -> list[str]:
    """Distinct hardware counters behind a list of features, in first-use order (state columns excluded)."""
    seen: dict[str, None] = {}
    for spec in specs:
        if FEATURE_OPS[spec.op].hardware:
            for c in spec.counters:
                seen.setdefault(c, None)
    return list(seen)


def states_used(specs: list[FeatureSpec]) -> list[str]:
    """State columns behind a list of features."""
    return list(dict.fromkeys(c for s in specs if not FEATURE_OPS[s.op].hardware for c in s.counters))
