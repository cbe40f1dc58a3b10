"""Variance inflation factors, all at once, and iterative VIF pruning.

VIF_j = 1 / (1 - R_j^2), with R_j^2 from regressing column j on all others plus a constant. All of them are
the diagonal of the inverse correlation matrix (e.g. Belsley, Kuh & Welsch, "Regression Diagnostics", 1980),
so one p x p inversion replaces statsmodels' p auxiliary regressions over n x p data
(`statsmodels.stats.outliers_influence.variance_inflation_factor`, called with a constant column in exog).
Dropping a column is a rank-one downdate of that inverse, so pruning costs O(p^2) per step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# VIF of a column that is an exact linear combination of the others (numerically).
INFINITE_VIF = np.inf
# Columns this correlated are copies of one signal (e.g. one event counted by two blocks).
DUPLICATE_CORR = 0.99
_EIG_FLOOR = 1e-13


def correlation(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correlation matrix of the non-constant columns of X (n x p) and the mask of those columns."""
    X = np.asarray(X, dtype=float)
    centred = X - X.mean(axis=0)
    scale = np.sqrt((centred**2).sum(axis=0))
    varying = scale > 1e-12 * np.maximum(1.0, np.abs(X).max(axis=0))
    Z = centred[:, varying] / scale[varying]
    R = Z.T @ Z
    np.fill_diagonal(R, 1.0)
    return R, varying


def inverse_correlation(R: np.ndarray) -> np.ndarray:
    """Inverse of a correlation matrix; a singular one gets huge (not NaN) entries on collinear columns."""
    try:
        Linv = np.linalg.inv(np.linalg.cholesky(R))  # R = L L^T  ->  R^-1 = L^-T L^-1, symmetric by construction
        return Linv.T @ Linv
    except np.linalg.LinAlgError:
        w, Q = np.linalg.eigh(R)
        w = np.maximum(w, _EIG_FLOOR * max(float(w.max()), 1.0))
        return (Q / w) @ Q.T


def vif_all(X: np.ndarray) -> np.ndarray:
    """VIF of every column of X (n x p), as statsmodels gives with a constant in exog; inf for a constant column."""
    X = np.asarray(X, dtype=float)
    out = np.full(X.shape[1], INFINITE_VIF)
    R, varying = correlation(X)
    if varying.sum() == 1:
        out[varying] = 1.0
    elif varying.any():
        out[varying] = np.diag(inverse_correlation(R))
    return out


@dataclass
class VifPruning:
    """Result of iterative pruning: kept columns with their final VIFs, dropped ones in drop order."""

    kept: list[str]
    vif_kept: dict[str, float]
    dropped: list[tuple[str, float]] = field(default_factory=list)
    vif_initial: dict[str, float] = field(default_factory=dict)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (dropped, the near-copy kept instead)


def prune_vif(
    X: np.ndarray,
    names: list[str],
    threshold: float = 10.0,
    priority: np.ndarray | None = None,
    duplicate_corr: float | None = DUPLICATE_CORR,
) -> VifPruning:
    """Drop the column with the largest VIF until all are <= threshold.

    `priority` (higher = more related to power) decides between copies of one signal: first, of columns
    correlated at |r| >= `duplicate_corr` the less related to power goes (None: no such pass); then, of
    columns whose VIF is within 0.1% of the largest, the least related to power goes first. Without the
    first pass, a family of near-identical counters (one event seen by several blocks) can be pruned
    down to whichever member is noisiest, since noise is what makes a copy look independent.
    """
    X = np.asarray(X, dtype=float)
    if X.shape[1] != len(names):
        raise ValueError("names must match the columns of X")
    R, varying = correlation(X)
    if not varying.all():
        bad = [n for n, v in zip(names, varying) if not v]
        raise ValueError(f"constant columns cannot enter VIF pruning: {bad}")
    return prune_vif_correlation(R, names, threshold, priority, duplicate_corr)


def prune_vif_correlation(
    R: np.ndarray,
    names: list[str],
    threshold: float = 10.0,
    priority: np.ndarray | None = None,
    duplicate_corr: float | None = DUPLICATE_CORR,
) -> VifPruning:
    """`prune_vif` from a correlation matrix already at hand (e.g. accumulated over chunks of rows)."""
    names = list(names)
    priority = np.zeros(len(names)) if priority is None else np.asarray(priority, dtype=float)
    A_all = inverse_correlation(R) if len(names) > 1 else np.ones((1, 1))
    vif_initial = dict(zip(names, np.diag(A_all).tolist()))
    duplicates: list[tuple[str, str]] = []
    alive = np.arange(len(names))
    if duplicate_corr is not None and len(names) > 1:
        kept: list[int] = []
        for j in np.argsort(-priority, kind="stable"):  # best related first; a later near-copy is dropped
            close = np.flatnonzero(np.abs(R[j, kept]) >= duplicate_corr) if kept else []
            if len(close):
                duplicates.append((names[j], names[kept[close[0]]]))
            else:
                kept.append(int(j))
        alive = np.array(sorted(kept))
    A = inverse_correlation(R[np.ix_(alive, alive)]) if len(alive) > 1 else np.ones((1, 1))
    dropped: list[tuple[str, float]] = []
    steps = 0
    while len(alive) > 1:
        diag = np.diag(A)
        worst = float(diag.max())
        if not worst > threshold:
            break
        near = np.flatnonzero(diag >= worst * (1 - 1e-3))
        j = near[np.argmin(priority[alive[near]])]
        dropped.append((names[alive[j]], float(diag[j])))
        keep = np.arange(len(alive)) != j
        # rank-one downdate: inverse of R without row/column j
        a = A[keep, j]
        A = A[np.ix_(keep, keep)] - np.outer(a, a) / A[j, j]
        alive = alive[keep]
        steps += 1
        if steps % 25 == 0 or np.diag(A).min() < 1 - 1e-6:  # refresh against accumulated rounding
            A = inverse_correlation(R[np.ix_(alive, alive)])
    if len(alive) > 1:
        A = inverse_correlation(R[np.ix_(alive, alive)])
    final = np.diag(A) if len(alive) > 1 else np.ones(len(alive))
    kept = [names[i] for i in alive]
    return VifPruning(
        kept=kept,
        vif_kept=dict(zip(kept, final.tolist())),
        dropped=dropped,
        vif_initial=vif_initial,
        duplicates=duplicates,
    )
