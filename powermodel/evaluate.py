"""Held-out error of a power model next to the baseline's: overall and per workload."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


def mape_pct(y: np.ndarray, pred: np.ndarray) -> float:
    """Mean absolute percentage error, in percent."""
    y = np.asarray(y, dtype=float)
    return float(np.mean(np.abs(np.asarray(pred, dtype=float) - y) / np.abs(y)) * 100.0)


@dataclass
class Evaluation:
    y: np.ndarray
    pred_model: np.ndarray
    groups: np.ndarray
    pred_baseline: np.ndarray | None = None

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
        }
