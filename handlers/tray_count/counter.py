"""Trays per bin from per-frame tray detections: the counting of Tyson's packing-line article.

The camera sees one bin filling at a time, so the per-frame tray count climbs while a bin fills and falls
when the next bin slides over the full one. A *local* counter keeps the most trays seen in the current bin;
a *new bin* is declared when the count reaches zero or has fallen continuously over the last
`drop_frames` frames; the local count is then added to the *global* one and reset.

A detector's raw counts are noisy, so each frame's count is cleaned before it is counted:
- detections under `min_confidence` are dropped;
- boxes that overlap by more than `dedup_iou` (one tray found twice) count once, the best kept;
- a running median over `smooth_frames` frames removes what lasts under half the window: a tray missed for
  a frame, a one-frame false positive, a one-frame zero. A hand that hides trays for longer lowers the count
  for a while; the local counter keeps its maximum, and a fall that small is not a new bin (see below).

A continuous drop is a new bin only when it is large: the count never rose over the last `drop_frames`
frames, fell by at least `min_drop` trays and to at most `drop_fraction` of the bin's maximum. A bin must have been filling for
`min_bin_frames` frames before it can end: a zero in a younger bin is a hand over its first trays, and is
ignored, so noise longer than the median window cannot split a bin.
After a new bin, the falling tail of the old bin's view is not counted: the new bin starts once the count
has stayed above its lowest point for `drop_frames` frames. A bin still filling when the frames end is reported as the last bin.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise
from statistics import median_low
from typing import Any

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Detection:
    box: Box
    score: float


def count_trays(
    frames: Sequence[Sequence[dict[str, Any]]],
    *,
    min_confidence: float = 0.5,
    drop_frames: int = 4,
    min_bin_frames: int = 15,
    smooth_frames: int = 7,
    dedup_iou: float = 0.6,
    drop_fraction: float = 0.5,
    min_drop: int = 2,
) -> dict[str, Any]:
    """Count trays per bin over one frame's detections each: `{"bins": [int, ...], "total": int}`.

    `frames[i]` lists frame i's detections as `{"box": [x0, y0, x1, y1], "score": float}` (pixels).
    Raises TypeError or ValueError naming the frame and detection when the input is not of that shape.
    """
    _check_knobs(min_confidence, drop_frames, min_bin_frames, smooth_frames, dedup_iou, drop_fraction, min_drop)
    counts = [len(distinct_trays(parse_frame(frame, index), min_confidence, dedup_iou))
              for index, frame in enumerate(_frame_list(frames))]
    bins = [event.trays for event in bin_events(smoothed(counts, smooth_frames), drop_frames=drop_frames,
                                                    min_bin_frames=min_bin_frames, drop_fraction=drop_fraction,
                                                    min_drop=min_drop)]
    return {"bins": bins, "total": sum(bins)}


@dataclass(frozen=True)
class BinEvent:
    """A bin closed at `frame` (the frame that showed it; the last frame for the bin still open at the end)."""

    frame: int
    trays: int
    total: int  # the global counter after this bin


def bin_events(counts: Iterable[int], *, drop_frames: int, min_bin_frames: int,
               drop_fraction: float, min_drop: int = 2) -> Iterator[BinEvent]:
    """The article's local/global counters over cleaned per-frame counts, one event per closed bin."""
    total = local = filling_since = 0
    filling = False
    low, rising = 0, []  # between bins: the lowest count since the last bin, and the counts above it since
    recent: list[int] = []  # the last drop_frames + 1 counts
    previous = 0
    frame = -1
    for frame, count in enumerate(counts):
        recent = (recent + [count])[-(drop_frames + 1):]
        if not filling:
            # The old bin's view may still be falling after a drop: the next bin starts once the count has
            # stayed above its lowest point for drop_frames frames.
            if count <= low:
                low, rising = count, []
            else:
                rising.append(count)
                if len(rising) >= drop_frames:
                    filling, filling_since, local = True, frame - len(rising) + 1, max(rising)
            previous = count
            continue
        fell_to_zero = count == 0 < previous
        previous = count
        local = max(local, count)
        if frame - filling_since < min_bin_frames:
            continue  # a young bin's zero is a hand over its first trays, not the next bin
        fell_continuously = (len(recent) == drop_frames + 1
                             and all(b <= a for a, b in pairwise(recent))
                             and count <= recent[0] - min_drop
                             and count <= drop_fraction * local)
        if fell_to_zero or fell_continuously:
            total += local
            yield BinEvent(frame, local, total)
            filling, local, low, rising = False, 0, count, []
    if not filling and rising:
        local = max(rising)  # a bin that had only just started when the frames ended
    if (filling or rising) and local > 0:
        total += local
        yield BinEvent(frame, local, total)


def smoothed(counts: Sequence[int], window: int) -> list[int]:
    """A centred running median (the window shrinks at both ends); a window of 1 changes nothing."""
    half = window // 2
    return [median_low(counts[max(0, i - half): i + half + 1]) for i in range(len(counts))]


def distinct_trays(detections: list[Detection], min_confidence: float, dedup_iou: float) -> list[Detection]:
    """The confident detections, keeping the best of any that overlap by more than `dedup_iou`."""
    kept: list[Detection] = []
    for detection in sorted((d for d in detections if d.score >= min_confidence), key=lambda d: -d.score):
        if all(iou(detection.box, other.box) <= dedup_iou for other in kept):
            kept.append(detection)
    return kept


def iou(a: Box, b: Box) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    overlap = width * height
    return overlap / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - overlap)


def parse_frame(frame: Any, index: int) -> list[Detection]:
    """One frame's detections, checked: a list of {"box": [x0, y0, x1, y1], "score": 0..1}, x0 < x1, y0 < y1."""
    if not isinstance(frame, (list, tuple)):
        raise TypeError(f"frame {index}: expected a list of detections, got {type(frame).__name__}")
    detections = []
    for number, item in enumerate(frame):
        where = f"frame {index}, detection {number}"
        if not isinstance(item, dict) or "box" not in item or "score" not in item:
            raise ValueError(f"{where}: expected {{\"box\": [x0, y0, x1, y1], \"score\": number}}")
        box, score = item["box"], item["score"]
        if (not isinstance(box, (list, tuple)) or len(box) != 4
                or not all(_is_number(v) for v in box) or not box[0] < box[2] or not box[1] < box[3]):
            raise ValueError(f"{where}: box must be four numbers [x0, y0, x1, y1] with x0 < x1 and y0 < y1")
        if not _is_number(score) or not 0 <= score <= 1:
            raise ValueError(f"{where}: score must be a number from 0 to 1")
        detections.append(Detection(tuple(float(v) for v in box), float(score)))
    return detections


def _frame_list(frames: Any) -> Sequence[Any]:
    if not isinstance(frames, (list, tuple)):
        raise TypeError(f"frames: expected a list with one list of detections per frame, "
                         f"got {type(frames).__name__}")
    return frames


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_knobs(min_confidence: float, drop_frames: int, min_bin_frames: int, smooth_frames: int,
                 dedup_iou: float, drop_fraction: float, min_drop: int) -> None:
    if not 0 <= min_confidence <= 1:
        raise ValueError("min_confidence must be from 0 to 1")
    if not 0 < dedup_iou <= 1:
        raise ValueError("dedup_iou must be above 0 and at most 1")
    if not 0 < drop_fraction < 1:
        raise ValueError("drop_fraction must be between 0 and 1")
    for name, value in (("drop_frames", drop_frames), ("min_bin_frames", min_bin_frames),
                        ("smooth_frames", smooth_frames), ("min_drop", min_drop)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a whole number, at least 1")
