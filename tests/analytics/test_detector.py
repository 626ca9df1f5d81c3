"""ronda.analytics.detector and models: real models on real pictures, and bad model files.

The expected boxes below were drawn by eye on the pictures (normalised x0, y0, x1, y1), not copied
from the detector's output: a detection "finds" a person when its box overlaps one by IoU >= 0.5.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import onnx
import pytest
from onnx import TensorProto, helper

from ronda.analytics.detector import Detector, ModelError
from ronda.analytics.model import Box, Detection
from ronda.analytics.models import ModelRegistry
from tests.analytics.assets import builtin_model, sample

# bus.jpg (810x1080): people in front of a bus
BUS_LEFT_MAN = (0.06, 0.37, 0.27, 0.83)
BUS_CENTRE_MAN = (0.28, 0.38, 0.43, 0.80)
BUS_RIGHT_WALKER = (0.83, 0.37, 1.0, 0.81)
BUS = (0.0, 0.21, 0.99, 0.67)
# zidane.jpg (1280x720): two men
ZIDANE = (0.10, 0.28, 0.60, 1.0)
ANCELOTTI = (0.59, 0.03, 0.90, 1.0)


def iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def imread(name: str) -> npt.NDArray[np.uint8]:
    img = cv2.imread(str(sample(name)))
    assert img is not None
    return np.asarray(img, dtype=np.uint8)


def found(dets: list[Detection], cls: str, box: Box) -> bool:
    return any(d.cls == cls and iou(d.box, box) >= 0.5 for d in dets)


@pytest.fixture(scope="module")
def default() -> Detector:
    return Detector(builtin_model())


def test_default_model_finds_people_and_the_bus(default: Detector) -> None:
    dets = default.detect(imread("bus.jpg"), min_score=0.3)
    for who in (BUS_LEFT_MAN, BUS_CENTRE_MAN, BUS_RIGHT_WALKER):
        assert found(dets, "person", who), (who, dets)
    assert found(dets, "bus", BUS), dets
    assert all(0 <= v <= 1 for d in dets for v in d.box)
    assert dets == sorted(dets, key=lambda d: -d.score)


def test_default_model_finds_both_men(default: Detector) -> None:
    dets = default.detect(imread("zidane.jpg"), min_score=0.3)
    assert found(dets, "person", ZIDANE) and found(dets, "person", ANCELOTTI), dets
    persons = [d for d in dets if d.cls == "person" and d.score >= 0.5]
    assert len(persons) == 2, persons  # NMS: one box per man, not a cloud


def test_class_filter_and_threshold(default: Detector) -> None:
    frame = imread("bus.jpg")
    only_bus = default.detect(frame, min_score=0.3, classes={"bus"})
    assert only_bus and {d.cls for d in only_bus} == {"bus"}
    assert all(d.score >= 0.9 for d in default.detect(frame, min_score=0.9))


def test_320_variant_still_sees(default: Detector) -> None:
    small = Detector(builtin_model("yolov3-tiny-320.onnx"))
    assert small.info.input_width == 320
    frame = imread("bus.jpg")
    dets = small.detect(frame, min_score=0.3)
    assert found(dets, "person", BUS_LEFT_MAN) and found(dets, "bus", BUS), dets
    assert small.time_inference(frame, runs=2) > 0  # its speed: bench/detect.py


def test_a_yolov8_layout_model_from_elsewhere() -> None:
    """nudenet's YOLOv8n export: [1, 4 + 18, N] output, names as Ultralytics writes them, dynamic input."""
    det = Detector(sample("yolov8n-nudenet.onnx"))
    assert det.info.layout == "yolov8" and len(det.names) == 18 and det.info.input_width == 320
    faces = [d for d in det.detect(imread("zidane.jpg"), min_score=0.25) if d.cls == "FACE_MALE"]
    assert faces, "no male face found on zidane.jpg"
    # every face found lies inside one of the two men
    assert all(iou(f.box, ZIDANE) > 0 or iou(f.box, ANCELOTTI) > 0 for f in faces)


def _contained(a: Box, b: Box) -> float:
    """The share of the smaller box that lies inside the other."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return ix * iy / min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))


def test_one_box_per_object_not_one_per_scale(default: Detector) -> None:
    """YOLOv3-tiny's two heads both see the cyclist of bikes.mp4 (frames 125-135): a person box inside a
    larger person box, a bicycle inside a bicycle. Plain NMS keeps both (IoU < 0.45); one object must
    give one box, or the tracker counts it twice."""
    import av

    frames = []
    with av.open(str(sample("bikes.mp4"))) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in (120, 125, 130, 135, 160, 185):
                frames.append(np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8))
    assert len(frames) == 6
    for img in frames:
        dets = default.detect(img, min_score=0.2)
        for i, a in enumerate(dets):
            for b in dets[i + 1 :]:
                assert a.cls != b.cls or _contained(a.box, b.box) < 0.85, (a, b)
    # the cyclist is still there
    assert any(d.cls == "person" and d.score > 0.5 for d in default.detect(frames[2], min_score=0.2))


def test_grey_and_tiny_frames(default: Detector) -> None:
    assert default.detect(np.full((10, 10, 3), 128, np.uint8)) == []
    with pytest.raises(ValueError, match="BGR uint8"):
        default.detect(np.zeros((10, 10), np.uint8))


def _save(model: onnx.ModelProto, path: Path) -> Path:
    path.write_bytes(model.SerializeToString())
    return path


def _identity_model(out_shape: list[int]) -> onnx.ModelProto:
    """A valid ONNX model with an image input whose output is not a YOLO layout."""
    n = int(np.prod(out_shape))
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["m"], keepdims=0),
        helper.make_node("Expand", ["m", "shape"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, out_shape)],
        initializer=[onnx.numpy_helper.from_array(np.array(out_shape, np.int64), "shape")],
    )  # fmt: skip
    assert n
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"this is not a model at all, just some text pretending to be one......", "not a usable ONNX model"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 4000, "not a usable ONNX model"),
        (b"", "not an ONNX model"),
    ],
)
def test_not_onnx_is_a_model_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(content)
    with pytest.raises(ModelError, match=message) as e:
        Detector(path)
    assert "Traceback" not in str(e.value) and len(str(e.value)) < 500


def test_unknown_layouts_are_model_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"output shape \[1, 10\] is not a YOLO layout"):
        Detector(_save(_identity_model([1, 10]), tmp_path / "a.onnx"))
    with pytest.raises(ModelError, match="is not a YOLO layout"):
        Detector(_save(_identity_model([1, 4, 4]), tmp_path / "b.onnx"))


def test_a_model_without_an_image_input(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 10])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    with pytest.raises(ModelError, match=r"expected one image input \[1, 3, H, W\], found \[\[1, 10\]\]"):
        Detector(_save(model, tmp_path / "text.onnx"))


def test_missing_too_big_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        Detector(tmp_path / "nope.onnx")
    with pytest.raises(ModelError, match="not a file"):
        Detector(tmp_path)
    big = tmp_path / "big.onnx"
    with big.open("wb") as f:
        f.truncate(301 << 20)  # sparse: no disk used
    with pytest.raises(ModelError, match="at most 300 MB"):
        Detector(big)


def test_registry(tmp_path: Path) -> None:
    reg = ModelRegistry({"mine": tmp_path / "mine.onnx"}, builtin_dir=builtin_model().parent)
    assert reg.path("default") == builtin_model()
    assert "yolov3-tiny-320" in reg.available() and "mine" not in reg.available()
    with pytest.raises(ModelError, match="file .*mine.onnx does not exist"):
        reg.path("mine")
    with pytest.raises(ModelError, match="unknown model 'other'; known: default, mine"):
        reg.path("other")
    with pytest.raises(ModelError, match="not a model name"):
        ModelRegistry({"../x": "y"})
    missing = ModelRegistry(builtin_dir=tmp_path)
    with pytest.raises(ModelError, match="built-in model 'default' is missing .* run scripts/setup.sh"):
        missing.path("default")
    assert reg.load("default").names[0] == "person"
