"""Property-based fuzzing of `fusegov fit` and `fusegov evaluate`: whatever the arguments and model files, the
answer is a success or a clean `fusegov CMD: error: ...` (argparse's usage error for a malformed command line),
never a traceback and never a hang. Bounded and deterministic (derandomized, no example database); the
commands run in-process through `governor.cli.main(argv)`. `pytest --hypothesis-show-statistics` prints the
number of cases each test tried."""

from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collectors.trace import write_trace
from governor.cli import main
from powermodel.synthetic import synthetic_trace

SETTINGS = dict(
    derandomize=True,
    database=None,
    deadline=None,  # a loaded CI machine is slow, not hung; pytest-timeout catches a hang
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A small trace (Parquet and CSV), a model fitted on it, and files that are not what they claim."""
    folder = tmp_path_factory.mktemp("fuzz")
    frame, meta = synthetic_trace(n_samples=1500, n_counters=12, n_workloads=6, seed=11)
    trace = write_trace(frame, folder / "trace.parquet", meta)
    csv = folder / "trace.csv"
    frame.to_csv(csv, index=False)
    model = folder / "model.json"
    assert main(["fit", str(trace), "-o", str(model), "--no-plots", "--quiet"]) == 0
    (folder / "empty.csv").write_text("")
    (folder / "binary.parquet").write_bytes(bytes(range(256)) * 8)
    (folder / "header_only.csv").write_text(",".join(frame.columns) + "\n")
    (folder / "split.csv").write_text("workload,split\nwl00,test\nwl01,train\nwl02,train\nwl03,train\n")
    return folder


def run(argv: list[str]) -> int:
    """main(argv) with output captured: 0 or 1, or argparse's exit 2; anything else fails the test."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: usage error, already printed cleanly
            assert exc.code == 2, f"{argv}: exit {exc.code}"
            assert "error:" in err.getvalue()
            return 2
    assert code in (0, 1), f"{argv}: returned {code}"
    if code == 1:
        assert err.getvalue().count("error: ") >= 1 and "Traceback" not in err.getvalue(), argv
    return code


numbers = st.one_of(
    st.sampled_from(["1", "2", "3", "5", "0.5", "0.25", "0.05", "10"]),  # plausible values reach deeper
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["0", "-1", "1e400", "nan", "inf", "10%", "0%", "150%", "", " ", "abc", "3" * 400]),
).map(str)
text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)

FIT_OPTIONS = {
    "--format": st.sampled_from(["auto", "fusegov", "armpm", "csv", "xml"]),
    "--target": st.sampled_from(["power.gpu_w", "power.total_w", "freq.gpu_hz", "workload", "nope"]),
    "--freq-col": st.sampled_from(["freq.gpu_hz", "util.gpu_pct", "workload", "t_s", "nope"]),
    "--freq-unit": st.sampled_from(["hz", "khz", "mhz", "ghz", "thz"]),
    "--group-col": st.sampled_from(["workload", "phase", "seq", "nope"]),
    "--counters": st.sampled_from(["pmc.*", "pmc.SP.*", "pmc.SP.C000", "x*", "pmc.RBBM.GPU_BUSY_CYCLES,t_s", ""]),
    "--counter-kind": st.sampled_from(["delta", "total", "rate", "cumulative"]),
    "--util-col": st.sampled_from(["util.gpu_pct", "power.gpu_w", "nope"]),
    "--util-cores": st.one_of(numbers, st.sampled_from(["seq", "util.gpu_pct"])),
    "--util-unit": st.sampled_from(["pct", "fraction", "permille"]),
    "--state-cols": st.sampled_from(["seq", "temp.gpu_c", "pmc.SP.C000", "nope", ""]),
    "--cycles-counter": st.sampled_from(["pmc.RBBM.GPU_BUSY_CYCLES", "pmc.SP.C000", "nope"]),
    "--interval-s": numbers,
    "--time-col": st.sampled_from(["t_s", "seq", "workload"]),
    "--split": st.sampled_from(["split.csv", "empty.csv", "missing.tsv", "."]),
    "--test-fraction": numbers,
    "--cv": st.one_of(st.sampled_from(["logo", "kfold:2", "kfold:3", "kfold:1", "kfold:x", "loo"]), text),
    "--seed": numbers,
    "--structure": st.sampled_from(["auto", "per-frequency", "clock", "voltage", "linear", "quadratic"]),
    "--interactions": st.sampled_from(["auto", "on", "off"]),
    "--normalisation": st.sampled_from(["rate", "per-cycle", "count"]),
    "--loss": st.sampled_from(["relative", "squared"]),
    "--variant": st.sampled_from(["linear", "combined"]),
    "--combine-top": numbers,
    "--vif-threshold": numbers,
    "--duplicate-corr": numbers,
    "--cv-folds": numbers,
    "--cv-repeats": numbers,
    "--stop-rule": st.sampled_from(["tol", "one-se", "min"]),
    "--max-counters": numbers,
    "--stop-tol": numbers,
    "--patience": numbers,
    "--max-candidates": numbers,
    "--counter-bits": numbers,
    "--power-lag-s": numbers,
    "--bad-values": st.sampled_from(["drop", "refuse", "ignore"]),
}
FLAGS = ["--positive", "--temperature-term", "--json", "--quiet"]


def _resolve(folder: Path, option: str, value: str) -> str:
    return str(folder / value) if option == "--split" and value not in (".",) else value


@settings(max_examples=60, **SETTINGS)
@given(
    data=st.data(),
    inputs=st.lists(
        st.sampled_from(
            [
                "trace.parquet",
                "trace.parquet",
                "trace.parquet",
                "trace.csv",
                "trace.csv",
                "empty.csv",
                "binary.parquet",
                "header_only.csv",
                "absent.csv",
                ".",
                "model.json",
            ]
        ),
        min_size=1,
        max_size=2,
    ),
    output=st.sampled_from(
        ["out/m.json", "out/m.json", "out/m.json", "out/m.txt", "/proc/m.json", "out", "a/b/m.json"]
    ),
)
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_fit_never_crashes_or_hangs(files, data, inputs, output):
    names = data.draw(st.lists(st.sampled_from(sorted(FIT_OPTIONS)), max_size=3, unique=True))
    argv = ["fit", *(str(files / i) if i != "." else str(files) for i in inputs)]
    for name in names:
        argv += [name, _resolve(files, name, data.draw(FIT_OPTIONS[name]))]
    argv += data.draw(st.lists(st.sampled_from(FLAGS), max_size=2, unique=True))
    argv += ["-o", output if output.startswith("/") else str(files / output), "--no-plots", "--quiet"]
    run(argv)


# ------------------------------------------------------------------------------------------ model files
def _paths(doc, prefix=()):
    """Every key path of a JSON document (dict keys and list indexes)."""
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:4]):
            yield from _paths(v, (*prefix, i))


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        text,
        st.sampled_from(["pmc", "per_frequency", "clock", "counter", "mul_f", "intercept", "u*f", "1"]),
    ),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=3),
    max_leaves=6,
)


@pytest.mark.slow
@settings(max_examples=150, **SETTINGS)
@given(data=st.data())
@pytest.mark.timeout(300)
def test_evaluate_never_crashes_on_tampered_model_files(files, tmp_path_factory, data):
    doc = json.loads((files / "model.json").read_text())
    paths = [p for p in _paths(doc) if p]
    bad = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        target = bad
        try:
            for key in path[:-1]:
                target = target[key]
            if data.draw(st.booleans()) and isinstance(target, dict):
                target.pop(path[-1], None)
            else:
                target[path[-1]] = data.draw(json_values)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced this path
    model = tmp_path_factory.mktemp("tampered") / "model.json"
    model.write_text(json.dumps(bad, allow_nan=True))
    run(["evaluate", str(model), str(files / "trace.parquet"), "--json"])


@settings(max_examples=60, **SETTINGS)
@given(
    data=st.data(),
    inputs=st.lists(
        st.sampled_from(["trace.parquet", "trace.csv", "empty.csv", "binary.parquet", "absent.csv", "."]),
        min_size=1,
        max_size=2,
    ),
)
@pytest.mark.timeout(300)
def test_evaluate_never_crashes_on_bad_arguments(files, data, inputs):
    options = [
        "--format",
        "--target",
        "--freq-col",
        "--freq-unit",
        "--counter-kind",
        "--util-col",
        "--util-cores",
        "--interval-s",
        "--time-col",
        "--counter-bits",
        "--power-lag-s",
        "--bad-values",
        "--state-cols",
    ]
    names = data.draw(st.lists(st.sampled_from(options), max_size=3, unique=True))
    model = data.draw(st.sampled_from(["model.json", "trace.csv", "binary.parquet", "absent.json", "."]))
    argv = ["evaluate", str(files / model) if model != "." else str(files)]
    argv += [str(files / i) if i != "." else str(files) for i in inputs]
    for name in names:
        argv += [name, data.draw(FIT_OPTIONS[name])]
    run(argv + ["--json"])
