"""The whole `fit`: features -> split -> selection on training workloads -> models -> held-out evaluation.

Kept apart from the CLI so tests and benchmarks run exactly what `fusegov fit` runs. Nested
cross-validation (`crossval.py`) runs this same function once per outer fold.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd

from powermodel import design
from powermodel import features as feat
from powermodel.errors import PowerModelError
from powermodel.evaluate import Evaluation, extrapolations, mape_pct
from powermodel.ingest import InputWarning, PowerTable
from powermodel.models import PMCModel, UtilFreqModel
from powermodel.selection import SelectionConfig, SelectionResult, column_stats, screen, select_features
from powermodel.splits import Split, check_split, holdout_split

VARIANTS = ("linear", "combined", "auto")
INTERACTIONS = ("auto", "on", "off")
# Counters (best related to power first) that get clock-interaction candidates: a bound on memory (each
# interaction is one more column the size of a counter), far above the handful of counters a model keeps.
INTERACT_TOP = 48


@dataclass
class FitOptions:
    structure: str = "auto"  # auto | per_frequency | clock | voltage | linear
    normalisation: str = "rate"
    loss: str = "relative"
    positive: bool = False
    temperature: bool = False  # per-frequency structure: leakage term 2^((T-25)/10) per level
    variant: str = "linear"  # linear: counters; combined: + inverted and pairwise products (APGPM variant 2);
    # auto: whichever of the two nested cross-validation on the training workloads finds better
    combine_top: int = 12  # counters (best ranked) that form inverted/pairwise features
    interactions: str = "auto"  # counter x clock candidates: auto (with the clock structure), on, off
    vif_threshold: float = 10.0
    duplicate_corr: float | None = 0.99
    cv_folds: int = 10
    cv_repeats: int = 5
    stop_rule: str = "tol"
    max_counters: int | None = None
    max_counter_fraction: float | None = None  # e.g. 0.1: at most 10% of the available counters
    stop_tol: float = 0.01
    patience: int = 3
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
    values: pd.DataFrame  # normalised counter values (rate / per-cycle / count), then state columns as read
    power_w: np.ndarray
    util: np.ndarray | None
    util_source: str
    notes: list[str] = field(default_factory=list)

    @property
    def n_counters(self) -> int:
        return self.values.shape[1] - len(self.table.state_names)

    def subset(self, mask: np.ndarray) -> PreparedData:
        """The rows of a boolean mask (e.g. the training workloads)."""
        keep = np.flatnonzero(mask)
        return replace(
            self,
            table=self.table.subset(keep),
            values=self.values.iloc[keep].reset_index(drop=True),
            power_w=self.power_w[keep],
            util=None if self.util is None else self.util[keep],
        )


@dataclass
class FitResult:
    model: PMCModel
    baseline: UtilFreqModel | None
    selection: SelectionResult
    options: FitOptions
    structure: str
    structure_reason: str
    split: Split
    data: PreparedData
    train_mask: np.ndarray
    test_mask: np.ndarray
    evaluation: Evaluation | None  # None when every workload trained the model (the final fit of --cv)
    train_mape_pct: float
    baseline_train_mape_pct: float | None
    coefficients: pd.DataFrame | None
    baseline_coefficients: pd.DataFrame | None
    validity: dict
    baseline_note: str = ""  # why there is no baseline, when there is none
    variant: str = "linear"  # the feature variant used (what `auto` chose)
    variant_reason: str = ""

    def model_input(self, mask: np.ndarray) -> np.ndarray:
        return model_matrix(self.data, self.selection.specs, mask)


def prepare(
    table: PowerTable, normalisation: str = "rate", counter_bits: int = 32, power_lag_s: float = 0.0
) -> PreparedData:
    """Normalise counters, append state columns, align power, compute utilisation; drop rows where any of
    them is unknown."""
    notes: list[str] = []
    values, valid = feat.activity(table, normalisation, counter_bits)
    if table.state_names:
        states = table.states.reset_index(drop=True)
        values = pd.concat([values, states], axis=1)
        valid &= np.isfinite(states.to_numpy(dtype=float)).all(axis=1)
    power = feat.align_power(table, power_lag_s)
    valid &= np.isfinite(power)
    util, util_source = feat.utilisation(table, counter_bits)
    if util is not None:
        good_util = np.isfinite(util)
        if (valid & ~good_util).any():
            notes.append(f"utilisation unknown in {int((valid & ~good_util).sum())} row(s); baseline skips them")
    else:
        notes.append(no_baseline_note(table))
    dropped = int((~valid).sum())
    if dropped:
        notes.append(
            f"{dropped} row(s) without a complete counter window (first rows of cumulative "
            "segments, or windows shifted out by --power-lag-s) were left out"
        )
    if not valid.any():
        raise PowerModelError(
            "no row has a complete counter window (cumulative counters need two rows per run; check "
            "--counter-kind and --power-lag-s)"
        )
    # From here on the normalised values stand for the counters: drop the raw ones (the size of the trace).
    table = replace(table, counters=table.counters.iloc[:, :0])
    if not valid.all():
        keep = np.flatnonzero(valid)
        table, values = table.subset(keep), values.iloc[keep].reset_index(drop=True)
        power, util = power[keep], None if util is None else util[keep]
    return PreparedData(table=table, values=values, power_w=power, util=util, util_source=util_source, notes=notes)


def no_baseline_note(table: PowerTable) -> str:
    """Why the utilisation-frequency baseline cannot be fitted, and the options that give it one."""
    cycles = [c for c in table.counter_names if "cycle" in c.lower()]
    hint = f" (counters that might count cycles: {', '.join(cycles[:4])})" if cycles else ""
    return (
        "no utilisation: the utilisation-frequency baseline is not fitted and the model is not compared with it; "
        f"give --util-col COL, or --cycles-counter NAME to derive it from a cycle counter{hint}"
    )


def model_matrix(data: PreparedData, specs: list[feat.FeatureSpec], mask: np.ndarray | None = None) -> np.ndarray:
    """Estimator input (`design.model_input` layout) for the given features and rows."""
    t = data.table
    features = feat.compute_features(data.values, specs, t.freq_hz, t.volt_v)
    X = design.model_input(features, t.freq_hz, t.volt_v, t.temp_c)
    return X if mask is None else X[mask]


def baseline_matrix(data: PreparedData, mask: np.ndarray | None = None) -> np.ndarray | None:
    if data.util is None:
        return None
    t = data.table
    X = design.model_input(data.util, t.freq_hz, t.volt_v, t.temp_c)
    return X if mask is None else X[mask]


def resolve_split(groups: np.ndarray, split: Split | None, options: FitOptions) -> Split:
    if split is None:
        return holdout_split(groups, options.test_fraction, options.seed)
    return check_split(split, groups)


def resolve_structure(data: PreparedData, train: np.ndarray, options: FitOptions) -> tuple[str, str, str]:
    """(model structure, why, baseline structure). The baseline is one model per level when the data supports
    that, and has the clock as a quantity otherwise, whatever structure the counter model was given."""
    t = data.table
    volt = None if t.volt_v is None else t.volt_v[train]
    auto, reason = design.choose_structure(t.freq_hz[train], volt, t.group[train])
    baseline = "per_frequency" if auto in ("per_frequency", "linear") else "clock"
    if options.structure == "auto":
        return auto, reason, baseline
    return options.structure, f"given with --structure ({auto} would suit the data: {reason})", baseline


def counter_cap(options: FitOptions, n_available: int) -> int | None:
    cap = options.max_counters
    if options.max_counter_fraction is not None:
        frac_cap = max(1, int(np.floor(options.max_counter_fraction * n_available)))
        cap = frac_cap if cap is None else min(cap, frac_cap)
    return cap


def fit_power_model(
    data: PreparedData, split: Split | None = None, options: FitOptions | None = None, details: bool = True
) -> FitResult:
    """Select counters on the training workloads, fit model and baseline there, evaluate on the test ones.

    A split with no test workload fits on everything (evaluation None). `details=False` skips what only
    the report needs (coefficient intervals), for the many fits of nested cross-validation.
    """
    options = options or FitOptions()
    if options.variant not in VARIANTS:
        raise PowerModelError(f"unknown variant {options.variant!r} (choose from {', '.join(VARIANTS)})")
    if options.interactions not in INTERACTIONS:
        raise PowerModelError(
            f"unknown interactions setting {options.interactions!r} (choose from {', '.join(INTERACTIONS)})"
        )
    t = data.table
    split = resolve_split(t.group, split, options)
    train = np.isin(t.group, split.train)
    test = np.isin(t.group, split.test)
    n_available = data.n_counters
    if train.sum() <= data.values.shape[1]:
        raise PowerModelError(
            f"{int(train.sum())} training sample(s) for {data.values.shape[1]} counters: need more samples than "
            "counters (VIFs and the regression are undetermined otherwise); name fewer with --counters, or "
            "trace longer"
        )
    if split.test and not test.any():
        raise PowerModelError("no sample belongs to a test workload")

    variant, variant_reason = options.variant, ""
    if options.variant == "auto":
        from powermodel.crossval import choose_variant  # crossval runs this function: imported here, not above

        variant, variant_reason = choose_variant(data.subset(train), options)
        options = replace(options, variant=variant)
    structure, reason, baseline_structure = resolve_structure(data, train, options)
    design.check_structure(structure, t.volt_v)
    cap = counter_cap(options, n_available)
    specs = candidate_specs(data, train, structure, options)
    values = feat.compute_features(data.values, specs, t.freq_hz, t.volt_v)
    config = SelectionConfig(
        structure=structure,
        normalisation=options.normalisation,
        loss=options.loss,
        temperature=options.temperature and structure == "per_frequency",
        vif_threshold=options.vif_threshold,
        duplicate_corr=options.duplicate_corr,
        cv_folds=options.cv_folds,
        cv_repeats=options.cv_repeats,
        seed=options.seed,
        stop_rule=options.stop_rule,
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
    coefficients = model.coefficient_table(X[train], data.power_w[train]) if details else None

    baseline, baseline_coefficients, baseline_train, pred_base_test, note = _fit_baseline(
        data, train, test, baseline_structure, details
    )
    validity = validity_range(data, X, train, selection.selected)
    evaluation = None
    if split.test:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # off-level test frequencies are reported in validity
            pred_test = model.predict(X[test])
        evaluation = Evaluation(
            y=data.power_w[test],
            pred_model=pred_test,
            groups=t.group[test],
            pred_baseline=pred_base_test,
            beyond_training=extrapolations(X[test], t.group[test], validity["features"], selection.selected),
        )
    return FitResult(
        model=model,
        baseline=baseline,
        selection=selection,
        options=options,
        structure=structure,
        structure_reason=reason,
        split=split,
        data=data,
        train_mask=train,
        test_mask=test,
        evaluation=evaluation,
        train_mape_pct=mape_pct(data.power_w[train], model.predict(X[train])),
        baseline_train_mape_pct=baseline_train,
        coefficients=coefficients,
        baseline_coefficients=baseline_coefficients,
        validity=validity,
        baseline_note=note,
        variant=variant,
        variant_reason=variant_reason,
    )


def _fit_baseline(data: PreparedData, train: np.ndarray, test: np.ndarray, structure: str, details: bool):
    """(baseline, its coefficients, train MAPE, test predictions, why there is none)."""
    Xb = baseline_matrix(data)
    if Xb is None:
        return None, None, None, None, no_baseline_note(data.table)
    ok = np.isfinite(Xb[:, 0])
    if not ok[test].all():
        note = "utilisation is unknown on part of the test set; the baseline is not compared"
        warnings.warn(note, InputWarning, stacklevel=3)
        return None, None, None, None, note
    rows = train & ok
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        baseline = UtilFreqModel(structure=structure).fit(Xb[rows], data.power_w[rows])
    coefficients = baseline.coefficient_table(Xb[rows], data.power_w[rows]) if details else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        train_mape = mape_pct(data.power_w[rows], baseline.predict(Xb[rows]))
        pred_test = baseline.predict(Xb[test]) if test.any() else None
    return baseline, coefficients, train_mape, pred_test, ""


def candidate_specs(
    data: PreparedData, train: np.ndarray, structure: str, options: FitOptions
) -> list[feat.FeatureSpec]:
    """Counters and state columns; with the clock structure, counter x clock interactions of the counters
    most related to power; with variant "combined", inverted and pairwise features of the best-ranked."""
    t = data.table
    states = t.state_names
    names = [str(c) for c in data.values.columns if c not in states]
    specs = feat.counter_specs(names) + feat.state_specs(states)
    interact = options.interactions == "on" or (options.interactions == "auto" and structure == "clock")
    if options.variant == "linear" and not interact:
        return specs
    top = _ranked_counters(data, train, names, structure, max(options.combine_top, INTERACT_TOP))
    rows = np.flatnonzero(train)
    if interact:
        volt = t.volt_v[rows] if design.has_voltage(None if t.volt_v is None else t.volt_v[rows]) else None
        specs += feat.clock_specs(data.values.loc[train, top[:INTERACT_TOP]], top[:INTERACT_TOP], t.freq_hz[rows], volt)
    if options.variant == "combined":
        best = top[: options.combine_top]
        specs += feat.derived_specs(data.values.loc[train, best], best)
    return specs


def _ranked_counters(data: PreparedData, train: np.ndarray, names: list[str], structure: str, top: int) -> list[str]:
    """Counters by |partial correlation| with power given the clock level (training rows only)."""
    raw = data.values[names].to_numpy(dtype=float)
    rows = np.flatnonzero(train)
    dropped = screen(raw, names, rows=rows)
    alive = [j for j, n in enumerate(names) if n not in dropped]
    if not alive:
        return []
    t = data.table
    levels = (
        design.level_index(t.freq_hz[rows], design.find_levels(t.freq_hz[rows]))
        if structure == "per_frequency"
        else np.zeros(len(rows), dtype=int)
    )
    stats = column_stats(raw, rows, alive, np.ones(len(rows)), np.ones((len(rows), 1)), levels, data.power_w[rows])
    return [names[alive[j]] for j in np.argsort(-stats.score, kind="stable")[:top]]


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
