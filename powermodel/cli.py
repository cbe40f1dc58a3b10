"""`fusegov fit` and `fusegov evaluate`: offline power-model fitting and scoring on trace files."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
import warnings
from pathlib import Path

from powermodel.errors import PowerModelError
from powermodel.options import (
    BAD_VALUE_POLICIES,
    COUNTER_KINDS,
    FORMATS,
    FREQ_UNITS,
    INTERACTION_CHOICES,
    STOP_RULE_CHOICES,
    STRUCTURE_CHOICES,
    TIME_UNITS,
    UTIL_UNITS,
    VARIANT_CHOICES,
)

DEFAULT_OUTPUT = "out/model.json"


def register(subparsers) -> None:
    fit = subparsers.add_parser(
        "fit",
        help="fit a GPU/CPU power model from traces (APGPM-style counter selection)",
        description="Select performance counters on the training workloads (screening, VIF pruning, forward "
        "selection by repeated grouped cross-validation with a one-standard-error stopping rule), fit the "
        "counter model and the utilisation-frequency baseline, and report both on held-out workloads: a "
        "--split file, a seeded hold-out of whole workloads, or nested cross-validation (--cv).",
    )
    fit.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="trace files (Parquet/CSV, ARMPM .tsv) or fusegov dataset folders"
    )
    _add_input_options(fit)
    held = fit.add_argument_group("held-out evaluation (workloads never on both sides)")
    held.add_argument("--split", metavar="FILE", help="train/test workload split (ARMPM layout or workload,split)")
    held.add_argument(
        "--test-fraction",
        type=float,
        default=0.25,
        help="without --split: share of workloads held out for testing (default 0.25)",
    )
    held.add_argument(
        "--cv",
        metavar="logo|kfold:K",
        help="nested cross-validation instead of one split: leave one workload out (logo) or K folds of whole "
        "workloads; the whole fit, selection included, is redone in each fold; per-workload errors, their "
        "mean and the worst are reported; the model written is then fitted on every workload",
    )
    held.add_argument("--seed", type=int, default=0, help="seed of the held-out draw and CV repeats (default 0)")
    fit.add_argument("-o", "--output", default=DEFAULT_OUTPUT, help=f"model JSON to write (default {DEFAULT_OUTPUT})")
    fit.add_argument("--onnx", metavar="FILE", help="also export the model as ONNX (checked with onnxruntime)")
    model = fit.add_argument_group("model and selection")
    model.add_argument(
        "--structure",
        default="auto",
        choices=STRUCTURE_CHOICES,
        help="per-frequency: one linear model per clock level; clock: one model with the clock as a quantity "
        "(f, V, V^2*f or f^2 terms, counter x clock interactions); voltage: activity x V^2 with leakage in V, "
        "V*T; linear: no clock term. auto (default) chooses from the data and says why: per-frequency for "
        "few well-populated levels, clock otherwise",
    )
    model.add_argument(
        "--interactions",
        default="auto",
        choices=INTERACTION_CHOICES,
        help="counter x clock candidates (x*f, x*V^2): auto = with the clock structure (default)",
    )
    model.add_argument(
        "--normalisation",
        default="rate",
        choices=["rate", "per-cycle", "count"],
        help="counters as events per second (default), per clock cycle, or raw counts per window",
    )
    model.add_argument(
        "--loss",
        default="relative",
        choices=["relative", "squared"],
        help="least squares on relative error (default; what MAPE scores) or plain OLS",
    )
    model.add_argument("--positive", action="store_true", help="constrain activity coefficients to be >= 0")
    model.add_argument(
        "--temperature-term",
        action="store_true",
        help="per-frequency structure: add a leakage term 2^((T-25)/10) per level (needs a temperature column)",
    )
    model.add_argument(
        "--variant",
        default="linear",
        choices=VARIANT_CHOICES,
        help="combined: also inverted and pairwise-product counters (APGPM's second variant); auto: the one "
        "nested cross-validation on the training workloads finds better (about ten extra fits)",
    )
    model.add_argument(
        "--combine-top", type=int, default=12, help="counters (best ranked) that form combined features (default 12)"
    )
    model.add_argument("--vif-threshold", type=float, default=10.0, help="VIF pruning threshold (default 10)")
    model.add_argument(
        "--duplicate-corr",
        type=float,
        default=0.99,
        help="counters correlated at |r| >= this are copies: keep the one more related to power "
        "before VIF pruning (default 0.99; 1 turns it off)",
    )
    model.add_argument(
        "--cv-folds", type=int, default=10, help="grouped CV folds inside selection (default 10, capped at #workloads)"
    )
    model.add_argument(
        "--cv-repeats",
        type=int,
        default=5,
        help="fold assignments averaged inside selection when there are more workloads than folds (default 5)",
    )
    model.add_argument(
        "--stop-rule",
        default="tol",
        choices=STOP_RULE_CHOICES,
        help="length of the selection path, chosen from the whole CV curve: tol = fewest counters within "
        "--stop-tol of the lowest CV error (default); one-se = fewest within one standard error of it",
    )
    model.add_argument(
        "--max-counters", metavar="N|P%", help="at most N counters, or P%% of the available ones (e.g. 10%%)"
    )
    model.add_argument(
        "--stop-tol",
        type=float,
        default=0.01,
        help="a step that cuts the CV MAPE by less than this fraction is no improvement (default 0.01)",
    )
    model.add_argument(
        "--patience",
        type=int,
        default=3,
        help="steps without improvement before the selection path ends (default 3)",
    )
    model.add_argument(
        "--max-candidates", type=int, help="keep only the N counters most related to power before VIF pruning"
    )
    fit.add_argument("--plots", metavar="DIR", help="directory for PNG figures (default: next to the model)")
    fit.add_argument("--no-plots", action="store_true", help="do not draw figures")
    fit.add_argument(
        "--json", action="store_true", help="print one JSON object (selected, n_available, mape_pct, cv, ...)"
    )
    fit.add_argument("--quiet", action="store_true", help="no progress bar")
    fit.set_defaults(func=cmd_fit)

    ev = subparsers.add_parser(
        "evaluate",
        help="score a fitted power model on traces",
        description="Load a model JSON written by 'fusegov fit' and report its MAPE (and the baseline's) on new "
        "inputs, overall and per workload. Input mapping defaults to the one the model was fitted with.",
    )
    ev.add_argument("model", help="model JSON from 'fusegov fit'")
    ev.add_argument("inputs", nargs="+", metavar="INPUT")
    _add_input_options(ev, defaults_from_model=True)
    ev.add_argument("--plots", metavar="DIR", help="directory for PNG figures")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.set_defaults(func=cmd_evaluate)


def _add_input_options(parser: argparse.ArgumentParser, defaults_from_model: bool = False) -> None:
    g = parser.add_argument_group("input and column mapping" + (" (default: as fitted)" if defaults_from_model else ""))
    g.add_argument(
        "--format",
        choices=FORMATS,
        default=None if defaults_from_model else "auto",
        help="input format (default: detect from the file)",
    )
    g.add_argument(
        "--target",
        "--power-col",
        dest="power",
        metavar="COL",
        help="power column to model (fusegov traces: power.gpu_w)",
    )
    g.add_argument("--freq-col", metavar="COL", help="frequency column (fusegov: freq.<rail>_hz)")
    g.add_argument("--freq-unit", choices=list(FREQ_UNITS), help="unit of the frequency column")
    g.add_argument("--group-col", metavar="COL", help="workload/group column (fusegov: workload)")
    g.add_argument(
        "--counters",
        action="append",
        metavar="LIST",
        help="counter columns: comma-separated names or glob patterns (repeatable; default all)",
    )
    g.add_argument(
        "--counter-kind",
        choices=COUNTER_KINDS,
        help="counters are per-interval counts (delta), cumulative totals, or rates per second",
    )
    g.add_argument("--volt-col", metavar="COL", help="voltage column (V)")
    g.add_argument("--temp-col", metavar="COL", help="temperature column (C)")
    g.add_argument("--time-col", metavar="COL", help="timestamp column")
    g.add_argument("--time-unit", choices=list(TIME_UNITS), help="unit of the timestamp column")
    g.add_argument("--util-col", metavar="COL", help="utilisation column for the baseline (%% or fraction)")
    g.add_argument(
        "--util-unit", choices=UTIL_UNITS, help="unit of --util-col (default: percent when values exceed 5 per core)"
    )
    g.add_argument(
        "--util-cores",
        metavar="N|COL",
        help="divide utilisation by this number of cores, or by a column of active cores (busy time or cycles "
        "summed over several cores); ARMPM: its Cores(#) column when present",
    )
    g.add_argument(
        "--state-cols",
        action="append",
        metavar="LIST",
        help="state columns (active cores, online CPUs, ...): comma-separated; they enter the model as "
        "values, never as rates (ARMPM's Cores(#) by default)",
    )
    g.add_argument(
        "--cycles-counter",
        metavar="NAME",
        help="counter whose rate / f is the utilisation (when there is no utilisation column)",
    )
    g.add_argument("--interval-s", type=float, help="sampling interval when there is no timestamp column")
    g.add_argument(
        "--bad-values",
        choices=BAD_VALUE_POLICIES,
        default=None if defaults_from_model else "drop",
        help="rows with NaN/inf values: drop them with a warning (default) or refuse the input",
    )
    g.add_argument(
        "--counter-bits",
        type=int,
        default=None if defaults_from_model else 32,
        help="counter register width for wrap handling (default 32)",
    )
    g.add_argument(
        "--power-lag-s",
        type=float,
        default=None if defaults_from_model else 0.0,
        help="power lags the counters by this many seconds; power is re-averaged over shifted windows",
    )


def _mapping(args):
    from powermodel.ingest import ColumnMapping

    counters = _list(args.counters)
    return ColumnMapping(
        power=args.power,
        freq=args.freq_col,
        freq_unit=args.freq_unit,
        group=args.group_col,
        counters=counters,
        counter_kind=args.counter_kind,
        volt=args.volt_col,
        temp=args.temp_col,
        time=args.time_col,
        time_unit=args.time_unit,
        util=args.util_col,
        cycles_counter=args.cycles_counter,
        interval_s=args.interval_s,
        states=_list(args.state_cols),
        util_cores=args.util_cores,
        util_unit=args.util_unit,
    )


def _list(items: list[str] | None) -> list[str] | None:
    """Repeatable comma-separated option values as one list (None when not given)."""
    if not items:
        return None
    return [c.strip() for item in items for c in item.split(",") if c.strip()] or None


def _max_counters(text: str | None) -> tuple[int | None, float | None]:
    if text is None:
        return None, None
    text = text.strip()
    try:
        if text.endswith("%"):
            share = float(text[:-1])
            if not 0 < share <= 100:
                raise ValueError
            return None, share / 100.0
        value = int(text)
    except ValueError:
        raise PowerModelError(f"--max-counters: expected N >= 1 or a percentage in (0, 100]%, got {text!r}") from None
    if value < 1:
        raise PowerModelError(f"--max-counters must be >= 1 (or a percentage such as 10%), got {value}")
    return value, None


# option: (lowest, highest, lowest included, highest included); checked before any work starts
_RANGES = {
    "test_fraction": (0.0, 1.0, False, False),
    "seed": (0, 2**32 - 1, True, True),
    "combine_top": (1, 10_000, True, True),
    "vif_threshold": (1.0, float("inf"), False, False),
    "duplicate_corr": (0.0, 1.0, False, True),
    "cv_folds": (2, 10_000, True, True),
    "cv_repeats": (1, 100, True, True),
    "stop_tol": (0.0, 1.0, True, False),
    "patience": (1, 10_000, True, True),
    "max_candidates": (1, 10**7, True, True),
    "counter_bits": (1, 64, True, True),
    "power_lag_s": (-3600.0, 3600.0, True, True),
    "interval_s": (0.0, 86400.0, False, True),
}


def _check_numbers(args) -> None:
    """Every numeric option in its range, named on error (NaN and inf included)."""
    for name, (lo, hi, lo_in, hi_in) in _RANGES.items():
        value = getattr(args, name, None)
        if value is None:
            continue
        ok = value == value and (value >= lo if lo_in else value > lo) and (value <= hi if hi_in else value < hi)
        if not ok:
            interval = f"{'[' if lo_in else '('}{lo:g}, {hi:g}{']' if hi_in else ')'}"
            raise PowerModelError(f"--{name.replace('_', '-')} must be in {interval}, got {value}")


@contextlib.contextmanager
def _warnings_to_stderr(command: str):
    """Print input warnings as `fusegov CMD: warning: ...` lines, each once."""
    with warnings.catch_warnings():
        warnings.simplefilter("default")

        def show(message, category, filename, lineno, file=None, line=None):
            print(f"fusegov {command}: warning: {message}", file=sys.stderr)

        warnings.showwarning = show
        yield


def _say(text: str) -> None:
    print(text, file=sys.stderr)


# ------------------------------------------------------------------------------------------------------ fit
def cmd_fit(args) -> int:
    summary, text = run_fit(args)
    print(json.dumps(summary) if args.json else text)
    return 0


def run_fit(args) -> tuple[dict, str]:
    """Everything `fusegov fit` does but print its result: fit, write the model (and ONNX, plots), and return
    the --json object and the text summary. For callers that run a fit as one step of more (`fusegov demo`),
    with `args` parsed by the fit command's own parser, so the defaults are the command's."""
    _check_numbers(args)
    max_counters, max_fraction = _max_counters(args.max_counters)
    if args.cv and args.split:
        raise PowerModelError("--cv and --split are two ways to hold workloads out: give one of them")
    # outputs are checked before the fit, which can take minutes
    from powermodel import export

    out = export.check_output(args.output, (".json",), "-o")
    if args.onnx:
        export.check_output(args.onnx, (".onnx",), "--onnx")
    plot_dir = None
    if not args.no_plots:
        plot_dir = export.check_output_dir(args.plots or out.parent, "--plots")
    scheme = None
    if args.cv:
        from powermodel.crossval import parse_scheme

        scheme = parse_scheme(args.cv)

    import numpy as np

    # scikit-learn and friends load here, not at start-up, so other fusegov commands start fast
    from powermodel import report
    from powermodel.fitting import FitOptions, fit_power_model, prepare
    from powermodel.ingest import load_inputs
    from powermodel.splits import Split, read_split

    start = time.perf_counter()
    with _warnings_to_stderr("fit"):
        options = FitOptions(
            structure=args.structure.replace("-", "_"),
            normalisation=args.normalisation.replace("-", "_"),
            loss=args.loss,
            positive=args.positive,
            temperature=args.temperature_term,
            variant=args.variant,
            combine_top=args.combine_top,
            interactions=args.interactions,
            vif_threshold=args.vif_threshold,
            duplicate_corr=None if args.duplicate_corr >= 1 else args.duplicate_corr,
            cv_folds=args.cv_folds,
            cv_repeats=args.cv_repeats,
            stop_rule=args.stop_rule.replace("-", "_"),
            max_counters=max_counters,
            max_counter_fraction=max_fraction,
            stop_tol=args.stop_tol,
            patience=args.patience,
            max_candidates=args.max_candidates,
            counter_bits=args.counter_bits,
            power_lag_s=args.power_lag_s,
            test_fraction=args.test_fraction,
            seed=args.seed,
            progress=not (args.quiet or args.json),
        )
        split = read_split(args.split) if args.split else None
        table = load_inputs(args.inputs, args.format, _mapping(args), args.bad_values)
        _say(
            f"read {len(table)} samples, {len(table.counter_names)} counters"
            + (f", {len(table.state_names)} state column(s)" if table.state_names else "")
            + f", {len(np.unique(table.group))} workloads from {len(args.inputs)} input(s) ({table.format}); "
            f"target {table.target}"
        )
        for note in table.notes:
            _say(note)
        data = prepare(table, options.normalisation, options.counter_bits, options.power_lag_s)
        for note in data.notes:
            _say(note)
        cross_validation = None
        if scheme is not None:
            from powermodel.crossval import cross_validate

            cross_validation = cross_validate(data, scheme, options)
            split = Split(train=np.unique(data.table.group).tolist(), test=[], source="every workload (final fit)")
        result = fit_power_model(data, split, options)
        doc = export.model_document(result, cross_validation)
        export.save_model(doc, out)
        _say(f"wrote {out}")
        onnx_path = None
        if args.onnx:
            rows = result.test_mask if result.test_mask.any() else result.train_mask
            worst = export.export_onnx(result.model, args.onnx, result.model_input(rows))
            onnx_path = str(args.onnx)
            _say(f"wrote {onnx_path} (onnxruntime matches the estimator within {worst:.1e} relative)")
        plots = []
        if plot_dir is not None:
            stem = out.stem
            shown = result.evaluation if cross_validation is None else cross_validation.evaluation
            plots = [
                str(report.plot_predicted_vs_measured(shown, plot_dir / f"{stem}.pred_vs_measured.png")),
                str(report.plot_workload_errors(shown, plot_dir / f"{stem}.workload_mape.png")),
                str(report.plot_cv_curve(result.selection, plot_dir / f"{stem}.cv_curve.png")),
            ]
            _say("wrote " + ", ".join(plots))
    summary = export.json_safe(_fit_json(result, cross_validation, str(out), onnx_path, plots, start))
    return summary, report.summary_text(result, cross_validation)


def _fit_json(result, cross_validation, out: str, onnx_path, plots: list[str], start: float) -> dict:
    sel = result.selection
    shown = result.evaluation if cross_validation is None else cross_validation.evaluation
    return {
        "model": out,
        "onnx": onnx_path,
        "plots": plots,
        "selected": sel.selected,
        "counters": sel.counters,
        "n_available": sel.n_available,
        "n_counters": len(sel.counters),
        "structure": result.structure,
        "structure_reason": result.structure_reason,
        "variant": result.variant,
        "variant_reason": result.variant_reason or None,
        "baseline_terms": None
        if result.baseline is None
        else result.baseline.base_names_ + list(result.baseline.feature_names_),
        "baseline_note": result.baseline_note or None,
        "vif_selected": sel.vif_selected,
        "mape_pct": {"model": shown.mape_model, "baseline": shown.mape_baseline},
        "per_workload": shown.to_dict()["per_workload"],
        "beyond_training": shown.beyond_training,
        "train_mape_pct": result.train_mape_pct,
        "cv_mape_pct": sel.cv_mape_pct,
        "selection_path": sel.path,
        "split": result.split.to_dict(),
        "cv": None if cross_validation is None else cross_validation.to_dict(),
        "seconds": time.perf_counter() - start,
    }


# ------------------------------------------------------------------------------------------------- evaluate
def cmd_evaluate(args) -> int:
    _check_numbers(args)
    from powermodel import export

    plot_dir = export.check_output_dir(args.plots, "--plots") if args.plots else None
    loaded = export.load_model(args.model)

    import numpy as np

    from powermodel import design, report
    from powermodel.evaluate import Evaluation, extrapolations, outside_training
    from powermodel.features import counters_used, states_used
    from powermodel.fitting import baseline_matrix, model_matrix, prepare
    from powermodel.ingest import load_inputs

    with _warnings_to_stderr("evaluate"):
        doc = loaded.doc
        mapping = loaded.mapping.merged(_mapping(args))
        mapping.counters = counters_used(loaded.specs)
        mapping.states = states_used(loaded.specs) or None
        if not mapping.counters:
            raise PowerModelError(f"{args.model}: the model uses no counter; nothing to evaluate")
        fmt = args.format or doc["input"].get("format", "auto")
        bad_values = args.bad_values or "drop"
        feats = doc["features"]
        counter_bits = args.counter_bits if args.counter_bits is not None else feats.get("counter_bits", 32)
        lag = args.power_lag_s if args.power_lag_s is not None else feats.get("power_lag_s", 0.0)
        table = load_inputs(args.inputs, fmt, mapping, bad_values)
        _say(f"read {len(table)} samples, {len(np.unique(table.group))} workloads from {len(args.inputs)} input(s)")
        for note in table.notes:
            _say(note)
        data = prepare(table, feats["normalisation"], counter_bits, lag)
        for note in data.notes:
            _say(note)
        X = model_matrix(data, loaded.specs)
        model = loaded.model
        off = 0
        if model.structure == "per_frequency":
            off = int(design.off_level(data.table.freq_hz, model.levels_hz_).sum())
            if off:
                warnings.warn(
                    f"{off} sample(s) at clocks the model has no level for ({design.format_levels(model.levels_hz_)}); "
                    "the nearest level was used (a model with --structure clock interpolates between clocks)",
                    stacklevel=2,
                )
        else:
            lo, hi = (doc.get("validity") or {}).get("freq_hz") or (0.0, np.inf)
            beyond = int(((data.table.freq_hz < lo * 0.98) | (data.table.freq_hz > hi * 1.02)).sum())
            if beyond:
                warnings.warn(
                    f"{beyond} sample(s) at clocks outside the range the model was fitted on "
                    f"({lo / 1e6:.6g}..{hi / 1e6:.6g} MHz): extrapolated",
                    stacklevel=2,
                )
        names = [spec.name for spec in loaded.specs]
        ranges = (doc.get("validity") or {}).get("features", {})
        outside = int(outside_training(X, ranges, names).any(axis=1).sum())
        if outside:
            warnings.warn(f"{outside} sample(s) have a feature outside the range seen in training", stacklevel=2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            pred = model.predict(X)
            pred_base = None
            Xb = baseline_matrix(data)
            if loaded.baseline is not None and Xb is not None and np.isfinite(Xb[:, 0]).all():
                pred_base = loaded.baseline.predict(Xb)
        ev = Evaluation(
            y=data.power_w,
            pred_model=pred,
            groups=data.table.group,
            pred_baseline=pred_base,
            beyond_training=extrapolations(X, data.table.group, ranges, names),
        )
        plots = []
        if plot_dir is not None:
            stem = Path(args.model).stem
            plots = [
                str(report.plot_predicted_vs_measured(ev, plot_dir / f"{stem}.eval_pred_vs_measured.png")),
                str(report.plot_workload_errors(ev, plot_dir / f"{stem}.eval_workload_mape.png")),
            ]
            _say("wrote " + ", ".join(plots))
    if args.json:
        print(
            json.dumps(
                export.json_safe(
                    {
                        "model": args.model,
                        **ev.to_dict(),
                        "off_level_samples": off,
                        "outside_validity_samples": outside,
                        "plots": plots,
                    }
                )
            )
        )
    else:
        print("\n".join(report.evaluation_lines(ev, f"{args.model}: MAPE on {len(ev.y)} samples")))
    return 0
