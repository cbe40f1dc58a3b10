"""APGPM-style counter selection: screen, rank, prune by VIF, then forward selection by grouped CV error.

Forward selection scores every remaining candidate at every step with grouped cross-validation (a
workload never sits in both the training and the validation side of a fold), averaged over repeated
fold assignments so that one unlucky deal of few workloads does not decide. The path does not stop at the
first plateau: it runs until `patience` steps in a row bring no real gain, then a stopping rule picks its
length from the whole curve: by default the shortest path within `stop_tol` of the lowest CV error (so
two small gains in a row count, and a noisy dip does not end the search); or the one-standard-error rule
on paired per-fold differences, which prefers fewer counters when the folds disagree.

Doing that naively costs one regression per (candidate, fold, level, step). Here each step costs one small
solve per (fold, level): the weighted Gram matrix of [base design, all candidates] is accumulated once per
(fold, level), a fold's training Gram is total minus its own, and adding candidate c to the current set S
is a Schur-complement update of S's solution, so the validation predictions of all candidates come out of
one matrix product.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold
from tqdm import tqdm

from powermodel import design
from powermodel import vif as vifmod
from powermodel.errors import PowerModelError
from powermodel.features import FeatureSpec, counters_used
from powermodel.models import sample_weights

_RIDGE = 1e-9  # relative diagonal load in the CV solves (keeps exactly collinear candidates harmless)
# Clock interactions (x*f, x*V^2) are meant to be collinear with their counter: VIF pruning would always drop
# one of the pair, so they skip it and stay candidates while their counter survives. Every other feature
# (counters, states, APGPM's inverted and combined counters) is pruned by VIF as APGPM does.
CLOCK_OPS = ("mul_f", "mul_v2")
STOP_RULES = ("tol", "one_se")


@dataclass
class SelectionConfig:
    """Knobs of the selection; defaults follow APGPM (VIF threshold 10) and our ARMPM validation."""

    structure: str = "per_frequency"
    normalisation: str = "rate"
    loss: str = "relative"
    temperature: bool = False  # per-frequency leakage term in T
    vif_threshold: float = 10.0
    duplicate_corr: float | None = vifmod.DUPLICATE_CORR  # near-copies: keep the one more related to power
    cv_folds: int = 10
    cv_repeats: int = 5  # fold assignments averaged (only when there are more groups than folds)
    seed: int = 0  # of the repeated fold assignments
    stop_rule: str = "tol"  # tol: shortest path within stop_tol of the lowest error; one_se: within one SE
    max_counters: int | None = None  # distinct hardware counters in the final model
    stop_tol: float = 0.01  # a feature must cut the CV MAPE by this fraction to count as an improvement
    patience: int = 3  # look-ahead steps without improvement before the path ends (greedy paths can plateau)
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
    cv_rows_unscored: int = 0  # validation rows at a frequency the fold's training side lacks
    cv_repeats: int = 1
    stop_rule: str = "tol"
    min_step: int = 0  # path length with the lowest CV error (the stopping rule may choose a shorter one)

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
            "duplicates_dropped": [[n, twin] for n, twin in self.vif.duplicates],
            "vif_dropped": [[n, float(v)] for n, v in self.vif.dropped],
            "vif_selected": self.vif_selected,
            "path": self.path,
            "cv_mape_pct": self.cv_mape_pct,
            "base_cv_mape_pct": self.base_cv_mape_pct,
            "cv_folds": self.cv_folds,
            "cv_rows_unscored": self.cv_rows_unscored,
            "cv_repeats": self.cv_repeats,
            "stop_rule": self.stop_rule,
            "min_step": self.min_step,
        }


# ------------------------------------------------------------------------------------------------ screen
SAME_VALUE_RTOL = 1e-9  # two readings this close (relative) are one value for the near-constant screen
_BLOCK_COLS = 32  # columns per block when a statistic needs a copy of whole columns
_CHUNK_ROWS = 16384  # rows per chunk for the streamed passes


def screen(
    F: np.ndarray, names: list[str], fraction: float = 0.95, min_cv: float = 1e-3, rows: np.ndarray | None = None
) -> dict[str, str]:
    """Features to drop before ranking: constant, or near-constant (one value in most rows, or tiny spread).

    A value held by more than half the rows is the median, so "share of rows equal to the median" is the
    mode share whenever it matters (fraction > 0.5) without sorting every column. Works on blocks of
    columns (of the given `rows`) so a large table is never copied whole.
    """
    reasons: dict[str, str] = {}
    for lo in range(0, F.shape[1], _BLOCK_COLS):
        cols = np.arange(lo, min(lo + _BLOCK_COLS, F.shape[1]))
        block = F[:, cols] if rows is None else F[np.ix_(rows, cols)]
        finite = np.isfinite(block).all(axis=0)
        ptp = np.ptp(block, axis=0)
        median = np.median(block, axis=0)
        # equal up to rounding: a count divided by window lengths that differ in the last bits is one value
        share = (np.abs(block - median) <= SAME_VALUE_RTOL * np.abs(median)).mean(axis=0)
        mean = np.abs(block.mean(axis=0))
        cv = block.std(axis=0) / np.where(mean > 0, mean, 1.0)
        for k, j in enumerate(cols):
            name = names[j]
            if not finite[k]:
                reasons[name] = "non-finite values"
            elif ptp[k] == 0:
                reasons[name] = f"constant ({median[k]:g})"
            elif share[k] >= fraction:
                reasons[name] = f"near-constant ({share[k]:.1%} of rows equal {median[k]:g})"
            elif mean[k] > 0 and cv[k] < min_cv:
                reasons[name] = f"near-constant (std/mean {cv[k]:.1e})"
    return reasons


# ------------------------------------------------------------------------------------- streamed statistics
@dataclass
class ColumnStats:
    """Moments of the (modulated) candidate columns over the training rows."""

    mean: np.ndarray  # (p,)
    gram: np.ndarray  # centred cross-products (p, p): correlation and VIF come from it
    score: np.ndarray  # |partial correlation with power| given the base terms, per level

    def correlation(self) -> np.ndarray:
        d = np.sqrt(np.diag(self.gram))
        d = np.where(d > 0, d, 1.0)
        R = self.gram / np.outer(d, d)
        np.fill_diagonal(R, 1.0)
        return R


def column_stats(
    F: np.ndarray, rows: np.ndarray, cols: list[int], mod: np.ndarray, B: np.ndarray, level: np.ndarray, y: np.ndarray
) -> ColumnStats:
    """Two streamed passes over F[rows][:, cols] * mod: means and per-level base projections, then the
    centred Gram matrix and the residual correlations with power.

    `mod`, `B`, `level`, `y` are aligned with `rows`. Ranking is the |correlation| between power and each
    feature after both are regressed on the base terms within each level (per-frequency: the level mean).
    """
    cols = np.asarray(cols, dtype=int)
    p, n = len(cols), len(rows)
    bscale = np.sqrt(np.mean(B**2, axis=0))
    bscale[bscale == 0] = 1.0
    Bs = B / bscale
    by_level = [np.flatnonzero(level == lvl) for lvl in np.unique(level)]

    def chunks():
        for li, pos in enumerate(by_level):
            for lo in range(0, len(pos), _CHUNK_ROWS):
                pc = pos[lo : lo + _CHUNK_ROWS]
                yield li, pc, F[np.ix_(rows[pc], cols)] * mod[pc, None]

    total = np.zeros(p)
    btz = [np.zeros((Bs.shape[1], p)) for _ in by_level]
    for li, pc, Z in chunks():
        total += Z.sum(axis=0)
        btz[li] += Bs[pc].T @ Z
    mean = total / n
    coef_z, coef_y = [], []
    for li, pos in enumerate(by_level):
        btb = Bs[pos].T @ Bs[pos]
        coef_z.append(np.linalg.lstsq(btb, btz[li], rcond=None)[0])
        coef_y.append(np.linalg.lstsq(btb, Bs[pos].T @ y[pos], rcond=None)[0])
    gram = np.zeros((p, p))
    rz2, rzy, ry2 = np.zeros(p), np.zeros(p), 0.0
    for li, pc, Z in chunks():
        D = Z - mean
        gram += D.T @ D
        ry = y[pc] - Bs[pc] @ coef_y[li]
        RZ = Z - Bs[pc] @ coef_z[li]
        rz2 += np.einsum("ij,ij->j", RZ, RZ)
        rzy += RZ.T @ ry
        ry2 += float(ry @ ry)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.nan_to_num(np.abs(rzy) / np.sqrt(rz2 * ry2))
    return ColumnStats(mean=mean, gram=gram, score=score)


# --------------------------------------------------------------------------------------- grouped CV core
def scaled_design(B: np.ndarray, Z: np.ndarray, w: np.ndarray) -> np.ndarray:
    """[base, candidates] with columns scaled to unit weighted RMS (rates span 1e0..1e9); shared by repeats."""
    C = np.column_stack([B, Z])
    scale = np.sqrt(np.mean(w[:, None] * C**2, axis=0))
    scale[scale == 0] = 1.0
    C /= scale
    return C


class _GroupedCV:
    """Per-(fold, level) Gram matrices of [base, candidates] for fast forward selection (one fold assignment)."""

    def __init__(
        self,
        C: np.ndarray,
        n_base: int,
        y: np.ndarray,
        w: np.ndarray,
        level: np.ndarray,
        fold: np.ndarray,
        n_folds: int,
        min_train: int,
    ):
        self.C = C
        self.y, self.w = y, w
        self.n_base = n_base
        self.n_folds = n_folds
        # (fold id, val rows, train Gram, train rhs)
        self.cells: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []
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
                self.cells.append((f, rows_of[f], total_g - grams[f], total_h - rhs[f]))
        self.fold_rows = np.bincount([c[0] for c in self.cells], [len(c[1]) for c in self.cells], n_folds)
        self.n_scored = int(self.fold_rows.sum())
        self.excluded = excluded
        if self.n_scored == 0:
            raise PowerModelError(
                "grouped cross-validation has no fold with training data at the validation clock levels (too "
                "few workloads per level): use --structure clock, or trace more workloads at each level"
            )

    def scores(self, selected: list[int], candidates: np.ndarray, chunk: int = 16384) -> tuple[np.ndarray, np.ndarray]:
        """Per-fold CV MAPE (%) of the current set (NaN for a fold with no scored row), and the pooled CV MAPE
        (%) of the current set plus each candidate."""
        S = np.r_[np.arange(self.n_base), self.n_base + np.asarray(selected, dtype=int)].astype(int)
        cand = self.n_base + np.asarray(candidates, dtype=int)
        err_now = np.zeros(self.n_folds)
        err = np.zeros(len(cand))
        for f, rows, G, h in self.cells:
            ridge = _RIDGE * float(np.mean(np.diag(G)))
            A = G[np.ix_(S, S)] + ridge * np.eye(len(S))
            Gsc = G[np.ix_(S, cand)]
            sol = np.linalg.solve(A, np.column_stack([h[S], Gsc]))
            u, V = sol[:, 0], sol[:, 1:]
            schur = np.diag(G)[cand] + ridge - np.einsum("ij,ij->j", Gsc, V)
            ok = schur > 2 * ridge
            beta = np.where(ok, (h[cand] - Gsc.T @ u) / np.where(ok, schur, 1.0), 0.0)
            for lo in range(0, len(rows), chunk):
                r = rows[lo : lo + chunk]
                CS = self.C[np.ix_(r, S)]
                p0 = CS @ u
                yr = self.y[r]
                err_now[f] += float(np.sum(np.abs(p0 - yr) / np.abs(yr)))
                if len(cand):
                    resid_dir = self.C[np.ix_(r, cand)] - CS @ V
                    pred = p0[:, None] + resid_dir * beta[None, :]
                    err += (np.abs(pred - yr[:, None]) / np.abs(yr)[:, None]).sum(axis=0)
            err[~ok] = np.inf
        with np.errstate(invalid="ignore", divide="ignore"):
            per_fold = 100.0 * err_now / self.fold_rows
        return per_fold, 100.0 * err / self.n_scored

    def pooled(self, per_fold: np.ndarray) -> float:
        """Pooled (row-weighted) CV MAPE from per-fold MAPEs."""
        ok = self.fold_rows > 0
        return float(np.sum(per_fold[ok] * self.fold_rows[ok]) / self.n_scored)


def make_folds(groups: np.ndarray, n_folds: int, seed: int | None = None) -> tuple[np.ndarray, int]:
    """Fold id of each row, whole groups per fold. `seed` None: GroupKFold (deterministic, balanced sizes);
    otherwise groups are shuffled with the seed and dealt round-robin, for repeated grouped CV."""
    unique = np.unique(groups)
    if len(unique) < 2:
        raise PowerModelError(
            f"grouped cross-validation needs at least 2 workloads in the training data; the group column has "
            f"only {unique.tolist()} (give --group-col naming the workload column, or trace more workloads)"
        )
    n = min(n_folds, len(unique))
    fold = np.empty(len(groups), dtype=int)
    if seed is None:
        for f, (_, val) in enumerate(GroupKFold(n_splits=n).split(groups, groups=groups)):
            fold[val] = f
        return fold, n
    order = np.random.default_rng(seed).permutation(len(unique))
    group_fold = np.empty(len(unique), dtype=int)
    group_fold[order] = np.arange(len(unique)) % n
    fold[:] = group_fold[np.searchsorted(unique, groups)]
    return fold, n


def fold_assignments(groups: np.ndarray, n_folds: int, repeats: int, seed: int) -> list[tuple[np.ndarray, int]]:
    """Fold ids for repeated grouped CV: GroupKFold first, then `repeats - 1` shuffled deals. With no more
    groups than folds every fold is one group (leave-one-group-out) and repeating changes nothing."""
    first = make_folds(groups, n_folds)
    if len(np.unique(groups)) <= n_folds:
        return [first]
    return [first] + [make_folds(groups, n_folds, seed=seed * 1000 + r) for r in range(1, max(1, repeats))]


def path_choice(curve_folds: list[np.ndarray], pooled: np.ndarray, tol: float) -> tuple[int, int, np.ndarray]:
    """The lowest point of the path and the stopping rules' inputs.

    `curve_folds[k]` holds the per-fold CV MAPE of the first k features, one row per repeat; `pooled[k]` the
    pooled CV MAPE. Returns (k_min, k_tol, se): k_min minimises the pooled error; k_tol is the shortest path
    within `tol` (relative) of it, or 0 when the base terms alone are; se[k] is the standard error of the
    excess of step k over k_min across folds (differences within a fold are paired, so the fold-to-fold
    spread of workload difficulty cancels), root-mean-square over repeats.
    """
    k_min = int(np.argmin(pooled))
    se = np.zeros(len(pooled))
    best = curve_folds[k_min]
    for k, folds in enumerate(curve_folds):
        diff = folds - best  # repeats x folds
        per_repeat = []
        for row in diff:
            row = row[np.isfinite(row)]
            if len(row) > 1:
                per_repeat.append(np.std(row, ddof=1) / np.sqrt(len(row)))
        se[k] = float(np.sqrt(np.mean(np.square(per_repeat)))) if per_repeat else 0.0
    limit = pooled[k_min] * (1.0 + tol)
    k_tol = 0 if pooled[0] <= limit else next(k for k in range(1, len(pooled)) if pooled[k] <= limit)
    return k_min, k_tol, se


def _one_se_step(pooled: np.ndarray, se: np.ndarray, k_min: int) -> int:
    """The one-standard-error rule: the shortest path whose excess over the lowest error is within one SE."""
    if k_min == 0:
        return 0
    return next(k for k in range(1, len(pooled)) if pooled[k] - pooled[k_min] <= se[k])


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
    rows: np.ndarray | None = None,
) -> SelectionResult:
    """Run the whole selection on the training rows `rows` (default: all) of `values` (n x len(specs)).

    `y`, `groups`, `freq_hz`, `volt_v`, `temp_c` are aligned with `values`. Large inputs are streamed in
    chunks of rows, so memory stays near the size of `values` itself.
    """
    names = [s.name for s in specs]
    rows = np.arange(len(values)) if rows is None else np.asarray(rows)
    if rows.dtype == bool:
        rows = np.flatnonzero(rows)
    y, groups, freq_hz = y[rows], groups[rows], freq_hz[rows]
    volt_v = None if volt_v is None else volt_v[rows]
    temp_c = None if temp_c is None else temp_c[rows]
    n = len(rows)
    n_available = n_available if n_available is not None else len(counters_used(specs))
    nan = np.full(n, np.nan)
    volt = volt_v if volt_v is not None else nan
    temp = temp_c if temp_c is not None else nan
    design.check_structure(config.structure, volt_v)
    has_temp = temp_c is not None and bool(np.isfinite(temp_c).all())
    base = design.base_names(config.structure, has_temp, config.temperature, design.has_voltage(volt_v))
    B = design.base_columns(base, freq_hz, volt, temp)
    mod = design.modulation(config.structure, config.normalisation, freq_hz, volt)
    if config.structure == "per_frequency":
        level = design.level_index(freq_hz, design.find_levels(freq_hz))
    else:
        level = np.zeros(n, dtype=int)

    # 1. screen
    screened = screen(values, names, config.near_constant_fraction, config.near_constant_cv, rows=rows)
    alive = [j for j, nm in enumerate(names) if nm not in screened]
    if not alive:
        raise PowerModelError(
            "every counter is constant or near-constant in the training data (is --counters naming the right "
            "columns? are the training workloads idle?)"
        )

    # 2. rank by relation to power (and the correlation matrix for VIF, in the same streamed pass)
    stats = column_stats(values, rows, alive, mod, B, level, y)
    flat = np.diag(stats.gram) <= 1e-12 * np.maximum(1.0, stats.mean**2) * n
    for j in np.flatnonzero(flat):
        screened[names[alive[j]]] = "constant after voltage/frequency scaling"
    order = [j for j in np.argsort(-stats.score, kind="stable") if not flat[j]]
    ranking = [(names[alive[j]], float(stats.score[j])) for j in order]
    if config.max_candidates is not None and len(order) > config.max_candidates:
        for j in order[config.max_candidates :]:
            screened[names[alive[j]]] = "ranked below --max-candidates"
        order = order[: config.max_candidates]
    if not order:
        raise PowerModelError("no counter varies in the training data")

    # 3. VIF pruning; a clock interaction stays a candidate when its counter survived (forward selection
    # decides whether it adds anything)
    primary = [j for j in order if specs[alive[j]].op not in CLOCK_OPS]
    derived = [j for j in order if specs[alive[j]].op in CLOCK_OPS]
    pos = sorted(primary)
    cand_names = [names[alive[j]] for j in pos]
    if pos:
        R = stats.correlation()[np.ix_(pos, pos)]
        pruning = vifmod.prune_vif_correlation(
            R, cand_names, config.vif_threshold, priority=stats.score[pos], duplicate_corr=config.duplicate_corr
        )
    else:
        pruning = vifmod.VifPruning(kept=[], vif_kept={})
    kept_pos = [pos[cand_names.index(nm)] for nm in pruning.kept]
    survivors = {specs[alive[j]].counters[0] for j in kept_pos if specs[alive[j]].op in ("counter", "state")}
    kept_pos += sorted(j for j in derived if set(specs[alive[j]].counters) <= survivors)
    keep = [alive[j] for j in kept_pos]
    cand_specs = [specs[j] for j in keep]
    Z = values[np.ix_(rows, keep)] * mod[:, None]
    R_kept = stats.correlation()[np.ix_(kept_pos, kept_pos)]

    # 4. forward selection by repeated grouped CV error, then the stopping rule on the whole path
    w = sample_weights(y, config.loss)
    cap = config.max_counters if config.max_counters is not None else len(cand_specs)
    C = scaled_design(B, Z, w)
    del Z
    assignments = fold_assignments(groups, config.cv_folds, config.cv_repeats, config.seed)
    min_train = B.shape[1] + min(cap, 30) + 2
    cvs = [_GroupedCV(C, B.shape[1], y, w, level, fold, n_folds, min_train) for fold, n_folds in assignments]
    chosen: list[int] = []
    used: set[str] = set()
    path: list[dict] = []
    curve_folds: list[np.ndarray] = []
    pooled: list[float] = []

    def hardware(j: int) -> set[str]:
        return set(counters_used([cand_specs[j]]))

    bar = tqdm(
        total=min(cap, len(cand_specs)),
        desc="forward selection",
        unit="feature",
        file=sys.stderr,
        disable=not config.progress,
        leave=False,
    )
    best_score, since_best = np.inf, 0
    while True:
        allowed = np.array(
            [j for j in range(len(cand_specs)) if j not in chosen and len(used | hardware(j)) <= cap], dtype=int
        )
        results = [cv.scores(chosen, allowed) for cv in cvs]
        folds_now = np.vstack([r[0] for r in results])
        curve_folds.append(folds_now)
        pooled.append(float(np.mean([cv.pooled(r[0]) for cv, r in zip(cvs, results)])))
        if path:
            path[-1]["cv_mape_pct"] = pooled[-1]
        if pooled[-1] < best_score * (1.0 - config.stop_tol):
            best_score, since_best = pooled[-1], 0
        else:
            since_best += 1
        if allowed.size == 0 or since_best >= config.patience:
            break
        trial = np.mean([r[1] for r in results], axis=0)
        best = int(np.argmin(trial))
        if not np.isfinite(trial[best]):
            break
        j = int(allowed[best])
        chosen.append(j)
        used |= hardware(j)
        path.append({"step": len(chosen), "feature": cand_specs[j].name, "n_counters": len(used)})
        bar.update(1)
        bar.set_postfix_str(f"cv MAPE {trial[best]:.2f}% (+{cand_specs[j].name})")
    bar.close()
    pooled_arr = np.asarray(pooled)
    if config.stop_rule not in STOP_RULES:
        raise PowerModelError(f"unknown stopping rule {config.stop_rule!r} (choose from {', '.join(STOP_RULES)})")
    k_min, k_tol, se = path_choice(curve_folds, pooled_arr, config.stop_tol)
    k_chosen = k_tol if config.stop_rule == "tol" else _one_se_step(pooled_arr, se, k_min)
    base_score = float(pooled_arr[0])
    if k_chosen == 0:
        raise PowerModelError(
            f"no counter improves on the base terms alone (grouped CV MAPE {base_score:.2f}%): power does not "
            "follow the counters in this data (check --target and --counters, or try --normalisation per-cycle)"
        )
    for entry in path:
        entry["se_pct"] = float(se[entry["step"]])
        entry["kept"] = entry["step"] <= k_chosen
        entry["min"] = entry["step"] == k_min
    chosen = chosen[:k_chosen]
    selected_specs = [cand_specs[j] for j in chosen]
    R_sel = R_kept[np.ix_(chosen, chosen)]
    vif_values = np.diag(vifmod.inverse_correlation(R_sel)) if len(chosen) > 1 else np.ones(1)
    vif_sel = dict(zip([s.name for s in selected_specs], vif_values.tolist()))
    return SelectionResult(
        specs=selected_specs,
        n_available=n_available,
        screened=screened,
        ranking=ranking,
        vif=pruning,
        vif_selected=vif_sel,
        path=path,
        cv_mape_pct=float(pooled_arr[k_chosen]),
        base_cv_mape_pct=base_score,
        cv_folds=cvs[0].n_folds,
        cv_rows_unscored=cvs[0].excluded,
        cv_repeats=len(cvs),
        stop_rule=config.stop_rule,
        min_step=k_min,
    )


def spec_table(result: SelectionResult) -> pd.DataFrame:
    """Selected features with their VIF and the CV MAPE after they entered."""
    entered = {p["feature"]: p["cv_mape_pct"] for p in result.path if p["kept"]}
    return pd.DataFrame(
        {
            "feature": result.selected,
            "vif": [result.vif_selected[n] for n in result.selected],
            "cv_mape_pct_after": [entered[n] for n in result.selected],
        }
    )
