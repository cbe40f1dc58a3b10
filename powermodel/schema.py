"""The schema of a model file, checked in full before anything is built from it.

A model JSON is read by `fusegov evaluate` and by later stages (the governor); a hand-edited, truncated or
tampered file must be refused with the field named, never scored. `check_document` walks the document
once: types, allowed values, finite numbers, and shapes that must agree with each other (levels x base
terms, levels x features, feature specs vs coefficient columns).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from powermodel import design
from powermodel.errors import PowerModelError
from powermodel.features import FEATURE_OPS
from powermodel.ingest import ColumnMapping
from powermodel.models import LOSSES
from powermodel.options import COUNTER_KINDS, FORMATS

FORMAT = "fusegov.powermodel"
VERSION = 1
MAX_BYTES = 64 * 2**20  # a model is kilobytes; anything this large is not one
MAX_DEPTH = 32  # model files nest a handful of levels
PMC_PARAMS = {"structure", "loss", "positive", "normalisation", "temperature"}
BASELINE_STRUCTURES = ("per_frequency", "clock")


def _where(path: Path | str, field: str) -> str:
    return f"{path}: field {field}"


class _Checker:
    def __init__(self, path: Path | str):
        self.path = path

    def fail(self, field: str, problem: str):
        raise PowerModelError(f"{_where(self.path, field)}: {problem}")

    def typed(self, value: Any, field: str, kind: type | tuple, what: str) -> Any:
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            self.fail(field, f"expected {what}, got {json.dumps(value)}")
        if not isinstance(value, kind):
            shown = json.dumps(value) if not isinstance(value, (dict, list)) else type(value).__name__
            self.fail(field, f"expected {what}, got {_short(shown)}")
        return value

    def obj(self, parent: dict, key: str, field: str, optional: bool = False) -> dict | None:
        if key not in parent:
            if optional:
                return None
            self.fail(field, "missing")
        return self.typed(parent[key], field, dict, "an object")

    def text(self, parent: dict, key: str, field: str, choices=None, optional: bool = False) -> str | None:
        if key not in parent or (optional and parent[key] is None):
            if optional:
                return None
            self.fail(field, "missing")
        value = self.typed(parent[key], field, str, "a string")
        if choices is not None and value not in choices:
            self.fail(field, f"{value!r} is not one of {', '.join(map(str, choices))}")
        return value

    def number(self, value: Any, field: str, positive: bool = False) -> float:
        self.typed(value, field, (int, float), "a number")
        if not math.isfinite(value):
            self.fail(field, f"{value} is not a finite number")
        if positive and value <= 0:
            self.fail(field, f"{value} is not > 0")
        return float(value)

    def array(self, parent: dict, key: str, field: str, length: int | None = None, nonempty: bool = False) -> list:
        if key not in parent:
            self.fail(field, "missing")
        value = self.typed(parent[key], field, list, "a list")
        if length is not None and len(value) != length:
            self.fail(field, f"has {len(value)} entries, expected {length}")
        if nonempty and not value:
            self.fail(field, "is empty")
        return value

    def matrix(self, parent: dict, key: str, field: str, rows: int, cols: int) -> None:
        """A rows x cols list of lists of finite numbers."""
        table = self.array(parent, key, field, length=rows)
        for i, row in enumerate(table):
            self.typed(row, f"{field}[{i}]", list, "a list of numbers")
            if len(row) != cols:
                self.fail(f"{field}[{i}]", f"has {len(row)} coefficients, expected {cols}")
            for j, v in enumerate(row):
                self.number(v, f"{field}[{i}][{j}]")

    def names(self, parent: dict, key: str, field: str, length: int | None = None) -> list[str]:
        values = self.array(parent, key, field, length=length)
        for i, v in enumerate(values):
            self.typed(v, f"{field}[{i}]", str, "a string")
        return values


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def read_document(path: str | Path) -> dict:
    """The JSON object in a model file, or a PowerModelError naming what the file is instead."""
    path = Path(path)
    if path.is_dir():
        raise PowerModelError(f"{path}: is a directory, not a model JSON file (give the file 'fusegov fit -o' wrote)")
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise PowerModelError(f"{path}: {size} bytes is too large for a model file (a model is kilobytes)")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PowerModelError(f"{path}: no such model file") from None
    except OSError as exc:
        raise PowerModelError(f"{path}: cannot read the model file ({exc.strerror or exc})") from None
    if raw[:8].startswith(b"\x08") or b"\x00" in raw[:4096]:
        raise PowerModelError(
            f"{path}: a binary file (an ONNX model?), not a model JSON; give the JSON that 'fusegov fit -o' wrote"
        )
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise PowerModelError(f"{path}: not a text file, so not a model JSON") from None
    except json.JSONDecodeError as exc:
        raise PowerModelError(f"{path}: not a JSON model file ({exc})") from None
    except RecursionError:
        raise PowerModelError(f"{path}: JSON nested too deeply to be a model file") from None
    if not isinstance(doc, dict):
        raise PowerModelError(
            f"{path}: a model file holds a JSON object, not {type(doc).__name__} ({_short(str(doc))})"
        )
    if _depth(doc) > MAX_DEPTH:
        raise PowerModelError(f"{path}: JSON nested more than {MAX_DEPTH} levels deep: not a model file")
    return doc


def _depth(obj: Any) -> int:
    """Nesting depth without recursion (a hostile file must not exhaust the stack)."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            return depth
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def check_document(doc: dict, path: str | Path = "model") -> None:
    """Raise PowerModelError naming the first field that breaks the model-file schema."""
    c = _Checker(path)
    fmt = doc.get("format")
    if fmt != FORMAT:
        c.fail("format", f"{_short(json.dumps(fmt))} is not {FORMAT!r}: not a fusegov power model")
    _check_version(c, doc)
    c.text(doc, "target", "target")
    inp = c.obj(doc, "input", "input")
    c.text(inp, "format", "input.format", choices=FORMATS)
    c.text(inp, "counter_kind", "input.counter_kind", choices=COUNTER_KINDS, optional=True)
    _check_mapping(c, inp)
    feats = c.obj(doc, "features", "features")
    normalisation = c.text(feats, "normalisation", "features.normalisation", choices=design.NORMALISATIONS)
    bits = feats.get("counter_bits", 32)
    c.typed(bits, "features.counter_bits", int, "an integer")
    if not 1 <= bits <= 64:
        c.fail("features.counter_bits", f"{bits} is not in 1..64")
    c.number(feats.get("power_lag_s", 0.0), "features.power_lag_s")
    specs = c.array(feats, "specs", "features.specs", nonempty=True)
    spec_names = [_check_spec(c, spec, f"features.specs[{i}]") for i, spec in enumerate(specs)]
    model = c.obj(doc, "model", "model")
    kind = c.text(model, "kind", "model.kind")
    if kind != "pmc":
        c.fail("model.kind", f"{kind!r} is not a model kind this fusegov reads (pmc)")
    structure = c.text(model, "structure", "model.structure", choices=design.STRUCTURES)
    params = c.obj(model, "params", "model.params")
    unknown = sorted(set(params) - PMC_PARAMS)
    if unknown:
        c.fail(f"model.params.{unknown[0]}", "not a parameter of the counter model")
    if params.get("structure", structure) != structure:
        c.fail("model.params.structure", f"{params['structure']!r} differs from model.structure {structure!r}")
    c.text(params, "loss", "model.params.loss", choices=LOSSES, optional=True)
    c.text(params, "normalisation", "model.params.normalisation", choices=design.NORMALISATIONS, optional=True)
    if params.get("normalisation", normalisation) != normalisation:
        c.fail("model.params.normalisation", "differs from features.normalisation")
    for flag in ("positive", "temperature"):
        if flag in params:
            c.typed(params[flag], f"model.params.{flag}", bool, "true or false")
    _check_coefficients(c, model, "model", structure, spec_names)
    baseline = doc.get("baseline")
    if baseline is not None:
        c.typed(baseline, "baseline", dict, "an object or null")
        if baseline.get("kind") != "util_freq":
            c.fail("baseline.kind", f"{_short(json.dumps(baseline.get('kind')))} is not 'util_freq'")
        bparams = c.obj(baseline, "params", "baseline.params")
        bstructure = c.text(
            bparams, "structure", "baseline.params.structure", choices=BASELINE_STRUCTURES, optional=True
        )
        c.text(bparams, "loss", "baseline.params.loss", choices=LOSSES, optional=True)
        terms = ["u"]
        if bstructure == "clock":
            terms = c.names(baseline, "util_terms", "baseline.util_terms")
            bad = [t for t in terms if t not in design.UTIL_TERMS]
            if bad or not terms:
                c.fail(
                    "baseline.util_terms", f"{bad or '[]'} are not utilisation terms ({', '.join(design.UTIL_TERMS)})"
                )
        _check_coefficients(c, baseline, "baseline", bstructure or "per_frequency", terms, check_names=False)
    validity = doc.get("validity", {})
    if validity is not None:
        c.typed(validity, "validity", dict, "an object")
        span = validity.get("freq_hz")
        if span is not None:
            c.typed(span, "validity.freq_hz", list, "[low, high]")
            if len(span) != 2:
                c.fail("validity.freq_hz", "expected [low, high]")
            low, high = (c.number(v, "validity.freq_hz", positive=True) for v in span)
            if low > high:
                c.fail("validity.freq_hz", f"low {low:g} is above high {high:g}")
        ranges = validity.get("features", {})
        c.typed(ranges, "validity.features", dict, "an object")
        for name, lo_hi in ranges.items():
            if lo_hi is None:
                continue
            c.typed(lo_hi, f"validity.features.{name}", list, "[low, high]")
            if len(lo_hi) != 2:
                c.fail(f"validity.features.{name}", "expected [low, high]")
            for v in lo_hi:
                if v is not None:
                    c.number(v, f"validity.features.{name}")


def _check_version(c: _Checker, doc: dict) -> None:
    if "version" not in doc:
        c.fail("version", "missing")
    version = doc["version"]
    if isinstance(version, bool) or not isinstance(version, int):
        c.fail("version", f"expected the integer {VERSION}, got {_short(json.dumps(version))}")
    if version > VERSION:
        c.fail(
            "version", f"model format version {version} is newer than this fusegov reads ({VERSION}); upgrade fusegov"
        )
    if version < VERSION:
        c.fail("version", f"model format version {version} is older than this fusegov reads ({VERSION}); fit it again")


def _check_mapping(c: _Checker, inp: dict) -> None:
    mapping = inp.get("mapping", {})
    if mapping is None:
        return
    c.typed(mapping, "input.mapping", dict, "an object")
    fields = ColumnMapping.__dataclass_fields__
    for key, value in mapping.items():
        field = f"input.mapping.{key}"
        if key not in fields:
            c.fail(field, "not a column-mapping key")
        if value is None:
            continue
        if key in ("counters", "states"):
            c.names(mapping, key, field)
        elif key == "interval_s":
            c.number(value, field, positive=True)
        else:
            c.typed(value, field, str, "a string")


def _check_spec(c: _Checker, spec: Any, field: str) -> str:
    c.typed(spec, field, dict, "an object")
    name = c.text(spec, "name", f"{field}.name")
    op_name = c.text(spec, "op", f"{field}.op", choices=tuple(FEATURE_OPS))
    op = FEATURE_OPS[op_name]
    c.names(spec, "counters", f"{field}.counters", length=op.n_inputs)
    scale = spec.get("scale", [])
    c.typed(scale, f"{field}.scale", list, "a list of numbers")
    if len(scale) != op.n_scale:
        c.fail(f"{field}.scale", f"has {len(scale)} entries, expected {op.n_scale} for op {op_name!r}")
    for i, v in enumerate(scale):
        c.number(v, f"{field}.scale[{i}]", positive=True)
    return name


def _check_coefficients(
    c: _Checker, model: dict, field: str, structure: str, feature_names: list[str], check_names: bool = True
) -> None:
    levels = c.array(model, "levels_hz", f"{field}.levels_hz", nonempty=True)
    if structure == "per_frequency":
        values = [c.number(v, f"{field}.levels_hz[{i}]", positive=True) for i, v in enumerate(levels)]
        if any(b <= a for a, b in zip(values, values[1:])):
            c.fail(f"{field}.levels_hz", "levels must be strictly increasing")
    elif len(levels) != 1 or (levels[0] is not None and not isinstance(levels[0], (int, float))):
        c.fail(
            f"{field}.levels_hz", f"structure {structure!r} has one level ([null]), got {_short(json.dumps(levels))}"
        )
    base = c.names(model, "base_names", f"{field}.base_names")
    unknown = [b for b in base if b not in design.BASE_TERMS]
    if unknown:
        c.fail(f"{field}.base_names", f"unknown term(s) {unknown} (known: {', '.join(design.BASE_TERMS)})")
    if not base:
        c.fail(f"{field}.base_names", "is empty")
    names = c.names(model, "feature_names", f"{field}.feature_names", length=len(feature_names))
    if check_names and names != feature_names:
        c.fail(f"{field}.feature_names", "do not match the names of features.specs")
    c.matrix(model, "base_coef", f"{field}.base_coef", len(levels), len(base))
    c.matrix(model, "coef", f"{field}.coef", len(levels), len(feature_names))
    train_range = model.get("train_range")
    if train_range is not None:
        c.typed(train_range, f"{field}.train_range", dict, "an object")
    counts = model.get("n_samples_per_level")
    if counts is not None:
        c.typed(counts, f"{field}.n_samples_per_level", list, "a list of integers")
        for i, v in enumerate(counts):
            c.typed(v, f"{field}.n_samples_per_level[{i}]", int, "an integer")
