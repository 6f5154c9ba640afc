"""Face tracks from Rekognition Video samples: where to blur in every frame, not only where a face was seen.

Rekognition reports faces a few times a second, without identities. We link the samples of one face
into a track, interpolate its box between samples, and hold it (moving on at its last speed) for a
short while before the first and after the last sample, so faces entering or leaving the frame, or
missed for a sample or two, stay covered. A box never shrinks below the largest
size the face had within `SIZE_WINDOW_MS`: detectors report smaller boxes for faces cut by the frame's
edge, and erring large is the private side. Pure Python: no NumPy or OpenCV needed.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

SIZE_WINDOW_MS = 1000.0


@dataclass(frozen=True)
class Box:
    """A face box in Rekognition's convention: ratios of the frame's width and height (may exceed 0..1)."""

    left: float
    top: float
    width: float
    height: float

    @property
    def cx(self) -> float:
        return self.left + self.width / 2

    @property
    def cy(self) -> float:
        return self.top + self.height / 2

    def moved(self, dx: float, dy: float) -> Box:
        return Box(self.left + dx, self.top + dy, self.width, self.height)

    def at_least(self, width: float, height: float) -> Box:
        """The same centre, grown to at least width × height."""
        w, h = max(self.width, width), max(self.height, height)
        return Box(self.cx - w / 2, self.cy - h / 2, w, h)

    def as_stored(self, rotation: int) -> Box:
        """This box, given on the picture as shown, on the picture as stored in a video whose display
        matrix turns it `rotation` degrees counter-clockwise (0, 90, 180 or -90)."""
        if rotation == 90:
            return Box(1 - self.top - self.height, self.left, self.height, self.width)
        if rotation == -90:
            return Box(self.top, 1 - self.left - self.width, self.height, self.width)
        if rotation == 180:
            return Box(1 - self.left - self.width, 1 - self.top - self.height, self.width, self.height)
        return self

    def to_pixels(self, frame_width: int, frame_height: int, padding: float = 0.0) -> tuple[int, int, int, int] | None:
        """Pixel rectangle (x0, y0, x1, y1), grown by `padding` × its size on every side and clamped to the
        frame; None when nothing of it is inside the frame."""
        pad_x, pad_y = self.width * padding, self.height * padding
        # Outward rounding, with a tolerance so 0.6 * 240 = 144.00000000000003 stays 144.
        x0 = math.floor((self.left - pad_x) * frame_width + 1e-6)
        y0 = math.floor((self.top - pad_y) * frame_height + 1e-6)
        x1 = math.ceil((self.left + self.width + pad_x) * frame_width - 1e-6)
        y1 = math.ceil((self.top + self.height + pad_y) * frame_height - 1e-6)
        x0, x1 = max(0, x0), min(frame_width, x1)
        y0, y1 = max(0, y0), min(frame_height, y1)
        if x1 <= x0 or y1 <= y0:
            return None
        return x0, y0, x1, y1


def _lerp(a: Box, b: Box, f: float) -> Box:
    return Box(a.left + (b.left - a.left) * f, a.top + (b.top - a.top) * f,
               a.width + (b.width - a.width) * f, a.height + (b.height - a.height) * f)


def _distance(a: Box, b: Box) -> float:
    """Centre distance in units of the boxes' mean size (0: same place; 1: one face apart)."""
    size = (a.width + a.height + b.width + b.height) / 4
    return math.hypot(a.cx - b.cx, a.cy - b.cy) / max(size, 1e-9)


@dataclass
class Track:
    """One face over time: (timestamp ms, box) samples in time order."""

    times: list[float] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)

    def add(self, t: float, box: Box) -> None:
        self.times.append(t)
        self.boxes.append(box)

    def _velocity(self, at_end: bool) -> tuple[float, float]:
        """Centre speed (ratio per ms) over the first or last stretch of the track, measured over ≥ 2 samples."""
        if len(self.times) < 2:
            return 0.0, 0.0
        i, j = (-2, -1) if at_end else (0, 1)
        dt = self.times[j] - self.times[i]
        if dt <= 0:
            return 0.0, 0.0
        a, b = self.boxes[i], self.boxes[j]
        return (b.cx - a.cx) / dt, (b.cy - a.cy) / dt

    def box_at(self, t: float, hold_ms: float) -> Box | None:
        """The face's box at time t: interpolated inside the track, extrapolated up to `hold_ms` outside it."""
        first, last = self.times[0], self.times[-1]
        if t < first - hold_ms or t > last + hold_ms:
            return None
        box = self._centre_at(t)
        lo = bisect.bisect_left(self.times, t - SIZE_WINDOW_MS)
        hi = bisect.bisect_right(self.times, t + SIZE_WINDOW_MS)
        if hi > lo:
            box = box.at_least(max(b.width for b in self.boxes[lo:hi]), max(b.height for b in self.boxes[lo:hi]))
        return box

    def _centre_at(self, t: float) -> Box:
        first, last = self.times[0], self.times[-1]
        if t <= first:
            vx, vy = self._velocity(at_end=False)
            return self.boxes[0].moved(vx * (t - first), vy * (t - first))
        if t >= last:
            vx, vy = self._velocity(at_end=True)
            return self.boxes[-1].moved(vx * (t - last), vy * (t - last))
        k = bisect.bisect_right(self.times, t) - 1
        t0, t1 = self.times[k], self.times[k + 1]
        return _lerp(self.boxes[k], self.boxes[k + 1], (t - t0) / (t1 - t0) if t1 > t0 else 0.0)


def box_from_rekognition(bounding_box: dict) -> Box:
    """A Box from Rekognition's BoundingBox {Width, Height, Left, Top} (Left/Top can be negative)."""
    return Box(float(bounding_box.get("Left", 0.0)), float(bounding_box.get("Top", 0.0)),
               float(bounding_box.get("Width", 0.0)), float(bounding_box.get("Height", 0.0)))


def build_tracks(faces: list[dict], max_gap_ms: float = 1000.0, max_jump: float = 1.0) -> list[Track]:
    """Link GetFaceDetection `Faces` entries into tracks.

    A sample joins the open track whose last box is nearest (centre distance ≤ `max_jump` face sizes),
    if that track was seen within `max_gap_ms`; otherwise it starts a new track.
    """
    by_time: dict[float, list[Box]] = {}
    for entry in faces:
        bb = (entry.get("Face") or {}).get("BoundingBox")
        if not bb or float(bb.get("Width", 0)) <= 0 or float(bb.get("Height", 0)) <= 0:
            continue
        by_time.setdefault(float(entry["Timestamp"]), []).append(box_from_rekognition(bb))
    tracks: list[Track] = []
    for t in sorted(by_time):
        open_tracks = [tr for tr in tracks if t - tr.times[-1] <= max_gap_ms and tr.times[-1] < t]
        pairs = sorted(
            ((_distance(tr.boxes[-1], box), ti, bi)
             for ti, tr in enumerate(open_tracks) for bi, box in enumerate(by_time[t])),
            key=lambda p: p[0],
        )
        used_tracks: set[int] = set()
        used_boxes: set[int] = set()
        for dist, ti, bi in pairs:
            if dist > max_jump or ti in used_tracks or bi in used_boxes:
                continue
            open_tracks[ti].add(t, by_time[t][bi])
            used_tracks.add(ti)
            used_boxes.add(bi)
        for bi, box in enumerate(by_time[t]):
            if bi not in used_boxes:
                track = Track()
                track.add(t, box)
                tracks.append(track)
    return tracks


class FaceTimeline:
    """Answers "which boxes to blur at time t" for a whole video, cheaply frame after frame."""

    def __init__(self, tracks: list[Track], hold_ms: float = 500.0) -> None:
        self.hold_ms = hold_ms
        self.tracks = sorted(tracks, key=lambda tr: tr.times[0])
        self._starts = [tr.times[0] - hold_ms for tr in self.tracks]

    def boxes_at(self, t: float) -> list[Box]:
        """Every face box that covers time t (ms)."""
        end = bisect.bisect_right(self._starts, t)
        boxes = []
        for track in self.tracks[:end]:
            box = track.box_at(t, self.hold_ms)
            if box is not None:
                boxes.append(box)
        return boxes
