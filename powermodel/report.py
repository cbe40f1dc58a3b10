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


def plot_cv_curve(selection, path: str | Path, title: str = "") -> Path:
    """Grouped-CV error against the length of the selection path, with the stopping rule's choice."""
    plt = _pyplot()
    steps = [0] + [p["step"] for p in selection.path]
    mape = [selection.base_cv_mape_pct] + [p["cv_mape_pct"] for p in selection.path]
    se = [0.0] + [p.get("se_pct", 0.0) for p in selection.path]
    counters = [0] + [p["n_counters"] for p in selection.path]
    fig, ax = plt.subplots(figsize=(6.0, 4.0), dpi=120)
    ax.errorbar(steps, mape, yerr=se, marker="o", markersize=4, capsize=3, color="tab:blue", label="grouped CV MAPE")
    best = min(range(len(mape)), key=mape.__getitem__)
    ax.axhline(mape[best], color="tab:gray", linestyle=":", linewidth=0.8, label=f"lowest ({steps[best]} features)")
    chosen = len(selection.specs)
    ax.plot(
        [chosen],
        [mape[chosen]],
        marker="*",
        markersize=14,
        color="tab:red",
        linestyle="none",
        label=f"chosen ({chosen} features, {len(selection.counters)} counters)",
    )
    ax.set_xticks(steps)
    ax.set_xticklabels([f"{s}\n({c})" for s, c in zip(steps, counters)], fontsize=7)
    ax.set_xlabel("features entered (counters used)")
    ax.set_ylabel("grouped CV MAPE (%)")
    rule = "one-standard-error rule" if selection.stop_rule == "one_se" else "shortest within tolerance of lowest"
    ax.set_title(
        title or f"selection path, {selection.cv_repeats}x repeated {selection.cv_folds}-fold; {rule}", fontsize=9
    )
    ax.legend(fontsize=8)
    return _save(plt, fig, path)


def summary_text(result, cross_validation=None) -> str:
    """Plain-text summary of a `fitting.FitResult`: structure, selection, coefficients, held-out error."""
    sel = result.selection
    ev = result.evaluation
    lines = [
        f"structure {result.structure}, loss {result.options.loss}, features {result.options.normalisation}, "
        f"variant {result.variant}",
        f"  why: {result.structure_reason}",
    ]
    if result.variant_reason:
        lines.append(f"  variant {result.variant}: {result.variant_reason}")
    if result.baseline is not None:
        lines.append(f"baseline: utilisation ({result.data.util_source}) and clock, {_baseline_form(result.baseline)}")
    else:
        lines.append(f"baseline: none ({result.baseline_note})")
    lines += [
        f"split: {result.split.source}: {len(result.split.train)} train / {len(result.split.test)} test workloads",
        f"counters: {sel.n_available} available, {len(sel.screened)} screened out, "
        f"{len(sel.vif.duplicates)} near-copies dropped, "
        f"{len(sel.vif.dropped)} dropped by VIF > {result.options.vif_threshold:g}, "
        f"{len(sel.vif.kept)} candidates",
        f"selected {len(sel.selected)} feature(s) from {len(sel.counters)} counter(s) "
        f"({100.0 * len(sel.counters) / max(sel.n_available, 1):.1f}% of available), grouped {sel.cv_folds}-fold CV "
        f"x {sel.cv_repeats} MAPE {sel.base_cv_mape_pct:.2f}% (base terms only) -> {sel.cv_mape_pct:.2f}%:",
    ]
    if sel.cv_rows_unscored:
        lines.append(
            f"  ({sel.cv_rows_unscored} validation rows were not scored: their frequency is missing from "
            "the fold's training workloads)"
        )
    for p in sel.path:
        if p["kept"]:
            name = p["feature"]
            lines.append(
                f"  {name:40s} VIF {sel.vif_selected[name]:6.2f}   CV MAPE after entry {p['cv_mape_pct']:.2f}%"
            )
    rest = [p for p in sel.path if not p["kept"]]
    low = sel.path[sel.min_step - 1]["cv_mape_pct"] if sel.min_step else sel.base_cv_mape_pct
    rule = (
        "one-standard-error rule"
        if sel.stop_rule == "one_se"
        else f"fewest features within {100 * result.options.stop_tol:g}% of the lowest CV MAPE"
    )
    lines.append(
        f"  stopping: {rule}: lowest {low:.2f}% at {sel.min_step} features, kept {len(sel.selected)}"
        + (f"; later steps not kept: {', '.join(p['feature'] for p in rest)}" if rest else "")
    )
    if result.coefficients is not None:
        lines.append("coefficients (95% CI, statsmodels WLS):")
        for row in result.coefficients.itertuples():
            ci = "" if not np.isfinite(row.ci_low) else f"  [{row.ci_low:.4g}, {row.ci_high:.4g}]"
            lines.append(f"  {row.level:>9s}  {row.term:40s} {row.estimate: .4g}{ci}")
    if ev is not None:
        lines += evaluation_lines(ev, f"held-out MAPE on {len(ev.y)} samples")
    if cross_validation is not None:
        lines += cross_validation_lines(cross_validation)
    return "\n".join(lines)


def _baseline_form(baseline) -> str:
    if baseline.structure == "clock":
        terms = " + ".join(baseline.base_names_ + list(baseline.util_terms_))
        return f"one model, P = {terms}"
    return f"one model per level ({len(baseline.levels_hz_)} levels), P = a_f + b_f * u"


def evaluation_lines(ev: Evaluation, head: str) -> list[str]:
    base = ev.mape_baseline
    lines = [
        f"{head}: model {ev.mape_model:.2f}%"
        + ("" if base is None else f", utilisation-frequency baseline {base:.2f}% ({base / ev.mape_model:.2f}x)")
    ]
    for row in ev.per_workload().itertuples():
        b = "" if base is None else f"   baseline {row.baseline_mape_pct:6.2f}%"
        lines.append(f"  {row.workload:30s} n={row.n:5d}  model {row.model_mape_pct:6.2f}%{b}")
        for far in (e for e in ev.beyond_training if e["workload"] == row.workload):
            lines.append(
                f"    beyond training: {far['feature']} in {far['rows']} rows, up to {far['spans']:.3g} training "
                "spans past its range (the model extrapolates there)"
            )
    return lines


def cross_validation_lines(cv) -> list[str]:
    """Nested cross-validation: every workload predicted by a fit that never saw it."""
    summary = cv.summary()
    lines = evaluation_lines(
        cv.evaluation,
        f"nested cross-validation ({cv.scheme}, {summary['n_folds']} folds, selection redone in each), "
        f"pooled MAPE on {len(cv.evaluation.y)} samples",
    )
    mean, worst = summary["mean_group_mape_pct"], summary["worst_group"]
    base = "" if mean["baseline"] is None else f", baseline {mean['baseline']:.2f}%"
    lines.append(f"  mean over {summary['n_groups']} workloads: model {mean['model']:.2f}%{base}")
    lines.append(f"  worst workload: {worst['workload']} model {worst['model_mape_pct']:.2f}%")
    counts: dict[str, int] = {}
    for fold in cv.folds:
        for name in fold["counters"]:
            counts[name] = counts.get(name, 0) + 1
    shown = ", ".join(f"{n} ({k}/{len(cv.folds)})" for n, k in sorted(counts.items(), key=lambda kv: -kv[1])[:8])
    lines.append(f"  counters chosen across folds: {shown}")
    return lines


def _save(plt, fig, path: str | Path) -> Path:
    """Write a figure as PNG (creating the folder) and free it."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
