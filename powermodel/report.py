"""Figures and text a person reads after a fit: predicted vs measured, per-workload error, tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from powermodel.evaluate import Evaluation


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_predicted_vs_measured(ev: Evaluation, path: str | Path, title: str = "") -> Path:
    """Scatter of predicted against measured power on held-out samples, model and baseline."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5.0), dpi=120)
    if ev.pred_baseline is not None:
        ax.scatter(
            ev.y,
            ev.pred_baseline,
            s=4,
            alpha=0.35,
            color="tab:gray",
            label=f"utilisation-frequency baseline (MAPE {ev.mape_baseline:.2f}%)",
        )
    ax.scatter(ev.y, ev.pred_model, s=4, alpha=0.5, color="tab:blue", label=f"PMC model (MAPE {ev.mape_model:.2f}%)")
    lo = float(min(ev.y.min(), ev.pred_model.min()))
    hi = float(max(ev.y.max(), ev.pred_model.max()))
    ax.plot([lo, hi], [lo, hi], color="black", linewidth=0.8, label="ideal")
    ax.set_xlabel("measured power (W)")
    ax.set_ylabel("predicted power (W)")
    ax.set_title(title or "held-out workloads")
    ax.legend(loc="upper left", fontsize=8, markerscale=3)
    return _save(plt, fig, path)


def plot_workload_errors(ev: Evaluation, path: str | Path, title: str = "") -> Path:
    """Bar chart of MAPE per held-out workload, model next to baseline."""
    plt = _pyplot()
    per = ev.per_workload()
    x = np.arange(len(per))
    has_base = "baseline_mape_pct" in per.columns
    width = 0.4 if has_base else 0.7
    fig, ax = plt.subplots(figsize=(max(5.0, 0.45 * len(per) + 2), 4.2), dpi=120)
    ax.bar(x - (width / 2 if has_base else 0), per["model_mape_pct"], width, label="PMC model", color="tab:blue")
    if has_base:
        ax.bar(x + width / 2, per["baseline_mape_pct"], width, label="utilisation-frequency", color="tab:gray")
    ax.set_xticks(x)
    ax.set_xticklabels(per["workload"], rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("MAPE (%)")
    ax.set_title(title or "error per held-out workload")
    ax.legend(fontsize=8)
    return _save(plt, fig, path)


def summary_text(result) -> str:
    """Plain-text summary of a `fitting.FitResult`: selection, coefficients, held-out error."""
    sel = result.selection
    ev = result.evaluation
    lines = [
        f"structure {result.structure}, loss {result.options.loss}, features {result.options.normalisation}"
        f"{', variant combined' if result.options.variant == 'combined' else ''}",
        f"split: {result.split.source}: {len(result.split.train)} train / {len(result.split.test)} test workloads",
        f"counters: {sel.n_available} available, {len(sel.screened)} screened out, "
        f"{len(sel.vif.duplicates)} near-copies dropped, "
        f"{len(sel.vif.dropped)} dropped by VIF > {result.options.vif_threshold:g}, "
        f"{len(sel.vif.kept)} candidates",
        f"selected {len(sel.selected)} feature(s) from {len(sel.counters)} counter(s) "
        f"({100.0 * len(sel.counters) / sel.n_available:.1f}% of available), grouped {sel.cv_folds}-fold CV MAPE "
        f"{sel.base_cv_mape_pct:.2f}% (base terms only) -> {sel.cv_mape_pct:.2f}%:",
    ]
    if sel.cv_rows_unscored:
        lines.append(
            f"  ({sel.cv_rows_unscored} validation rows were not scored: their frequency is missing from "
            "the fold's training workloads)"
        )
    entered = {p["feature"]: p["cv_mape_pct"] for p in sel.path if p["kept"]}
    for name in sel.selected:
        lines.append(f"  {name:40s} VIF {sel.vif_selected[name]:6.2f}   CV MAPE after entry {entered[name]:.2f}%")
    lines.append("coefficients (95% CI, statsmodels WLS):")
    for row in result.coefficients.itertuples():
        ci = "" if not np.isfinite(row.ci_low) else f"  [{row.ci_low:.4g}, {row.ci_high:.4g}]"
        lines.append(f"  {row.level:>9s}  {row.term:40s} {row.estimate: .4g}{ci}")
    base = ev.mape_baseline
    lines.append(
        f"held-out MAPE on {len(ev.y)} samples: model {ev.mape_model:.2f}%"
        + ("" if base is None else f", utilisation-frequency baseline {base:.2f}% ({base / ev.mape_model:.2f}x)")
    )
    per = ev.per_workload()
    for row in per.itertuples():
        b = "" if base is None else f"   baseline {row.baseline_mape_pct:6.2f}%"
        lines.append(f"  {row.workload:30s} n={row.n:5d}  model {row.model_mape_pct:6.2f}%{b}")
    return "\n".join(lines)


def _save(plt, fig, path: str | Path) -> Path:
    """Write a figure as PNG (creating the folder) and free it."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
