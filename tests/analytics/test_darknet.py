"""ronda.analytics.darknet: Darknet cfg + weights → ONNX.

The converted graph is checked against a plain numpy forward pass written from Darknet's own rules
(batch norm as (x - mean) / (sqrt(var) + 1e-6), maxpool padded with -inf by size-1 split as
pad//2 before and the rest after, nearest upsampling, YOLO decoding) on a small network that has every
layer type YOLOv3-tiny uses, including the size-2 stride-1 maxpool; and the real converted model's
shape and names are checked. Bad files give a clear error and exit status 2, never a traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
import pytest

from ronda.analytics.darknet import DarknetError, convert, convert_files
from tests.analytics.assets import builtin_model

SIZE = 64
ANCHORS = "4,6, 10,12, 20,30, 30,40, 50,50, 60,64"
TINY_CFG = f"""
[net]
width={SIZE}
height={SIZE}
channels=3

[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
batch_normalize=1
filters=16
size=3
stride=1
pad=1
activation=leaky

[maxpool]
size=2
stride=1

[convolutional]
size=1
stride=1
pad=1
filters=21
activation=linear

[yolo]
mask = 3,4,5
anchors = {ANCHORS}
classes=2
num=6

[route]
layers = -3

[upsample]
stride=2

[route]
layers = -1, 0

[convolutional]
size=1
stride=1
pad=1
filters=21
activation=linear

[yolo]
mask = 0,1,2
anchors = {ANCHORS}
classes=2
num=6
"""
# biases + bn (3 × filters) + weights, per convolution, in order
TINY_COUNTS = [8 * 4 + 8 * 3 * 9, 16 * 4 + 16 * 8 * 9, 21 + 21 * 16, 21 + 21 * 24]


def _weights(rng: np.random.Generator, counts: list[int] = TINY_COUNTS) -> tuple[bytes, npt.NDArray[np.float32]]:
    values = rng.normal(0, 0.3, sum(counts)).astype(np.float32)
    # variances must be positive: make every value of each bn variance block positive
    pos = 0
    for filters, c_in, bn in ((8, 3, True), (16, 8, True), (21, 16, False), (21, 24, False)):
        if bn:
            values[pos + 3 * filters : pos + 4 * filters] = np.abs(values[pos + 3 * filters : pos + 4 * filters]) + 0.5
            pos += 4 * filters + filters * c_in * 9
        else:
            pos += filters + filters * c_in
    header = np.array([0, 2, 0], dtype="<i4").tobytes() + np.array([0], dtype="<i8").tobytes()
    return header + values.tobytes(), values


class _Reader:
    def __init__(self, values: npt.NDArray[np.float32]) -> None:
        self.v, self.p = values, 0

    def take(self, n: int) -> npt.NDArray[np.float32]:
        out = self.v[self.p : self.p + n]
        self.p += n
        return out


def _conv(
    x: npt.NDArray[np.float64], r: _Reader, filters: int, k: int, bn: bool, leaky: bool
) -> npt.NDArray[np.float64]:
    c, h, w = x.shape
    bias = r.take(filters).astype(np.float64)
    if bn:
        scale, mean, var = (r.take(filters).astype(np.float64) for _ in range(3))
    kernel = r.take(filters * c * k * k).astype(np.float64).reshape(filters, c, k, k)
    pad = k // 2
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((filters, h, w))
    for i in range(k):
        for j in range(k):
            out += np.einsum("fc,chw->fhw", kernel[:, :, i, j], xp[:, i : i + h, j : j + w])
    if bn:
        out = (out - mean[:, None, None]) / (np.sqrt(var)[:, None, None] + 1e-6) * scale[:, None, None]
    out += bias[:, None, None]
    return np.where(out > 0, out, 0.1 * out) if leaky else out


def _maxpool(x: npt.NDArray[np.float64], size: int, stride: int) -> npt.NDArray[np.float64]:
    pad = size - 1
    c, h, w = x.shape
    oh, ow = (h + pad - size) // stride + 1, (w + pad - size) // stride + 1
    xp = np.pad(x, ((0, 0), (pad // 2, pad - pad // 2), (pad // 2, pad - pad // 2)), constant_values=-np.inf)
    out = np.full((c, oh, ow), -np.inf)
    for i in range(size):
        for j in range(size):
            out = np.maximum(out, xp[:, i : i + oh * stride : stride, j : j + ow * stride : stride])
    return out


def _yolo(x: npt.NDArray[np.float64], mask: list[int]) -> npt.NDArray[np.float64]:
    anchors = [float(v) for v in ANCHORS.replace(" ", "").split(",")]
    _, h, w = x.shape
    rows = []
    sig = 1 / (1 + np.exp(-x))
    for a, m in enumerate(mask):
        base = a * 7
        for y in range(h):
            for xx in range(w):
                cx = (sig[base, y, xx] + xx) / w * SIZE
                cy = (sig[base + 1, y, xx] + y) / h * SIZE
                bw = np.exp(x[base + 2, y, xx]) * anchors[2 * m]
                bh = np.exp(x[base + 3, y, xx]) * anchors[2 * m + 1]
                rows.append([cx, cy, bw, bh, *sig[base + 4 : base + 7, y, xx]])
    return np.array(rows)


def _reference(image: npt.NDArray[np.float64], values: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    r = _Reader(values)
    l0 = _conv(image, r, 8, 3, bn=True, leaky=True)
    l1 = _maxpool(l0, 2, 2)
    l2 = _conv(l1, r, 16, 3, bn=True, leaky=True)
    l3 = _maxpool(l2, 2, 1)
    l4 = _conv(l3, r, 21, 1, bn=False, leaky=False)
    head1 = _yolo(l4, [3, 4, 5])
    l7 = l3.repeat(2, axis=1).repeat(2, axis=2)  # route -3 = l3, then upsample
    l8 = np.concatenate([l7, l0], axis=0)
    l9 = _conv(l8, r, 21, 1, bn=False, leaky=False)
    head2 = _yolo(l9, [0, 1, 2])
    assert r.p == values.size
    return np.concatenate([head1, head2])


def test_graph_matches_a_numpy_darknet_forward_pass() -> None:
    rng = np.random.default_rng(7)
    weights, values = _weights(rng)
    model = convert(TINY_CFG, weights, ["person", "car"])
    image = rng.uniform(0, 1, (3, SIZE, SIZE))
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"images": image[None].astype(np.float32)})[0][0]
    want = _reference(image, values)
    assert got.shape == want.shape == (3 * 32 * 32 + 3 * 64 * 64, 7)
    # the first head is 32x32 because the size-2 stride-1 maxpool keeps the size (right/bottom padding)
    np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-3)


def test_builtin_model_shape_and_names() -> None:
    model = onnx.load(str(builtin_model()))
    props = {p.key: p.value for p in model.metadata_props}
    names = json.loads(props["names"])
    assert len(names) == 80 and names[:3] == ["person", "bicycle", "car"] and "motorbike" in names
    assert [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim] == [1, 3, 416, 416]
    # 13x13 and 26x26 grids, 3 anchors each, 85 attributes
    assert [d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim] == [1, 3 * (169 + 676), 85]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ronda.analytics.darknet", *args], capture_output=True, text=True)


def _files(
    tmp_path: Path, cfg: str = TINY_CFG, weights: bytes | None = None, names: str = "person\ncar\n"
) -> list[str]:
    if weights is None:
        weights = _weights(np.random.default_rng(1))[0]
    (tmp_path / "m.cfg").write_text(cfg)
    (tmp_path / "m.weights").write_bytes(weights)
    (tmp_path / "m.names").write_text(names)
    out = tmp_path / "m.onnx"
    return ["--cfg", str(tmp_path / "m.cfg"), "--weights", str(tmp_path / "m.weights"), "--names",
            str(tmp_path / "m.names"), "--out", str(out)]  # fmt: skip


def test_cli_converts_and_says_so(tmp_path: Path) -> None:
    r = _cli(*_files(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "2 classes" in r.stdout and (tmp_path / "m.onnx").is_file()
    assert "--weights" in _cli("--help").stdout


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"weights": b"\x00" * 40}, "ends early"),
        ({"weights": _weights(np.random.default_rng(2))[0] + b"\x00" * 400}, "more than the cfg uses"),
        ({"weights": b"GIF89a" * 3}, "too short"),
        ({"cfg": "hello world"}, "expected key=value"),
        ({"cfg": "[convolutional]\nfilters=3\n"}, "does not start with a [net]"),
        ({"cfg": TINY_CFG.replace("[upsample]", "[crop]")}, "[crop]"),
        ({"cfg": TINY_CFG.replace("activation=leaky", "activation=swish", 1)}, "activation 'swish'"),
        ({"names": "person\n"}, "1 names, the model 2 classes"),
        ({"cfg": TINY_CFG.replace("layers = -1, 0", "layers = -1, 40")}, "layer 40 does not exist"),
    ],
)
def test_cli_bad_files_give_clear_errors(tmp_path: Path, change: dict[str, object], message: str) -> None:
    r = _cli(*_files(tmp_path, **change))  # type: ignore[arg-type]
    assert r.returncode == 2
    assert message in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "m.onnx").exists()


def test_missing_file_is_named(tmp_path: Path) -> None:
    args = _files(tmp_path)
    args[args.index("--weights") + 1] = str(tmp_path / "nope.weights")
    r = _cli(*args)
    assert r.returncode == 2 and "nope.weights does not exist" in r.stderr
    with pytest.raises(DarknetError, match="is a directory"):
        convert_files(tmp_path, tmp_path / "m.weights", tmp_path / "m.names", tmp_path / "x.onnx")
