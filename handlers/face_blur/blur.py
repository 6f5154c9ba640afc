"""Blur every face in a video (container-image Lambda): read the detections object, stream the video
through decode → blur → encode, upload the result to the output bucket under the same key.

Event: {"video": {"bucket", "key"}, "detections": {"bucket", "key"}} (what `collect` returned).
Environment: VIDEOS_OUT_BUCKET; optional BLUR_METHOD (gaussian | pixelate), BLUR_STRENGTH (0..1, share
of the face size the blur spans), BLUR_PADDING (share of the face size added on each side),
HOLD_SECONDS (how long a box outlives its first/last detection at least; a face that walked in or out is
covered further, to the edge it crossed), X264_PRESET, X264_CRF.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import boto3
import cv2
import numpy as np

from face_blur.guard import MARKER_KEY, MARKER_VALUE, refuse_recursion
from face_blur.tracks import Box, FaceTimeline, build_tracks
from face_blur.video import Encoding, Frame, UnreadableVideo, VideoError, VideoInfo, transcode


class BlurFailed(Exception):
    """The video could not be anonymised; the message says why."""


@dataclass(frozen=True)
class BlurSettings:
    """How faces are hidden."""

    method: str = "gaussian"
    strength: float = 0.5
    padding: float = 0.25
    hold_seconds: float = 1.0

    @classmethod
    def from_env(cls) -> BlurSettings:
        settings = cls(
            os.environ.get("BLUR_METHOD", cls.method).lower(),
            float(os.environ.get("BLUR_STRENGTH", cls.strength)),
            float(os.environ.get("BLUR_PADDING", cls.padding)),
            float(os.environ.get("HOLD_SECONDS", cls.hold_seconds)),
        )
        if settings.method not in ("gaussian", "pixelate"):
            raise BlurFailed(f"BLUR_METHOD must be gaussian or pixelate, not {settings.method!r}")
        if not 0 < settings.strength <= 1:
            raise BlurFailed(f"BLUR_STRENGTH must be in (0, 1], not {settings.strength}")
        return settings


def _shrink(plane: np.ndarray, rect: tuple[int, int, int, int], factor: int) -> np.ndarray:
    """plane[y0:y1, x0:x1] averaged down over whole `factor` × `factor` blocks counted from the rectangle's
    top-left corner (OpenCV's area resize has a fast path for whole factors, about 6x faster than for
    14.8, say). The last blocks reach past the rectangle, into the picture around it or, past the frame's
    edge, a copy of that edge, so every block has the same size and the blocks move with the box: scaled
    back up (_grow) the blur then moves as a whole from frame to frame, which the encoder predicts, where
    a blur stretched to each frame's box changes shape (about 6 % more bits and encoder time)."""
    x0, y0, x1, y1 = rect
    sw, sh = -(-(x1 - x0) // factor), -(-(y1 - y0) // factor)
    region = plane[y0:y0 + sh * factor, x0:x0 + sw * factor]
    short_y, short_x = sh * factor - region.shape[0], sw * factor - region.shape[1]
    if short_y or short_x:
        region = cv2.copyMakeBorder(region, 0, short_y, 0, short_x, cv2.BORDER_REPLICATE)
    return cv2.resize(region, (sw, sh), interpolation=cv2.INTER_AREA)


def _grow(small: np.ndarray, factor: int, interpolation: int, w: int, h: int) -> np.ndarray:
    """`small` (from _shrink) scaled up by the same whole `factor`, cut to the rectangle's w × h."""
    sh, sw = small.shape[:2]
    return cv2.resize(small, (sw * factor, sh * factor), interpolation=interpolation)[:h, :w]


def blur_plane(plane: np.ndarray, rect: tuple[int, int, int, int], method: str, strength: float,
               size: int | None = None) -> None:
    """Blur plane[y0:y1, x0:x1] in place so that what it shows cannot be recognised. `size` is the
    whole face's (padded) size in this plane's pixels: a face cut by the frame's edge shows only a strip
    of it, and a blur sized by the strip would be weakest where least of the face shows."""
    x0, y0, x1, y1 = rect
    roi = plane[y0:y1, x0:x1]
    h, w = roi.shape[:2]
    if w < 1 or h < 1:
        return
    size = max(2, size or min(w, h))
    if method == "pixelate":
        block = max(2, round(size * strength / 4))
        roi[:] = _grow(_shrink(plane, (x0, y0, x0 + w, y0 + h), block), block, cv2.INTER_NEAREST, w, h)
        return
    # A Gaussian spanning `strength` of the face. Large kernels are slow at full resolution, so blur a
    # downscaled copy (a wide blur has no fine detail to lose) and scale it back up.
    kernel = max(3.0, size * strength)
    factor = max(1, int(kernel // 12))
    small = _shrink(plane, (x0, y0, x0 + w, y0 + h), factor) if factor > 1 else roi.copy()
    k = int(kernel / factor) | 1
    small = cv2.GaussianBlur(small, (k, k), 0, borderType=cv2.BORDER_REPLICATE)
    roi[:] = _grow(small, factor, cv2.INTER_LINEAR, w, h) if factor > 1 else small


def blur_region(frame: Frame, rect: tuple[int, int, int, int], method: str, strength: float,
                size: int | None = None) -> None:
    """Blur one rectangle of a YUV 4:2:0 frame: the luma plane, and the chroma planes at half resolution.
    `size`: the whole face's padded size in luma pixels (see blur_plane)."""
    blur_plane(frame.y, rect, method, strength, size)
    x0, y0, x1, y1 = rect
    half = (x0 // 2, y0 // 2, (x1 + 1) // 2, (y1 + 1) // 2)
    half_size = max(1, size // 2) if size else None
    blur_plane(frame.u, half, method, strength, half_size)
    blur_plane(frame.v, half, method, strength, half_size)


def anonymise(source: str | Path, target: str | Path, faces: list[dict],
              settings: BlurSettings | None = None, encoding: Encoding | None = None) -> dict:
    """Write `target`: `source` with every face in `faces` (GetFaceDetection's Faces) blurred.

    Returns what was done: frames, tracks, frame rate, size. Raises BlurFailed for unusable input.
    """
    settings = settings or BlurSettings()
    encoding = encoding or Encoding()
    tracks = build_tracks(faces)
    timeline = FaceTimeline(tracks, hold_ms=settings.hold_seconds * 1000)
    blurred = 0

    def start(info: VideoInfo) -> Callable[[float, Frame], None]:
        def edit(ms: float, frame: Frame) -> None:
            nonlocal blurred
            boxes: list[Box] = timeline.boxes_at(ms)
            for box in boxes:
                stored = box.as_stored(info.rotation)
                rect = stored.to_pixels(frame.width, frame.height, settings.padding)
                if rect is not None:
                    size = stored.pixel_size(frame.width, frame.height, settings.padding)
                    blur_region(frame, rect, settings.method, settings.strength, size)
                    blurred += 1

        return edit

    # The regions are small: OpenCV's own threads would cost more to wake than they save (about a fifth of
    # the blur's CPU), and the codecs' threads keep the cores busy.
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        count, info = transcode(source, target, encoding, start)
    except UnreadableVideo as error:
        raise BlurFailed(f"cannot read the source video: {error}") from None
    except VideoError as error:
        raise BlurFailed(str(error)) from None
    finally:
        cv2.setNumThreads(threads)
    # ffmpeg decodes what it can of a damaged file and exits 0: compare with what the container declares.
    if info.frames and count < info.frames:
        raise BlurFailed(f"the video is truncated or corrupt: only {count} of its {info.frames} frames decode")
    return {"frames": count, "fps": info.fps_text, "width": info.width, "height": info.height,
            "tracks": len(tracks), "boxes_blurred": blurred, "audio_streams": len(info.audio_codecs)}


def handler(event: dict, context: object) -> dict:
    """Lambda entry point: anonymise one video from the detections object `collect` wrote."""
    out_bucket = os.environ["VIDEOS_OUT_BUCKET"]
    src_bucket, key = event["video"]["bucket"], event["video"]["key"]
    refuse_recursion(src_bucket, out_bucket)
    settings = BlurSettings.from_env()
    s3 = boto3.client("s3")
    detections = json.loads(
        s3.get_object(Bucket=event["detections"]["bucket"], Key=event["detections"]["key"])["Body"].read())
    # /tmp is the function's ephemeral storage: source and result both live there, never in memory.
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
        suffix = Path(key).suffix.lower() or ".mp4"
        source, target = Path(tmp, "source" + suffix), Path(tmp, "anonymised" + suffix)
        version = event["video"].get("version")
        s3.download_file(src_bucket, key, str(source), ExtraArgs={"VersionId": version} if version else None)
        result = anonymise(source, target, detections.get("Faces", []), settings, Encoding.from_env())
        s3.upload_file(str(target), out_bucket, key, ExtraArgs={
            "ContentType": "video/quicktime" if suffix == ".mov" else "video/mp4",
            "Metadata": {MARKER_KEY: MARKER_VALUE, "source": quote(f"s3://{src_bucket}/{key}", safe="/:")},
        })
    return {"bucket": out_bucket, "key": key, **result}
