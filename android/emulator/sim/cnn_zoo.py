"""Built-in CNN workloads: real architectures as ONNX graphs, so `cnn:mobilenetv2` runs without a model file.

Each network is built layer by layer with onnx's helper API at its published input size, as a deployed
inference graph looks after export (batch norm folded into the convolution's bias, dropout gone). The
weights are declared as graph inputs with their real shapes instead of initializers: the virtual phone
only needs shapes (android.emulator.sim.cnn costs every node from them, and counts such inputs as weights),
and the files stay a few kilobytes. The graphs are complete: onnxruntime runs them when given weights.

The builder tracks every tensor's shape, multiply-accumulates and parameters as it goes, so each network
can be checked against its paper's figures (`published_macs`, `published_params`).
"""
from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from android.emulator.sim.workload import WorkloadError

OPSET = 13
IR_VERSION = 8  # what opset 13 needs; runtimes lag behind the newest onnx's default
IMAGENET_CLASSES = 1000
YOLO_OUTPUTS = 255  # 3 anchors x (4 box + 1 objectness + 80 COCO classes)


@dataclass(frozen=True)
class ZooNetwork:
    """A built network: the graph plus what the builder counted while making it."""

    name: str
    model: object  # onnx.ModelProto
    input_shape: tuple[int, ...]
    output_shapes: dict[str, tuple[int, ...]]
    macs: int  # convolution and fully connected multiply-accumulates per inference
    params: int  # weights and biases
    published_macs: float
    published_params: float
    source: str


class _Builder:
    """Appends nodes to an NCHW graph (batch 1) and tracks shapes, MACs and parameters."""

    def __init__(self, name: str, channels: int, height: int, width: int):
        self.name = name
        self.nodes: list = []
        self.inputs: list = []
        self.constants: list = []
        self.shapes: dict[str, tuple[int, ...]] = {}  # per tensor, without the batch dimension
        self.macs = 0
        self.params = 0
        self._count = 0
        self.input_shape = (1, channels, height, width)
        self._declare("image", self.input_shape)
        self.shapes["image"] = (channels, height, width)

    def _declare(self, tensor: str, shape: tuple[int, ...]) -> None:
        from onnx import TensorProto, helper

        self.inputs.append(helper.make_tensor_value_info(tensor, TensorProto.FLOAT, list(shape)))

    def _fresh(self, kind: str) -> str:
        self._count += 1
        return f"{kind}_{self._count}"

    def _node(self, op: str, inputs: list[str], shape: tuple[int, ...], **attrs) -> str:
        from onnx import helper

        out = self._fresh(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        self.shapes[out] = shape
        return out

    def _constant(self, values: list[float], shape: list[int]) -> str:
        """A small constant operand (clip bounds, resize scales): an initializer, not a weight."""
        from onnx import TensorProto, helper

        name = self._fresh("const")
        self.constants.append(helper.make_tensor(name, TensorProto.FLOAT, shape, values))
        return name

    # --- layers ---------------------------------------------------------------------------------
    def conv(self, x: str, out_channels: int, kernel: int, stride: int = 1, pad: int | None = None,
             groups: int = 1, act: str | None = None) -> str:
        """Convolution with bias (batch norm folded in), optionally followed by an activation."""
        c, h, w = self.shapes[x]
        if c % groups or out_channels % groups:
            raise ValueError(f"{self.name}: {c} -> {out_channels} channels do not split into {groups} groups")
        pad = kernel // 2 if pad is None else pad
        out_h = (h + 2 * pad - kernel) // stride + 1
        out_w = (w + 2 * pad - kernel) // stride + 1
        weight, bias = self._fresh("w"), self._fresh("b")
        self._declare(weight, (out_channels, c // groups, kernel, kernel))
        self._declare(bias, (out_channels,))
        per_output = (c // groups) * kernel * kernel
        self.macs += out_channels * out_h * out_w * per_output
        self.params += out_channels * per_output + out_channels
        y = self._node("Conv", [x, weight, bias], (out_channels, out_h, out_w), kernel_shape=[kernel, kernel],
                       strides=[stride, stride], pads=[pad] * 4, group=groups)
        return self.act(y, act) if act else y

    def act(self, x: str, kind: str) -> str:
        shape = self.shapes[x]
        if kind == "relu":
            return self._node("Relu", [x], shape)
        if kind == "relu6":
            return self._node("Clip", [x, self._constant([0.0], []), self._constant([6.0], [])], shape)
        if kind == "leaky":
            return self._node("LeakyRelu", [x], shape, alpha=0.1)
        if kind == "sigmoid":
            return self._node("Sigmoid", [x], shape)
        if kind == "swish":  # SiLU as exported: x * sigmoid(x)
            return self.mul(x, self._node("Sigmoid", [x], shape))
        raise ValueError(f"unknown activation {kind!r}")

    def max_pool(self, x: str, kernel: int, stride: int, pads: tuple[int, int, int, int] = (0, 0, 0, 0),
                 ceil: bool = False) -> str:
        c, h, w = self.shapes[x]
        top, left, bottom, right = pads

        def out(size: int, before: int, after: int) -> int:
            span = size + before + after - kernel
            return (-(-span // stride) if ceil else span // stride) + 1

        shape = (c, out(h, top, bottom), out(w, left, right))
        return self._node("MaxPool", [x], shape, kernel_shape=[kernel, kernel], strides=[stride, stride],
                          pads=[top, left, bottom, right], ceil_mode=int(ceil))

    def global_pool(self, x: str) -> str:
        return self._node("GlobalAveragePool", [x], (self.shapes[x][0], 1, 1))

    def add(self, a: str, b: str) -> str:
        return self._node("Add", [a, b], self.shapes[a])

    def mul(self, a: str, b: str) -> str:
        """Elementwise product; `b` may be a per-channel (C,1,1) gate."""
        return self._node("Mul", [a, b], self.shapes[a])

    def concat(self, parts: list[str]) -> str:
        _, h, w = self.shapes[parts[0]]
        return self._node("Concat", parts, (sum(self.shapes[p][0] for p in parts), h, w), axis=1)

    def upsample2x(self, x: str) -> str:
        c, h, w = self.shapes[x]
        roi = self._constant([], [0])
        scales = self._constant([1.0, 1.0, 2.0, 2.0], [4])
        return self._node("Resize", [x, roi, scales], (c, 2 * h, 2 * w), mode="nearest")

    def squeeze_excite(self, x: str, squeezed: int) -> str:
        """Squeeze-and-excitation: a per-channel gate from the global average (EfficientNet)."""
        channels = self.shapes[x][0]
        gate = self.global_pool(x)
        gate = self.conv(gate, squeezed, 1, act="swish")
        gate = self.conv(gate, channels, 1, act="sigmoid")
        return self.mul(x, gate)

    def flatten(self, x: str) -> str:
        return self._node("Flatten", [x], (self.shapes[x][0],), axis=1)

    def classifier(self, x: str, classes: int = IMAGENET_CLASSES) -> str:
        """Global average pool, flatten, fully connected layer."""
        flat = self.flatten(self.global_pool(x))
        channels = self.shapes[flat][0]
        weight, bias = self._fresh("w"), self._fresh("b")
        self._declare(weight, (classes, channels))
        self._declare(bias, (classes,))
        self.macs += channels * classes
        self.params += channels * classes + classes
        return self._node("Gemm", [flat, weight, bias], (classes,), transB=1)

    def finish(self, outputs: dict[str, tuple[str, tuple[int, ...]]]) -> tuple[object, dict[str, tuple[int, ...]]]:
        """The ModelProto with `outputs` (graph name -> (tensor, shape)) renamed to their graph names."""
        from onnx import TensorProto, helper

        renames = {tensor: name for name, (tensor, _) in outputs.items()}
        for node in self.nodes:
            for i, out in enumerate(node.output):
                if out in renames:
                    node.output[i] = renames[out]
            for i, inp in enumerate(node.input):
                if inp in renames:
                    node.input[i] = renames[inp]
        graph = helper.make_graph(
            self.nodes, self.name, self.inputs,
            [helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))
             for name, (_, shape) in outputs.items()],
            self.constants)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="fusegov.cnn_zoo", ir_version=IR_VERSION)
        return model, {name: shape for name, (_, shape) in outputs.items()}


def _logits(b: _Builder, x: str) -> dict[str, tuple[str, tuple[int, ...]]]:
    return {"logits": (b.classifier(x), (1, IMAGENET_CLASSES))}


# --- the networks ---------------------------------------------------------------------------------
def _mobilenetv2() -> tuple[_Builder, dict]:
    """MobileNetV2 1.0 (Sandler et al. 2018, Table 2): inverted residual blocks, ReLU6, linear bottlenecks."""
    b = _Builder("mobilenetv2", 3, 224, 224)
    x = b.conv("image", 32, 3, stride=2, act="relu6")
    channels = 32
    for expand, out, repeats, stride in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                                         (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)):
        for i in range(repeats):
            s = stride if i == 0 else 1
            y = b.conv(x, channels * expand, 1, act="relu6") if expand != 1 else x
            y = b.conv(y, channels * expand, 3, stride=s, groups=channels * expand, act="relu6")
            y = b.conv(y, out, 1)
            x = b.add(x, y) if s == 1 and channels == out else y
            channels = out
    x = b.conv(x, 1280, 1, act="relu6")
    return b, _logits(b, x)


def _resnet18() -> tuple[_Builder, dict]:
    """ResNet-18 (He et al. 2016, Table 1): basic blocks of two 3x3 convolutions, 1x1 projection shortcuts."""
    b = _Builder("resnet18", 3, 224, 224)
    x = b.conv("image", 64, 7, stride=2, act="relu")
    x = b.max_pool(x, 3, 2, pads=(1, 1, 1, 1))
    channels = 64
    for out, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        for i in range(2):
            s = stride if i == 0 else 1
            y = b.conv(x, out, 3, stride=s, act="relu")
            y = b.conv(y, out, 3)
            shortcut = b.conv(x, out, 1, stride=s) if s != 1 or channels != out else x
            x = b.act(b.add(y, shortcut), "relu")
            channels = out
    return b, _logits(b, x)


def _squeezenet11() -> tuple[_Builder, dict]:
    """SqueezeNet 1.1 (Iandola et al., the v1.1 release): fire modules, 3x3 stem, early pooling."""
    b = _Builder("squeezenet1.1", 3, 224, 224)
    x = b.conv("image", 64, 3, stride=2, pad=0, act="relu")

    def fire(x: str, squeeze: int, expand: int) -> str:
        s = b.conv(x, squeeze, 1, act="relu")
        return b.concat([b.conv(s, expand, 1, act="relu"), b.conv(s, expand, 3, act="relu")])

    x = b.max_pool(x, 3, 2, ceil=True)
    x = fire(fire(x, 16, 64), 16, 64)
    x = b.max_pool(x, 3, 2, ceil=True)
    x = fire(fire(x, 32, 128), 32, 128)
    x = b.max_pool(x, 3, 2, ceil=True)
    x = fire(fire(x, 48, 192), 48, 192)
    x = fire(fire(x, 64, 256), 64, 256)
    x = b.conv(x, IMAGENET_CLASSES, 1, act="relu")  # the classifier is a convolution
    return b, {"logits": (b.flatten(b.global_pool(x)), (1, IMAGENET_CLASSES))}


def _efficientnet_b0() -> tuple[_Builder, dict]:
    """EfficientNet-B0 (Tan and Le 2019, Table 1): MBConv blocks with squeeze-excitation and swish."""
    b = _Builder("efficientnet-b0", 3, 224, 224)
    x = b.conv("image", 32, 3, stride=2, act="swish")
    channels = 32
    for expand, kernel, stride, out, repeats in ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2),
                                                 (6, 3, 2, 80, 3), (6, 5, 1, 112, 3), (6, 5, 2, 192, 4),
                                                 (6, 3, 1, 320, 1)):
        for i in range(repeats):
            s = stride if i == 0 else 1
            wide = channels * expand
            y = b.conv(x, wide, 1, act="swish") if expand != 1 else x
            y = b.conv(y, wide, kernel, stride=s, groups=wide, act="swish")
            y = b.squeeze_excite(y, max(1, channels // 4))
            y = b.conv(y, out, 1)
            x = b.add(x, y) if s == 1 and channels == out else y
            channels = out
    x = b.conv(x, 1280, 1, act="swish")
    return b, _logits(b, x)


def _yolov3_tiny() -> tuple[_Builder, dict]:
    """YOLOv3-tiny (Redmon and Farhadi 2018, darknet yolov3-tiny.cfg) at 416x416: a detector with two heads."""
    b = _Builder("yolov3-tiny", 3, 416, 416)
    x = "image"
    for out in (16, 32, 64, 128, 256):
        x = b.conv(x, out, 3, act="leaky")
        if out == 256:
            route = x  # 26x26 features for the second head
        x = b.max_pool(x, 2, 2)
    x = b.conv(x, 512, 3, act="leaky")
    x = b.max_pool(x, 2, 1, pads=(0, 0, 1, 1))  # darknet's size-2 stride-1 pool keeps 13x13
    x = b.conv(x, 1024, 3, act="leaky")
    neck = b.conv(x, 256, 1, act="leaky")
    head1 = b.conv(b.conv(neck, 512, 3, act="leaky"), YOLO_OUTPUTS, 1)
    y = b.upsample2x(b.conv(neck, 128, 1, act="leaky"))
    y = b.conv(b.concat([y, route]), 256, 3, act="leaky")
    head2 = b.conv(y, YOLO_OUTPUTS, 1)
    return b, {"boxes_13": (head1, (1, YOLO_OUTPUTS, 13, 13)), "boxes_26": (head2, (1, YOLO_OUTPUTS, 26, 26))}


# name -> (builder, published MACs, published parameters, where the figures come from)
NETWORKS: dict[str, tuple[Callable[[], tuple[_Builder, dict]], float, float, str]] = {
    "mobilenetv2": (_mobilenetv2, 300e6, 3.5e6, "Sandler et al., MobileNetV2, CVPR 2018: 300M MACs; torchvision 3.5M"),
    "resnet18": (_resnet18, 1.8e9, 11.7e6, "He et al., ResNet, CVPR 2016: 1.8 GFLOPs (MACs); torchvision 11.7M"),
    "squeezenet1.1": (_squeezenet11, 0.35e9, 1.24e6, "SqueezeNet v1.1 release notes / torchvision: 0.35 GMACs, 1.24M"),
    "efficientnet-b0": (_efficientnet_b0, 0.39e9, 5.3e6, "Tan and Le, EfficientNet, ICML 2019: 0.39B FLOPs (MACs), 5.3M"),
    "yolov3-tiny": (_yolov3_tiny, 2.79e9, 8.86e6, "darknet yolov3-tiny.cfg at 416: 5.57 BFLOPs (2 x MACs), 8.86M"),
}


def names() -> list[str]:
    return sorted(NETWORKS)


@functools.cache
def build(name: str) -> ZooNetwork:
    """Build a built-in network (once per process)."""
    if name not in NETWORKS:
        raise WorkloadError(f"unknown built-in CNN {name!r}: built-in CNNs are {', '.join(names())}")
    make, macs, params, source = NETWORKS[name]
    builder, outputs = make()
    model, output_shapes = builder.finish(outputs)
    return ZooNetwork(name=name, model=model, input_shape=builder.input_shape, output_shapes=output_shapes,
                      macs=builder.macs, params=builder.params, published_macs=macs, published_params=params,
                      source=source)


@functools.cache
def zoo_path(name: str) -> Path:
    """The network as an ONNX file (a few kB) in a per-user cache, named by its content so an edit to a
    builder never reuses a stale file; written atomically, so concurrent processes may share it."""
    data = build(name).model.SerializeToString(deterministic=True)
    digest = hashlib.sha256(data).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / f"fusegov-cnn-zoo-{os.getuid()}" / digest
    path = folder / f"{name}.onnx"
    if not path.is_file() or path.read_bytes() != data:
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{name}.{os.getpid()}.partial"
        partial.write_bytes(data)
        os.replace(partial, path)
    return path


def resolve_onnx(target: str | Path) -> Path:
    """`cnn:TARGET` to a file: a built-in name gives its cached graph, anything else is a path (an existing
    file of the same name wins). An unknown name that does not look like a file is a clear error."""
    path = Path(target)
    if path.is_file():
        return path
    if str(target) in NETWORKS:
        return zoo_path(str(target))
    if path.suffix != ".onnx" and len(path.parts) == 1:
        raise WorkloadError(f"no built-in CNN {str(target)!r} and no such file: built-in CNNs are "
                            f"{', '.join(names())}, or give the path of an .onnx file")
    return path
