"""Built-in CNN workloads (android.emulator.sim.cnn_zoo): real architectures with their published sizes,
runnable ONNX graphs, costed by the virtual phone like any ONNX file, and reachable as `cnn:NAME`."""

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from android.emulator.phone import VirtualPhone
from android.emulator.sim import cnn_zoo
from android.emulator.sim.activity import EVENT_FIELDS
from android.emulator.sim.cnn import load_onnx_stream
from android.emulator.sim.request import run_cnn
from android.errors import WorkloadError
from governor.cli import main

ALU = EVENT_FIELDS.index("alu_ops")
SFU = EVENT_FIELDS.index("sfu_ops")


def test_the_zoo_has_the_agreed_networks():
    assert {"mobilenetv2", "resnet18", "squeezenet1.1"} <= set(cnn_zoo.names()) and len(cnn_zoo.names()) >= 4


# (name, published GMACs, published millions of parameters, family), the figures as the papers print them
PUBLISHED = [
    ("mobilenetv2", 0.30, 3.5, "depthwise"),
    ("resnet18", 1.8, 11.7, "dense"),
    ("squeezenet1.1", 0.35, 1.24, "dense"),
    ("efficientnet-b0", 0.39, 5.3, "depthwise-se"),
    ("yolov3-tiny", 2.79, 8.86, "dense"),
    ("mobilenetv3-large", 0.219, 5.4, "depthwise-se"),
    ("mobilenetv3-small", 0.056, 2.5, "depthwise-se"),
    ("shufflenetv2-x1.0", 0.146, 2.3, "depthwise"),
    ("mnasnet-a1", 0.312, 3.9, "depthwise-se"),
    ("resnet50", 4.09, 25.6, "dense"),
    ("efficientnet-b1", 0.70, 7.8, "depthwise-se"),
]


def test_every_network_is_checked_against_its_published_figures():
    assert sorted(name for name, *_ in PUBLISHED) == cnn_zoo.names()


@pytest.mark.parametrize("name,gmacs,mparams,family", PUBLISHED)
def test_multiply_accumulates_and_parameters_match_the_published_figures(name, gmacs, mparams, family):
    net = cnn_zoo.build(name)
    assert net.published_macs == pytest.approx(gmacs * 1e9)
    assert net.published_params == pytest.approx(mparams * 1e6)
    assert net.family == family
    assert net.macs == pytest.approx(net.published_macs, rel=0.03)
    assert net.params == pytest.approx(net.published_params, rel=0.03)
    # the virtual phone charges the same work: 2 ALU ops per MAC, plus a few % for activations, adds, pools
    stream, resident_bytes = load_onnx_stream(cnn_zoo.zoo_path(name))
    assert 1.0 <= stream.total_events[ALU] / (2 * net.macs) < 1.05
    # weights declared as graph inputs are resident weights, not per-inference input the CPU converts
    image_bytes = 4 * float(np.prod(net.input_shape))
    assert stream.lead_host_bytes == pytest.approx(image_bytes)
    assert resident_bytes > 4 * net.params


@pytest.mark.parametrize("name", cnn_zoo.names())
def test_graphs_are_valid_onnx_that_onnxruntime_runs(name):
    net = cnn_zoo.build(name)
    onnx.checker.check_model(net.model, full_check=True)
    session = ort.InferenceSession(net.model.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {i.name: (0.05 * rng.standard_normal(i.shape)).astype(np.float32) for i in session.get_inputs()}
    outputs = session.run(None, feeds)
    assert {o.name: tuple(v.shape) for o, v in zip(session.get_outputs(), outputs)} == net.output_shapes
    assert all(np.isfinite(v).all() for v in outputs)
    assert len(net.model.SerializeToString()) < 64_000  # shapes only: no weight data in the file
    weights = [i for i in session.get_inputs() if i.name != "image"]
    assert sum(int(np.prod(i.shape)) for i in weights) == net.params  # the builder counted what the graph holds


def test_swish_networks_use_the_special_function_units_and_relu_networks_do_not():
    sfu = {
        name: load_onnx_stream(cnn_zoo.zoo_path(name))[0].total_events[SFU]
        for name in ("efficientnet-b0", "efficientnet-b1", "mnasnet-a1", "mobilenetv3-large", "resnet18")
    }
    assert sfu["efficientnet-b1"] > sfu["efficientnet-b0"] > 1e6  # swish on every feature map, B1 is bigger
    assert 0 < sfu["mnasnet-a1"] < 1e5  # ReLU blocks: only the squeeze-excitation gates take a sigmoid
    assert sfu["mobilenetv3-large"] == 0 and sfu["resnet18"] == 0  # hard-swish / hard-sigmoid are plain ALU work


def test_shufflenet_shuffles_channels_with_reshape_and_transpose():
    ops = [n.op_type for n in cnn_zoo.build("shufflenetv2-x1.0").model.graph.node]
    assert ops.count("Split") == 13 and ops.count("Transpose") == 16  # 16 units, 3 of them downsample
    assert ops.count("Reshape") == 2 * ops.count("Transpose")
    gated = [n.op_type for n in cnn_zoo.build("mobilenetv3-small").model.graph.node]
    assert "HardSigmoid" in gated and "Sigmoid" not in gated


def test_bigger_networks_take_longer_on_the_virtual_phone():
    pins = {"gpu": 848_000_000, "policy6": 2_401_000_000, "mem": 2_028_000_000}
    latency = {
        name: run_cnn(VirtualPhone("pixel7"), cnn_zoo.zoo_path(name), 5, pins=pins, idle_before_s=0.1).latency_s
        for name in ("squeezenet1.1", "resnet18", "yolov3-tiny")
    }
    assert latency["squeezenet1.1"] < latency["resnet18"] < latency["yolov3-tiny"]


def test_cached_file_is_reused_and_rewritten_when_damaged(tmp_path, monkeypatch):
    monkeypatch.setattr(cnn_zoo.tempfile, "gettempdir", lambda: str(tmp_path))  # not the shared cache
    cnn_zoo.zoo_path.cache_clear()
    try:
        path = cnn_zoo.zoo_path("squeezenet1.1")
        assert path.is_relative_to(tmp_path) and path.name == "squeezenet1.1.onnx"
        assert onnx.load(str(path)).graph.name == "squeezenet1.1"
        stamp = path.stat().st_mtime_ns
        cnn_zoo.zoo_path.cache_clear()
        assert cnn_zoo.zoo_path("squeezenet1.1") == path and path.stat().st_mtime_ns == stamp  # reused
        path.write_bytes(b"damaged")
        cnn_zoo.zoo_path.cache_clear()
        assert cnn_zoo.zoo_path("squeezenet1.1") == path and onnx.load(str(path)).graph.name == "squeezenet1.1"
        assert [p.name for p in path.parent.iterdir()] == ["squeezenet1.1.onnx"]  # no partial file left
    finally:
        cnn_zoo.zoo_path.cache_clear()


def test_names_resolve_and_paths_still_work(tmp_path):
    assert cnn_zoo.resolve_onnx("resnet18") == cnn_zoo.zoo_path("resnet18")
    mine = tmp_path / "resnet18"  # an existing file wins over the built-in name
    mine.write_bytes(b"x")
    assert cnn_zoo.resolve_onnx(str(mine)) == mine
    assert cnn_zoo.resolve_onnx(str(tmp_path / "absent.onnx")) == tmp_path / "absent.onnx"
    with pytest.raises(WorkloadError, match="no built-in CNN 'resnet101'.*mobilenetv2"):
        cnn_zoo.resolve_onnx("resnet101")
    with pytest.raises(WorkloadError, match="unknown built-in CNN"):
        cnn_zoo.build("resnet101")


def test_fusegov_run_takes_a_built_in_name(capsys):
    assert main(["run", "--virtual", "pixel7", "--workload", "cnn:mobilenetv2", "--runs", "5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["runs"] == 5 and out["workload"] == "cnn:mobilenetv2.onnx" and 0 < out["latency_s"] < 0.5
    assert main(["run", "--virtual", "pixel7", "--workload", "cnn:mobilenet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("fusegov run: error: no built-in CNN 'mobilenet'") and "squeezenet1.1" in err
