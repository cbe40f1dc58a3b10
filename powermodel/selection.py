"""APGPM-style counter selection: screen, rank, prune by VIF, then forward selection by grouped CV error.

Forward selection scores every remaining candidate at every step with grouped cross-validation (a
workload never sits in both the training and the validation side of a fold). Doing that naively costs one
regression per (candidate, fold, level, step). Here each step costs one small solve per (fold, level): the
weighted Gram matrix of [base design, all candidates] is accumulated once per (fold, level), a fold's
training Gram is total minus its own, and adding candidate c to the current set S is a Schur-complement
update of S's solution, so the validation predictions of all candidates come out of one matrix product.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold
from tqdm import tqdm

from android.errors import TraceError
from powermodel import design, vif as vifmod
from powermodel.features import FeatureSpec, counters_used
from powermodel.models import sample_weights

_RIDGE = 1e-9  # relative diagonal load in the CV solves (keeps exactly collinear candidates harmless)


@dataclass
class SelectionConfig:
    """Knobs of the selection; defaults follow APGPM (VIF threshold 10) and our ARMPM validation."""

    structure: str = "per_frequency"
    normalisation: str = "rate"
    loss: str = "relative"
    vif_threshold: float = 10.0
    cv_folds: int = 10
    max_counters: int | None = None  # distinct hardware counters in the final model
    stop_tol: float = 0.01  # a feature must cut the CV MAPE by this fraction to enter
    max_candidates: int | None = None  # keep only the best-ranked candidates before VIF pruning
    near_constant_fraction: float = 0.95  # share of rows holding one value
    near_constant_cv: float = 1e-3  # std / |mean|
    progress: bool = True


@dataclass
class SelectionResult:
    """What selection saw and decided, for the model file and the report."""

    specs: list[FeatureSpec]  # selected features in order of entry
    n_available: int  # hardware counters in the input
    screened: dict[str, str]  # feature -> why it was removed before ranking
    ranking: list[tuple[str, float]]  # (feature, |partial correlation with power|), best first
    vif: vifmod.VifPruning
    vif_selected: dict[str, float]
    path: list[dict] = field(default_factory=list)  # one entry per step of forward selection
    cv_mape_pct: float = float("nan")
    base_cv_mape_pct: float = float("nan")  # the base terms alone (no counter)
    cv_folds: int = 0

    @property
    def selected(self) -> list[str]:
        return [s.name for s in self.specs]

    @property
    def counters(self) -> list[str]:
        return counters_used(self.specs)

    def to_dict(self) -> dict:
        return {
            "selected": self.selected,
            "counters": self.counters,
            "n_available": self.n_available,
            "screened": self.screened,
            "ranking": [[n, float(s)] for n, s in self.ranking],
            "vif_initial": self.vif.vif_initial,
            "vif_dropped": [[n, float(v)] for n, v in self.vif.dropped],
            "vif_selected": self.vif_selected,
            "path": self.path,
            "cv_mape_pct": self.cv_mape_pct,
            "base_cv_mape_pct": self.base_cv_mape_pct,
            "cv_folds": self.cv_folds,
        }


# ------------------------------------------------------------------------------------------------ screen
def screen(F: np.ndarray, names: list[str], fraction: float = 0.95, min_cv: float = 1e-3) -> dict[str, str]:
    """Features to drop before ranking: constant, or near-constant (one value in most rows, or tiny spread).

    A value held by more than half the rows is the median, so "share of rows equal to the median" is the
    mode share whenever it matters (fraction > 0.5) without sorting every column.
    """
    reasons: dict[str, str] = {}
    finite = np.isfinite(F).all(axis=0)
    ptp = np.ptp(np.where(np.isfinite(F), F, 0.0), axis=0)
    median = np.median(F, axis=0)
    share = (F == median).mean(axis=0)
    mean = np.abs(F.mean(axis=0))
    cv = F.std(axis=0) / np.where(mean > 0, mean, 1.0)
    for j, name in enumerate(names):
        if not finite[j]:
            reasons[name] = "non-finite values"
        elif ptp[j] == 0:
            reasons[name] = f"constant ({median[j]:g})"
        elif share[j] >= fraction:
            reasons[name] = f"near-constant ({share[j]:.1%} of rows equal {median[j]:g})"
        elif mean[j] > 0 and cv[j] < min_cv:
            reasons[name] = f"near-constant (std/mean {cv[j]:.1e})"
    return reasons


# -------------------------------------------------------------------------------------------------- rank
def rank(Z: np.ndarray, y: np.ndarray, B: np.ndarray, level: np.ndarray) -> np.ndarray:
    """|Correlation| of each (modulated) feature with power after removing what the base terms explain
    within each level (for per-frequency models: the per-frequency mean power)."""
    ry = np.empty_like(y)
    RZ = np.empty_like(Z)
    for lvl in np.unique(level):
        rows = level == lvl
        Bl = B[rows]
        both = np.column_stack([y[rows], Z[rows]])
        coef = np.linalg.lstsq(Bl, both, rcond=None)[0]
        resid = both - Bl @ coef
        ry[rows], RZ[rows] = resid[:, 0], resid[:, 1:]
    ry = ry - ry.mean()
    RZ = RZ - RZ.mean(axis=0)
    denom = np.sqrt((RZ**2).sum(axis=0) * (ry**2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.abs(RZ.T @ ry) / denom
    return np.nan_to_num(score)


# --------------------------------------------------------------------------------------- grouped CV core
class _GroupedCV:
    """Per-(fold, level) Gram matrices of [base, candidates] for fast forward selection."""

    def __init__(self, B: np.ndarray, Z: np.ndarray, y: np.ndarray, w: np.ndarray, level: np.ndarray,
                 fold: np.ndarray, n_folds: int, min_train: int):
        C = np.column_stack([B, Z])
        scale = np.sqrt(np.mean(w[:, None] * C**2, axis=0))
        scale[scale == 0] = 1.0
        self.C = C / scale
        self.y, self.w = y, w
        self.n_base = B.shape[1]
        self.cells: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (val rows, train Gram, train rhs)
        levels = np.unique(level)
        excluded = 0
        for lvl in levels:
            at = level == lvl
            grams, rhs, rows_of = [], [], []
            for f in range(n_folds):
                rows = np.flatnonzero(at & (fold == f))
                Cw = self.C[rows] * w[rows, None]
                grams.append(self.C[rows].T @ Cw)
                rhs.append(Cw.T @ y[rows])
                rows_of.append(rows)
            total_g, total_h = sum(grams), sum(rhs)
            n_at = int(at.sum())
            for f in range(n_folds):
                if len(rows_of[f]) == 0:
                    continue
                if n_at - len(rows_of[f]) < min_train:  # this level is (nearly) absent from the training side
                    excluded += len(rows_of[f])
                    continue
                self.cells.append((rows_of[f], total_g - grams[f], total_h - rhs[f]))
        self.n_scored = sum(len(c[0]) for c in self.cells)
        self.excluded = excluded
        if self.n_scored == 0:
            raise TraceError("grouped cross-validation has no fold with training data at the validation "
                             "frequencies (too few workloads per frequency)")

    def scores(self, selected: list[int], candidates: np.ndarray, chunk: int = 16384) -> tuple[float, np.ndarray]:
        """CV MAPE (%) of the current set, and of the current set plus each candidate."""
        S = np.r_[np.arange(self.n_base), self.n_base + np.asarray(selected, dtype=int)].astype(int)
        cand = self.n_base + np.asarray(candidates, dtype=int)
        err_now = 0.0
        err = np.zeros(len(cand))
        for rows, G, h in self.cells:
            ridge = _RIDGE * float(np.mean(np.diag(G)))
            A = G[np.ix_(S, S)] + ridge * np.eye(len(S))
            Gsc = G[np.ix_(S, cand)]
            sol = np.linalg.solve(A, np.column_stack([h[S], Gsc]))
            u, V = sol[:, 0], sol[:, 1:]
            schur = np.diag(G)[cand] + ridge - np.einsum("ij,ij->j", Gsc, V)
            ok = schur > 2 * ridge
            beta = np.where(ok, (h[cand] - Gsc.T @ u) / np.where(ok, schur, 1.0), 0.0)
            for lo in range(0, len(rows), chunk):
                r = rows[lo:lo + chunk]
                CS = self.C[np.ix_(r, S)]
                p0 = CS @ u
                yr = self.y[r]
                err_now += float(np.sum(np.abs(p0 - yr) / np.abs(yr)))
                resid_dir = self.C[np.ix_(r, cand)] - CS @ V
                pred = p0[:, None] + resid_dir * beta[None, :]
                err += (np.abs(pred - yr[:, None]) / np.abs(yr)[:, None]).sum(axis=0)
            err[~ok] = np.inf
        return 100.0 * err_now / self.n_scored, 100.0 * err / self.n_scored


def make_folds(groups: np.ndarray, n_folds: int) -> tuple[np.ndarray, int]:
    """Fold id of each row, whole groups per fold (GroupKFold, deterministic)."""
    unique = np.unique(groups)
    if len(unique) < 2:
        raise TraceError(f"grouped cross-validation needs at least 2 workloads in the training data; "
                         f"the group column has only {unique.tolist()}")
    n = min(n_folds, len(unique))
    fold = np.empty(len(groups), dtype=int)
    for f, (_, val) in enumerate(GroupKFold(n_splits=n).split(groups, groups=groups)):
        fold[val] = f
    return fold, n


# ---------------------------------------------------------------------------------------------- pipeline
def select_features(
    values: np.ndarray,
    specs: list[FeatureSpec],
    y: np.ndarray,
    groups: np.ndarray,
    freq_hz: np.ndarray,
    volt_v: np.ndarray | None,
    temp_c: np.ndarray | None,
    config: SelectionConfig,
    n_available: int | None = None,
) -> SelectionResult:
    """Run the whole selection on training rows only (values: n x len(specs) candidate features)."""
    names = [s.name for s in specs]
    n = len(y)
    n_available = n_available if n_available is not None else len(counters_used(specs))
    nan = np.full(n, np.nan)
    volt = volt_v if volt_v is not None else nan
    temp = temp_c if temp_c is not None else nan
    design.check_structure(config.structure, volt_v)
    has_temp = temp_c is not None and bool(np.isfinite(temp_c).all())
    B = design.base_columns(design.base_names(config.structure, has_temp), freq_hz, volt, temp)
    mod = design.modulation(config.structure, config.normalisation, freq_hz, volt)
    if config.structure == "per_frequency":
        level = design.level_index(freq_hz, design.find_levels(freq_hz))
    else:
        level = np.zeros(n, dtype=int)

    # 1. screen
    screened = screen(values, names, config.near_constant_fraction, config.near_constant_cv)
    alive = [j for j, nm in enumerate(names) if nm not in screened]
    if not alive:
        raise TraceError("every counter is constant or near-constant in the training data")
    Z = values[:, alive] * mod[:, None]

    # 2. rank by relation to power
    score = rank(Z, y, B, level)
    order = np.argsort(-score, kind="stable")
    ranking = [(names[alive[j]], float(score[j])) for j in order]
    if config.max_candidates is not None and len(order) > config.max_candidates:
        order = order[: config.max_candidates]
        for j in np.argsort(-score, kind="stable")[config.max_candidates:]:
            screened[names[alive[j]]] = "ranked below --max-candidates"
    cols = sorted(order.tolist())
    alive = [alive[j] for j in cols]
    Z, score = Z[:, cols], score[cols]

    # 3. VIF pruning
    pruning = vifmod.prune_vif(Z, [names[j] for j in alive], config.vif_threshold, priority=score)
    keep = [names.index(nm) for nm in pruning.kept]
    keep_pos = [alive.index(j) for j in keep]
    Z = Z[:, keep_pos]
    cand_specs = [specs[j] for j in keep]

    # 4. forward selection by grouped CV error
    w = sample_weights(y, config.loss)
    fold, n_folds = make_folds(groups, config.cv_folds)
    cap = config.max_counters if config.max_counters is not None else len(cand_specs)
    cv = _GroupedCV(B, Z, y, w, level, fold, n_folds, min_train=B.shape[1] + min(cap, 30) + 2)
    chosen: list[int] = []
    used: set[str] = set()
    path: list[dict] = []
    current, _ = cv.scores([], np.zeros(0, dtype=int))
    base_score = current
    bar = tqdm(total=min(cap, len(cand_specs)), desc="forward selection", unit="counter", file=sys.stderr,
               disable=not config.progress, leave=False)
    while True:
        allowed = np.array([j for j in range(len(cand_specs)) if j not in chosen
                            and len(used | set(cand_specs[j].counters)) <= cap], dtype=int)
        if allowed.size == 0:
            break
        _, trial = cv.scores(chosen, allowed)
        best = int(np.argmin(trial))
        if not trial[best] < current * (1.0 - config.stop_tol):
            path.append({"step": len(chosen) + 1, "stopped": True, "best_candidate": cand_specs[allowed[best]].name,
                         "cv_mape_pct": float(trial[best])})
            break
        j = int(allowed[best])
        chosen.append(j)
        used |= set(cand_specs[j].counters)
        current = float(trial[best])
        path.append({"step": len(chosen), "added": cand_specs[j].name, "cv_mape_pct": current,
                     "n_counters": len(used)})
        bar.update(1)
        bar.set_postfix_str(f"cv MAPE {current:.2f}% (+{cand_specs[j].name})")
    bar.close()
    if not chosen:
        raise TraceError(f"no counter improves on the base terms alone (grouped CV MAPE {base_score:.2f}%): "
                         "power does not follow the counters in this data")
    selected_specs = [cand_specs[j] for j in chosen]
    vif_sel = dict(zip([s.name for s in selected_specs], vifmod.vif_all(Z[:, chosen]).tolist()))
    return SelectionResult(
        specs=selected_specs, n_available=n_available, screened=screened, ranking=ranking, vif=pruning,
        vif_selected=vif_sel, path=path, cv_mape_pct=current, base_cv_mape_pct=base_score, cv_folds=n_folds,
    )


def spec_table(result: SelectionResult) -> pd.DataFrame:
    """Selected features with their VIF and their CV MAPE when they entered."""
    entered = {p["added"]: p["cv_mape_pct"] for p in result.path if "added" in p}
    return pd.DataFrame({
        "feature": result.selected,
        "vif": [result.vif_selected[n] for n in result.selected],
        "cv_mape_pct_after": [entered[n] for n in result.selected],
    })
