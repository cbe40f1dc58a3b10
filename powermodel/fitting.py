"""The whole `fit`: features -> split -> selection on training workloads -> models -> held-out evaluation.

Kept apart from the CLI so tests and benchmarks run exactly what `fusegov fit` runs.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd

from android.errors import TraceError
from powermodel import design
from powermodel import features as feat
from powermodel.evaluate import Evaluation, mape_pct
from powermodel.ingest import InputWarning, PowerTable
from powermodel.models import PMCModel, UtilFreqModel
from powermodel.selection import SelectionConfig, SelectionResult, column_stats, screen, select_features
from powermodel.splits import Split, check_split, holdout_split

VARIANTS = ("linear", "combined")


@dataclass
class FitOptions:
    structure: str = "auto"  # auto | per_frequency | voltage | linear
    normalisation: str = "rate"
    loss: str = "relative"
    positive: bool = False
    temperature: bool = False  # per-frequency structure: leakage term 2^((T-25)/10) per level
    variant: str = "linear"  # linear: counters; combined: + inverted and pairwise products (APGPM variant 2)
    combine_top: int = 12  # counters (best ranked) that form inverted/pairwise features
    vif_threshold: float = 10.0
    duplicate_corr: float | None = 0.99
    cv_folds: int = 10
    max_counters: int | None = None
    max_counter_fraction: float | None = None  # e.g. 0.1: at most 10% of the available counters
    stop_tol: float = 0.01
    patience: int = 2
    max_candidates: int | None = None
    counter_bits: int = 32
    power_lag_s: float = 0.0
    test_fraction: float = 0.25
    seed: int = 0
    progress: bool = True

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("progress")
        return data


@dataclass
class PreparedData:
    """Features of every usable row, with context; what both fit and evaluate need."""

    table: PowerTable
    values: pd.DataFrame  # normalised counter values (rate / per-cycle / count)
    power_w: np.ndarray
    util: np.ndarray | None
    util_source: str
    notes: list[str] = field(default_factory=list)


@dataclass
class FitResult:
    model: PMCModel
    baseline: UtilFreqModel | None
    selection: SelectionResult
    options: FitOptions
    structure: str
    split: Split
    data: PreparedData
    train_mask: np.ndarray
    test_mask: np.ndarray
    evaluation: Evaluation
    train_mape_pct: float
    baseline_train_mape_pct: float | None
    coefficients: pd.DataFrame
    baseline_coefficients: pd.DataFrame | None
    validity: dict

    def model_input(self, mask: np.ndarray) -> np.ndarray:
        return model_matrix(self.data, self.selection.specs, mask)


def prepare(
    table: PowerTable, normalisation: str = "rate", counter_bits: int = 32, power_lag_s: float = 0.0
) -> PreparedData:
    """Normalise counters, align power, compute utilisation; drop rows where any of them is unknown."""
    notes: list[str] = []
    values, valid = feat.activity(table, normalisation, counter_bits)
    power = feat.align_power(table, power_lag_s)
    valid &= np.isfinite(power)
    util, util_source = feat.utilisation(table, counter_bits)
    if util is not None:
        good_util = np.isfinite(util)
        if (valid & ~good_util).any():
            notes.append(f"utilisation unknown in {int((valid & ~good_util).sum())} row(s); baseline skips them")
    dropped = int((~valid).sum())
    if dropped:
        notes.append(
            f"{dropped} row(s) without a complete counter window (first rows of cumulative "
            "segments, or windows shifted out by --power-lag-s) were left out"
        )
    if not valid.any():
        raise TraceError("no row has a complete counter window")
    # From here on the normalised values stand for the counters: drop the raw ones (the size of the trace).
    table = replace(table, counters=table.counters.iloc[:, :0])
    if not valid.all():
        keep = np.flatnonzero(valid)
        table, values = table.subset(keep), values.iloc[keep].reset_index(drop=True)
        power, util = power[keep], None if util is None else util[keep]
    return PreparedData(table=table, values=values, power_w=power, util=util, util_source=util_source, notes=notes)


def model_matrix(data: PreparedData, specs: list[feat.FeatureSpec], mask: np.ndarray | None = None) -> np.ndarray:
    """Estimator input (`design.model_input` layout) for the given features and rows."""
    t = data.table
    X = design.model_input(feat.compute_features(data.values, specs), t.freq_hz, t.volt_v, t.temp_c)
    return X if mask is None else X[mask]


def baseline_matrix(data: PreparedData, mask: np.ndarray | None = None) -> np.ndarray | None:
    if data.util is None:
        return None
    X = design.model_input(data.util, data.table.freq_hz)
    return X if mask is None else X[mask]


def resolve_split(groups: np.ndarray, split: Split | None, options: FitOptions) -> Split:
    if split is None:
        return holdout_split(groups, options.test_fraction, options.seed)
    return check_split(split, groups)


def fit_power_model(data: PreparedData, split: Split | None = None, options: FitOptions | None = None) -> FitResult:
    """Select counters on the training workloads, fit model and baseline there, evaluate on the test ones."""
    options = options or FitOptions()
    if options.variant not in VARIANTS:
        raise TraceError(f"unknown variant {options.variant!r} (choose from {', '.join(VARIANTS)})")
    t = data.table
    split = resolve_split(t.group, split, options)
    train = np.isin(t.group, split.train)
    test = np.isin(t.group, split.test)
    n_available = data.values.shape[1]
    if train.sum() <= n_available:
        raise TraceError(
            f"{int(train.sum())} training sample(s) for {n_available} counters: need more samples "
            "than counters (VIFs and the regression are undetermined otherwise)"
        )
    if not test.any():
        raise TraceError("no sample belongs to a test workload")

    structure = options.structure
    if structure == "auto":
        structure = design.choose_structure(t.freq_hz[train], None if t.volt_v is None else t.volt_v[train])
    design.check_structure(structure, t.volt_v)

    cap = options.max_counters
    if options.max_counter_fraction is not None:
        frac_cap = max(1, int(np.floor(options.max_counter_fraction * n_available)))
        cap = frac_cap if cap is None else min(cap, frac_cap)

    specs = candidate_specs(data, train, structure, options)
    values = feat.compute_features(data.values, specs)
    config = SelectionConfig(
        structure=structure,
        normalisation=options.normalisation,
        loss=options.loss,
        temperature=options.temperature and structure == "per_frequency",
        vif_threshold=options.vif_threshold,
        duplicate_corr=options.duplicate_corr,
        cv_folds=options.cv_folds,
        max_counters=cap,
        stop_tol=options.stop_tol,
        patience=options.patience,
        max_candidates=options.max_candidates,
        progress=options.progress,
    )
    selection = select_features(
        values,
        specs,
        data.power_w,
        t.group,
        t.freq_hz,
        t.volt_v,
        t.temp_c,
        config,
        n_available=n_available,
        rows=np.flatnonzero(train),
    )
    del values

    X = model_matrix(data, selection.specs)
    model = PMCModel(
        structure=structure,
        loss=options.loss,
        positive=options.positive,
        normalisation=options.normalisation,
        temperature=options.temperature and structure == "per_frequency",
    )
    model.fit(pd.DataFrame(X[train], columns=selection.selected + list(design.CONTEXT_NAMES)), data.power_w[train])
    coefficients = model.coefficient_table(X[train], data.power_w[train])

    baseline = baseline_coefficients = None
    baseline_train = None
    pred_base_test = None
    Xb = baseline_matrix(data)
    if Xb is not None:
        ok = np.isfinite(Xb[:, 0])
        if not ok[test].all():
            warnings.warn(
                "utilisation is unknown on part of the test set; the baseline is not compared",
                InputWarning,
                stacklevel=2,
            )
        else:
            baseline = UtilFreqModel().fit(Xb[train & ok], data.power_w[train & ok])
            baseline_coefficients = baseline.coefficient_table(Xb[train & ok], data.power_w[train & ok])
            baseline_train = mape_pct(data.power_w[train & ok], baseline.predict(Xb[train & ok]))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                pred_base_test = baseline.predict(Xb[test])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # off-level test frequencies are reported in validity
        pred_test = model.predict(X[test])
    evaluation = Evaluation(
        y=data.power_w[test], pred_model=pred_test, groups=t.group[test], pred_baseline=pred_base_test
    )
    return FitResult(
        model=model,
        baseline=baseline,
        selection=selection,
        options=options,
        structure=structure,
        split=split,
        data=data,
        train_mask=train,
        test_mask=test,
        evaluation=evaluation,
        train_mape_pct=mape_pct(data.power_w[train], model.predict(X[train])),
        baseline_train_mape_pct=baseline_train,
        coefficients=coefficients,
        baseline_coefficients=baseline_coefficients,
        validity=validity_range(data, X, train, selection.selected),
    )


def candidate_specs(
    data: PreparedData, train: np.ndarray, structure: str, options: FitOptions
) -> list[feat.FeatureSpec]:
    """Counters, plus (variant "combined") inverted and pairwise features of the best-ranked counters."""
    names = [str(c) for c in data.values.columns]
    specs = feat.counter_specs(names)
    if options.variant == "linear":
        return specs
    raw = data.values.to_numpy(dtype=float, copy=False)
    rows = np.flatnonzero(train)
    dropped = screen(raw, names, rows=rows)
    alive = [j for j, n in enumerate(names) if n not in dropped]
    t = data.table
    levels = (
        design.level_index(t.freq_hz[rows], design.find_levels(t.freq_hz[rows]))
        if structure == "per_frequency"
        else np.zeros(len(rows), dtype=int)
    )
    stats = column_stats(raw, rows, alive, np.ones(len(rows)), np.ones((len(rows), 1)), levels, data.power_w[rows])
    top = [names[alive[j]] for j in np.argsort(-stats.score, kind="stable")[: options.combine_top]]
    return specs + feat.derived_specs(data.values.loc[train, top], top)


def validity_range(data: PreparedData, X: np.ndarray, train: np.ndarray, names: list[str]) -> dict:
    """Where the model was fitted: frequency levels and range, feature ranges, voltage and temperature."""
    t = data.table
    out = {
        "freq_hz": [float(t.freq_hz[train].min()), float(t.freq_hz[train].max())],
        "levels_hz": design.find_levels(t.freq_hz[train]).tolist(),
        "features": {n: [float(X[train, j].min()), float(X[train, j].max())] for j, n in enumerate(names)},
    }
    if t.volt_v is not None:
        out["volt_v"] = [float(np.nanmin(t.volt_v[train])), float(np.nanmax(t.volt_v[train]))]
    if t.temp_c is not None:
        out["temp_c"] = [float(np.nanmin(t.temp_c[train])), float(np.nanmax(t.temp_c[train]))]
    return out
