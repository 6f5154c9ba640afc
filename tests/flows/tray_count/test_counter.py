"""The tray counter: the article's local/global counters over noisy per-frame detections."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tray_count.counter import bin_events, count_trays, smoothed


def tray(slot: int, score: float = 0.9, shift: float = 0.0) -> dict:
    """A detection of the tray in `slot` (slots never overlap)."""
    x = slot * 50 + shift
    return {"box": [x, 10, x + 40, 50], "score": score}


def frame(trays: int) -> list[dict]:
    return [tray(slot) for slot in range(trays)]


def filling(top: int, hold: int = 4) -> list[list[dict]]:
    """A bin filling one tray at a time up to `top`, each count held for `hold` frames."""
    return [frame(n) for n in range(1, top + 1) for _ in range(hold)]


def empty(frames: int) -> list[list[dict]]:
    return [[] for _ in range(frames)]


def test_no_frames_and_empty_frames_count_nothing():
    assert count_trays([]) == {"bins": [], "total": 0}
    assert count_trays(empty(40)) == {"bins": [], "total": 0}


def test_each_bin_counts_its_most_trays_when_the_count_falls_to_zero():
    frames = filling(5) + empty(6) + filling(3) + empty(6) + filling(7) + empty(6)
    assert count_trays(frames, min_bin_frames=5) == {"bins": [5, 3, 7], "total": 15}


def test_a_bin_that_never_empties_is_the_last_bin():
    frames = filling(6) + [frame(6)] * 30
    assert count_trays(frames) == {"bins": [6], "total": 6}


def test_a_one_frame_zero_does_not_split_a_bin():
    frames = filling(4) + [[]] + filling(8)[16:]
    assert count_trays(frames, min_bin_frames=3) == {"bins": [8], "total": 8}


def test_a_one_frame_false_positive_or_miss_is_not_counted():
    frames = filling(5) + [frame(9)] + [frame(5)] * 3 + [frame(3)] + [frame(5)] * 3 + empty(6)
    assert count_trays(frames, min_bin_frames=3) == {"bins": [5], "total": 5}


def test_a_slow_continuous_drop_that_never_reaches_zero_is_a_new_bin():
    # The next bin slides over the full one and hides its trays one by one; two stay in view.
    drop = [frame(n) for n in (6, 5, 4, 3, 2) for _ in range(2)]
    frames = filling(6) + drop + [frame(n) for n in (3, 4) for _ in range(4)] + empty(6)
    assert count_trays(frames, drop_frames=4, min_bin_frames=5) == {"bins": [6, 4], "total": 10}


def test_a_hand_hiding_trays_for_a_while_does_not_end_the_bin():
    hidden = [[tray(slot) for slot in range(8) if slot not in (2, 3)]] * 12
    frames = filling(8) + hidden + [frame(8)] * 10 + empty(6)
    assert count_trays(frames, drop_frames=4, min_bin_frames=5) == {"bins": [8], "total": 8}


def test_a_tray_detected_twice_counts_once_and_unsure_detections_not_at_all():
    doubled = [[tray(slot), tray(slot, score=0.7, shift=3)] for slot in range(4)]
    noisy = [[d for pair in doubled for d in pair] + [tray(9, score=0.2)] for _ in range(12)]
    assert count_trays(noisy + empty(6), min_bin_frames=5) == {"bins": [4], "total": 4}
    assert count_trays(noisy + empty(6), min_bin_frames=5, min_confidence=0.1)["total"] == 5


def test_a_bin_shorter_than_the_minimum_length_is_not_closed_early():
    frames = filling(2, hold=3) + empty(3) + filling(5) + empty(20)
    assert count_trays(frames, min_bin_frames=15, smooth_frames=5) == {"bins": [5], "total": 5}
    assert count_trays(frames, min_bin_frames=3, smooth_frames=5, drop_frames=3) == {"bins": [2, 5], "total": 7}


@pytest.mark.parametrize(("frames", "message"), [
    ("trays", "frames: expected a list"),
    ([[{"box": [0, 0, 10, 10], "score": 0.9}], "x"], "frame 1: expected a list"),
    ([[{"box": [10, 0, 0, 10], "score": 0.9}]], "frame 0, detection 0: box must be"),
    ([[{"box": [0, 0, 10, 10], "score": float("nan")}]], "frame 0, detection 0: score must be"),
    ([[{"box": [0, 0, 10, 10]}]], "frame 0, detection 0: expected"),
    ([[{"box": [0, 0, True, 10], "score": 1}]], "box must be"),
])
def test_malformed_detections_are_refused_naming_the_frame(frames, message):
    with pytest.raises((TypeError, ValueError), match=message):
        count_trays(frames)


def test_knobs_out_of_range_are_refused():
    with pytest.raises(ValueError, match="drop_frames"):
        count_trays([], drop_frames=0)
    with pytest.raises(ValueError, match="min_confidence"):
        count_trays([], min_confidence=1.5)


def test_running_median_removes_runs_shorter_than_half_the_window():
    assert smoothed([3, 3, 0, 3, 3, 4, 4, 4, 3], 5) == [3, 3, 3, 3, 3, 4, 4, 4, 4]
    assert smoothed([1, 2, 3], 1) == [1, 2, 3]


bins_strategy = st.lists(st.integers(1, 12), min_size=1, max_size=8)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])  # a loaded CI machine is no bug
@given(bins=bins_strategy, hold=st.integers(3, 6), gap=st.integers(3, 10))
def test_a_clean_line_counts_exactly(bins, hold, gap):
    frames = []
    for size in bins:
        frames += filling(size, hold) + empty(gap)
    assert count_trays(frames, drop_frames=3, min_bin_frames=3, smooth_frames=5) == {"bins": bins, "total": sum(bins)}


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])  # a loaded CI machine is no bug
@given(bins=bins_strategy, data=st.data())
def test_isolated_one_frame_noise_does_not_change_a_clean_count(bins, data):
    counts = []
    for size in bins:
        counts += [n for n in range(1, size + 1) for _ in range(6)] + [0] * 6
    clean = list(counts)
    for index in range(3, len(counts) - 3, 5):  # at most one noisy frame in any five, none at a step
        if len(set(clean[index - 3: index + 4])) == 1:
            counts[index] = max(0, counts[index] + data.draw(st.sampled_from([-2, -1, 1, 2])))
    assert count_trays([frame(n) for n in counts], min_bin_frames=3)["bins"] == bins


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])  # a loaded CI machine is no bug
@given(st.lists(st.integers(0, 15), max_size=200), st.integers(1, 8), st.integers(1, 20))
def test_the_global_total_never_decreases_and_sums_the_bins(counts, drop_frames, min_bin_frames):
    events = list(bin_events(counts, drop_frames=drop_frames, min_bin_frames=min_bin_frames,
                             drop_fraction=0.5))
    totals = [event.total for event in events]
    assert totals == sorted(totals)
    assert all(event.trays > 0 for event in events)
    assert (totals[-1] if totals else 0) == sum(event.trays for event in events)
    assert all(event.trays <= max(counts) for event in events)
