"""Generate sample videos with faces at known positions (for the README, the tests and the benchmarks).

The faces come from scikit-image's astronaut photo; the background is its rocket photo. Beside `clip.mp4`
goes `clip.faces.json`: the exact face box of every face in every frame (boxes may reach past the frame).
Scenes (`--scene`):

  walk         one face enters across the left edge and leaves across the right one; the other grows while
               it sinks across the bottom edge (the default: the README's sample)
  cross-h      one face walks in from the left and out on the right, the other from the right out on the left
  cross-v      one face walks in from the top and out at the bottom, the other from the bottom out at the top
  out-and-back one face walks out on the right and comes back; the other crosses the left and the top edges
  pop          faces that appear and vanish in the middle of the picture (a cut, a door)

In the crossing scenes a face takes the whole clip to cross, so `--seconds` sets its speed.

    python bench/media.py sample.mp4                       # 4 s, 640x360, 30000/1001 fps, AAC audio
    python bench/media.py clip720.mp4 --size 1280x720 --seconds 10
    python bench/media.py --quick                          # a 1 s 160x90 clip in a temporary folder (CI)
    python bench/media.py fast.mp4 --size 320x240 --seconds 1.2 --scene cross-v
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import skimage.data

# The astronaut's head in skimage.data.astronaut() (x0, y0, x1, y1), and inside it the face itself as
# OpenCV's frontal-face cascade finds it in the full photo (177, 66, 95x95).
_HEAD = (137, 16, 317, 206)
_FACE_IN_HEAD = (177 - 137, 66 - 16, 177 - 137 + 95, 66 - 16 + 95)


@dataclass
class Clip:
    """What was written: geometry, timing and the face boxes per frame (pixels, may exceed the frame)."""

    path: Path
    width: int
    height: int
    fps: Fraction
    frames: int
    audio: bool
    scene: str = "walk"
    faces: list[list[dict]] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "video": self.path.name, "width": self.width, "height": self.height,
            "fps": f"{self.fps.numerator}/{self.fps.denominator}", "frames": self.frames,
            "audio": self.audio, "scene": self.scene, "faces": self.faces,
        }


def _head() -> np.ndarray:
    rgb = skimage.data.astronaut()
    x0, y0, x1, y1 = _HEAD
    return np.ascontiguousarray(rgb[y0:y1, x0:x1, ::-1])


def _background(width: int, height: int) -> np.ndarray:
    rgb = skimage.data.rocket()
    return np.ascontiguousarray(cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)[:, :, ::-1])


def _paste(frame: np.ndarray, head: np.ndarray, cx: float, cy: float, face_px: float) -> list[int]:
    """Draw the head scaled so its face is `face_px` wide, centred at (cx, cy); return the face box."""
    scale = face_px / (_FACE_IN_HEAD[2] - _FACE_IN_HEAD[0])
    hw, hh = max(1, round(head.shape[1] * scale)), max(1, round(head.shape[0] * scale))
    scaled = cv2.resize(head, (hw, hh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    fx0, fy0, fx1, fy1 = (round(v * scale) for v in _FACE_IN_HEAD)
    # Place the head so the face's centre lands on (cx, cy).
    left = round(cx - (fx0 + fx1) / 2)
    top = round(cy - (fy0 + fy1) / 2)
    h, w = frame.shape[:2]
    sx0, sy0 = max(0, -left), max(0, -top)
    dx0, dy0 = max(0, left), max(0, top)
    dx1, dy1 = min(w, left + hw), min(h, top + hh)
    if dx1 > dx0 and dy1 > dy0:
        frame[dy0:dy1, dx0:dx1] = scaled[sy0:sy0 + dy1 - dy0, sx0:sx0 + dx1 - dx0]
    return [left + fx0, top + fy0, left + fx1, top + fy1]


Face = tuple[float, float, float]  # centre x, centre y and face width, in pixels


def walk(t: float, seconds: float, width: int, height: int) -> list[Face | None]:
    """The default scene (see the module's docstring)."""
    u = t / seconds
    a_size = 0.34 * height
    # Face "a" starts a fifth outside the left edge and ends mostly past the right edge.
    a = (-0.2 * a_size + u * (width + 0.3 * a_size), 0.3 * height, a_size)
    # Face "b" grows from small to large while sinking so that it crosses the bottom edge at the end.
    b_size = (0.16 + 0.22 * u) * height
    b = (0.68 * width - 0.1 * u * width, (0.66 + 0.22 * u) * height, b_size)
    return [a, b]


def _across(u: float, length: float, size: float) -> float:
    """A centre coordinate going from wholly before an edge (u = 0) to wholly past the opposite one (u = 1)."""
    return -0.6 * size + u * (length + 1.2 * size)


def cross_h(t: float, seconds: float, width: int, height: int) -> list[Face | None]:
    u, size = t / seconds, 0.26 * height
    return [(_across(u, width, size), 0.26 * height, size),
            (width - _across(u, width, size), 0.76 * height, size)]


def cross_v(t: float, seconds: float, width: int, height: int) -> list[Face | None]:
    u, size = t / seconds, 0.26 * height
    return [(0.27 * width, _across(u, height, size), size),
            (0.73 * width, height - _across(u, height, size), size)]


def out_and_back(t: float, seconds: float, width: int, height: int) -> list[Face | None]:
    u, size = t / seconds, 0.28 * height
    # "a" walks from the middle out past the right edge (u 0..0.4), waits outside, and walks back in (0.6..1).
    far = width + 0.6 * size
    if u < 0.4:
        ax = 0.45 * width + (far - 0.45 * width) * u / 0.4
    elif u < 0.6:
        ax = far
    else:
        ax = far - (far - 0.45 * width) * (u - 0.6) / 0.4
    a = (ax, 0.28 * height, size)
    # "b" comes in across the left edge low down and leaves up and to the left across the top edge, clear of "a".
    if u < 0.5:
        b = (-0.6 * size + u / 0.5 * (0.3 * width + 0.6 * size), 0.72 * height, size)
    else:
        v = (u - 0.5) / 0.5
        b = (0.3 * width - v * 0.18 * width, 0.72 * height - v * (0.72 * height + 0.6 * size), size)
    return [a, b]


def pop(t: float, seconds: float, width: int, height: int) -> list[Face | None]:
    u, size = t / seconds, 0.28 * height
    # "a" stands still from 30 % to 70 % of the clip; "b" drifts slowly from 10 % to 55 %.
    a = (0.28 * width, 0.35 * height, size) if 0.3 <= u < 0.7 else None
    b = (0.68 * width + 0.1 * width * u, 0.62 * height, size) if 0.1 <= u < 0.55 else None
    return [a, b]


SCENES = {"walk": walk, "cross-h": cross_h, "cross-v": cross_v, "out-and-back": out_and_back, "pop": pop}


def ffmpeg() -> str:
    """The ffmpeg command line, from imageio-ffmpeg's wheel (it has libx264 and AAC): makes and checks media."""
    return imageio_ffmpeg.get_ffmpeg_exe()


def make_clip(path: str | Path, width: int = 640, height: int = 360, seconds: float = 4.0,
              fps: Fraction | str = Fraction(30000, 1001), audio: bool = True, crf: int = 18,
              scene: str = "walk") -> Clip:
    """Write an H.264 (+ AAC sine tone) clip of one of the SCENES and its ground truth JSON beside it."""
    if scene not in SCENES:
        raise ValueError(f"unknown scene {scene!r}: choose one of {', '.join(SCENES)}")
    positions = SCENES[scene]
    path = Path(path)
    fps = Fraction(fps)
    frames = max(1, round(seconds * fps))
    duration = frames / fps
    cmd = [ffmpeg(), "-hide_banner", "-loglevel", "error", "-y",
           "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{width}x{height}",
           "-framerate", f"{fps.numerator}/{fps.denominator}", "-i", "-"]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={float(duration):.6f}"]
    cmd += ["-map", "0:v"] + (["-map", "1:a", "-c:a", "aac", "-b:a", "96k"] if audio else [])
    cmd += ["-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-pix_fmt", "yuv420p",
            "-movflags", "+faststart", str(path)]
    head, background = _head(), _background(width, height)
    clip = Clip(path, width, height, fps, frames, audio, scene)
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    try:
        for i in range(frames):
            frame = background.copy()
            boxes = []
            # The clip's first frame shows t = 0 and its last t = seconds: each scene runs its whole course.
            t = float(duration) * i / max(1, frames - 1)
            for fid, face in enumerate(positions(t, float(duration), width, height)):
                if face is not None:
                    boxes.append({"id": fid, "box": _paste(frame, head, *face)})
            clip.faces.append(boxes)
            proc.stdin.write(frame.tobytes())
    finally:
        proc.stdin.close()
        if proc.wait() != 0:
            raise RuntimeError(f"ffmpeg could not write {path}")
    path.with_suffix(".faces.json").write_text(json.dumps(clip.to_json()))
    return clip


def main(argv: list[str] | None = None) -> int:
    """Command line: write one sample clip."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?",
                        help="the .mp4 (or .mov) to write; ground truth goes to <stem>.faces.json")
    parser.add_argument("--size", default="640x360", help="WIDTHxHEIGHT (default 640x360)")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--fps", default="30000/1001", help="a rational, e.g. 30000/1001 or 25")
    parser.add_argument("--no-audio", action="store_true")
    parser.add_argument("--quick", action="store_true",
                        help="a tiny clip (1 s, 160x90) in a temporary folder, checked and removed (CI)")
    parser.add_argument("--scene", default="walk", choices=sorted(SCENES), help="what the faces do (default walk)")
    args = parser.parse_args(argv)
    if args.quick:
        return _quick()
    if args.output is None:
        parser.error("the output file is required (or --quick)")
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        print(f"media.py: --size must be WIDTHxHEIGHT, got {args.size!r}", file=sys.stderr)
        return 2
    clip = make_clip(args.output, width, height, args.seconds, Fraction(args.fps), audio=not args.no_audio,
                     scene=args.scene)
    print(f"wrote {clip.path} ({clip.width}x{clip.height}, {clip.frames} frames at {clip.fps}, "
          f"{'with' if clip.audio else 'no'} audio) and {clip.path.with_suffix('.faces.json')}")
    return 0


def _quick() -> int:
    """Write a tiny clip and check what was written against what was asked for."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        clip = make_clip(Path(folder) / "quick.mp4", 160, 90, 1.0)
        probe = cv2.VideoCapture(str(clip.path))
        frames = int(probe.get(cv2.CAP_PROP_FRAME_COUNT))
        size = int(probe.get(cv2.CAP_PROP_FRAME_WIDTH)), int(probe.get(cv2.CAP_PROP_FRAME_HEIGHT))
        probe.release()
        if (frames, size) != (clip.frames, (160, 90)):
            print(f"media.py: wrote {frames} frames of {size}, expected {clip.frames} of (160, 90)", file=sys.stderr)
            return 1
        print(f"wrote and read back a {clip.width}x{clip.height} clip of {clip.frames} frames")
    return 0


if __name__ == "__main__":
    sys.exit(main())
