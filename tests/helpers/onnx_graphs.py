"""Small ONNX models built with onnx's helper API for the simulation tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _weight(name: str, shape: tuple[int, ...], rng: np.random.Generator):
    return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32) * 0.05, name)


def conv_net(path: Path, channels: int = 32, size: int = 56, blocks: int = 4) -> Path:
    """Conv-heavy: a stack of 3x3 convolutions with ReLU, then global pooling and a classifier."""
    rng = np.random.default_rng(0)
    nodes, inits = [], []
    prev, c_in = "input", 3
    for i in range(blocks):
        inits.append(_weight(f"w{i}", (channels, c_in, 3, 3), rng))
        nodes.append(helper.make_node("Conv", [prev, f"w{i}"], [f"c{i}"], pads=[1, 1, 1, 1], name=f"conv{i}"))
        nodes.append(helper.make_node("Relu", [f"c{i}"], [f"r{i}"], name=f"relu{i}"))
        prev, c_in = f"r{i}", channels
    nodes.append(helper.make_node("GlobalAveragePool", [prev], ["pooled"]))
    nodes.append(helper.make_node("Flatten", ["pooled"], ["flat"]))
    inits.append(_weight("fc", (channels, 10), rng))
    nodes.append(helper.make_node("MatMul", ["flat", "fc"], ["output"]))
    graph = helper.make_graph(
        nodes,
        "conv_net",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 10])],
        inits,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


def mlp_sigmoid(path: Path, width: int = 1024, layers: int = 6, batch: int = 64) -> Path:
    """Matmul and special-function heavy: dense layers with sigmoid and softmax, no textures."""
    rng = np.random.default_rng(1)
    nodes, inits = [], []
    prev = "input"
    for i in range(layers):
        inits.append(_weight(f"w{i}", (width, width), rng))
        nodes.append(helper.make_node("MatMul", [prev, f"w{i}"], [f"m{i}"]))
        nodes.append(helper.make_node("Sigmoid", [f"m{i}"], [f"s{i}"]))
        nodes.append(helper.make_node("Mul", [f"s{i}", f"m{i}"], [f"a{i}"]))
        prev = f"a{i}"
    nodes.append(helper.make_node("Softmax", [prev], ["output"], axis=-1))
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, width])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, width])],
        inits,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


def conv_with_tails(path: Path, channels: int = 64, size: int = 56, blocks: int = 3) -> Path:
    """Each block: one long convolution, then four short elementwise kernels (GPU-bound, then CPU-bound)."""
    rng = np.random.default_rng(2)
    nodes, inits = [], []
    prev, c_in = "input", channels
    for i in range(blocks):
        inits.append(_weight(f"w{i}", (channels, c_in, 3, 3), rng))
        nodes += [
            helper.make_node("Conv", [prev, f"w{i}"], [f"c{i}"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", [f"c{i}"], [f"r{i}"]),
            helper.make_node("Sigmoid", [f"c{i}"], [f"s{i}"]),
            helper.make_node("Mul", [f"r{i}", f"s{i}"], [f"m{i}"]),
            helper.make_node("Add", [f"m{i}", f"c{i}"], [f"o{i}"]),
        ]
        prev = f"o{i}"
    nodes.append(helper.make_node("Identity", [prev], ["output"]))
    graph = helper.make_graph(
        nodes,
        "conv_tails",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, channels, size, size])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, channels, size, size])],
        inits,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path
