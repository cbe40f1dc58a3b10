"""Model files: versioned JSON (what a later stage reads) and ONNX through skl2onnx, checked with onnxruntime.

The JSON holds everything needed to predict from a new trace without this package's fitting code: how to
read the input, how counters become features, the coefficients, where the model is valid, how well it did.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from powermodel import design
from powermodel.errors import PowerModelError
from powermodel.features import FeatureSpec
from powermodel.ingest import ColumnMapping
from powermodel.models import PMCModel, UtilFreqModel
from powermodel.schema import FORMAT, VERSION, check_document, read_document


def _tool_version() -> str:
    try:
        from importlib.metadata import version

        return f"fusegov {version('fusegov')}"
    except Exception:  # not installed as a distribution (running from a checkout)
        return "fusegov (source checkout)"


def model_document(result, cross_validation=None) -> dict:
    """The JSON document of a `fitting.FitResult` (and of its nested cross-validation, if any)."""
    table = result.data.table
    sel = result.selection
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "created_utc": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tool": _tool_version(),
        "target": table.target,
        "input": {
            "format": table.format,
            "files": table.files,
            "mapping": table.mapping.to_dict(),
            "counter_kind": table.counter_kind,
        },
        "features": {
            "normalisation": result.options.normalisation,
            "counter_bits": result.options.counter_bits,
            "power_lag_s": result.options.power_lag_s,
            "specs": [s.to_dict() for s in sel.specs],
        },
        "selected": sel.selected,
        "counters": sel.counters,
        "n_available": sel.n_available,
        "model": {
            "kind": "pmc",
            "structure": result.structure,
            "structure_reason": result.structure_reason,
            "variant": result.variant,
            "variant_reason": result.variant_reason or None,
            **result.model.to_dict(),
        },
        "coefficients": _records(result.coefficients),
        "baseline_note": result.baseline_note or None,
        "baseline": None
        if result.baseline is None
        else {
            "kind": "util_freq",
            "utilisation": result.data.util_source,
            **result.baseline.to_dict(),
            "coefficients": _records(result.baseline_coefficients),
        },
        "validity": result.validity,
        "selection": {**sel.to_dict(), "options": result.options.to_dict()},
        "split": result.split.to_dict(),
        "training": {
            "n_samples": int(result.train_mask.sum()),
            "mape_pct": result.train_mape_pct,
            "baseline_mape_pct": result.baseline_train_mape_pct,
            "cv_mape_pct": sel.cv_mape_pct,
        },
        "evaluation": None if result.evaluation is None else result.evaluation.to_dict(),
    }
    if cross_validation is not None:
        doc["cross_validation"] = cross_validation.to_dict()
    return json_safe(doc)


def _records(frame) -> list[dict] | None:
    if frame is None:
        return None
    return [
        {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]


def json_safe(obj):
    """JSON-safe: numpy scalars to Python, NaN/inf to null."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def save_model(doc: dict, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return path


def check_output(path: str | Path, suffixes: tuple[str, ...], option: str) -> Path:
    """Check an output path before long work starts: the right suffix, a folder that exists or can be made,
    and a file that can be written there. Creates the folder; leaves no file behind."""
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise PowerModelError(f"{option} {path}: the file name must end in {' or '.join(suffixes)}")
    if path.is_dir():
        raise PowerModelError(f"{option} {path}: is a directory; give a file name ending in {suffixes[0]}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        existed = path.exists()
        with open(path, "a"):
            pass
        if not existed:
            path.unlink()
    except OSError as exc:
        raise PowerModelError(
            f"{option} {path}: cannot write there ({exc.strerror or exc}); choose another path"
        ) from None
    return path


def check_output_dir(path: str | Path, option: str) -> Path:
    """A folder for figures: made now, and writable."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".fusegov-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise PowerModelError(f"{option} {path}: cannot write figures there ({exc.strerror or exc})") from None
    return path


@dataclass
class LoadedModel:
    doc: dict
    model: PMCModel
    baseline: UtilFreqModel | None
    specs: list[FeatureSpec]
    mapping: ColumnMapping


def load_model(path: str | Path) -> LoadedModel:
    """Read and validate a model file completely (schema.py), then build its estimators."""
    doc = read_document(path)
    check_document(doc, path)
    return LoadedModel(
        doc=doc,
        model=PMCModel.from_dict(doc["model"]),
        baseline=UtilFreqModel.from_dict(doc["baseline"]) if doc.get("baseline") else None,
        specs=[FeatureSpec.from_dict(s) for s in doc["features"]["specs"]],
        mapping=ColumnMapping.from_dict(doc["input"].get("mapping")),
    )


# ------------------------------------------------------------------------------------------------- ONNX
def _shape_calculator(operator) -> None:
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    in_type = operator.inputs[0].type
    n = in_type.shape[0] if in_type.shape else None
    cls = DoubleTensorType if isinstance(in_type, DoubleTensorType) else FloatTensorType
    operator.outputs[0].type = cls([n, 1])


def _converter(scope, operator, container) -> None:
    """ONNX graph of PMCModel.predict: gather the level's coefficients, dot with [base, modulated features]."""
    from skl2onnx.common.data_types import guess_proto_type

    model: PMCModel = operator.raw_operator
    dtype = guess_proto_type(operator.inputs[0].type)
    np_dtype = np.float64 if dtype == 11 else np.float32  # onnx TensorProto.DOUBLE == 11
    X = operator.inputs[0].full_name
    out = operator.outputs[0].full_name
    k = model.coef_.shape[1]

    def const(name: str, value, dt=None) -> str:
        value = np.asarray(value, dtype=np_dtype if dt is None else dt)
        var = scope.get_unique_variable_name(name)
        onnx_dt = dtype if dt is None else 7  # int64
        container.add_initializer(var, onnx_dt, list(value.shape), value.ravel().tolist())
        return var

    def node(op: str, inputs: list[str], **attrs) -> str:
        var = scope.get_unique_variable_name(op.lower())
        container.add_node(op, inputs, var, name=scope.get_unique_operator_name(op), **attrs)
        return var

    def column(j: int) -> str:  # X[:, j:j+1]
        return node(
            "Slice", [X, const("start", [j], np.int64), const("end", [j + 1], np.int64), const("axis", [1], np.int64)]
        )

    feats = node("Slice", [X, const("start", [0], np.int64), const("end", [k], np.int64), const("axis", [1], np.int64)])
    freq, volt, temp = column(k), column(k + 1), column(k + 2)
    # base design columns, [N, b]
    builders = {
        "intercept": lambda: node("Add", [node("Mul", [freq, const("zero", [[0.0]])]), const("one", [[1.0]])]),
        "f": lambda: freq,
        "f^2": lambda: node("Mul", [freq, freq]),
        "V": lambda: volt,
        "V*T": lambda: node("Mul", [volt, temp]),
        "V^2*f": lambda: node("Mul", [node("Mul", [volt, volt]), freq]),
        # 2^((T-25)/10) = exp((T-25) * ln2 / 10)
        design.LEAK_T: lambda: node(
            "Exp", [node("Mul", [node("Sub", [temp, const("t0", [[25.0]])]), const("k", [[np.log(2.0) / 10.0]])])]
        ),
    }
    missing = [name for name in model.base_names_ if name not in builders]
    if missing:
        raise PowerModelError(f"ONNX export does not know the base term(s) {missing}")
    base_cols = [builders[name]() for name in model.base_names_]
    base = node("Concat", base_cols, axis=1) if len(base_cols) > 1 else base_cols[0]
    if model.structure == "voltage":
        mod = node("Mul", [volt, volt])
        if model.normalisation == "per_cycle":
            mod = node("Mul", [mod, freq])
        feats = node("Mul", [feats, mod])
    design_matrix = node("Concat", [base, feats], axis=1)
    coef = np.hstack([model.base_coef_, model.coef_])  # [L, b + k]
    if len(model.levels_hz_) == 1:
        pred = node("MatMul", [design_matrix, const("coef", coef.T)])
    else:
        distance = node("Abs", [node("Sub", [freq, const("levels", model.levels_hz_[None, :])])])
        level = node("ArgMin", [distance], axis=1, keepdims=0)
        rows = node("Gather", [const("coef", coef), level], axis=0)  # [N, b + k]
        pred = node("ReduceSum", [node("Mul", [design_matrix, rows]), const("axes", [1], np.int64)], keepdims=1)
    container.add_node("Identity", [pred], out, name=scope.get_unique_operator_name("Identity"))


def _register() -> None:
    from skl2onnx import update_registered_converter

    update_registered_converter(PMCModel, "FusegovPMCModel", _shape_calculator, _converter)


def export_onnx(model: PMCModel, path: str | Path, X_check: np.ndarray, rtol: float = 1e-9) -> float:
    """Write the model as ONNX (double precision) and check onnxruntime reproduces `model.predict`.

    Returns the largest relative difference seen on `X_check`; raises if it exceeds `rtol`.
    """
    import onnxruntime as ort
    from skl2onnx import to_onnx

    _register()
    X_check = np.asarray(X_check, dtype=np.float64)
    if X_check.ndim != 2 or X_check.shape[1] != model.n_features_in_ or not len(X_check):
        raise PowerModelError("ONNX check needs input rows in the model's layout")
    onx = to_onnx(model, X_check[:1], target_opset=17)
    inputs = list(model.feature_names_) + list(design.CONTEXT_NAMES)
    onx.doc_string = f"fusegov power model: inputs [{', '.join(inputs)}]"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(onx.SerializeToString())
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: X_check})[0].ravel()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        want = model.predict(X_check)
    worst = float(np.max(np.abs(got - want) / np.maximum(np.abs(want), 1e-12)))
    if not worst <= rtol:
        raise PowerModelError(f"{path}: onnxruntime output differs from the estimator by {worst:.2e} (relative)")
    return worst
