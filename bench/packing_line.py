"""Generate packing-line videos with known trays per bin, and what a noisy tray detector would report.

A camera looks down on one bin station. For each bin: the empty bin sits in view; a worker's hand brings
trays in from the right edge one at a time and sets each in its slot, sometimes resting over trays already
in the bin; when the bin holds its trays, the next empty bin slides in from the top and covers the full one
row by row. The last bin stays in view, full. Beside `line.mp4` goes `line.trays.json`: each bin's true
tray count and every frame's visible trays (a tray is visible while at least 60 % of it shows).

`noisy_detections(truth, seed=...)` turns the visible trays into a detector's output, with the faults
real detectors have: missed trays, a tray found twice, confident false positives, jittered boxes.

    python bench/packing_line.py line-3.mp4                     # 6 bins, 320x240 at 15 fps
    python bench/packing_line.py line-3.mp4 --bins 20 --seed 7 --size 640x480
    python bench/packing_line.py --labelled data/ --bucket B    # labelled stills of lines 1-3 + manifest
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

ROWS, COLUMNS = 3, 3  # slots in a bin
VISIBLE = 0.6  # the share of a tray that must show for it to count as seen


@dataclass
class Line:
    """What was written: geometry, timing, each bin's true tray count and every frame's visible trays."""

    path: Path
    width: int
    height: int
    fps: Fraction
    bins: list[int]
    frames: list[list[dict]] = field(default_factory=list)  # per frame: {"tray": id, "box": [x0, y0, x1, y1]}

    def to_json(self) -> dict:
        return {"video": self.path.name, "width": self.width, "height": self.height,
                "fps": f"{self.fps.numerator}/{self.fps.denominator}", "bins": self.bins,
                "frames": self.frames}


@dataclass
class _Tray:
    id: int
    slot: tuple[int, int, int, int]  # where it rests in the bin
    at: tuple[int, int, int, int]  # where it is now


class _Station:
    """Draws one frame: floor, the bin in place, its trays, a bin sliding in, a carried tray, the hand."""

    def __init__(self, width: int, height: int, rng: random.Random) -> None:
        self.width, self.height = width, height
        self.bin = (int(width * 0.14), int(height * 0.08), int(width * 0.86), int(height * 0.92))
        x0, y0, x1, y1 = self.bin
        cell_w, cell_h = (x1 - x0) / COLUMNS, (y1 - y0) / ROWS
        self.tray_size = (int(cell_w * 0.8), int(cell_h * 0.78))
        self.slots = []
        for row in range(ROWS):
            for column in range(COLUMNS):
                cx = x0 + (column + 0.5) * cell_w + rng.uniform(-0.05, 0.05) * cell_w
                cy = y0 + (row + 0.5) * cell_h + rng.uniform(-0.05, 0.05) * cell_h
                self.slots.append(self._box(cx, cy))
        noise = np.random.default_rng(rng.randrange(2**32)).integers(-12, 12, (height, width, 1))
        self.floor = np.clip(np.full((height, width, 3), (58, 62, 66)) + noise, 0, 255).astype(np.uint8)

    def _box(self, cx: float, cy: float) -> tuple[int, int, int, int]:
        w, h = self.tray_size
        return (round(cx - w / 2), round(cy - h / 2), round(cx - w / 2) + w, round(cy - h / 2) + h)

    def frame(self, trays: list[_Tray], carried: _Tray | None, cover: int, hand: tuple[float, float] | None,
              ) -> tuple[np.ndarray, list[dict]]:
        """The picture and the visible trays; `cover` is how far down the next bin has slid (pixels)."""
        picture = self.floor.copy()
        _draw_bin(picture, self.bin)
        for tray in trays:
            _draw_tray(picture, tray.at)
        occluded = np.zeros((self.height, self.width), np.uint8)
        if cover > 0:
            x0, y0, x1, y1 = self.bin
            sliding = (x0, y0 + cover - (y1 - y0), x1, y0 + cover)
            _draw_bin(picture, sliding)
            occluded[max(0, sliding[1]):max(0, sliding[3]), x0:x1] = 1
        shown = [*trays, carried] if carried else trays
        if carried:
            _draw_tray(picture, carried.at)
        if hand:
            axes = (int(self.tray_size[0] * 0.45), int(self.tray_size[1] * 0.55))
            centre = (int(hand[0]), int(hand[1]))
            cv2.ellipse(picture, centre, axes, 20, 0, 360, (120, 150, 205), -1, cv2.LINE_AA)
            cv2.ellipse(occluded, centre, axes, 20, 0, 360, 1, -1)
        visible = []
        for tray in shown:
            x0, y0, x1, y1 = (max(0, tray.at[0]), max(0, tray.at[1]),
                              min(self.width, tray.at[2]), min(self.height, tray.at[3]))
            area = (tray.at[2] - tray.at[0]) * (tray.at[3] - tray.at[1])
            if x1 <= x0 or y1 <= y0:
                continue
            seen = (x1 - x0) * (y1 - y0) - int(occluded[y0:y1, x0:x1].sum())
            if seen >= VISIBLE * area:
                visible.append({"tray": tray.id, "box": [x0, y0, x1, y1]})
        return picture, visible


def _draw_bin(picture: np.ndarray, box: tuple[int, int, int, int]) -> None:
    x0, y0, x1, y1 = box
    cv2.rectangle(picture, (x0, y0), (x1, y1), (150, 95, 35), -1)
    cv2.rectangle(picture, (x0, y0), (x1, y1), (105, 60, 20), 4)


def _draw_tray(picture: np.ndarray, box: tuple[int, int, int, int]) -> None:
    x0, y0, x1, y1 = box
    cv2.rectangle(picture, (x0, y0), (x1, y1), (222, 226, 228), -1)
    cv2.rectangle(picture, (x0, y0), (x1, y1), (170, 175, 180), 2)
    centre = ((x0 + x1) // 2, (y0 + y1) // 2)
    cv2.ellipse(picture, centre, (max(1, (x1 - x0) // 3), max(1, (y1 - y0) // 4)), 0, 0, 360,
                (150, 160, 235), -1, cv2.LINE_AA)
    cv2.line(picture, (x0 + 3, y0 + 3), (x0 + (x1 - x0) // 3, y0 + 3), (250, 250, 250), 1)  # wrap glare


def _moved(box: tuple[int, int, int, int], dx: float, dy: float) -> tuple[int, int, int, int]:
    return (round(box[0] + dx), round(box[1] + dy), round(box[2] + dx), round(box[3] + dy))


def make_line(path: str | Path, bins: int = 6, *, width: int = 320, height: int = 240,
              fps: Fraction | int = 15, seed: int = 0, min_trays: int = 3, max_trays: int = ROWS * COLUMNS,
              ) -> Line:
    """Write an H.264 packing-line video and its ground truth JSON beside it (`<stem>.trays.json`)."""
    path, fps, rng = Path(path), Fraction(fps), random.Random(seed)
    station = _Station(width, height, rng)
    line = Line(path, width, height, fps, [rng.randint(min_trays, max_trays) for _ in range(bins)])
    def seconds(s: float) -> int:
        return max(1, round(s * fps))
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"preset": "veryfast", "crf": "20"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"

        def emit(trays, carried=None, cover=0, hand=None):
            picture, visible = station.frame(trays, carried, cover, hand)
            line.frames.append(visible)
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="bgr24")):
                out.mux(packet)

        next_id = 0
        for number, count in enumerate(line.bins):
            trays: list[_Tray] = []
            for _ in range(seconds(rng.uniform(0.6, 1.0))):
                emit(trays)
            for slot in rng.sample(range(ROWS * COLUMNS), count):
                tray = _Tray(next_id, station.slots[slot], station.slots[slot])
                next_id += 1
                start_dx = width - tray.slot[0] + 4
                steps = seconds(rng.uniform(0.5, 0.8))
                for step in range(steps):  # carried in from the right edge, the hand on its trailing side
                    dx = start_dx * (1 - (step + 1) / steps)
                    tray.at = _moved(tray.slot, dx, 0)
                    emit(trays, tray, hand=(tray.at[2] + station.tray_size[0] * 0.2, (tray.at[1] + tray.at[3]) / 2))
                trays.append(tray)
                tray.at = tray.slot
                if rng.random() < 0.35:  # the hand rests over the trays for a moment on its way out
                    rest = (tray.slot[0] + rng.uniform(-0.3, 0.6) * station.tray_size[0],
                            (tray.slot[1] + tray.slot[3]) / 2)
                    for _ in range(seconds(rng.uniform(0.3, 0.8))):
                        emit(trays, hand=rest)
                else:
                    emit(trays)
            for _ in range(seconds(rng.uniform(0.4, 0.8))):
                emit(trays)
            if number == len(line.bins) - 1:
                break
            steps = seconds(rng.uniform(0.8, 1.2))
            full_height = station.bin[3] - station.bin[1]
            for step in range(steps):  # the next bin slides in from the top over the full one
                emit(trays, cover=round(full_height * (step + 1) / steps))
        for packet in stream.encode():
            out.mux(packet)
    path.with_suffix(".trays.json").write_text(json.dumps(line.to_json()))
    return line


def labelled_frames(root: str | Path, lines: dict[str, int], frames_per_line: int = 40, *,
                    bucket: str = "datasets", prefix: str = "trays/", width: int = 320, height: int = 240,
                    job: str = "trays") -> Path:
    """Still frames of several packing lines with their tray boxes, as a Ground Truth labelling job writes them.

    `lines` maps a line id to its seed (each line has its own bin position and lighting of the floor).
    Writes `<root>/images/line=<id>/<n>.jpg` and `<root>/manifests/output.manifest`, whose source-refs
    point at s3://<bucket>/<prefix>images/...: upload `root` under that prefix to use it.
    """
    root = Path(root)
    records = []
    for line_id, seed in lines.items():
        rng = random.Random(seed)
        station = _Station(width, height, rng)
        folder = root / "images" / f"line={line_id}"
        folder.mkdir(parents=True, exist_ok=True)
        for number in range(frames_per_line):
            slots = rng.sample(range(ROWS * COLUMNS), rng.randint(0, ROWS * COLUMNS))
            trays = [_Tray(i, station.slots[s], station.slots[s]) for i, s in enumerate(slots)]
            hand = None
            if trays and rng.random() < 0.3:
                at = rng.choice(trays).at
                hand = (at[0] + rng.uniform(0, 1) * (at[2] - at[0]), (at[1] + at[3]) / 2)
            cover = round(rng.uniform(0, 0.6) * (station.bin[3] - station.bin[1])) if rng.random() < 0.2 else 0
            picture, visible = station.frame(trays, None, cover, hand)
            name = f"{number:05d}.jpg"
            cv2.imwrite(str(folder / name), picture, [cv2.IMWRITE_JPEG_QUALITY, 90])
            records.append({
                "source-ref": f"s3://{bucket}/{prefix}images/line={line_id}/{name}",
                job: {"image_size": [{"width": width, "height": height, "depth": 3}],
                      "annotations": [{"class_id": 0, "left": t["box"][0], "top": t["box"][1],
                                       "width": t["box"][2] - t["box"][0], "height": t["box"][3] - t["box"][1]}
                                      for t in visible]},
                f"{job}-metadata": {"objects": [{"confidence": 0.95} for _ in visible], "class-map": {"0": "tray"},
                                    "type": "groundtruth/object-detection", "human-annotated": "yes",
                                    "creation-date": "2026-12-01T00:00:00.000000", "job-name": f"labeling-job/{job}"},
            })
    manifest = root / "manifests" / "output.manifest"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text("".join(json.dumps(record) + "\n" for record in records))
    return manifest


def noisy_detections(frames: list[list[dict]], *, seed: int = 0, miss: float = 0.06, duplicate: float = 0.04,
                     false_positive: float = 0.05, width: int = 320, height: int = 240) -> list[list[dict]]:
    """What a tray detector might report for each frame's visible trays: `{"box", "score"}` per detection.

    Each tray is missed with probability `miss`, found twice (a box a few pixels off, a lower score) with
    `duplicate`; each frame gets a confident false positive somewhere with `false_positive`; boxes jitter.
    """
    rng = random.Random(seed)
    out = []
    for visible in frames:
        detections = []
        for tray in visible:
            if rng.random() < miss:
                continue
            box = [v + rng.gauss(0, 1.5) for v in tray["box"]]
            detections.append({"box": box, "score": round(rng.uniform(0.6, 0.99), 3)})
            if rng.random() < duplicate:
                dx, dy = rng.uniform(-3, 3), rng.uniform(-3, 3)
                detections.append({"box": [box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy],
                                   "score": round(rng.uniform(0.5, 0.9), 3)})
        if rng.random() < false_positive:
            w, h = rng.uniform(0.1, 0.25) * width, rng.uniform(0.1, 0.25) * height
            x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
            detections.append({"box": [x, y, x + w, y + h], "score": round(rng.uniform(0.5, 0.85), 3)})
        out.append(detections)
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line: write one packing-line video and its ground truth."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", help="the .mp4 to write; ground truth goes to <stem>.trays.json")
    parser.add_argument("--bins", type=int, default=6, help="bins filled in the video (default 6)")
    parser.add_argument("--size", default="320x240", help="WIDTHxHEIGHT (default 320x240)")
    parser.add_argument("--fps", default="15", help="frames per second, a rational (default 15)")
    parser.add_argument("--seed", type=int, default=0, help="the same seed makes the same video")
    parser.add_argument("--quick", action="store_true", help="write and read back a tiny line in a temporary folder")
    parser.add_argument("--labelled", metavar="DIR", help="instead of a video: labelled still frames and their "
                        "Ground Truth manifest (DIR/images/line=<id>/, DIR/manifests/output.manifest)")
    parser.add_argument("--lines", default="1,2,3", help="--labelled: packing line ids (default 1,2,3)")
    parser.add_argument("--frames", type=int, default=120, help="--labelled: frames per line (default 120)")
    parser.add_argument("--bucket", default="datasets", help="--labelled: the bucket the manifest's source-refs name")
    parser.add_argument("--prefix", default="", help="--labelled: the key prefix DIR is uploaded under")
    args = parser.parse_args(argv)
    if args.labelled:
        ids = [line.strip() for line in args.lines.split(",") if line.strip()]
        manifest = labelled_frames(args.labelled, {line: 1000 + n for n, line in enumerate(ids)}, args.frames,
                                   bucket=args.bucket, prefix=args.prefix)
        print(f"wrote {len(ids) * args.frames} labelled frames of lines {', '.join(ids)} and {manifest}")
        return 0
    if args.quick:
        with tempfile.TemporaryDirectory() as folder:
            line = make_line(Path(folder) / "line-1.mp4", 2, seed=args.seed)
            with av.open(str(line.path)) as container:
                decoded = sum(1 for _ in container.decode(video=0))
            print(f"wrote and read back {decoded} of {len(line.frames)} frames, bins {line.bins}")
            return 0 if decoded == len(line.frames) else 1
    if not args.output:
        parser.error("the output .mp4 is required (or --quick)")
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        print(f"packing_line.py: --size must be WIDTHxHEIGHT, got {args.size!r}", file=sys.stderr)
        return 2
    if args.bins < 1:
        print("packing_line.py: --bins must be at least 1", file=sys.stderr)
        return 2
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    line = make_line(args.output, args.bins, width=width, height=height, fps=Fraction(args.fps), seed=args.seed)
    print(f"wrote {line.path} ({len(line.frames)} frames, bins {line.bins}, {sum(line.bins)} trays) "
          f"and {line.path.with_suffix('.trays.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
