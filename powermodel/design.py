"""How counters, frequency, voltage and temperature enter the regression (shared by selection and models).

A model is linear in its coefficients. Per frequency level (one level unless the structure is per-frequency):

    P = sum_b  c_b * base_b(f, V, T)  +  m(f, V) * sum_j  beta_j * x_j

- `per_frequency`: base = [1], m = 1, one set of coefficients per frequency level (APGPM/ARMPM style).
- `voltage`: one model for all frequencies. Switching activity costs C*V^2 per event, so activity enters
  scaled by m = V^2 (events per second) or V^2*f (events per cycle); the base holds the clock tree
  (V^2*f) and leakage, linearised as V and V*T (T only when a temperature column exists).
- `linear`: base = [1], m = 1, one model: plain linear regression on the features.

Optionally (`temperature=True`) the per-frequency structure gets a leakage term 2^((T-25)/10) per level:
at one OPP the voltage is fixed, so what leakage still varies with is temperature.

The estimator input is always `[features..., freq_hz, volt_v, temp_c]` (NaN where a column is unknown and
the structure does not need it), so a model is a plain array-in, array-out scikit-learn regressor.
"""

from __future__ import annotations

import numpy as np

from android.errors import TraceError

STRUCTURES = ("per_frequency", "voltage", "linear")
NORMALISATIONS = ("rate", "per_cycle", "count")
N_CONTEXT = 3  # freq_hz, volt_v, temp_c appended after the features
CONTEXT_NAMES = ("freq_hz", "volt_v", "temp_c")
# Levels at which a frequency counts as "the same" OPP (relative): sensors report 1499.9 for 1500 MHz.
LEVEL_TOLERANCE = 0.02
MAX_LEVELS = 32


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


def find_levels(freq_hz: np.ndarray) -> np.ndarray:
    """Distinct frequency levels (OPPs), merging values within LEVEL_TOLERANCE of each other."""
    values = np.unique(freq_hz[np.isfinite(freq_hz)])
    if values.size == 0:
        return values
    starts = np.r_[True, np.diff(values) > LEVEL_TOLERANCE * values[1:]]
    cluster = np.cumsum(starts) - 1
    counts = np.bincount(cluster)
    return np.bincount(cluster, weights=values) / counts


def level_index(freq_hz: np.ndarray, levels_hz: np.ndarray) -> np.ndarray:
    """Index of the nearest level for each sample (vectorised)."""
    if len(levels_hz) == 1:
        return np.zeros(len(freq_hz), dtype=int)
    return np.abs(freq_hz[:, None] - levels_hz[None, :]).argmin(axis=1)


def off_level(freq_hz: np.ndarray, levels_hz: np.ndarray) -> np.ndarray:
    """True where a frequency is not close to any trained level (outside the model's validity)."""
    nearest = levels_hz[level_index(freq_hz, levels_hz)]
    return np.abs(freq_hz - nearest) > LEVEL_TOLERANCE * nearest


LEAK_T = "2^((T-25)/10)"  # leakage doubling every 10 C, a common rule of thumb for CMOS


def base_names(structure: str, has_temp: bool, temperature: bool = False) -> list[str]:
    """Base terms; `temperature` adds a per-level leakage term in T to the per-frequency structure."""
    if structure == "voltage":
        return ["intercept", "V", "V*T", "V^2*f"] if has_temp else ["intercept", "V", "V^2*f"]
    if structure == "per_frequency" and temperature:
        if not has_temp:
            raise TraceError("the temperature term needs a temperature column (--temp-col) with finite values")
        return ["intercept", LEAK_T]
    return ["intercept"]


def base_columns(names: list[str], freq_hz: np.ndarray, volt_v: np.ndarray, temp_c: np.ndarray) -> np.ndarray:
    """The base design (columns named by `base_names`)."""
    columns = {
        "intercept": lambda: np.ones(len(freq_hz)),
        "V": lambda: volt_v,
        "V*T": lambda: volt_v * temp_c,
        "V^2*f": lambda: volt_v**2 * freq_hz,
        LEAK_T: lambda: np.exp2((temp_c - 25.0) / 10.0),
    }
    return np.column_stack([columns[name]() for name in names])


def modulation(structure: str, normalisation: str, freq_hz: np.ndarray, volt_v: np.ndarray) -> np.ndarray:
    """Per-sample factor that multiplies every activity feature."""
    if structure != "voltage":
        return np.ones(len(freq_hz))
    return volt_v**2 * freq_hz if normalisation == "per_cycle" else volt_v**2


def check_structure(structure: str, volt_v: np.ndarray | None) -> None:
    if structure not in STRUCTURES:
        raise TraceError(f"unknown model structure {structure!r} (choose from {', '.join(STRUCTURES)})")
    if structure == "voltage" and (volt_v is None or not np.isfinite(volt_v).all()):
        raise TraceError("the voltage-aware structure needs a voltage column (--volt-col) with finite values")


def choose_structure(freq_hz: np.ndarray, volt_v: np.ndarray | None, min_per_level: int = 50) -> str:
    """`auto`: per-frequency when there are few, well-populated OPPs; otherwise voltage-aware if V is known."""
    levels = find_levels(freq_hz)
    counts = np.bincount(level_index(freq_hz, levels), minlength=len(levels))
    if 1 < len(levels) <= MAX_LEVELS and counts.min() >= min_per_level:
        return "per_frequency"
    if volt_v is not None and np.isfinite(volt_v).all() and np.ptp(volt_v) > 0:
        return "voltage"
    return "per_frequency" if 1 < len(levels) <= MAX_LEVELS else "linear"
