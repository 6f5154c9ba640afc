"""Helpers for the face-blur tests: the clip generator, handlers importable as Lambda does, blur checks."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass, field
from fractions import Fraction
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


@dataclass
class BlurReport:
    """What the readability check found over a whole video."""

    checked: int = 0  # face regions measured (a face with at least MIN_VISIBLE_PX px inside the frame)
    readable: list[tuple[int, int, float]] = field(default_factory=list)  # (frame, face id, measure)
    longest_run: int = 0  # the most consecutive frames one face stayed readable
    damaged: list[tuple[int, float]] = field(default_factory=list)  # (frame, background PSNR) below the limit


MIN_VISIBLE_PX = 400  # a face showing less than this (20x20 px) is not measured: too little to recognise
# What the blur may legitimately cover around a face: the 25 % padding on every side, of a box that errs
# large (held at the face's largest size within a second: the walk clip's growing face gains up to a
# third in that time) plus the detector's own error: 65 % of the face's size around it...
MARGIN = 0.65
# ...and wherever the face was or will be within this long: before its first detection and after its
# last the blur follows the face's motion or holds its box (HOLD_SECONDS, 1 s by default).
NEAR_SECONDS = 1.0


def blur_report(source: Path, output: Path, truth: dict, max_ratio: float = 0.2, min_psnr: float = 32.0,
                measure=detail_ratio) -> BlurReport:
    """Measure every frame: each face with at least MIN_VISIBLE_PX px inside the frame is readable when
    `measure` (its detail against the source's) is `max_ratio` or more; the background outside the faces'
    surroundings must stay above `min_psnr` dB."""
    width, height = truth["width"], truth["height"]
    near = round(NEAR_SECONDS * Fraction(truth["fps"]))
    faces = truth["faces"]
    report = BlurReport()
    run: dict[int, int] = {}
    index = -1
    for index, (before, after) in enumerate(zip(decoded(source), decoded(output), strict=True)):
        background = np.ones((height, width), bool)
        for nearby in faces[max(0, index - near):index + near + 1]:
            for face in nearby:
                x0, y0, x1, y1 = face["box"]
                w, h = x1 - x0, y1 - y0
                background[max(0, int(y0 - MARGIN * h)):max(0, int(y1 + MARGIN * h)),
                           max(0, int(x0 - MARGIN * w)):max(0, int(x1 + MARGIN * w))] = False
        seen = set()
        for face in faces[index]:
            x0, y0, x1, y1 = face["box"]
            cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
            if cx1 - cx0 < 2 or cy1 - cy0 < 2 or (cx1 - cx0) * (cy1 - cy0) < MIN_VISIBLE_PX:
                continue
            ratio = measure(before[cy0:cy1, cx0:cx1], after[cy0:cy1, cx0:cx1])
            report.checked += 1
            if ratio >= max_ratio:
                report.readable.append((index, face["id"], ratio))
                run[face["id"]] = run.get(face["id"], 0) + 1
                report.longest_run = max(report.longest_run, run[face["id"]])
                seen.add(face["id"])
        run = {fid: n for fid, n in run.items() if fid in seen}
        if background.any():
            quality = psnr(before[background], after[background])
            if quality <= min_psnr:
                report.damaged.append((index, quality))
    assert index + 1 == truth["frames"], f"{output} has {index + 1} frames, the source {truth['frames']}"
    return report


def assert_faces_blurred(source: Path, output: Path, truth: dict, max_ratio: float = 0.2,
                         min_psnr: float = 32.0, measure=detail_ratio) -> int:
    """No face with at least MIN_VISIBLE_PX px inside the frame is readable in any frame (the longest
    unblurred run is 0 frames), and the rest of the picture is intact. Returns how many face regions
    were checked."""
    report = blur_report(source, output, truth, max_ratio, min_psnr, measure)
    assert not report.readable, (
        f"{len(report.readable)} of {report.checked} face regions are not blurred; the longest unblurred run "
        f"is {report.longest_run} frames; (frame, face, measure): "
        + ", ".join(f"({i}, {fid}, {r:.2f})" for i, fid, r in report.readable[:12]))
    assert not report.damaged, "background damaged in frames (frame, PSNR dB): " + ", ".join(
        f"({i}, {q:.1f})" for i, q in report.damaged[:12])
    return report.checked
