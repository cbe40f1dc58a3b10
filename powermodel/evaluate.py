"""Held-out error of a power model next to the baseline's: overall and per workload, and where the held-out
rows lie beyond what the model was fitted on (a linear model's error there grows with the distance, without
bound: a counter a held-out workload drives 100x past anything in training can put its power off by 100x)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


def mape_pct(y: np.ndarray, pred: np.ndarray) -> float:
    """Mean absolute percentage error, in percent."""
    y = np.asarray(y, dtype=float)
    return float(np.mean(np.abs(np.asarray(pred, dtype=float) - y) / np.abs(y)) * 100.0)


MARGIN = 0.1  # a value within this share of the training span past either end still counts as inside


def spans_past(X: np.ndarray, ranges: dict, names: list[str]) -> np.ndarray:
    """(n, k) how far X[:, j] lies past its training range `ranges[names[j]]` ([min, max] over the training rows,
    as validity_range records it), in training spans: <= 0 inside, 1 one span beyond either end; -inf where no
    range is known."""
    past = np.full(X.shape, -np.inf)
    for j, name in enumerate(names):
        lo_hi = ranges.get(name)
        if not lo_hi or None in lo_hi:
            continue
        lo, hi = lo_hi
        past[:, j] = np.maximum(lo - X[:, j], X[:, j] - hi) / max(hi - lo, 1e-12)
    return past


def outside_training(X: np.ndarray, ranges: dict, names: list[str]) -> np.ndarray:
    """(n, k) mask: X[:, j] more than MARGIN of its training span past either end of its range (`spans_past`)."""
    return spans_past(X, ranges, names) > MARGIN


def extrapolations(X: np.ndarray, groups: np.ndarray, ranges: dict, names: list[str]) -> list[dict]:
    """Per workload and feature with rows outside training: the rows, and the furthest value in training
    spans past the range (`spans_past`)."""
    past = spans_past(X, ranges, names)
    outside = past > MARGIN
    out = []
    for j, name in enumerate(names):
        for group in np.unique(groups[outside[:, j]]):
            rows = outside[:, j] & (groups == group)
            out.append(
                {"workload": str(group), "feature": name, "rows": int(rows.sum()), "spans": float(past[rows, j].max())}
            )
    return out


@dataclass
class Evaluation:
    y: np.ndarray
    pred_model: np.ndarray
    groups: np.ndarray
    pred_baseline: np.ndarray | None = None
    beyond_training: list[dict] = field(default_factory=list)  # extrapolations() of the evaluated rows

    @property
    def mape_model(self) -> float:
        return mape_pct(self.y, self.pred_model)

    @property
    def mape_baseline(self) -> float | None:
        return None if self.pred_baseline is None else mape_pct(self.y, self.pred_baseline)

    def per_workload(self) -> pd.DataFrame:
        """One row per workload: samples, measured mean power, MAPE of model and baseline (%)."""
        frame = pd.DataFrame(
            {"workload": self.groups, "y": self.y, "model": np.abs(self.pred_model - self.y) / np.abs(self.y) * 100.0}
        )
        if self.pred_baseline is not None:
            frame["baseline"] = np.abs(self.pred_baseline - self.y) / np.abs(self.y) * 100.0
        agg = {"n": ("y", "size"), "power_w": ("y", "mean"), "model_mape_pct": ("model", "mean")}
        if self.pred_baseline is not None:
            agg["baseline_mape_pct"] = ("baseline", "mean")
        return frame.groupby("workload", sort=True).agg(**agg).reset_index()

    def to_dict(self) -> dict:
        per = self.per_workload()
        return {
            "n_samples": int(len(self.y)),
            "mape_pct": {"model": self.mape_model, "baseline": self.mape_baseline},
            "per_workload": {
                row.workload: {
                    k: (int(v) if k == "n" else float(v))
                    for k, v in row._asdict().items()
                    if k not in ("Index", "workload")
                }
                for row in per.itertuples()
            },
            "beyond_training": self.beyond_training,
        }
