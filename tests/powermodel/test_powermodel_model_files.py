"""Model files are validated completely: tampered, truncated or foreign files are refused with the field named,
and `fit -o` is checked before the fit runs."""

from __future__ import annotations

import copy
import json

import pytest

from governor.cli import main


@pytest.fixture(scope="module")
def model_file(synthetic_parquet, tmp_path_factory):
    """A model fitted on the small synthetic trace, its document, and the trace."""
    folder = tmp_path_factory.mktemp("model")
    path = folder / "model.json"
    assert main(["fit", str(synthetic_parquet), "-o", str(path), "--no-plots", "--quiet"]) == 0
    return path, json.loads(path.read_text()), synthetic_parquet


def evaluate(capsys, model, trace) -> tuple[int, str]:
    code = main(["evaluate", str(model), str(trace), "--json"])
    return code, capsys.readouterr().err


def tampered(tmp_path, doc, change) -> str:
    doc = copy.deepcopy(doc)
    change(doc)
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(doc))
    return path


def test_the_untampered_model_evaluates(model_file, capsys):
    path, _, trace = model_file
    assert evaluate(capsys, path, trace)[0] == 0


def _set(*keys, value):
    def change(doc):
        target = doc
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return change


def _drop(*keys):
    def change(doc):
        target = doc
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]

    return change


def _nan_coef(doc):
    doc["model"]["coef"][0][0] = float("nan")


def _inf_base(doc):
    doc["model"]["base_coef"][-1][0] = float("inf")


def _unknown_feature(doc):
    doc["features"]["specs"][0]["op"] = "sqrt"


def _short_row(doc):
    doc["model"]["coef"][1] = doc["model"]["coef"][1][:-1]


TAMPERED = {
    "kind neural": (_set("model", "kind", value="neural"), "model.kind: 'neural' is not a model kind"),
    "unknown structure": (_set("model", "structure", value="cubic"), "model.structure: 'cubic' is not one of"),
    "unknown feature op": (_unknown_feature, "features.specs[0].op: 'sqrt' is not one of"),
    "NaN coefficient": (_nan_coef, "model.coef[0][0]: nan is not a finite number"),
    "inf base coefficient": (_inf_base, "model.base_coef[4][0]: inf is not a finite number"),
    "missing coef": (_drop("model", "coef"), "model.coef: missing"),
    "missing levels_hz": (_drop("model", "levels_hz"), "model.levels_hz: missing"),
    "missing base_coef": (_drop("model", "base_coef"), "model.base_coef: missing"),
    "coef of wrong type": (_set("model", "coef", value="0.1"), "model.coef: expected a list"),
    "level of wrong type": (_set("model", "levels_hz", value=["151MHz"]), "model.levels_hz[0]: expected a number"),
    "short coefficient row": (_short_row, "model.coef[1]: has"),
    "unknown base term": (_set("model", "base_names", value=["intercept", "exp(f)"]), "unknown term(s) ['exp(f)']"),
    "feature names differ": (_set("model", "feature_names", value=["a"] * 0), "model.feature_names: has 0 entries"),
    "version as string": (_set("version", value="1"), 'field version: expected the integer 1, got "1"'),
    "future version": (_set("version", value=2), "version 2 is newer than this fusegov reads (1)"),
    "format": (_set("format", value="onnx"), "field format"),
    "baseline kind": (_set("baseline", "kind", value="gbm"), "baseline.kind"),
    "mapping key": (_set("input", "mapping", "shell", value="rm -rf /"), "input.mapping.shell: not a column-mapping"),
    "counter bits": (_set("features", "counter_bits", value=4096), "features.counter_bits: 4096 is not in 1..64"),
    "validity range": (_set("validity", "features", value={"x": [0, "big"]}), "validity.features.x: expected a number"),
}


@pytest.mark.parametrize("case", sorted(TAMPERED))
def test_tampered_models_are_refused_with_the_field_named(model_file, tmp_path, capsys, case):
    path, doc, trace = model_file
    change, message = TAMPERED[case]
    code, err = evaluate(capsys, tampered(tmp_path, doc, change), trace)
    assert code == 1 and "fusegov evaluate: error: " in err
    assert message in err, err
    assert "Traceback" not in err


def test_not_model_files_are_refused_clearly(model_file, tmp_path, capsys):
    _, _, trace = model_file
    cases = {
        "[]": "a model file holds a JSON object, not list",
        "{": "not a JSON model file",
        "[" * 100000 + "]" * 100000: "nested too deeply",
        '{"format": "fusegov.powermodel", "a": ' + "[" * 40 + "]" * 40 + "}": "nested more than",
    }
    for i, (text, message) in enumerate(cases.items()):
        path = tmp_path / f"case{i}.json"
        path.write_text(text)
        code, err = evaluate(capsys, path, trace)
        assert code == 1 and message in err, (text[:20], err)
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"\x08\x08\x12\x07skl2onnx\x1a\x051.0.0" + bytes(range(256)))
    code, err = evaluate(capsys, onnx, trace)
    assert code == 1 and "a binary file (an ONNX model?)" in err
    code, err = evaluate(capsys, tmp_path, trace)
    assert code == 1 and "is a directory, not a model JSON file" in err
    code, err = evaluate(capsys, tmp_path / "absent.json", trace)
    assert code == 1 and "no such model file" in err


def test_fit_output_is_checked_before_the_fit_runs(synthetic_parquet, tmp_path, capsys):
    for out, message in (
        ("/proc/m.json", "-o /proc/m.json: cannot write there"),
        (str(tmp_path / "model.txt"), "must end in .json"),
        (str(tmp_path), "must end in .json"),
        (str(tmp_path / "dir.json"), "is a directory"),
    ):
        if out.endswith("dir.json"):
            (tmp_path / "dir.json").mkdir()
        assert main(["fit", str(synthetic_parquet), "-o", out, "--no-plots"]) == 1
        err = capsys.readouterr().err
        assert message in err
        assert "read " not in err  # refused before the trace was even read, let alone fitted
    assert main(["fit", str(synthetic_parquet), "--onnx", "/proc/m.onnx", "-o", str(tmp_path / "m.json")]) == 1
    assert "--onnx /proc/m.onnx: cannot write there" in capsys.readouterr().err
    assert not (tmp_path / "m.json").exists()


@pytest.mark.parametrize("terms", [None, 3, ["not a term"]])
def test_a_per_frequency_baseline_ignores_util_terms(model_file, tmp_path, capsys, terms):
    """util_terms belong to the "clock" baseline; a per-frequency one is always a + b u, whatever the field
    holds (a null there once raised a TypeError out of `evaluate`)."""
    path, doc, trace = model_file
    assert doc["baseline"]["params"].get("structure", "per_frequency") == "per_frequency"
    code, err = evaluate(capsys, tampered(tmp_path, doc, _set("baseline", "util_terms", value=terms)), trace)
    assert code == 0, err
