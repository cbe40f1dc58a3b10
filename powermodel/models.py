"""Power models as scikit-learn regressors: the PMC model and the utilisation-frequency baseline.

Both take the input layout of `design.model_input` (`[features..., freq_hz, volt_v, temp_c]`), so they work
in `Pipeline`, `cross_val_score` with `GroupKFold`, and `clone`. `loss="relative"` weights each sample by
1/y^2, i.e. least squares on the relative error, which is what MAPE measures.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from powermodel import design
from powermodel.errors import PowerModelError

LOSSES = ("relative", "squared")


def sample_weights(y: np.ndarray, loss: str) -> np.ndarray:
    if loss not in LOSSES:
        raise PowerModelError(f"unknown loss {loss!r} (choose from {', '.join(LOSSES)})")
    return 1.0 / y**2 if loss == "relative" else np.ones_like(y)


def solve_wls(D: np.ndarray, y: np.ndarray, w: np.ndarray, n_free: int = 0, positive: bool = False) -> np.ndarray:
    """Weighted least squares on columns scaled to unit RMS (counter rates span 1e0..1e9).

    With `positive`, columns after the first `n_free` are constrained to be >= 0.
    """
    scale = np.sqrt(np.mean(w[:, None] * D**2, axis=0))
    scale[scale == 0] = 1.0
    sw = np.sqrt(w)
    A = D / scale * sw[:, None]
    b = y * sw
    if positive and D.shape[1] > n_free:
        from scipy.optimize import lsq_linear

        lower = np.r_[np.full(n_free, -np.inf), np.zeros(D.shape[1] - n_free)]
        coef = lsq_linear(A, b, bounds=(lower, np.full(D.shape[1], np.inf)), method="bvls").x
    else:
        coef = np.linalg.lstsq(A, b, rcond=None)[0]
    return coef / scale


class PMCModel(RegressorMixin, BaseEstimator):
    """Linear power model on counter features, per frequency level or voltage-aware (see `design`).

    Parameters
    ----------
    structure : "per_frequency" | "clock" | "voltage" | "linear"
    loss : "relative" (fit relative error, as MAPE scores it) | "squared" (ordinary least squares)
    positive : constrain the activity coefficients to be >= 0 (energy per event cannot be negative)
    normalisation : "rate" | "per_cycle" | "count"; how the features were normalised (decides the
        voltage-aware activity scaling: V^2 for rates, V^2*f for per-cycle activity)
    temperature : per-frequency structure only: add a leakage term 2^((T-25)/10) per level
    """

    def __init__(
        self,
        structure: str = "per_frequency",
        loss: str = "relative",
        positive: bool = False,
        normalisation: str = "rate",
        temperature: bool = False,
    ):
        self.structure = structure
        self.loss = loss
        self.positive = positive
        self.normalisation = normalisation
        self.temperature = temperature

    # ----------------------------------------------------------------------------------------- fitting
    def fit(self, X, y, sample_weight=None):
        X, names = _as_input(X)
        y = np.asarray(y, dtype=float).ravel()
        if len(y) != len(X):
            raise PowerModelError(f"X has {len(X)} rows but y has {len(y)}")
        features, freq, volt, temp = design.split_input(X)
        k = features.shape[1]
        self._check_values(features, freq, volt, temp, y)
        design.check_structure(self.structure, volt)
        has_temp = bool(np.isfinite(temp).all())
        self.base_names_ = design.base_names(self.structure, has_temp, self.temperature, design.has_voltage(volt))
        levels = design.find_levels(freq) if self.structure == "per_frequency" else np.array([np.nan])
        idx = design.level_index(freq, levels) if self.structure == "per_frequency" else np.zeros(len(y), int)
        D = self._design(features, freq, volt, temp)
        w = sample_weights(y, self.loss)
        if sample_weight is not None:
            w = w * np.asarray(sample_weight, dtype=float)
        n_base = len(self.base_names_)
        coef = np.zeros((len(levels), n_base + k))
        counts = np.bincount(idx, minlength=len(levels))
        for lvl in range(len(levels)):
            if counts[lvl] <= n_base + k:
                where = f" at {levels[lvl] / 1e6:.6g} MHz" if self.structure == "per_frequency" else ""
                hint = (
                    " (a rarely visited clock level: use --structure clock, or drop those rows)"
                    if self.structure == "per_frequency" and len(levels) > 1
                    else ""
                )
                raise PowerModelError(
                    f"only {counts[lvl]} sample(s){where} for {n_base + k} coefficients: "
                    f"need more samples than coefficients{hint}"
                )
            rows = idx == lvl
            coef[lvl] = solve_wls(D[rows], y[rows], w[rows], n_base, self.positive)
        self.levels_hz_ = levels
        self.base_coef_ = coef[:, :n_base]
        self.coef_ = coef[:, n_base:]
        self.n_features_in_ = X.shape[1]
        self.feature_names_ = names[:k] if names is not None else [f"x{j}" for j in range(k)]
        self.n_samples_per_level_ = counts
        self.train_range_ = {
            "freq_hz": [float(freq.min()), float(freq.max())],
            "features": {
                n: [float(a), float(b)]
                for n, a, b in zip(self.feature_names_, features.min(axis=0), features.max(axis=0))
            },
        }
        return self

    def _check_values(self, features, freq, volt, temp, y) -> None:
        if not np.isfinite(y).all():
            raise PowerModelError(f"target has a non-finite value at row {int(np.flatnonzero(~np.isfinite(y))[0])}")
        if self.loss == "relative" and (y <= 0).any():
            raise PowerModelError("relative loss needs positive power values")
        bad = ~np.isfinite(features)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise PowerModelError(f"feature column {c} has a non-finite value at row {r}")
        if not (np.isfinite(freq).all() and (freq > 0).all()):
            raise PowerModelError("frequency must be finite and > 0 in every row")

    def _design(self, features, freq, volt, temp) -> np.ndarray:
        base = design.base_columns(self.base_names_, freq, volt, temp)
        mod = design.modulation(self.structure, self.normalisation, freq, volt)
        return np.column_stack([base, features * mod[:, None]])

    # -------------------------------------------------------------------------------------- prediction
    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "coef_")
        X, _ = _as_input(X)
        if X.shape[1] != self.n_features_in_:
            raise PowerModelError(f"model expects {self.n_features_in_} input columns, got {X.shape[1]}")
        return self._predict_design(X)

    def _predict_design(self, X: np.ndarray) -> np.ndarray:
        features, freq, volt, temp = design.split_input(X)
        if self.structure == "per_frequency":
            idx = design.level_index(freq, self.levels_hz_)
            off = design.off_level(freq, self.levels_hz_)
            if off.any():
                warnings.warn(
                    f"{int(off.sum())} sample(s) at frequencies the model was not fitted at; using the nearest level",
                    UserWarning,
                    stacklevel=3,
                )
        else:
            idx = np.zeros(len(X), dtype=int)
        D = self._design(features, freq, volt, temp)
        coef = np.hstack([self.base_coef_, self.coef_])[idx]
        return np.einsum("ij,ij->i", D, coef)

    # --------------------------------------------------------------------------------------- reporting
    def coefficient_table(self, X, y, alpha: float = 0.05) -> pd.DataFrame:
        """Estimates with standard errors and (1 - alpha) confidence intervals from statsmodels WLS.

        With `positive`, coefficients pinned at zero get no interval; the others are those of the
        unconstrained fit on the active columns, which is the constrained solution (KKT conditions).
        """
        import statsmodels.api as sm

        check_is_fitted(self, "coef_")
        X, _ = _as_input(X)
        y = np.asarray(y, dtype=float).ravel()
        features, freq, volt, temp = design.split_input(X)
        D = self._design(features, freq, volt, temp)
        w = sample_weights(y, self.loss)
        terms = self.base_names_ + list(self.feature_names_)
        idx = (
            design.level_index(freq, self.levels_hz_)
            if self.structure == "per_frequency"
            else np.zeros(len(y), dtype=int)
        )
        rows_out = []
        for lvl in range(len(self.levels_hz_)):
            rows = idx == lvl
            coef = np.r_[self.base_coef_[lvl], self.coef_[lvl]]
            active = np.ones(len(coef), dtype=bool)
            if self.positive:
                active[len(self.base_names_) :] = coef[len(self.base_names_) :] > 0
            scale = np.sqrt(np.mean(w[rows, None] * D[rows] ** 2, axis=0))
            scale[scale == 0] = 1.0
            with warnings.catch_warnings():  # collinear features (x and x*f): intervals widen, estimates stand
                warnings.simplefilter("ignore")
                res = sm.WLS(y[rows], D[rows][:, active] / scale[active], weights=w[rows]).fit()
            ci = res.conf_int(alpha) / scale[active][:, None]
            est = np.zeros(len(coef))
            est[active] = res.params / scale[active]
            se = np.full(len(coef), np.nan)
            se[active] = res.bse / scale[active]
            lo = np.full(len(coef), np.nan)
            hi = np.full(len(coef), np.nan)
            lo[active], hi[active] = ci[:, 0], ci[:, 1]
            pv = np.full(len(coef), np.nan)
            pv[active] = res.pvalues
            level = f"{self.levels_hz_[lvl] / 1e6:.6g}MHz" if self.structure == "per_frequency" else "all"
            for j, term in enumerate(terms):
                rows_out.append(
                    {
                        "level": level,
                        "term": term,
                        "estimate": est[j],
                        "std_err": se[j],
                        "ci_low": lo[j],
                        "ci_high": hi[j],
                        "p_value": pv[j],
                    }
                )
        return pd.DataFrame(rows_out)

    # ---------------------------------------------------------------------------------------- persist
    def to_dict(self) -> dict:
        check_is_fitted(self, "coef_")
        return {
            "params": self.get_params(),
            "levels_hz": [None if np.isnan(v) else float(v) for v in self.levels_hz_],
            "base_names": list(self.base_names_),
            "base_coef": self.base_coef_.tolist(),
            "coef": self.coef_.tolist(),
            "feature_names": list(self.feature_names_),
            "n_samples_per_level": [int(c) for c in self.n_samples_per_level_],
            "train_range": self.train_range_,
        }

    @classmethod
    def from_dict(cls, data: dict) -> PMCModel:
        model = cls(**data["params"])
        model.levels_hz_ = np.array([np.nan if v is None else v for v in data["levels_hz"]], dtype=float)
        model.base_names_ = list(data["base_names"])
        model.base_coef_ = np.asarray(data["base_coef"], dtype=float).reshape(len(model.levels_hz_), -1)
        model.coef_ = np.asarray(data["coef"], dtype=float).reshape(len(model.levels_hz_), -1)
        model.feature_names_ = list(data["feature_names"])
        model.n_features_in_ = model.coef_.shape[1] + design.N_CONTEXT
        model.n_samples_per_level_ = np.asarray(data.get("n_samples_per_level", []), dtype=int)
        model.train_range_ = data.get("train_range", {})
        return model


class UtilFreqModel(PMCModel):
    """The prior-art baseline APGPM compares against, with the clock always in it.

    - structure "per_frequency" (few clock levels, as published): P = a_f + b_f * u per level;
    - structure "clock" (many or unseen levels): P = base(f, V, T) + u * (b0 + b1 f + b2 f^2), or with a
      voltage column u * (b0 + b1 f + b2 V^2 f): dynamic power follows u * C V^2 f.

    Input: `design.model_input(util, freq_hz, volt_v, temp_c)`, utilisation as a 0..1 busy fraction.
    Ordinary least squares by default, as published.
    """

    positive = False
    normalisation = "rate"
    temperature = False

    def __init__(self, loss: str = "squared", structure: str = "per_frequency"):
        self.loss = loss
        self.structure = structure

    def _expand(self, X: np.ndarray) -> np.ndarray:
        """Utilisation -> its clock terms (clock structure); unchanged per level."""
        if self.structure != "clock":
            return X
        util, freq, volt, temp = design.split_input(X)
        terms = design.term_columns(self.util_terms_, design.UTIL_TERMS, freq, volt, temp) * util[:, :1]
        return design.model_input(terms, freq, volt, temp)

    def fit(self, X, y, sample_weight=None):
        X_arr, _ = _as_input(X)
        if X_arr.shape[1] != 1 + design.N_CONTEXT:
            raise PowerModelError(
                f"the utilisation-frequency model takes one feature (utilisation), "
                f"got {X_arr.shape[1] - design.N_CONTEXT}"
            )
        if self.structure not in ("per_frequency", "clock"):
            raise PowerModelError(f"the baseline structure is per_frequency or clock, not {self.structure!r}")
        util = X_arr[:, 0]
        if np.isfinite(util).all() and (util.min() < -0.05 or util.max() > 1.5):
            warnings.warn(
                f"utilisation spans {util.min():.3g}..{util.max():.3g}; expected a 0..1 busy fraction (summed over "
                "several cores? give --util-cores N or --util-cores COLUMN; a percentage? give --util-unit pct)",
                UserWarning,
                stacklevel=2,
            )
        self.util_terms_ = design.util_names(design.has_voltage(design.split_input(X_arr)[2]))
        super().fit(self._named(self._expand(X_arr)), y, sample_weight)
        self.n_features_in_ = 1 + design.N_CONTEXT
        return self

    def _named(self, X: np.ndarray):
        if self.structure != "clock":
            return pd.DataFrame(X, columns=["u", *design.CONTEXT_NAMES])
        return pd.DataFrame(X, columns=[*self.util_terms_, *design.CONTEXT_NAMES])

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "coef_")
        X, _ = _as_input(X)
        if X.shape[1] != self.n_features_in_:
            raise PowerModelError(f"the baseline expects {self.n_features_in_} input columns, got {X.shape[1]}")
        return self._predict_design(self._expand(X))

    def coefficient_table(self, X, y, alpha: float = 0.05) -> pd.DataFrame:
        X, _ = _as_input(X)
        return super().coefficient_table(self._expand(X), y, alpha)

    def to_dict(self) -> dict:
        data = super().to_dict()
        data["params"] = {"loss": self.loss, "structure": self.structure}
        data["util_terms"] = list(self.util_terms_)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> UtilFreqModel:
        model = super().from_dict(data)
        # per_frequency is always a + b u (schema.py checks util_terms only for "clock")
        model.util_terms_ = list(data["util_terms"]) if model.structure == "clock" else ["u"]
        model.n_features_in_ = 1 + design.N_CONTEXT
        return model


def _as_input(X) -> tuple[np.ndarray, list[str] | None]:
    names = [str(c) for c in X.columns] if isinstance(X, pd.DataFrame) else None
    arr = np.asarray(X, dtype=float)
    if arr.ndim != 2 or arr.shape[1] < design.N_CONTEXT + 1:
        raise PowerModelError(
            f"input must be 2-D with at least one feature plus {design.N_CONTEXT} context "
            f"columns ({', '.join(design.CONTEXT_NAMES)}), got shape {arr.shape}"
        )
    return arr, names
