"""`fusegov fit` and `fusegov evaluate`: offline power-model fitting and scoring on trace files."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
import warnings
from pathlib import Path

from android.errors import TraceError
from powermodel.options import BAD_VALUE_POLICIES, COUNTER_KINDS, FORMATS, FREQ_UNITS, TIME_UNITS

DEFAULT_OUTPUT = "out/model.json"


def register(subparsers) -> None:
    fit = subparsers.add_parser(
        "fit",
        help="fit a GPU/CPU power model from traces (APGPM-style counter selection)",
        description="Select performance counters on the training workloads (screening, VIF pruning, forward "
        "selection by grouped cross-validation), fit the counter model and the utilisation-frequency "
        "baseline, and report both on held-out workloads.",
    )
    fit.add_argument("inputs", nargs="+", metavar="INPUT", help="trace files (Parquet/CSV, ARMPM .tsv)")
    _add_input_options(fit)
    fit.add_argument("--split", metavar="FILE", help="train/test workload split (ARMPM layout or workload,split)")
    fit.add_argument(
        "--test-fraction",
        type=float,
        default=0.25,
        help="without --split: share of workloads held out for testing (default 0.25)",
    )
    fit.add_argument("--seed", type=int, default=0, help="seed of the held-out workload draw (default 0)")
    fit.add_argument("-o", "--output", default=DEFAULT_OUTPUT, help=f"model JSON to write (default {DEFAULT_OUTPUT})")
    fit.add_argument("--onnx", metavar="FILE", help="also export the model as ONNX (checked with onnxruntime)")
    model = fit.add_argument_group("model and selection")
    model.add_argument(
        "--structure",
        default="auto",
        choices=["auto", "per-frequency", "voltage", "linear"],
        help="per-frequency regression, one voltage-aware model (activity x V^2, leakage in V, V*T), "
        "or plain linear; auto: per-frequency when there are few frequency levels",
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
        choices=["linear", "combined"],
        help="combined: also inverted and pairwise-product counters (APGPM's second variant)",
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
    model.add_argument("--cv-folds", type=int, default=10, help="grouped CV folds (default 10, capped at #workloads)")
    model.add_argument(
        "--max-counters", metavar="N|P%", help="at most N counters, or P%% of the available ones (e.g. 10%%)"
    )
    model.add_argument(
        "--stop-tol",
        type=float,
        default=0.01,
        help="stop when the next counter cuts the CV MAPE by less than this fraction (default 0.01)",
    )
    model.add_argument(
        "--patience",
        type=int,
        default=2,
        help="look-ahead steps without improvement before selection stops (default 2)",
    )
    model.add_argument(
        "--max-candidates", type=int, help="keep only the N counters most related to power before VIF pruning"
    )
    fit.add_argument("--plots", metavar="DIR", help="directory for PNG figures (default: next to the model)")
    fit.add_argument("--no-plots", action="store_true", help="do not draw figures")
    fit.add_argument("--json", action="store_true", help="print one JSON object (selected, n_available, mape_pct)")
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

    counters = None
    if args.counters:
        counters = [c.strip() for item in args.counters for c in item.split(",") if c.strip()]
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
    )


def _max_counters(text: str | None) -> tuple[int | None, float | None]:
    if text is None:
        return None, None
    text = text.strip()
    try:
        if text.endswith("%"):
            return None, float(text[:-1]) / 100.0
        value = int(text)
    except ValueError:
        raise TraceError(f"--max-counters: expected N or P%, got {text!r}") from None
    if value < 1:
        raise TraceError("--max-counters must be >= 1")
    return value, None


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
    import numpy as np

    # scikit-learn and friends load here, not at start-up, so other fusegov commands start fast
    from powermodel import export, report
    from powermodel.fitting import FitOptions, fit_power_model, prepare
    from powermodel.ingest import load_inputs
    from powermodel.splits import read_split

    start = time.perf_counter()
    with _warnings_to_stderr("fit"):
        max_counters, max_fraction = _max_counters(args.max_counters)
        options = FitOptions(
            structure=args.structure.replace("-", "_"),
            normalisation=args.normalisation.replace("-", "_"),
            loss=args.loss,
            positive=args.positive,
            temperature=args.temperature_term,
            variant=args.variant,
            combine_top=args.combine_top,
            vif_threshold=args.vif_threshold,
            duplicate_corr=None if args.duplicate_corr >= 1 else args.duplicate_corr,
            cv_folds=args.cv_folds,
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
        table = load_inputs(args.inputs, args.format, _mapping(args), args.bad_values)
        _say(
            f"read {len(table)} samples, {len(table.counter_names)} counters, "
            f"{len(np.unique(table.group))} workloads from {len(args.inputs)} file(s) ({table.format}); "
            f"target {table.target}"
        )
        data = prepare(table, options.normalisation, options.counter_bits, options.power_lag_s)
        for note in data.notes:
            _say(note)
        split = read_split(args.split) if args.split else None
        result = fit_power_model(data, split, options)
        doc = export.model_document(result)
        out = export.save_model(doc, args.output)
        _say(f"wrote {out}")
        onnx_path = None
        if args.onnx:
            worst = export.export_onnx(result.model, args.onnx, result.model_input(result.test_mask))
            onnx_path = str(args.onnx)
            _say(f"wrote {onnx_path} (onnxruntime matches the estimator within {worst:.1e} relative)")
        plots = []
        if not args.no_plots:
            plot_dir = Path(args.plots) if args.plots else out.parent
            stem = out.stem
            plots = [
                str(report.plot_predicted_vs_measured(result.evaluation, plot_dir / f"{stem}.pred_vs_measured.png")),
                str(report.plot_workload_errors(result.evaluation, plot_dir / f"{stem}.workload_mape.png")),
            ]
            _say("wrote " + ", ".join(plots))
    ev = result.evaluation
    if args.json:
        print(
            json.dumps(
                export.json_safe(
                    {
                        "model": str(out),
                        "onnx": onnx_path,
                        "plots": plots,
                        "selected": result.selection.selected,
                        "counters": result.selection.counters,
                        "n_available": result.selection.n_available,
                        "n_counters": len(result.selection.counters),
                        "structure": result.structure,
                        "vif_selected": result.selection.vif_selected,
                        "mape_pct": {"model": ev.mape_model, "baseline": ev.mape_baseline},
                        "per_workload": ev.to_dict()["per_workload"],
                        "train_mape_pct": result.train_mape_pct,
                        "cv_mape_pct": result.selection.cv_mape_pct,
                        "split": result.split.to_dict(),
                        "seconds": time.perf_counter() - start,
                    }
                )
            )
        )
    else:
        print(report.summary_text(result))
    return 0


# ------------------------------------------------------------------------------------------------- evaluate
def cmd_evaluate(args) -> int:
    import numpy as np

    from powermodel import design, export, report
    from powermodel.evaluate import Evaluation
    from powermodel.fitting import baseline_matrix, model_matrix, prepare
    from powermodel.ingest import load_inputs

    with _warnings_to_stderr("evaluate"):
        loaded = export.load_model(args.model)
        doc = loaded.doc
        mapping = loaded.mapping.merged(_mapping(args))
        needed = [c for s in loaded.specs for c in s.counters]
        mapping.counters = list(dict.fromkeys(needed))
        fmt = args.format or doc["input"].get("format", "auto")
        bad_values = args.bad_values or "drop"
        feats = doc["features"]
        counter_bits = args.counter_bits if args.counter_bits is not None else feats.get("counter_bits", 32)
        lag = args.power_lag_s if args.power_lag_s is not None else feats.get("power_lag_s", 0.0)
        table = load_inputs(args.inputs, fmt, mapping, bad_values)
        _say(f"read {len(table)} samples, {len(np.unique(table.group))} workloads from {len(args.inputs)} file(s)")
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
                    f"{off} sample(s) at frequencies the model was not fitted at (levels "
                    f"{', '.join(f'{v / 1e6:.0f}' for v in model.levels_hz_)} MHz); nearest level used",
                    stacklevel=2,
                )
        outside = _outside_validity(X, doc.get("validity", {}), loaded.specs)
        if outside:
            warnings.warn(f"{outside} sample(s) have a feature outside the range seen in training", stacklevel=2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            pred = model.predict(X)
            pred_base = None
            Xb = baseline_matrix(data)
            if loaded.baseline is not None and Xb is not None and np.isfinite(Xb[:, 0]).all():
                pred_base = loaded.baseline.predict(Xb)
        ev = Evaluation(y=data.power_w, pred_model=pred, groups=data.table.group, pred_baseline=pred_base)
        plots = []
        if args.plots:
            stem = Path(args.model).stem
            plots = [
                str(report.plot_predicted_vs_measured(ev, Path(args.plots) / f"{stem}.eval_pred_vs_measured.png")),
                str(report.plot_workload_errors(ev, Path(args.plots) / f"{stem}.eval_workload_mape.png")),
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
        base = ev.mape_baseline
        print(
            f"{args.model}: {len(ev.y)} samples, MAPE model {ev.mape_model:.2f}%"
            + ("" if base is None else f", utilisation-frequency baseline {base:.2f}%")
        )
        for row in ev.per_workload().itertuples():
            b = "" if base is None else f"   baseline {row.baseline_mape_pct:6.2f}%"
            print(f"  {row.workload:30s} n={row.n:5d}  model {row.model_mape_pct:6.2f}%{b}")
    return 0


def _outside_validity(X, validity: dict, specs) -> int:
    import numpy as np

    ranges = validity.get("features", {})
    outside = np.zeros(len(X), dtype=bool)
    for j, spec in enumerate(specs):
        lo_hi = ranges.get(spec.name)
        if not lo_hi:
            continue
        lo, hi = lo_hi
        span = max(hi - lo, 1e-12)
        outside |= (X[:, j] < lo - 0.1 * span) | (X[:, j] > hi + 0.1 * span)
    return int(outside.sum())
