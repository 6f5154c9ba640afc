"""Face tracks from Rekognition Video samples: where to blur in every frame, not only where a face was seen.

Rekognition reports faces a few times a second, without identities, and finds a face cut by the frame's
edge late or not at all (half a face is not a frontal face). We link the samples of one face into a track,
interpolate its box between samples, and cover the face before its first sample and after its last:

- A face that walked in is followed back along its motion to the edge it came from, until its box is
  wholly outside the picture; one that walks out is followed forwards to the edge it leaves by. The speed
  comes from the first (last) samples and may be off, so an extrapolated box spans every place the face
  could be at speeds `SPEED_DOUBT` either side of it.
- A face that appears or vanishes in the middle of the picture (a cut, a door, a turned head) is held,
  moving on at its speed, for `hold_ms`. Following the motion never covers less than that.

A box never shrinks below the largest size the face had within `SIZE_WINDOW_MS`: detectors report
smaller boxes for faces cut by the frame's edge, and erring large is the private side. The blur knows
the whole video's detections before it starts, so all of this looks ahead as well as back.
Pure Python: no NumPy or OpenCV needed.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

SIZE_WINDOW_MS = 1000.0
SPEED_WINDOW_MS = 600.0  # a track's speed at either end: a straight-line fit over its samples this close to it
FIT_SAMPLES = 4  # at least: two boxes a sample apart are too jittery a ruler
SLOW_SPEED_WINDOW_MS = 3000.0  # ...or this close, for a face too slow to tell from jitter within 600 ms
SPEED_DOUBT = 0.3  # an extrapolated face may have moved 30 % slower or faster than measured
# A face is followed out of the picture when it gets there within FOLLOW_MS or within FOLLOW_SIZES of its
# own size; otherwise it appeared (or vanished) in the middle, and is only held. The first covers a fast
# face the detector found late, the second a slow one that took its time to come in.
FOLLOW_MS = 2500.0
FOLLOW_SIZES = 2.0
FOLLOW_AT_MOST_MS = 6000.0
# Slower than this (face sizes per second) a face is standing still: the detector's jitter, not motion.
STILL_SIZES_PER_S = 0.15


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

    def union(self, other: Box) -> Box:
        """The smallest box holding both."""
        left, top = min(self.left, other.left), min(self.top, other.top)
        right = max(self.left + self.width, other.left + other.width)
        bottom = max(self.top + self.height, other.top + other.height)
        return Box(left, top, right - left, bottom - top)

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
        """Pixel rectangle (x0, y0, x1, y1), grown by `padding` × its size on every side and then clamped to
        the frame (a face cut by the edge keeps its padding on the side that shows); None when nothing of
        it is inside the frame."""
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

    def pixel_size(self, frame_width: int, frame_height: int, padding: float = 0.0) -> int:
        """The padded box's smaller side in pixels, before clamping: how strongly to blur what shows of it."""
        return max(1, round(min(self.width * frame_width, self.height * frame_height) * (1 + 2 * padding)))


def _lerp(a: Box, b: Box, f: float) -> Box:
    return Box(a.left + (b.left - a.left) * f, a.top + (b.top - a.top) * f,
               a.width + (b.width - a.width) * f, a.height + (b.height - a.height) * f)


def _distance(a: Box, b: Box) -> float:
    """Centre distance in units of the boxes' mean size (0: same place; 1: one face apart)."""
    size = (a.width + a.height + b.width + b.height) / 4
    return math.hypot(a.cx - b.cx, a.cy - b.cy) / max(size, 1e-9)


def _exit(box: Box, vx: float, vy: float) -> tuple[float, float]:
    """(ms, distance in face sizes) for `box`, moving at (vx, vy) frame ratios per ms, to leave the frame
    [0, 1]² wholly, through whichever edge it reaches first; infinite when it is not moving."""
    best = (math.inf, math.inf)
    for start, size, speed in ((box.left, box.width, vx), (box.top, box.height, vy)):
        if speed > 0:
            distance = max(0.0, 1 - start)
        elif speed < 0:
            distance = max(0.0, start + size)
        else:
            continue
        best = min(best, (distance / abs(speed), distance / size))
    return best


@dataclass
class Track:
    """One face over time: (timestamp ms, box) samples in time order."""

    times: list[float] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)

    def add(self, t: float, box: Box) -> None:
        self.times.append(t)
        self.boxes.append(box)

    def velocity(self, at_end: bool) -> tuple[float, float]:
        """Centre speed (ratio per ms) at the first or last stretch of the track: a least-squares line
        through its samples within SPEED_WINDOW_MS of that end (at least FIT_SAMPLES), so one jittery box does not
        send the extrapolation off. A face slower than STILL_SIZES_PER_S there is measured again over
        SLOW_SPEED_WINDOW_MS: a slow walk hides in the jitter of a short stretch."""
        vx, vy = self._fit(at_end, SPEED_WINDOW_MS)
        box = self.boxes[-1] if at_end else self.boxes[0]
        if max(abs(vx) / box.width, abs(vy) / box.height) * 1000 < STILL_SIZES_PER_S:
            vx, vy = self._fit(at_end, SLOW_SPEED_WINDOW_MS)
        return vx, vy

    def _fit(self, at_end: bool, window_ms: float) -> tuple[float, float]:
        n = len(self.times)
        if n < 2:
            return 0.0, 0.0
        if at_end:
            k = bisect.bisect_left(self.times, self.times[-1] - window_ms)
            idx = range(max(0, min(k, n - FIT_SAMPLES)), n)
        else:
            k = bisect.bisect_right(self.times, self.times[0] + window_ms)
            idx = range(min(n, max(k, FIT_SAMPLES)))
        ts = [self.times[i] for i in idx]
        mean_t = sum(ts) / len(ts)
        spread = sum((t - mean_t) ** 2 for t in ts)
        if spread <= 0:
            return 0.0, 0.0
        xs = [self.boxes[i].cx for i in idx]
        ys = [self.boxes[i].cy for i in idx]
        mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
        return (sum((t - mean_t) * (x - mean_x) for t, x in zip(ts, xs, strict=True)) / spread,
                sum((t - mean_t) * (y - mean_y) for t, y in zip(ts, ys, strict=True)) / spread)

    def reach(self, at_end: bool, hold_ms: float) -> float:
        """How long (ms) the face stays covered before its first sample or after its last: until it has
        left the picture along its motion, even at the slowest speed it may have had (when that is near:
        see FOLLOW_MS), and never less than `hold_ms`."""
        vx, vy = self.velocity(at_end)
        edge = self.boxes[-1] if at_end else self.boxes[0]
        width, height = self._largest_near(self.times[-1] if at_end else self.times[0])
        vx, vy = (0.0 if abs(v) * 1000 < STILL_SIZES_PER_S * size else v for v, size in ((vx, width), (vy, height)))
        sign = 1 - SPEED_DOUBT if at_end else -(1 - SPEED_DOUBT)  # before the track, it moves backwards
        exit_ms, exit_sizes = _exit(edge.at_least(width, height), sign * vx, sign * vy)
        if exit_ms <= FOLLOW_MS or exit_sizes <= FOLLOW_SIZES:
            return max(hold_ms, min(exit_ms, FOLLOW_AT_MOST_MS))
        return hold_ms

    def _largest_near(self, t: float) -> tuple[float, float]:
        lo = bisect.bisect_left(self.times, t - SIZE_WINDOW_MS)
        hi = bisect.bisect_right(self.times, t + SIZE_WINDOW_MS)
        return max(b.width for b in self.boxes[lo:hi]), max(b.height for b in self.boxes[lo:hi])

    def box_at(self, t: float, before_ms: float, after_ms: float) -> Box | None:
        """The face's box at time t: interpolated inside the track, extrapolated up to `before_ms` before
        it and `after_ms` after it (see `reach`)."""
        first, last = self.times[0], self.times[-1]
        if t < first - before_ms or t > last + after_ms:
            return None
        if t < first or t > last:
            # Outside the samples: every place between the slowest and the fastest speed it may have had.
            at_end = t > last
            vx, vy = self.velocity(at_end)
            edge, dt = (self.boxes[-1], t - last) if at_end else (self.boxes[0], t - first)
            slow, fast = (1 - SPEED_DOUBT) * dt, (1 + SPEED_DOUBT) * dt
            box = edge.moved(vx * slow, vy * slow).union(edge.moved(vx * fast, vy * fast))
        else:
            k = min(bisect.bisect_right(self.times, t) - 1, len(self.times) - 2)
            if k < 0:  # a single sample
                box = self.boxes[0]
            else:
                t0, t1 = self.times[k], self.times[k + 1]
                box = _lerp(self.boxes[k], self.boxes[k + 1], (t - t0) / (t1 - t0) if t1 > t0 else 0.0)
        return box.at_least(*self._largest_near(min(max(t, first), last)))


def box_from_rekognition(bounding_box: dict) -> Box:
    """A Box from Rekognition's BoundingBox {Width, Height, Left, Top} (Left/Top can be negative)."""
    return Box(float(bounding_box.get("Left", 0.0)), float(bounding_box.get("Top", 0.0)),
               float(bounding_box.get("Width", 0.0)), float(bounding_box.get("Height", 0.0)))


def build_tracks(faces: list[dict], max_gap_ms: float = 1000.0, max_jump: float = 1.0) -> list[Track]:
    """Link GetFaceDetection `Faces` entries into tracks.

    A sample joins the open track whose last box, or where that box was heading at its speed, is nearest
    (centre distance ≤ `max_jump` face sizes), if that track was seen within `max_gap_ms`; otherwise it
    starts a new track. The speed lets a fast face (a face's width between samples) keep its track; a
    track of one sample, whose speed is unknown, reaches twice as far.
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
        heading = []
        for tr in open_tracks:
            vx, vy = tr.velocity(at_end=True)
            heading.append(tr.boxes[-1].moved(vx * (t - tr.times[-1]), vy * (t - tr.times[-1])))
        pairs = sorted(
            ((min(_distance(tr.boxes[-1], box), _distance(heading[ti], box)), ti, bi)
             for ti, tr in enumerate(open_tracks) for bi, box in enumerate(by_time[t])),
            key=lambda p: p[0],
        )
        used_tracks: set[int] = set()
        used_boxes: set[int] = set()
        for dist, ti, bi in pairs:
            # A track of one sample has no speed to say where it went: it may have gone twice as far.
            reach = max_jump if len(open_tracks[ti].times) > 1 else 2 * max_jump
            if dist > reach or ti in used_tracks or bi in used_boxes:
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
        spans = [(tr.reach(False, hold_ms), tr.reach(True, hold_ms), tr) for tr in tracks]
        spans.sort(key=lambda span: span[2].times[0] - span[0])
        self._starts = [tr.times[0] - before for before, _, tr in spans]
        self._spans = spans

    @property
    def tracks(self) -> list[Track]:
        return [tr for _, _, tr in self._spans]

    def boxes_at(self, t: float) -> list[Box]:
        """Every face box that covers time t (ms)."""
        end = bisect.bisect_right(self._starts, t)
        boxes = []
        for before, after, track in self._spans[:end]:
            box = track.box_at(t, before, after)
            if box is not None:
                boxes.append(box)
        return boxes
