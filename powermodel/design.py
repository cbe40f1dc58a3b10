"""How counters, frequency, voltage and temperature enter the regression (shared by selection and models).

A model is linear in its coefficients. Per clock level (one level unless the structure is per-frequency):

    P = sum_b  c_b * base_b(f, V, T)  +  m(f, V) * sum_j  beta_j * x_j

- `per_frequency`: base = [1], m = 1, one set of coefficients per clock level (APGPM/ARMPM style). Good when
  there are few levels, each well populated: the level itself carries everything the clock does.
- `clock`: one model for all clocks, the clock as a quantity. The base holds the clock-driven static and
  clock-tree power: [1, f, V, V^2*f] (and V*T with a temperature column) when the voltage is known, else
  [1, f, f^2] (V rises with f along a DVFS table, so leakage and C V^2 f are smooth in f). Counters may
  enter with clock interactions (x*f, x*V^2; features.py) chosen by selection, so the energy per event
  can follow the voltage. For many clock levels, levels never trained on, and clocks that drift.
- `voltage`: one model for all clocks; switching activity costs C*V^2 per event, so every activity feature
  is scaled by m = V^2 (events per second) or V^2*f (events per cycle); base [1, V, V^2*f] (+ V*T).
- `linear`: base = [1], m = 1: plain linear regression on the features (one clock level).

Optionally (`temperature=True`) the per-frequency structure gets a leakage term 2^((T-25)/10) per level:
at one OPP the voltage is fixed, so what leakage still varies with is temperature.

The estimator input is always `[features..., freq_hz, volt_v, temp_c]` (NaN where a column is unknown and
the structure does not need it), so a model is a plain array-in, array-out scikit-learn regressor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from powermodel.errors import PowerModelError

STRUCTURES = ("per_frequency", "clock", "voltage", "linear")
NORMALISATIONS = ("rate", "per_cycle", "count")
N_CONTEXT = 3  # freq_hz, volt_v, temp_c appended after the features
CONTEXT_NAMES = ("freq_hz", "volt_v", "temp_c")
# Two clock readings are one level when within this fraction of the level's lowest reading: a sensor reports
# 1499.9 for 1500 MHz, while DVFS tables step by 1% or more (a desktop GPU's 7.5 MHz steps at 1380 MHz are
# 0.5%). Readings are never chained into one level, so a fine sweep keeps every clock it visited.
LEVEL_TOLERANCE = 0.002
# `auto` fits one model per level only for up to this many levels, each with enough samples and workloads.
MAX_LEVELS = 16
MIN_PER_LEVEL = 50
MIN_GROUPS_PER_LEVEL = 3


def model_input(
    features: np.ndarray, freq_hz: np.ndarray, volt_v: np.ndarray | None = None, temp_c: np.ndarray | None = None
) -> np.ndarray:
    """Stack features and context into the estimator input layout."""
    n = len(freq_hz)
    nan = np.full(n, np.nan)
    features = np.asarray(features, dtype=float).reshape(n, -1)
    return np.column_stack([features, freq_hz, nan if volt_v is None else volt_v, nan if temp_c is None else temp_c])


def split_input(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Inverse of `model_input`: (features, freq_hz, volt_v, temp_c)."""
    return X[:, :-N_CONTEXT], X[:, -3], X[:, -2], X[:, -1]


# ------------------------------------------------------------------------------------------ clock levels
def find_levels(freq_hz: np.ndarray) -> np.ndarray:
    """Distinct clock levels: readings within LEVEL_TOLERANCE of a level's lowest reading are that level
    (their mean). Vectorised greedy pass: a new level starts at the first reading beyond the tolerance."""
    values = np.unique(freq_hz[np.isfinite(freq_hz)])
    if values.size == 0:
        return values
    starts = [0]
    limit = values[0] * (1 + LEVEL_TOLERANCE)
    while True:  # one step per level (not per sample): searchsorted finds the next reading past the limit
        nxt = int(np.searchsorted(values, limit, side="right"))
        if nxt >= len(values):
            break
        starts.append(nxt)
        limit = values[nxt] * (1 + LEVEL_TOLERANCE)
    cluster = np.zeros(len(values), dtype=int)
    cluster[starts[1:]] = 1
    cluster = np.cumsum(cluster)
    return np.bincount(cluster, weights=values) / np.bincount(cluster)


def level_index(freq_hz: np.ndarray, levels_hz: np.ndarray) -> np.ndarray:
    """Index of the nearest level for each sample (binary search, O(n log L))."""
    if len(levels_hz) == 1:
        return np.zeros(len(freq_hz), dtype=int)
    mid = (levels_hz[1:] + levels_hz[:-1]) / 2.0
    return np.searchsorted(mid, freq_hz, side="left").astype(int)


def off_level(freq_hz: np.ndarray, levels_hz: np.ndarray) -> np.ndarray:
    """True where a frequency is not close to any trained level (outside the model's validity)."""
    nearest = levels_hz[level_index(freq_hz, levels_hz)]
    return np.abs(freq_hz - nearest) > LEVEL_TOLERANCE * nearest


def format_levels(levels_hz: np.ndarray, shown: int = 8) -> str:
    """'1000, 1500, 2000 MHz', or '510..1380 MHz' when there are many."""
    mhz = np.asarray(levels_hz) / 1e6
    if len(mhz) <= shown:
        return ", ".join(f"{v:.6g}" for v in mhz) + " MHz"
    return f"{mhz.min():.6g}..{mhz.max():.6g} MHz"


def has_voltage(volt_v: np.ndarray | None) -> bool:
    """A voltage column the clock structure can use: known everywhere and varying."""
    return volt_v is not None and bool(np.isfinite(volt_v).all()) and float(np.ptp(volt_v)) > 0


# ------------------------------------------------------------------------------------------- base terms
@dataclass(frozen=True)
class Term:
    """A named column of the design: how to compute it from (f, V, T) and what it needs."""

    compute: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    needs: tuple[str, ...] = ()  # "volt", "temp"


LEAK_T = "2^((T-25)/10)"  # leakage doubling every 10 C, a common rule of thumb for CMOS
BASE_TERMS: dict[str, Term] = {
    "intercept": Term(lambda f, V, T: np.ones(len(f))),
    "f": Term(lambda f, V, T: f),
    "f^2": Term(lambda f, V, T: f * f),
    "V": Term(lambda f, V, T: V, ("volt",)),
    "V*T": Term(lambda f, V, T: V * T, ("volt", "temp")),
    "V^2*f": Term(lambda f, V, T: V * V * f, ("volt",)),
    LEAK_T: Term(lambda f, V, T: np.exp2((T - 25.0) / 10.0), ("temp",)),
}
# The baseline's utilisation enters multiplied by these (clock structure): dynamic power ~ u * C V^2 f.
UTIL_TERMS: dict[str, Term] = {
    "u": Term(lambda f, V, T: np.ones(len(f))),
    "u*f": Term(lambda f, V, T: f),
    "u*f^2": Term(lambda f, V, T: f * f),
    "u*V^2*f": Term(lambda f, V, T: V * V * f, ("volt",)),
}


def base_names(structure: str, has_temp: bool, temperature: bool = False, has_volt: bool = False) -> list[str]:
    """Base terms; `temperature` adds a per-level leakage term in T to the per-frequency structure."""
    if structure == "voltage":
        return ["intercept", "V", "V*T", "V^2*f"] if has_temp else ["intercept", "V", "V^2*f"]
    if structure == "clock":
        if has_volt:
            return ["intercept", "f", "V", "V*T", "V^2*f"] if has_temp else ["intercept", "f", "V", "V^2*f"]
        return ["intercept", "f", "f^2"]
    if structure == "per_frequency" and temperature:
        if not has_temp:
            raise PowerModelError(
                "the temperature term needs a temperature column with finite values (--temp-col COL), "
                "or leave out --temperature-term"
            )
        return ["intercept", LEAK_T]
    return ["intercept"]


def util_names(has_volt: bool) -> list[str]:
    """How utilisation enters the clock-structure baseline."""
    return ["u", "u*f", "u*V^2*f"] if has_volt else ["u", "u*f", "u*f^2"]


def term_columns(
    names: list[str], registry: dict[str, Term], freq_hz: np.ndarray, volt_v: np.ndarray, temp_c: np.ndarray
) -> np.ndarray:
    """Columns of the named terms (n x len(names))."""
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise PowerModelError(f"unknown model term(s) {unknown} (known: {', '.join(registry)})")
    return np.column_stack([registry[name].compute(freq_hz, volt_v, temp_c) for name in names])


def base_columns(names: list[str], freq_hz: np.ndarray, volt_v: np.ndarray, temp_c: np.ndarray) -> np.ndarray:
    """The base design (columns named by `base_names`)."""
    return term_columns(names, BASE_TERMS, freq_hz, volt_v, temp_c)


def modulation(structure: str, normalisation: str, freq_hz: np.ndarray, volt_v: np.ndarray) -> np.ndarray:
    """Per-sample factor that multiplies every activity feature."""
    if structure != "voltage":
        return np.ones(len(freq_hz))
    return volt_v**2 * freq_hz if normalisation == "per_cycle" else volt_v**2


def check_structure(structure: str, volt_v: np.ndarray | None) -> None:
    if structure not in STRUCTURES:
        raise PowerModelError(f"unknown model structure {structure!r} (choose from {', '.join(STRUCTURES)})")
    if structure == "voltage" and (volt_v is None or not np.isfinite(volt_v).all()):
        raise PowerModelError(
            "the voltage-aware structure needs a voltage column with finite values: give --volt-col COL, "
            "or use --structure clock or per-frequency"
        )


def level_table(freq_hz: np.ndarray, groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(levels, samples per level, distinct groups per level)."""
    levels = find_levels(freq_hz)
    idx = level_index(freq_hz, levels)
    counts = np.bincount(idx, minlength=len(levels))
    if groups is None:
        return levels, counts, np.full(len(levels), np.iinfo(int).max)
    _, gid = np.unique(groups, return_inverse=True)
    pairs = np.unique(idx * (gid.max() + 1) + gid)
    per_level = np.bincount(pairs // (gid.max() + 1), minlength=len(levels))
    return levels, counts, per_level


def choose_structure(
    freq_hz: np.ndarray, volt_v: np.ndarray | None, groups: np.ndarray | None = None
) -> tuple[str, str]:
    """`auto`: the structure the data supports, and why (a sentence for the report).

    One model per clock level needs few levels, each with enough samples for its own regression and
    enough workloads for grouped cross-validation to score it; otherwise the clock enters as a quantity.
    """
    levels, counts, n_groups = level_table(freq_hz, groups)
    shown = format_levels(levels)
    if len(levels) == 1:
        return "linear", f"one clock level ({shown}): no clock term can be fitted"
    sparse = int(((counts < MIN_PER_LEVEL) | (n_groups < MIN_GROUPS_PER_LEVEL)).sum())
    if len(levels) <= MAX_LEVELS and sparse == 0:
        return (
            "per_frequency",
            f"{len(levels)} clock levels ({shown}), each with >= {MIN_PER_LEVEL} samples from >= "
            f"{MIN_GROUPS_PER_LEVEL} workloads: one linear model per level",
        )
    why = (
        f"more than {MAX_LEVELS}"
        if len(levels) > MAX_LEVELS
        else f"{sparse} of them with < {MIN_PER_LEVEL} samples or < {MIN_GROUPS_PER_LEVEL} workloads"
    )
    terms = "f, V, V^2*f" if has_voltage(volt_v) else "f, f^2 (no voltage column)"
    return (
        "clock",
        f"{len(levels)} clock levels ({shown}; {why}): the clock as a quantity, base terms {terms}, "
        "counter x clock interactions as candidates",
    )
