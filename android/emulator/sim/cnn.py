"""CNN inference from a real ONNX graph: one GPU kernel per compute node, costed from inferred shapes.

onnx.shape_inference gives every tensor's shape; each node's FLOPs and bytes follow from its operator
and shapes (a convolution's multiply-accumulates, a matmul's M*N*K, an activation's elements, ...).
Work maps to GPU events the way an image-based GPU delegate runs it: convolutions fetch activations
through the texture units and weights through load/store, transcendental activations use the special
function units, pure data-movement nodes cost only memory traffic, and shape-only nodes cost nothing.
The CPU thread submits every kernel (the queue lets it run ahead) and waits once, for the output.
Weights may be initializers or graph inputs that feed only parameter slots (a convolution's weight and
bias, ...), as in graphs exported with their weights kept outside; either way they count as resident
weights, not as input the CPU prepares per inference.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from android.emulator.sim.pipeline import KernelStream, stream_from_rows
from android.emulator.sim.workload import Segment, Workload
from android.errors import WorkloadError

SHAPE_ONLY = {
    "Reshape",
    "Flatten",
    "Squeeze",
    "Unsqueeze",
    "Identity",
    "Shape",
    "Constant",
    "Dropout",
    "ConstantOfShape",
    "Size",
    "Cast",
}
DATA_MOVEMENT = {
    "Transpose",
    "Concat",
    "Split",
    "Slice",
    "Gather",
    "Pad",
    "Resize",
    "Upsample",
    "Tile",
    "Expand",
    "DepthToSpace",
    "SpaceToDepth",
}
TRANSCENDENTAL = {
    "Sigmoid": 1,
    "Tanh": 1,
    "Exp": 1,
    "Log": 1,
    "Erf": 1,
    "Gelu": 2,
    "Softmax": 1,
    "LogSoftmax": 2,
    "HardSigmoid": 0,
    "Swish": 1,
    "Mish": 2,
    "Elu": 1,
    "Selu": 1,
    "Softplus": 2,
    "Sqrt": 1,
    "Reciprocal": 1,
    "Pow": 2,
}
ALU_PER_ELEMENT = {
    "BatchNormalization": 2,
    "InstanceNormalization": 6,
    "LayerNormalization": 8,
    "HardSwish": 4,
    "Clip": 2,
    "LeakyRelu": 2,
    "PRelu": 2,
    "Softmax": 4,
    "LogSoftmax": 4,
    "Gelu": 6,
    "Sum": 1,
    "Mean": 2,
    "ReduceMean": 1,
    "ReduceSum": 1,
}
EFFICIENCY = {"conv": 0.45, "matmul": 0.35, "elementwise": 0.6, "pool": 0.5, "move": 0.6}
TEXEL_CHANNELS = 4  # an RGBA texel holds 4 channels
CONV_OUTPUT_REUSE = 4  # output channels computed per texel fetched
MATMUL_TILE_REUSE = 8.0  # operand reuse of a register tile: local-memory bytes per MAC = 4 / reuse
SUBMIT_HOST_CYCLES = 20_000.0  # per kernel: argument setup in the delegate, beyond the driver's cost
PRE_POST_CYCLES_PER_BYTE = 2.0  # input conversion and output read-back on the CPU
DTYPE_BYTES = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 16: 2}
PARAMETER_SLOTS = {
    "Conv": {1, 2},
    "ConvTranspose": {1, 2},
    "Gemm": {1, 2},
    "BatchNormalization": {1, 2, 3, 4},
    "InstanceNormalization": {1, 2},
    "LayerNormalization": {1, 2},
    "PRelu": {1},
}


def load_onnx_stream(path: str | Path) -> tuple[KernelStream, float]:
    """The kernel stream of one inference and the bytes it keeps resident (weights + activations)."""
    import onnx
    from google.protobuf.message import DecodeError

    path = Path(path)
    if not path.is_file():
        raise WorkloadError(f"ONNX file {path} does not exist")
    try:
        model = onnx.load(str(path))
    except (DecodeError, ValueError, RuntimeError, OSError) as exc:
        raise WorkloadError(f"{path} is not an ONNX model: {exc}") from None
    if not model.graph.node:
        raise WorkloadError(f"{path} is not an ONNX model with a graph (no nodes found)")
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception as exc:  # onnx raises its own InferenceError and checker errors
        raise WorkloadError(f"{path}: shape inference failed: {exc}") from None
    shapes, bytes_per = _tensor_shapes(inferred)
    rows = []
    for node in inferred.graph.node:
        row = _node_kernel(node, shapes, bytes_per)
        if row is not None:
            rows.append(row)
    if not rows:
        raise WorkloadError(f"{path}: the graph has no compute nodes")
    initializers = {t.name for t in inferred.graph.initializer}
    weight_inputs = _weight_inputs(inferred.graph) - initializers
    graph_in = sum(
        _numel(shapes.get(i.name)) * bytes_per.get(i.name, 4)
        for i in inferred.graph.input
        if i.name not in initializers | weight_inputs
    )
    graph_out = sum(_numel(shapes.get(o.name)) * bytes_per.get(o.name, 4) for o in inferred.graph.output)
    rows[-1]["sync_after"] = True
    rows[-1]["host_cycles"] = rows[-1].get("host_cycles", 0.0) + graph_out * PRE_POST_CYCLES_PER_BYTE
    rows[-1]["host_bytes"] = graph_out
    weights = sum(int(np.prod(t.dims)) * DTYPE_BYTES.get(t.data_type, 4) for t in inferred.graph.initializer)
    weights += sum(_numel(shapes.get(name)) * bytes_per.get(name, 4) for name in weight_inputs)
    activations = sum(r["dram_write_bytes"] for r in rows)
    stream = stream_from_rows(
        f"cnn:{path.name}", rows, lead_host_cycles=graph_in * PRE_POST_CYCLES_PER_BYTE, lead_host_bytes=graph_in
    )
    return stream, float(weights + activations)


def _weight_inputs(graph) -> set[str]:
    """Graph inputs that every consuming node takes in a parameter slot: weights supplied as inputs."""
    inputs = {i.name for i in graph.input}
    as_parameter, as_data = set(), set()
    for node in graph.node:
        slots = PARAMETER_SLOTS.get(node.op_type, set())
        for slot, name in enumerate(node.input):
            if name in inputs:
                (as_parameter if slot in slots else as_data).add(name)
    return as_parameter - as_data


def _tensor_shapes(model) -> tuple[dict[str, tuple[int, ...]], dict[str, int]]:
    shapes: dict[str, tuple[int, ...]] = {}
    bytes_per: dict[str, int] = {}
    for info in list(model.graph.input) + list(model.graph.value_info) + list(model.graph.output):
        t = info.type.tensor_type
        if t.HasField("shape"):
            shapes[info.name] = tuple(d.dim_value if d.HasField("dim_value") else 1 for d in t.shape.dim)
        bytes_per[info.name] = DTYPE_BYTES.get(t.elem_type, 4)
    for init in model.graph.initializer:
        shapes[init.name] = tuple(init.dims)
        bytes_per[init.name] = DTYPE_BYTES.get(init.data_type, 4)
    return shapes, bytes_per


def _numel(shape: tuple[int, ...] | None) -> float:
    return float(np.prod(shape)) if shape is not None else 0.0


def _node_kernel(node, shapes: dict, bytes_per: dict) -> dict | None:
    """Events of one node's kernel, or None for shape-only nodes."""
    op = node.op_type
    if op in SHAPE_ONLY:
        return None
    outs = [shapes.get(o) for o in node.output if o]
    ins = [shapes.get(i) for i in node.input if i]
    if any(s is None for s in outs):
        raise WorkloadError(
            f"node {node.name or op} ({op}): output shape unknown after shape inference "
            "(give the model static input shapes)"
        )
    out_elems = sum(_numel(s) for s in outs)
    in_bytes = sum(_numel(s) * bytes_per.get(i, 4) for i, s in zip([i for i in node.input if i], ins) if s)
    out_bytes = sum(_numel(s) * bytes_per.get(o, 4) for o, s in zip([o for o in node.output if o], outs))
    row = dict(
        kernels=1.0,
        dram_read_bytes=in_bytes,
        dram_write_bytes=out_bytes,
        host_cycles=SUBMIT_HOST_CYCLES,
        threads=max(out_elems, 1.0),
    )
    if op in ("Conv", "ConvTranspose"):
        weight = ins[1] if len(ins) > 1 and ins[1] is not None else None
        if weight is None:
            raise WorkloadError(f"node {node.name or op} ({op}): weight shape unknown")
        per_output = float(np.prod(weight[1:]))  # input channels per group x kernel area
        if op == "ConvTranspose":
            macs = _numel(ins[0]) * weight[1] * float(np.prod(weight[2:]))
        else:
            macs = out_elems * per_output
        row.update(
            alu_ops=2.0 * macs,
            texture_fetches=macs / (TEXEL_CHANNELS * CONV_OUTPUT_REUSE),
            load_store_bytes=macs * 4.0 / 32.0,
            l2_bytes=1.5 * in_bytes + out_bytes,
            threads=max(out_elems / 4.0, 1.0),
            efficiency=EFFICIENCY["conv"],
        )
    elif op in ("MatMul", "Gemm", "MatMulInteger"):
        first = ins[0] or (1,)
        trans_a = any(attr.name == "transA" and attr.i for attr in node.attribute)
        k = first[0] if op == "Gemm" and trans_a else first[-1]
        macs = out_elems * k
        row.update(
            alu_ops=2.0 * macs,
            load_store_bytes=4.0 * macs / MATMUL_TILE_REUSE,
            l2_bytes=2.0 * in_bytes + out_bytes,
            efficiency=EFFICIENCY["matmul"],
        )
    elif op in ("MaxPool", "AveragePool", "LpPool"):
        kernel_shape = next((list(a.ints) for a in node.attribute if a.name == "kernel_shape"), [1])
        window = float(np.prod(kernel_shape))
        row.update(
            alu_ops=out_elems * window,
            texture_fetches=out_elems * window / TEXEL_CHANNELS,
            l2_bytes=in_bytes + out_bytes,
            efficiency=EFFICIENCY["pool"],
        )
    elif op in ("GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "ReduceSum", "ReduceMax"):
        in_elems = _numel(ins[0])
        row.update(
            alu_ops=in_elems, load_store_bytes=in_bytes, l2_bytes=in_bytes + out_bytes, efficiency=EFFICIENCY["pool"]
        )
    elif op in DATA_MOVEMENT:
        row.update(
            load_store_bytes=in_bytes + out_bytes,
            l2_bytes=in_bytes + out_bytes,
            alu_ops=out_elems,
            efficiency=EFFICIENCY["move"],
        )
    else:  # elementwise and everything else: a few ALU ops per output element
        row.update(
            alu_ops=out_elems * ALU_PER_ELEMENT.get(op, 1),
            sfu_ops=out_elems * TRANSCENDENTAL.get(op, 0),
            load_store_bytes=in_bytes + out_bytes,
            l2_bytes=in_bytes + out_bytes,
            efficiency=EFFICIENCY["elementwise"],
        )
    return row


class CnnRuns(Workload):
    """`runs` back-to-back inferences of one ONNX model."""

    def __init__(self, onnx_path: str | Path, runs: int, cpu: int | None = None):
        if runs < 1:
            raise WorkloadError(f"runs must be at least 1, got {runs}")
        self.path = Path(onnx_path)
        self.stream, self.resident_bytes = load_onnx_stream(self.path)
        self.runs = runs
        segments = itertools.repeat(Segment(self.stream, 1, "inference", mark="run"), runs)  # read, never changed
        super().__init__(name=f"cnn:{self.path.name}", segments=segments, cpu=cpu)
