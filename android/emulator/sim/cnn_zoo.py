"""Built-in CNN workloads: real architectures as ONNX graphs, so `cnn:mobilenetv2` runs without a model file.

Each network is built layer by layer with onnx's helper API at its published input size, as a deployed
inference graph looks after export (batch norm folded into the convolution's bias, dropout gone). The
weights are declared as graph inputs with their real shapes instead of initializers: the virtual phone
only needs shapes (android.emulator.sim.cnn costs every node from them, and counts such inputs as weights),
and the files stay a few kilobytes. The graphs are complete: onnxruntime runs them when given weights.

The builder tracks every tensor's shape, multiply-accumulates and parameters as it goes, so each network
can be checked against its paper's figures (`published_macs`, `published_params`). It also records the
network's architectural family (FAMILIES), read from the layers it was built with, because power models
generalise across networks only as far as their training set covers each kind of work: dense convolutions,
depthwise-separable blocks, and depthwise blocks gated by squeeze-excitation (global pooling, a small
fully connected pair, a per-channel product: short, memory-bound kernels).
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from android.errors import WorkloadError

OPSET = 13
IR_VERSION = 8  # what opset 13 needs; runtimes lag behind the newest onnx's default
IMAGENET_CLASSES = 1000
YOLO_OUTPUTS = 255  # 3 anchors x (4 box + 1 objectness + 80 COCO classes)
FAMILIES = ("dense", "depthwise", "depthwise-se")  # see ZooNetwork.family


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
    family: str  # "depthwise-se" (has squeeze-excitation gates), "depthwise" (has depthwise convolutions), "dense"


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
        self.depthwise = False  # built a depthwise convolution (one group per channel)
        self.gated = False  # built a squeeze-excitation gate
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

    def _constant(self, values: list[float], shape: list[int], integer: bool = False) -> str:
        """A small constant operand (clip bounds, resize scales, int64 shapes and split sizes): an
        initializer, not a weight."""
        from onnx import TensorProto, helper

        name = self._fresh("const")
        dtype = TensorProto.INT64 if integer else TensorProto.FLOAT
        self.constants.append(helper.make_tensor(name, dtype, shape, values))
        return name

    @property
    def family(self) -> str:
        return "depthwise-se" if self.gated else "depthwise" if self.depthwise else "dense"

    # --- layers ---------------------------------------------------------------------------------
    def conv(
        self,
        x: str,
        out_channels: int,
        kernel: int,
        stride: int = 1,
        pad: int | None = None,
        groups: int = 1,
        act: str | None = None,
    ) -> str:
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
        self.depthwise |= groups > 1 and groups == c
        self.macs += out_channels * out_h * out_w * per_output
        self.params += out_channels * per_output + out_channels
        y = self._node(
            "Conv",
            [x, weight, bias],
            (out_channels, out_h, out_w),
            kernel_shape=[kernel, kernel],
            strides=[stride, stride],
            pads=[pad] * 4,
            group=groups,
        )
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
        if kind == "hardsigmoid":  # relu6(x + 3) / 6, as torch exports it
            return self._node("HardSigmoid", [x], shape, alpha=1.0 / 6.0, beta=0.5)
        if kind == "hardswish":  # x * hardsigmoid(x): opset 13 has no HardSwish, exporters emit this pair
            return self.mul(x, self.act(x, "hardsigmoid"))
        raise ValueError(f"unknown activation {kind!r}")

    def max_pool(
        self, x: str, kernel: int, stride: int, pads: tuple[int, int, int, int] = (0, 0, 0, 0), ceil: bool = False
    ) -> str:
        c, h, w = self.shapes[x]
        top, left, bottom, right = pads

        def out(size: int, before: int, after: int) -> int:
            span = size + before + after - kernel
            return (-(-span // stride) if ceil else span // stride) + 1

        shape = (c, out(h, top, bottom), out(w, left, right))
        return self._node(
            "MaxPool",
            [x],
            shape,
            kernel_shape=[kernel, kernel],
            strides=[stride, stride],
            pads=[top, left, bottom, right],
            ceil_mode=int(ceil),
        )

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

    def split(self, x: str, parts: int) -> list[str]:
        """Equal split along channels (ShuffleNetV2's channel split)."""
        from onnx import helper

        c, h, w = self.shapes[x]
        if c % parts:
            raise ValueError(f"{self.name}: {c} channels do not split into {parts} equal parts")
        outs = [self._fresh("split") for _ in range(parts)]
        sizes = self._constant([c // parts] * parts, [parts], integer=True)
        self.nodes.append(helper.make_node("Split", [x, sizes], outs, name=outs[0], axis=1))
        for out in outs:
            self.shapes[out] = (c // parts, h, w)
        return outs

    def channel_shuffle(self, x: str, groups: int) -> str:
        """Interleave channel groups: reshape to (groups, C/groups), transpose, reshape back (ShuffleNet)."""
        c, h, w = self.shapes[x]
        grouped = self._node(
            "Reshape",
            [x, self._constant([1, groups, c // groups, h, w], [5], integer=True)],
            (groups, c // groups, h, w),
        )
        swapped = self._node("Transpose", [grouped], (c // groups, groups, h, w), perm=[0, 2, 1, 3, 4])
        return self._node("Reshape", [swapped, self._constant([1, c, h, w], [4], integer=True)], (c, h, w))

    def squeeze_excite(self, x: str, squeezed: int, inner: str = "swish", gate: str = "sigmoid") -> str:
        """Squeeze-and-excitation: a per-channel gate from the global average (EfficientNet, MnasNet:
        swish or ReLU inside, sigmoid gate; MobileNetV3: ReLU inside, hard-sigmoid gate)."""
        self.gated = True
        channels = self.shapes[x][0]
        weights = self.global_pool(x)
        weights = self.conv(weights, squeezed, 1, act=inner)
        weights = self.conv(weights, channels, 1, act=gate)
        return self.mul(x, weights)

    def flatten(self, x: str) -> str:
        return self._node("Flatten", [x], (self.shapes[x][0],), axis=1)

    def linear(self, x: str, out_features: int, act: str | None = None) -> str:
        """Fully connected layer on a flat tensor, optionally followed by an activation."""
        features = self.shapes[x][0]
        weight, bias = self._fresh("w"), self._fresh("b")
        self._declare(weight, (out_features, features))
        self._declare(bias, (out_features,))
        self.macs += features * out_features
        self.params += features * out_features + out_features
        y = self._node("Gemm", [x, weight, bias], (out_features,), transB=1)
        return self.act(y, act) if act else y

    def classifier(
        self, x: str, classes: int = IMAGENET_CLASSES, hidden: int | None = None, hidden_act: str | None = None
    ) -> str:
        """Global average pool, flatten, (optionally a hidden fully connected layer,) fully connected layer."""
        flat = self.flatten(self.global_pool(x))
        if hidden is not None:
            flat = self.linear(flat, hidden, act=hidden_act)
        return self.linear(flat, classes)

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
            self.nodes,
            self.name,
            self.inputs,
            [
                helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))
                for name, (_, shape) in outputs.items()
            ],
            self.constants,
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            producer_name="fusegov.cnn_zoo",
            ir_version=IR_VERSION,
        )
        return model, {name: shape for name, (_, shape) in outputs.items()}


def _logits(b: _Builder, x: str) -> dict[str, tuple[str, tuple[int, ...]]]:
    return {"logits": (b.classifier(x), (1, IMAGENET_CLASSES))}


# --- the networks ---------------------------------------------------------------------------------
def _mobilenetv2() -> tuple[_Builder, dict]:
    """MobileNetV2 1.0 (Sandler et al. 2018, Table 2): inverted residual blocks, ReLU6, linear bottlenecks."""
    b = _Builder("mobilenetv2", 3, 224, 224)
    x = b.conv("image", 32, 3, stride=2, act="relu6")
    channels = 32
    for expand, out, repeats, stride in (
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ):
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


def _efficientnet(name: str, depth: float, resolution: int) -> tuple[_Builder, dict]:
    """EfficientNet (Tan and Le 2019, Table 1): MBConv blocks with squeeze-excitation and swish; the B1..
    variants scale B0's repeats by `depth` (rounded up) and its input by `resolution` (width stays 1.0 for B1)."""
    b = _Builder(name, 3, resolution, resolution)
    x = b.conv("image", 32, 3, stride=2, act="swish")
    channels = 32
    for expand, kernel, stride, out, repeats in (
        (1, 3, 1, 16, 1),
        (6, 3, 2, 24, 2),
        (6, 5, 2, 40, 2),
        (6, 3, 2, 80, 3),
        (6, 5, 1, 112, 3),
        (6, 5, 2, 192, 4),
        (6, 3, 1, 320, 1),
    ):
        for i in range(math.ceil(depth * repeats)):
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


def _mnasnet_a1() -> tuple[_Builder, dict]:
    """MnasNet-A1 (Tan et al., CVPR 2019, Figure 7; the authors' mnasnet_a1 block list): MBConv blocks with
    ReLU, squeeze-excitation (ReLU inside, sigmoid gate, squeezed to a quarter of the block's input) in
    three of its seven stages."""
    b = _Builder("mnasnet-a1", 3, 224, 224)
    x = b.conv("image", 32, 3, stride=2, act="relu")
    channels = 32
    for expand, kernel, stride, out, repeats, se in (
        (1, 3, 1, 16, 1, False),
        (6, 3, 2, 24, 2, False),
        (3, 5, 2, 40, 3, True),
        (6, 3, 2, 80, 4, False),
        (6, 3, 1, 112, 2, True),
        (6, 5, 2, 160, 3, True),
        (6, 3, 1, 320, 1, False),
    ):
        for i in range(repeats):
            s = stride if i == 0 else 1
            wide = channels * expand
            y = b.conv(x, wide, 1, act="relu") if expand != 1 else x
            y = b.conv(y, wide, kernel, stride=s, groups=wide, act="relu")
            if se:
                y = b.squeeze_excite(y, max(1, channels // 4), inner="relu")
            y = b.conv(y, out, 1)
            x = b.add(x, y) if s == 1 and channels == out and i > 0 else y  # the first block never skips
            channels = out
    x = b.conv(x, 1280, 1, act="relu")
    return b, _logits(b, x)


def _make_divisible(value: float, divisor: int = 8) -> int:
    """Round channels to a multiple of `divisor`, never below 90% of `value` (the MobileNet reference code)."""
    out = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return out + divisor if out < 0.9 * value else out


# MobileNetV3 bottlenecks (Howard et al., ICCV 2019, Tables 1 and 2): kernel, expanded, out, SE, activation, stride
_MOBILENETV3_LARGE = (
    (3, 16, 16, False, "relu", 1),
    (3, 64, 24, False, "relu", 2),
    (3, 72, 24, False, "relu", 1),
    (5, 72, 40, True, "relu", 2),
    (5, 120, 40, True, "relu", 1),
    (5, 120, 40, True, "relu", 1),
    (3, 240, 80, False, "hardswish", 2),
    (3, 200, 80, False, "hardswish", 1),
    (3, 184, 80, False, "hardswish", 1),
    (3, 184, 80, False, "hardswish", 1),
    (3, 480, 112, True, "hardswish", 1),
    (3, 672, 112, True, "hardswish", 1),
    (5, 672, 160, True, "hardswish", 2),
    (5, 960, 160, True, "hardswish", 1),
    (5, 960, 160, True, "hardswish", 1),
)
_MOBILENETV3_SMALL = (
    (3, 16, 16, True, "relu", 2),
    (3, 72, 24, False, "relu", 2),
    (3, 88, 24, False, "relu", 1),
    (5, 96, 40, True, "hardswish", 2),
    (5, 240, 40, True, "hardswish", 1),
    (5, 240, 40, True, "hardswish", 1),
    (5, 120, 48, True, "hardswish", 1),
    (5, 144, 48, True, "hardswish", 1),
    (5, 288, 96, True, "hardswish", 2),
    (5, 576, 96, True, "hardswish", 1),
    (5, 576, 96, True, "hardswish", 1),
)


def _mobilenetv3(name: str, blocks: tuple, last_conv: int, hidden: int) -> tuple[_Builder, dict]:
    """MobileNetV3 (Howard et al. 2019) as torchvision builds it: bottlenecks with optional squeeze-excitation
    (ReLU inside, hard-sigmoid gate, squeezed to a quarter of the expanded width), hard-swish in the later
    stages, and a hidden fully connected layer before the classifier."""
    b = _Builder(name, 3, 224, 224)
    x = b.conv("image", 16, 3, stride=2, act="hardswish")
    channels = 16
    for kernel, wide, out, se, act, stride in blocks:
        y = b.conv(x, wide, 1, act=act) if wide != channels else x
        y = b.conv(y, wide, kernel, stride=stride, groups=wide, act=act)
        if se:
            y = b.squeeze_excite(y, _make_divisible(wide / 4), inner="relu", gate="hardsigmoid")
        y = b.conv(y, out, 1)
        x = b.add(x, y) if stride == 1 and channels == out else y
        channels = out
    x = b.conv(x, last_conv, 1, act="hardswish")
    return b, {"logits": (b.classifier(x, hidden=hidden, hidden_act="hardswish"), (1, IMAGENET_CLASSES))}


def _shufflenetv2() -> tuple[_Builder, dict]:
    """ShuffleNetV2 1.0x (Ma et al., ECCV 2018, Table 5): channel split, a 1x1 / depthwise 3x3 / 1x1 branch,
    concatenation and channel shuffle; downsampling units run both halves through strided branches."""
    b = _Builder("shufflenetv2-x1.0", 3, 224, 224)
    x = b.conv("image", 24, 3, stride=2, act="relu")
    x = b.max_pool(x, 3, 2, pads=(1, 1, 1, 1))
    channels = 24
    for out, repeats in ((116, 4), (232, 8), (464, 4)):
        half = out // 2
        for i in range(repeats):
            if i == 0:  # downsampling unit: both branches see the whole input
                left = b.conv(b.conv(x, channels, 3, stride=2, groups=channels), half, 1, act="relu")
                right, stride = x, 2
            else:
                (left, right), stride = b.split(x, 2), 1
            right = b.conv(right, half, 1, act="relu")
            right = b.conv(right, half, 3, stride=stride, groups=half)
            right = b.conv(right, half, 1, act="relu")
            x = b.channel_shuffle(b.concat([left, right]), 2)
            channels = out
    x = b.conv(x, 1024, 1, act="relu")
    return b, _logits(b, x)


def _resnet50() -> tuple[_Builder, dict]:
    """ResNet-50 (He et al. 2016, Table 1) as torchvision builds it (v1.5: the stride sits on the 3x3
    convolution): bottleneck blocks of 1x1, 3x3, 1x1 convolutions with 4x expansion."""
    b = _Builder("resnet50", 3, 224, 224)
    x = b.conv("image", 64, 7, stride=2, act="relu")
    x = b.max_pool(x, 3, 2, pads=(1, 1, 1, 1))
    channels = 64
    for width, repeats, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for i in range(repeats):
            s = stride if i == 0 else 1
            y = b.conv(x, width, 1, act="relu")
            y = b.conv(y, width, 3, stride=s, act="relu")
            y = b.conv(y, 4 * width, 1)
            shortcut = b.conv(x, 4 * width, 1, stride=s) if s != 1 or channels != 4 * width else x
            x = b.act(b.add(y, shortcut), "relu")
            channels = 4 * width
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
    "mobilenetv3-large": (
        functools.partial(_mobilenetv3, "mobilenetv3-large", _MOBILENETV3_LARGE, 960, 1280),
        219e6,
        5.4e6,
        ("Howard et al., Searching for MobileNetV3, ICCV 2019: 219M MAdds, 5.4M parameters"),
    ),
    "mobilenetv3-small": (
        functools.partial(_mobilenetv3, "mobilenetv3-small", _MOBILENETV3_SMALL, 576, 1024),
        56e6,
        2.5e6,
        ("Howard et al., Searching for MobileNetV3, ICCV 2019: 56M MAdds, 2.5M parameters"),
    ),
    "shufflenetv2-x1.0": (
        _shufflenetv2,
        146e6,
        2.3e6,
        ("Ma et al., ShuffleNet V2, ECCV 2018, Table 5: 146M FLOPs (MACs), 2.3M parameters"),
    ),
    "mnasnet-a1": (_mnasnet_a1, 312e6, 3.9e6, "Tan et al., MnasNet, CVPR 2019, Table 1: 312M MACs, 3.9M parameters"),
    "resnet18": (_resnet18, 1.8e9, 11.7e6, "He et al., ResNet, CVPR 2016: 1.8 GFLOPs (MACs); torchvision 11.7M"),
    "resnet50": (
        _resnet50,
        4.09e9,
        25.6e6,
        (
            "torchvision resnet50 (ResNet v1.5; He et al. 2016 give 3.8 GFLOPs "
            "for v1): 4.09 GFLOPS (MACs), 25.6M parameters"
        ),
    ),
    "squeezenet1.1": (_squeezenet11, 0.35e9, 1.24e6, "SqueezeNet v1.1 release notes / torchvision: 0.35 GMACs, 1.24M"),
    "efficientnet-b0": (
        functools.partial(_efficientnet, "efficientnet-b0", 1.0, 224),
        0.39e9,
        5.3e6,
        "Tan and Le, EfficientNet, ICML 2019: 0.39B FLOPs (MACs), 5.3M",
    ),
    "efficientnet-b1": (
        functools.partial(_efficientnet, "efficientnet-b1", 1.1, 240),
        0.70e9,
        7.8e6,
        "Tan and Le, EfficientNet, ICML 2019, Table 2: 0.70B FLOPs (MACs), 7.8M",
    ),
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
    return ZooNetwork(
        name=name,
        model=model,
        input_shape=builder.input_shape,
        output_shapes=output_shapes,
        macs=builder.macs,
        params=builder.params,
        published_macs=macs,
        published_params=params,
        source=source,
        family=builder.family,
    )


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
        raise WorkloadError(
            f"no built-in CNN {str(target)!r} and no such file: built-in CNNs are "
            f"{', '.join(names())}, or give the path of an .onnx file"
        )
    return path
