"""Nested cross-validation over workloads (`fusegov fit --cv logo|kfold:K`).

Each outer fold holds out whole workloads and runs the complete fit on the others (screening, VIF,
forward selection with its own inner grouped CV, the model and the baseline), then predicts the held-out
workloads. Nothing about a held-out workload, not even which counters to use, is decided with it. Every
workload is predicted exactly once; the per-workload errors, their mean and the worst one are the
report.
"""

from __future__ import annotations

import re
import sys
import warnings
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold
from tqdm import tqdm

from powermodel.errors import PowerModelError
from powermodel.evaluate import Evaluation
from powermodel.fitting import FitOptions, PreparedData, fit_power_model
from powermodel.splits import Split

AUTO_FOLDS = 5  # outer folds of `--variant auto` (leave one workload out when there are no more workloads)


@dataclass(frozen=True)
class Scheme:
    """`logo` (leave one group out) or `kfold:K` (K folds of whole groups)."""

    name: str
    k: int | None = None

    def __str__(self) -> str:
        return self.name if self.k is None else f"{self.name}:{self.k}"


def parse_scheme(text: str) -> Scheme:
    text = str(text).strip().lower()
    if text == "logo":
        return Scheme("logo")
    match = re.fullmatch(r"kfold:(\d{1,4})", text)
    if match and int(match.group(1)) >= 2:
        return Scheme("kfold", int(match.group(1)))
    raise PowerModelError(f"--cv: expected 'logo' or 'kfold:K' with K >= 2 (e.g. kfold:5), got {text!r}")


def outer_folds(groups: np.ndarray, scheme: Scheme) -> list[list[str]]:
    """Held-out workloads of each outer fold."""
    unique = np.unique(groups)
    if len(unique) < 3:
        raise PowerModelError(
            f"--cv {scheme} needs at least 3 workloads (each fit needs 2 to cross-validate its selection); "
            f"the data has {len(unique)}: give --group-col naming the workload column"
        )
    if scheme.name == "logo":
        return [[g] for g in unique.tolist()]
    k = min(scheme.k, len(unique))
    if len(unique) - int(np.ceil(len(unique) / k)) < 2:
        raise PowerModelError(
            f"--cv {scheme}: {len(unique)} workloads leave too few to train each fold; use fewer folds"
        )
    frame_groups = pd.Series(unique)
    folds = []
    for _, test in GroupKFold(n_splits=k).split(frame_groups, groups=frame_groups):
        folds.append(sorted(frame_groups.iloc[test].tolist()))
    return folds


@dataclass
class CrossValidation:
    """Out-of-fold predictions of every workload and what each fold selected."""

    scheme: Scheme
    evaluation: Evaluation  # every sample predicted by the fold that held its workload out
    folds: list[dict]  # per outer fold: held-out workloads, selected features, counters, structure

    def per_group(self) -> pd.DataFrame:
        return self.evaluation.per_workload()

    def summary(self) -> dict:
        """Mean and worst per-workload MAPE (model, baseline) and the pooled MAPE over all samples."""
        per = self.per_group()
        worst = per.loc[per["model_mape_pct"].idxmax()]
        out = {
            "scheme": str(self.scheme),
            "n_folds": len(self.folds),
            "n_groups": int(len(per)),
            "pooled_mape_pct": {"model": self.evaluation.mape_model, "baseline": self.evaluation.mape_baseline},
            "mean_group_mape_pct": {"model": float(per["model_mape_pct"].mean()), "baseline": None},
            "worst_group": {"workload": str(worst["workload"]), "model_mape_pct": float(worst["model_mape_pct"])},
        }
        if "baseline_mape_pct" in per.columns:
            out["mean_group_mape_pct"]["baseline"] = float(per["baseline_mape_pct"].mean())
            worst_base = per.loc[per["baseline_mape_pct"].idxmax()]
            out["worst_group"]["baseline_mape_pct"] = float(worst["baseline_mape_pct"])
            out["worst_baseline_group"] = {
                "workload": str(worst_base["workload"]),
                "baseline_mape_pct": float(worst_base["baseline_mape_pct"]),
            }
        return out

    def to_dict(self) -> dict:
        per = self.per_group()
        fold_of = {g: i for i, f in enumerate(self.folds) for g in f["test"]}
        return {
            **self.summary(),
            "per_group": {
                row.workload: {
                    "n": int(row.n),
                    "model_mape_pct": float(row.model_mape_pct),
                    "baseline_mape_pct": float(row.baseline_mape_pct) if "baseline_mape_pct" in per.columns else None,
                    "fold": fold_of.get(row.workload),
                }
                for row in per.itertuples()
            },
            "folds": self.folds,
        }


def cross_validate(data: PreparedData, scheme: Scheme, options: FitOptions) -> CrossValidation:
    """Run the whole fit once per outer fold; collect out-of-fold predictions."""
    groups = data.table.group
    folds = outer_folds(groups, scheme)
    all_groups = np.unique(groups).tolist()
    n = len(data.power_w)
    pred = np.full(n, np.nan)
    pred_base = np.full(n, np.nan)
    has_base = True
    records = []
    inner = replace(options, progress=False)
    bar = tqdm(folds, desc=f"cross-validation ({scheme})", unit="fold", file=sys.stderr, disable=not options.progress)
    for i, test in enumerate(bar):
        train = [g for g in all_groups if g not in test]
        split = Split(train=train, test=test, source=f"--cv {scheme}, fold {i + 1} of {len(folds)}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # each fold would repeat the warnings the final fit gives once
            result = fit_power_model(data, split, inner, details=False)
        rows = result.test_mask
        pred[rows] = result.evaluation.pred_model
        if result.evaluation.pred_baseline is None:
            has_base = False
        else:
            pred_base[rows] = result.evaluation.pred_baseline
        records.append(
            {
                "test": list(test),
                "selected": result.selection.selected,
                "counters": result.selection.counters,
                "structure": result.structure,
                "mape_pct": {"model": result.evaluation.mape_model, "baseline": result.evaluation.mape_baseline},
            }
        )
    evaluation = Evaluation(
        y=data.power_w, pred_model=pred, groups=groups, pred_baseline=pred_base if has_base else None
    )
    return CrossValidation(scheme=scheme, evaluation=evaluation, folds=records)


def choose_variant(train: PreparedData, options: FitOptions) -> tuple[str, str]:
    """`--variant auto`: linear or combined, by nested cross-validation over the training workloads only.

    The inner CV error of the selected features is optimistic, and more so for the larger candidate pool of
    the combined variant (the greedy search overfits the CV it is scored by); an outer fold that redoes the
    selection sees that. Ties go to the simpler linear variant.
    """
    n_groups = len(np.unique(train.table.group))
    scheme = Scheme("logo") if n_groups <= AUTO_FOLDS else Scheme("kfold", AUTO_FOLDS)
    scores = {}
    for variant in ("linear", "combined"):
        inner = replace(options, variant=variant, progress=False)
        scores[variant] = cross_validate(train, scheme, inner).evaluation.mape_model
    best = "combined" if scores["combined"] < scores["linear"] else "linear"
    shown = ", ".join(f"{v} {m:.2f}%" for v, m in scores.items())
    return best, f"nested {scheme} cross-validation on the training workloads: {shown}"
