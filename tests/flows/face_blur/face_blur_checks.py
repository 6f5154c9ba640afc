"""Helpers for the face-blur tests: the clip generator, handlers importable as Lambda does, blur checks."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT / "handlers") not in sys.path:
    sys.path.insert(0, str(ROOT / "handlers"))  # the Lambda task root: `face_blur` is a top-level package


def _load_media():
    spec = importlib.util.spec_from_file_location("bench_media", ROOT / "bench" / "media.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_media"] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


media = _load_media()


def decoded(path: str | Path):
    """Every frame of a video, decoded by OpenCV."""
    cap = cv2.VideoCapture(str(path))
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            yield frame
    finally:
        cap.release()


def _detail(region: np.ndarray) -> np.ndarray:
    return cv2.Laplacian(cv2.cvtColor(region, cv2.COLOR_BGR2GRAY), cv2.CV_64F)


def detail_ratio(before: np.ndarray, after: np.ndarray) -> float:
    """How much fine detail is left (Laplacian variance after / before): ~1 untouched, ~0 blurred."""
    return float(_detail(after).var() / max(_detail(before).var(), 1e-9))


def detail_kept(before: np.ndarray, after: np.ndarray) -> float:
    """Correlation of the fine detail before and after: ~1 untouched, ~0 when the face's detail is gone,
    even where pixelation adds detail of its own (block edges)."""
    a, b = _detail(before).ravel(), _detail(after).ravel()
    if a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def psnr(before: np.ndarray, after: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB: above ~30 the pictures are the same up to compression."""
    diff = before.astype(np.float64) - after.astype(np.float64)
    return float(10 * np.log10(255.0**2 / max(float((diff**2).mean()), 1e-9)))


def assert_faces_blurred(source: Path, output: Path, truth: dict, max_ratio: float = 0.2,
                         min_psnr: float = 32.0, measure=detail_ratio) -> int:
    """Every face with ≥ 16x16 px inside the frame has lost its detail in every frame; the rest is intact.

    Returns how many face regions were checked.
    """
    width, height = truth["width"], truth["height"]
    checked = 0
    for index, (before, after) in enumerate(zip(decoded(source), decoded(output), strict=True)):
        background = np.ones((height, width), bool)
        for face in truth["faces"][index]:
            x0, y0, x1, y1 = face["box"]
            w, h = x1 - x0, y1 - y0
            # What the blur may legitimately cover around a face: the 25 % padding on every side, of a box
            # that errs large (held at the face's largest size within a second: this clip's growing face
            # gains up to a third in that time) plus the detector's own error: 65 % of the face's size.
            m = 0.65
            background[max(0, int(y0 - m * h)):max(0, int(y1 + m * h)),
                       max(0, int(x0 - m * w)):max(0, int(x1 + m * w))] = False
            cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
            if cx1 - cx0 < 16 or cy1 - cy0 < 16:
                continue
            ratio = measure(before[cy0:cy1, cx0:cx1], after[cy0:cy1, cx0:cx1])
            assert ratio < max_ratio, f"face {face['id']} in frame {index} is not blurred (detail ratio {ratio:.2f})"
            checked += 1
        quality = psnr(before[background], after[background])
        assert quality > min_psnr, f"background damaged in frame {index} (PSNR {quality:.1f} dB)"
    assert index + 1 == truth["frames"]
    return checked
