"""Face tracks: linking Rekognition's samples, interpolating between them, following faces out to the edge
they crossed or holding them, clamping boxes."""

from __future__ import annotations

import pytest
from face_blur.tracks import SPEED_DOUBT, STILL_SIZES_PER_S, Box, FaceTimeline, build_tracks
from hypothesis import given
from hypothesis import strategies as st


def sample(t: int, left: float, top: float, size: float = 0.1) -> dict:
    return {"Timestamp": t, "Face": {"BoundingBox": {"Left": left, "Top": top, "Width": size, "Height": size},
                                     "Confidence": 99.0}}


def test_box_is_interpolated_between_samples():
    timeline = FaceTimeline(build_tracks([sample(0, 0.1, 0.2), sample(200, 0.16, 0.24)]), hold_ms=0)
    (box,) = timeline.boxes_at(50)
    assert box.left == pytest.approx(0.115) and box.top == pytest.approx(0.21)


def test_two_faces_become_two_tracks_and_are_not_swapped():
    faces = [sample(0, 0.1, 0.1), sample(0, 0.7, 0.7), sample(200, 0.15, 0.1), sample(200, 0.65, 0.7)]
    tracks = build_tracks(faces)
    assert sorted((t.boxes[0].left, t.boxes[-1].left) for t in tracks) == [(0.1, 0.15), (0.7, 0.65)]


def test_short_gap_is_bridged_but_a_long_one_splits_the_track():
    bridged = build_tracks([sample(0, 0.1, 0.1), sample(800, 0.2, 0.1)], max_gap_ms=1000)
    assert len(bridged) == 1
    (box,) = FaceTimeline(bridged, hold_ms=0).boxes_at(400)
    assert box.left == pytest.approx(0.15)
    assert len(build_tracks([sample(0, 0.1, 0.1), sample(1600, 0.2, 0.1)], max_gap_ms=1000)) == 2


def test_a_face_that_vanishes_in_the_middle_is_held_for_the_hold_time_then_dropped():
    timeline = FaceTimeline(build_tracks([sample(0, 0.45, 0.45), sample(200, 0.45, 0.45)]), hold_ms=500)
    assert [b.left for b in timeline.boxes_at(700)] == [pytest.approx(0.45)]
    assert timeline.boxes_at(701) == []
    assert [b.left for b in timeline.boxes_at(-500)] == [pytest.approx(0.45)]  # and before it appeared
    assert timeline.boxes_at(-501) == []


def test_an_extrapolated_box_spans_every_place_the_face_may_be_at_a_speed_a_little_off():
    # Moving 0.05 per 200 ms: 200 ms after the last sample it is 0.05 on, give or take SPEED_DOUBT.
    timeline = FaceTimeline(build_tracks([sample(0, 0.1, 0.5), sample(200, 0.15, 0.5)]), hold_ms=500)
    (box,) = timeline.boxes_at(400)
    assert box.left == pytest.approx(0.15 + 0.05 * (1 - SPEED_DOUBT))
    assert box.left + box.width == pytest.approx(0.25 + 0.05 * (1 + SPEED_DOUBT))
    assert (box.top, box.height) == (pytest.approx(0.5), pytest.approx(0.1))


# A face first seen just inside each edge, walking in at 0.05 of the frame per 200 ms. Followed back
# at the slowest speed it may have had (30 % slower), it left the picture 0.1 / (0.7 × 0.05 / 200 ms)
# = 571 ms before its first sample: covered from then on, though the hold is only 100 ms.
ENTRIES = {
    "left": ((0.0, 0.45), (0.05, 0.0)),
    "right": ((0.9, 0.45), (-0.05, 0.0)),
    "top": ((0.45, 0.0), (0.0, 0.05)),
    "bottom": ((0.45, 0.9), (0.0, -0.05)),
}


@pytest.mark.parametrize("edge", ENTRIES)
def test_a_face_that_walked_in_is_covered_back_to_the_edge_it_came_from(edge):
    (left, top), (dx, dy) = ENTRIES[edge]
    faces = [sample(1000 + 200 * k, left + k * dx, top + k * dy) for k in range(4)]
    timeline = FaceTimeline(build_tracks(faces), hold_ms=100)
    entered = 1000 - 0.1 / (0.7 * 0.05 / 200)
    (box,) = timeline.boxes_at(entered + 20)
    assert box.to_pixels(100, 100) is not None  # still reaches into the picture, at the edge it came from
    assert timeline.boxes_at(entered - 20) == []


@pytest.mark.parametrize("edge", ENTRIES)
def test_a_face_that_walks_out_is_covered_until_it_has_left_by_that_edge(edge):
    (left, top), (dx, dy) = ENTRIES[edge]
    faces = [sample(1000 - 200 * k, left + k * dx, top + k * dy) for k in range(4)]  # the entry, played backwards
    timeline = FaceTimeline(build_tracks(faces), hold_ms=100)
    left_at = 1000 + 0.1 / (0.7 * 0.05 / 200)
    assert len(timeline.boxes_at(left_at - 20)) == 1
    assert timeline.boxes_at(left_at + 20) == []


def test_a_slow_face_is_followed_back_though_its_first_samples_jitter_more_than_it_moves():
    # 0.2 face sizes a second in from the left edge, each box off by ±0.004: over its first 600 ms the face
    # seems to stand still (0.12 sizes a second), over 3 s it does not.
    faces = [sample(5000 + 200 * k, -0.02 + 0.004 * k + (-0.004 if k % 2 else 0.004), 0.45) for k in range(15)]
    timeline = FaceTimeline(build_tracks(faces), hold_ms=1000)
    # At 30 % under its speed it left the frame (0.08 to go at 0.7 x 0.02 a second) 5.7 s before.
    assert len(timeline.boxes_at(5000 - 5000)) == 1
    assert timeline.boxes_at(5000 - 6100) == []


def test_a_slow_face_far_from_the_edges_appeared_there_and_is_only_held():
    # 0.01 per 200 ms, from the middle: six face sizes and 10 s from any edge, so it did not walk in.
    faces = [sample(1000 + 200 * k, 0.45 + 0.01 * k, 0.45) for k in range(4)]
    timeline = FaceTimeline(build_tracks(faces), hold_ms=300)
    assert len(timeline.boxes_at(700)) == 1 and timeline.boxes_at(699) == []


def test_a_face_standing_at_the_edge_is_held_not_followed_for_its_jitter():
    faces = [sample(1000, 0.0, 0.45), sample(1200, 0.001, 0.451)]
    timeline = FaceTimeline(build_tracks(faces), hold_ms=300)
    assert len(timeline.boxes_at(700)) == 1 and timeline.boxes_at(699) == []


def test_a_face_moving_more_than_its_size_between_samples_keeps_its_track():
    faces = [sample(200 * k, 0.05 + 0.15 * k, 0.4) for k in range(5)]  # 1.5 face sizes per sample
    (track,) = build_tracks(faces)
    assert len(track.times) == 5


def test_box_keeps_the_largest_recent_size_when_the_detector_reports_a_cut_face():
    # At the frame's edge detectors report a shrinking box; the face itself is not shrinking.
    faces = [sample(0, 0.40, 0.5, 0.2), sample(200, 0.45, 0.55, 0.1)]
    (box,) = FaceTimeline(build_tracks(faces), hold_ms=0).boxes_at(200)
    assert box.width == pytest.approx(0.2) and box.cx == pytest.approx(0.5)


def test_far_jump_starts_a_new_track():
    assert len(build_tracks([sample(0, 0.1, 0.1), sample(200, 0.8, 0.8)])) == 2


def test_entries_without_a_box_are_ignored():
    assert build_tracks([{"Timestamp": 0, "Face": {}}, {"Timestamp": 5, "Face": {"BoundingBox": {}}}]) == []


@pytest.mark.parametrize(("box", "expected"), [
    (Box(-0.1, 0.4, 0.2, 0.2), (0, 96, 32, 144)),      # crosses the left edge
    (Box(0.9, 0.4, 0.2, 0.2), (288, 96, 320, 144)),     # the right edge
    (Box(0.4, -0.1, 0.2, 0.2), (128, 0, 192, 24)),      # the top edge
    (Box(0.4, 0.9, 0.2, 0.2), (128, 216, 192, 240)),    # the bottom edge
    (Box(-0.5, -0.5, 2.0, 2.0), (0, 0, 320, 240)),      # bigger than the frame
])
def test_boxes_are_clamped_at_every_edge_not_dropped(box, expected):
    assert box.to_pixels(320, 240) == expected


def test_padding_grows_the_box_on_every_side_before_clamping():
    assert Box(0.25, 0.25, 0.5, 0.5).to_pixels(100, 100, padding=0.1) == (20, 20, 80, 80)
    assert Box(0.0, 0.0, 0.5, 0.5).to_pixels(100, 100, padding=0.1) == (0, 0, 55, 55)


@pytest.mark.parametrize(("box", "expected"), [
    (Box(-0.1, 0.4, 0.2, 0.2), (0, 35, 15, 65)),     # cut by the left edge: padded on the right, top, bottom
    (Box(0.9, 0.4, 0.2, 0.2), (85, 35, 100, 65)),    # the right edge: padded on the left
    (Box(0.4, -0.1, 0.2, 0.2), (35, 0, 65, 15)),     # the top edge: padded below
    (Box(0.4, 0.9, 0.2, 0.2), (35, 85, 65, 100)),    # the bottom edge: padded above
])
def test_a_box_cut_by_an_edge_keeps_its_padding_on_the_side_that_shows(box, expected):
    assert box.to_pixels(100, 100, padding=0.25) == expected
    assert box.pixel_size(100, 100, padding=0.25) == 30  # the blur's strength: the whole padded face


def test_box_wholly_outside_the_frame_gives_nothing():
    assert Box(1.2, 0.1, 0.1, 0.1).to_pixels(320, 240) is None
    assert Box(0.1, -0.3, 0.1, 0.1).to_pixels(320, 240, padding=0.2) is None


@given(st.floats(-2, 2), st.floats(-2, 2), st.floats(0.001, 3), st.floats(0.001, 3), st.floats(0, 1),
       st.integers(1, 4000), st.integers(1, 4000))
def test_pixels_are_always_inside_the_frame(left, top, width, height, padding, fw, fh):
    rect = Box(left, top, width, height).to_pixels(fw, fh, padding)
    if rect is not None:
        x0, y0, x1, y1 = rect
        assert 0 <= x0 < x1 <= fw and 0 <= y0 < y1 <= fh


@pytest.mark.parametrize(("rotation", "stored"), [
    (0, (100, 50, 160, 90)),
    # Shown turned a quarter counter-clockwise: the picture's top edge is stored as its right edge.
    (90, (150, 100, 190, 160)),
    (-90, (50, 240, 90, 300)),
    (180, (240, 150, 300, 190)),
])
def test_a_box_on_the_upright_picture_maps_onto_the_picture_as_stored(rotation, stored):
    shown = Box(100 / 400, 50 / 240, 60 / 400, 40 / 240)  # on a 400x240 picture as shown
    size = (400, 240) if rotation in (0, 180) else (240, 400)
    assert shown.as_stored(rotation).to_pixels(*size) == stored


def test_a_face_coming_closer_is_interpolated_about_its_centre_as_it_grows():
    # Walking towards the camera: the same centre, twice the size 200 ms later.
    faces = [sample(0, 0.45, 0.45, 0.1), sample(200, 0.4, 0.4, 0.2)]
    (box,) = FaceTimeline(build_tracks(faces), hold_ms=0).boxes_at(100)
    assert (box.cx, box.cy) == (pytest.approx(0.5), pytest.approx(0.5))


def test_a_face_moving_away_shrinks_between_samples_no_larger_than_it_was():
    faces = [sample(0, 0.4, 0.4, 0.2), sample(200, 0.45, 0.45, 0.1)]
    (box,) = FaceTimeline(build_tracks(faces), hold_ms=0).boxes_at(100)
    assert (box.width, box.height) == (pytest.approx(0.2), pytest.approx(0.2))
    assert (box.cx, box.cy) == (pytest.approx(0.5), pytest.approx(0.5))


@pytest.mark.parametrize(("second_left", "second_top"), [(0.1, 0.8), (0.8, 0.1)])
def test_a_far_jump_along_one_axis_starts_a_new_track(second_left, second_top):
    assert len(build_tracks([sample(0, 0.1, 0.1), sample(200, second_left, second_top)])) == 2


@pytest.mark.parametrize("box", [Box(0.4, -0.1, 0.2, 0.1), Box(0.4, 1.0, 0.2, 0.1),
                                 Box(-0.2, 0.4, 0.2, 0.2), Box(1.0, 0.4, 0.2, 0.2)])
def test_a_box_that_only_touches_the_frame_from_outside_gives_nothing(box):
    assert box.to_pixels(320, 240) is None


def test_a_face_moving_diagonally_is_extrapolated_along_both_axes_before_and_after_its_samples():
    # Down and to the right at 0.02 per 100 ms on each axis, seen from t = 2000 to 2300 ms.
    faces = [sample(2000 + 100 * k, 0.4 + 0.02 * k, 0.3 + 0.02 * k) for k in range(4)]
    timeline = FaceTimeline(build_tracks(faces), hold_ms=200)
    (after,) = timeline.boxes_at(2400)   # 100 ms after the last sample at (0.46, 0.36)
    assert (after.left, after.top) == (pytest.approx(0.46 + 0.02 * (1 - SPEED_DOUBT)),
                                       pytest.approx(0.36 + 0.02 * (1 - SPEED_DOUBT)))
    assert (after.left + after.width, after.top + after.height) == (
        pytest.approx(0.56 + 0.02 * (1 + SPEED_DOUBT)), pytest.approx(0.46 + 0.02 * (1 + SPEED_DOUBT)))
    (before,) = timeline.boxes_at(1900)  # 100 ms before the first sample at (0.4, 0.3): up and to the left
    assert (before.left, before.top) == (pytest.approx(0.4 - 0.02 * (1 + SPEED_DOUBT)),
                                         pytest.approx(0.3 - 0.02 * (1 + SPEED_DOUBT)))
    assert (before.left + before.width, before.top + before.height) == (
        pytest.approx(0.5 - 0.02 * (1 - SPEED_DOUBT)), pytest.approx(0.4 - 0.02 * (1 - SPEED_DOUBT)))


def test_each_end_of_a_track_is_extrapolated_at_the_speed_it_had_there():
    # Right at 0.03 per 100 ms for 700 ms, then down at the same speed: it came from the left, leaves downwards.
    faces = [sample(1000 + 100 * k, 0.2 + 0.03 * k, 0.3) for k in range(8)]
    faces += [sample(1700 + 100 * k, 0.41, 0.3 + 0.03 * k) for k in range(1, 8)]
    (track,) = build_tracks(faces)
    assert track.velocity(at_end=False) == (pytest.approx(0.0003), pytest.approx(0.0, abs=1e-12))
    assert track.velocity(at_end=True) == (pytest.approx(0.0, abs=1e-12), pytest.approx(0.0003))
    timeline = FaceTimeline([track], hold_ms=200)
    (start,) = timeline.boxes_at(900)
    assert (start.left, start.top) == (pytest.approx(0.2 - 0.03 * (1 + SPEED_DOUBT)), pytest.approx(0.3))
    (end,) = timeline.boxes_at(2500)
    assert (end.left, end.top) == (pytest.approx(0.41), pytest.approx(0.51 + 0.03 * (1 - SPEED_DOUBT)))


def test_interpolation_between_unevenly_spaced_samples_late_in_the_video():
    faces = [sample(5000, 0.1, 0.1), sample(5100, 0.2, 0.2), sample(5500, 0.2, 0.6)]
    timeline = FaceTimeline(build_tracks(faces, max_jump=5.0), hold_ms=0)
    (box,) = timeline.boxes_at(5300)
    assert (box.left, box.top) == (pytest.approx(0.2), pytest.approx(0.4))
    (box,) = timeline.boxes_at(5050)
    assert (box.left, box.top) == (pytest.approx(0.15), pytest.approx(0.15))
    (box,) = timeline.boxes_at(5500)
    assert (box.left, box.top) == (pytest.approx(0.2), pytest.approx(0.6))


def test_a_single_sample_is_held_where_it_was_seen():
    (box,) = FaceTimeline(build_tracks([sample(3000, 0.3, 0.6)]), hold_ms=100).boxes_at(3000)
    assert (box.left, box.top, box.width) == (pytest.approx(0.3), pytest.approx(0.6), pytest.approx(0.1))


def test_rekognition_boxes_default_a_missing_corner_to_zero_and_skip_a_box_without_size():
    faces = [{"Timestamp": 0, "Face": {"BoundingBox": {"Width": 0.1, "Height": 0.2}}},
             {"Timestamp": 10, "Face": {"BoundingBox": {"Left": 0.5, "Top": 0.5, "Width": 0.1}}},
             {"Timestamp": 20, "Face": {"BoundingBox": {"Left": 0.5, "Top": 0.5, "Height": 0.1}}},
             {"Timestamp": 30, "Face": {"BoundingBox": {"Left": 0.5, "Top": 0.5, "Width": 0.0, "Height": 0.1}}},
             {"Timestamp": 40, "Face": {"BoundingBox": {"Left": 0.5, "Top": 0.5, "Width": 0.1, "Height": 0.0}}}]
    (track,) = build_tracks(faces)
    assert track.times == [0.0] and track.boxes == [Box(0.0, 0.0, 0.1, 0.2)]


def test_a_face_after_an_entry_without_a_box_is_still_tracked():
    faces = [sample(0, 0.1, 0.1), {"Timestamp": 100, "Face": {}}, sample(200, 0.12, 0.1)]
    (track,) = build_tracks(faces)
    assert track.times == [0.0, 200.0]


@pytest.mark.parametrize(("gap", "tracks"), [(1000, 1), (1001, 2)])
def test_a_track_bridges_a_gap_of_up_to_a_second_by_default(gap, tracks):
    assert len(build_tracks([sample(0, 0.1, 0.1), sample(gap, 0.1, 0.1)])) == tracks


def test_a_face_with_a_known_speed_may_jump_one_face_size_by_default_a_new_one_two():
    # 1.5 face sizes away: joins a track of one sample (it may have gone twice as far), not a moving one.
    assert len(build_tracks([sample(0, 0.1, 0.4), sample(100, 0.25, 0.4)])) == 1
    still = [sample(0, 0.1, 0.4), sample(100, 0.1, 0.4), sample(200, 0.25, 0.4)]
    assert len(build_tracks(still)) == 2
    assert len(build_tracks([sample(0, 0.1, 0.4), sample(100, 0.35, 0.4)])) == 2  # 2.5 sizes


def test_two_faces_side_by_side_each_keep_their_track_when_both_move():
    # The nearer pairing wins: each face continues its own track though both boxes are within reach of both.
    faces = [sample(0, 0.30, 0.4), sample(0, 0.42, 0.4), sample(100, 0.33, 0.4), sample(100, 0.45, 0.4),
             sample(200, 0.36, 0.4), sample(200, 0.48, 0.4)]
    tracks = sorted(build_tracks(faces), key=lambda tr: tr.boxes[0].left)
    assert [[round(b.left, 2) for b in tr.boxes] for tr in tracks] == [[0.30, 0.33, 0.36], [0.42, 0.45, 0.48]]


def test_a_face_followed_back_far_is_found_before_an_earlier_face_that_is_only_held():
    # A face in the middle from 1000 ms (held 100 ms: covered from 900), and one walking in at the left
    # edge from 1200 ms (followed back 571 ms: covered from 629). At 700 ms only the second shows.
    faces = [sample(1000, 0.45, 0.7), sample(1200, 0.45, 0.7)]
    faces += [sample(1200 + 200 * k, 0.0 + 0.05 * k, 0.2) for k in range(4)]
    # ...and a third coming down from the top edge at 1500 ms (followed back 286 ms: covered from 1214).
    faces += [sample(1500 + 100 * k, 0.8, 0.0 + 0.05 * k) for k in range(4)]
    timeline = FaceTimeline(build_tracks(faces), hold_ms=100)
    assert [round(b.top, 2) for b in timeline.boxes_at(700)] == [0.2]
    assert sorted(round(b.top, 2) for b in timeline.boxes_at(1000)) == [0.2, 0.7]


def test_the_default_hold_is_half_a_second():
    timeline = FaceTimeline(build_tracks([sample(1000, 0.45, 0.45)]))
    assert len(timeline.boxes_at(500)) == 1 and timeline.boxes_at(499) == []


def test_a_single_sample_has_no_speed_and_stays_where_it_was_seen():
    timeline = FaceTimeline(build_tracks([sample(3000, 0.3, 0.6)]), hold_ms=300)
    for t in (2800, 3200):
        (box,) = timeline.boxes_at(t)
        assert (box.left, box.top) == (pytest.approx(0.3), pytest.approx(0.6))


def _least_squares_speed(points):
    mean_t = sum(t for t, _ in points) / len(points)
    mean_x = sum(x for _, x in points) / len(points)
    return (sum((t - mean_t) * (x - mean_x) for t, x in points)
            / sum((t - mean_t) ** 2 for t, _ in points))


@pytest.mark.parametrize("spacing", [100, 300])
def test_speed_is_a_least_squares_line_over_the_last_600_ms_and_at_least_four_samples(spacing):
    # A face drifting right, every box off by ±0.004: the speed at each end is the fitted line through
    # the samples within 600 ms of that end (and never fewer than four), not just the nearest ones.
    xs = [0.3 + 0.0001 * spacing * k + (0.004 if k % 3 else -0.004) for k in range(12)]
    faces = [sample(1000 + spacing * k, x, 0.4) for k, x in enumerate(xs)]
    (track,) = build_tracks(faces)
    points = [(t, x + 0.05) for t, x in zip(track.times, xs, strict=True)]  # box centres
    window = max(4, 600 // spacing + 1)
    assert track.velocity(at_end=True)[0] == pytest.approx(_least_squares_speed(points[-window:]))
    assert track.velocity(at_end=False)[0] == pytest.approx(_least_squares_speed(points[:window]))


def test_a_slow_face_is_followed_out_though_its_last_samples_jitter_more_than_it_moves():
    # The mirror of the slow face walking in: 0.2 face sizes a second towards the right edge.
    faces = [sample(5000 + 200 * k, 0.82 + 0.004 * k + (-0.004 if k % 2 else 0.004), 0.45) for k in range(15)]
    timeline = FaceTimeline(build_tracks(faces), hold_ms=1000)
    last = 5000 + 200 * 14
    assert len(timeline.boxes_at(last + 4000)) == 1


def test_a_track_that_turns_is_followed_out_along_its_last_direction():
    # Right for 700 ms, then down at 0.3 faces per 100 ms from y = 0.51: it leaves by the bottom edge
    # (0.49 to go at 0.7 x 0.0003 per ms: 2333 ms), though the right edge was further off.
    faces = [sample(1000 + 100 * k, 0.2 + 0.03 * k, 0.3) for k in range(8)]
    faces += [sample(1700 + 100 * k, 0.41, 0.3 + 0.03 * k) for k in range(1, 8)]
    timeline = FaceTimeline(build_tracks(faces), hold_ms=200)
    assert len(timeline.boxes_at(2400 + 2300)) == 1 and timeline.boxes_at(2400 + 2400) == []


def test_a_face_walking_away_keeps_only_the_size_it_had_within_a_second():
    faces = [sample(1000 + 100 * k, 0.5 - (0.2 - 0.01 * k) / 2, 0.4, 0.2 - 0.01 * k) for k in range(11)]
    faces += [sample(2100 + 100 * k, 0.45, 0.4, 0.1) for k in range(15)]
    (track,) = build_tracks(faces, max_jump=2.0)
    (box,) = FaceTimeline([track], hold_ms=0).boxes_at(3500)
    assert box.width == pytest.approx(0.1)


def test_a_tiny_box_blurs_with_a_strength_of_one_pixel():
    assert Box(0.5, 0.5, 0.001, 0.001).pixel_size(320, 240) == 1
    assert Box(0.5, 0.5, 0.1, 0.1).pixel_size(320, 240) == 24


def test_a_jump_just_over_one_face_size_starts_a_new_track():
    still = [sample(0, 0.1, 0.4), sample(100, 0.1, 0.4), sample(200, 0.21, 0.4)]  # 1.1 face sizes
    assert len(build_tracks(still)) == 2
    still[-1] = sample(200, 0.19, 0.4)  # 0.9 face sizes: the same face
    assert len(build_tracks(still)) == 1


def test_a_face_moving_down_more_than_its_size_between_samples_keeps_its_track():
    faces = [sample(1000 + 200 * k, 0.4, 0.05 + 0.15 * k) for k in range(5)]
    (track,) = build_tracks(faces)
    assert len(track.times) == 5


def test_the_nearest_pairing_wins_and_each_box_joins_one_track_only():
    # B (0.42) steps to 0.40, right next to it; A (0.30) is a face size from it and 2.2 from 0.52, too far
    # for a track of one sample: A keeps to itself and 0.52 starts a track of its own.
    faces = [sample(0, 0.30, 0.4), sample(0, 0.42, 0.4), sample(100, 0.40, 0.4), sample(100, 0.52, 0.4)]
    tracks = sorted(build_tracks(faces), key=lambda tr: tr.boxes[0].left)
    assert [[round(b.left, 2) for b in tr.boxes] for tr in tracks] == [[0.30], [0.42, 0.40], [0.52]]


def test_a_face_coming_closer_is_not_blurred_at_a_size_it_reaches_more_than_a_second_later():
    # Twice as large 2 s after it was first seen: at first its box is its own size, not the later one.
    faces = [sample(500 * k, 0.45 - 0.025 * max(0, k - 2), 0.4, 0.1 + 0.05 * max(0, k - 2)) for k in range(5)]
    (track,) = build_tracks(faces)
    (box,) = FaceTimeline([track], hold_ms=0).boxes_at(0)
    assert (box.width, box.height) == (pytest.approx(0.1), pytest.approx(0.1))
    (box,) = FaceTimeline([track], hold_ms=0).boxes_at(500)  # a second before it is 0.15 wide: as large
    assert box.width == pytest.approx(0.15)


def _still_then_moving(width: float, step: float) -> list[dict]:
    """Standing 500 ms at 0.117, then moving right `step` per 100 ms for 600 ms: the last 600 ms hold only
    the motion, the 3 s before the end hold the stillness too."""
    faces = [sample(100 * k, 0.117, 0.4, width) for k in range(6)]
    return faces + [sample(500 + 100 * k, round(0.117 + step * k, 6), 0.4, width) for k in range(1, 7)]


@pytest.mark.parametrize(("step", "measured_over_ms"), [
    (0.003, 600),      # 0.15 face sizes a second exactly (these numbers make the float arithmetic exact)
    (0.002998, 3000),  # 0.1499: slower than STILL_SIZES_PER_S, so measured again over 3 s
])
def test_a_face_moving_at_the_still_threshold_keeps_the_speed_of_its_last_600_ms(step, measured_over_ms):
    (track,) = build_tracks(_still_then_moving(0.2, step))
    centres = [(t, b.cx) for t, b in zip(track.times, track.boxes, strict=True)]
    window = centres[-7:] if measured_over_ms == 600 else centres
    speed = _least_squares_speed(window)
    assert track.velocity(at_end=True)[0] == pytest.approx(speed)
    if measured_over_ms == 600:  # the boundary itself, to the last bit: else this case tests nothing
        assert abs(track.velocity(at_end=True)[0]) / 0.2 * 1000 == STILL_SIZES_PER_S, "pick new numbers"
    (box,) = FaceTimeline([track], hold_ms=1000).boxes_at(1100 + 500)
    last = track.boxes[-1]
    assert box.left == pytest.approx(last.left + speed * (1 - SPEED_DOUBT) * 500)
    assert box.left + box.width == pytest.approx(last.left + last.width + speed * (1 + SPEED_DOUBT) * 500)


@pytest.mark.parametrize(("width", "step", "followed"), [
    # 0.15 face sizes a second exactly (for this width, the float arithmetic is exact): moving, so followed
    # out of the right edge it is 1.9 face sizes from.
    (0.10000000000000009, 0.003, True),
    (0.1, 0.002998, False),  # 0.1499: standing still, only held
])
def test_a_face_near_the_edge_is_followed_out_from_the_still_threshold_up(width, step, followed):
    faces = [sample(200 * k, round(0.8 + step * k, 6), 0.4, width) for k in range(4)]
    tracks = build_tracks(faces)
    if followed:  # the boundary itself, to the last bit: else this case tests nothing
        assert abs(tracks[0].velocity(at_end=True)[0]) * 1000 == STILL_SIZES_PER_S * width, "pick new numbers"
    timeline = FaceTimeline(tracks, hold_ms=500)
    assert len(timeline.boxes_at(600 + 3000)) == (1 if followed else 0)
    assert len(timeline.boxes_at(600 + 500)) == 1


def test_a_face_exactly_two_face_sizes_from_the_edge_it_heads_for_is_followed_out():
    # At 0.75 moving right, 0.125 wide: the right edge is 2 face sizes away (7.1 s at the slowest speed).
    faces = [sample(200 * k, 0.72 + 0.01 * k, 0.4, 0.125) for k in range(4)]
    timeline = FaceTimeline(build_tracks(faces), hold_ms=500)
    assert len(timeline.boxes_at(600 + 5000)) == 1


def test_a_face_exactly_2500_ms_from_the_edge_it_heads_for_is_followed_out():
    # From 0.65 at 0.04 per 200 ms (0.7 x that at the slowest): the right edge is 0.35 away, reached 2500 ms on.
    faces = [sample(200 * k, left, 0.4) for k, left in enumerate([0.53, 0.57, 0.61, 0.65])]
    timeline = FaceTimeline(build_tracks(faces), hold_ms=500)
    assert len(timeline.boxes_at(600 + 2500)) == 1
    assert timeline.boxes_at(600 + 2501) == []


def test_a_jump_of_exactly_one_face_size_keeps_the_track():
    # A quarter of the frame wide, a quarter to the right: exactly one face size, exactly in floats too.
    still = [sample(0, 0.25, 0.25, 0.25), sample(100, 0.25, 0.25, 0.25), sample(200, 0.5, 0.25, 0.25)]
    (track,) = build_tracks(still)
    assert [b.left for b in track.boxes] == [0.25, 0.25, 0.5]


def test_a_box_taken_by_a_nearer_face_does_not_stop_the_next_pairing():
    # Two faces side by side; A (0.30) barely moves, B (0.40) steps a face to the right. A's new box is
    # nearer to B than B's own, but A takes it first; B still goes on to its own box.
    faces = [sample(0, 0.30, 0.4), sample(0, 0.40, 0.4), sample(100, 0.31, 0.4), sample(100, 0.50, 0.4)]
    tracks = sorted(build_tracks(faces), key=lambda tr: tr.boxes[0].left)
    assert [[b.left for b in tr.boxes] for tr in tracks] == [[0.30, 0.31], [0.40, 0.50]]


def test_a_face_appearing_right_beside_a_tracked_one_starts_its_own_track():
    # Both new boxes are within a face size of the track: it takes the nearer, the other is a new face.
    faces = [sample(0, 0.30, 0.4), sample(100, 0.30, 0.4), sample(200, 0.30, 0.4), sample(200, 0.38, 0.4)]
    tracks = sorted(build_tracks(faces), key=lambda tr: tr.boxes[0].left)
    assert [(tr.times, [b.left for b in tr.boxes]) for tr in tracks] == [
        ([0.0, 100.0, 200.0], [0.30, 0.30, 0.30]), ([200.0], [0.38])]


def test_a_face_that_turns_and_speeds_up_keeps_its_track_by_where_it_was_last_heading():
    # Right at 0.3 face sizes per 100 ms, then down at 0.5, then a step of 1.2 face sizes down: more than a
    # face from its last box, but 0.7 from where its last 600 ms were heading.
    faces = [sample(100 * k, 0.2 + 0.03 * k, 0.3) for k in range(8)]
    faces += [sample(700 + 100 * k, 0.41, round(0.3 + 0.05 * k, 6)) for k in range(1, 8)]
    faces.append(sample(1500, 0.41, 0.77))
    (track,) = build_tracks(faces)
    assert len(track.times) == 16


def test_a_face_walking_in_is_covered_before_faces_that_appear_earlier_but_are_only_held():
    # Two faces in the middle, from 1000 and 1100 ms (held 100 ms: covered from 900 and 1000), and one
    # walking in at the left edge from 1200 ms (followed back 571 ms: covered from 629). At 700 ms only
    # the third shows; it must be found though both others were first seen before it.
    faces = [sample(1000, 0.45, 0.7), sample(1100, 0.45, 0.7), sample(1100, 0.7, 0.45), sample(1200, 0.7, 0.45)]
    faces += [sample(1200 + 200 * k, 0.0 + 0.05 * k, 0.2) for k in range(4)]
    timeline = FaceTimeline(build_tracks(faces), hold_ms=100)
    assert [round(b.top, 2) for b in timeline.boxes_at(700)] == [0.2]
    assert sorted(round(b.top, 2) for b in timeline.boxes_at(1050)) == [0.2, 0.45, 0.7]


def test_samples_a_millisecond_apart_give_a_speed():
    # A 1000 fps clip: the face moved 0.001 in 1 ms, and 10 ms later it is 0.007 to 0.013 further on.
    timeline = FaceTimeline(build_tracks([sample(1000, 0.4, 0.4), sample(1001, 0.401, 0.4)]), hold_ms=0)
    (box,) = timeline.boxes_at(1011)
    assert (box.left, box.left + box.width) == (pytest.approx(0.408), pytest.approx(0.514))


def test_a_face_that_turned_back_slowly_is_extrapolated_the_way_it_last_went():
    # 0.1 face sizes a second to the right for 3 s, then back to the left for 3 s: too slow to measure in
    # 600 ms, so each end is measured over its own 3 s, and after the end the face goes on to the left.
    faces = [sample(200 * k, round(0.4 + 0.002 * min(k, 15) - 0.002 * max(0, k - 15), 6), 0.4) for k in range(31)]
    (track,) = build_tracks(faces)
    assert track.velocity(at_end=True)[0] == pytest.approx(-0.00001)
    assert track.velocity(at_end=False)[0] == pytest.approx(0.00001)
    (box,) = FaceTimeline([track], hold_ms=500).boxes_at(6000 + 400)
    assert box.left == pytest.approx(0.4 - 0.00001 * (1 + SPEED_DOUBT) * 400)
    assert box.left + box.width == pytest.approx(0.5 - 0.00001 * (1 - SPEED_DOUBT) * 400)


@pytest.mark.parametrize("at_end", [True, False])
def test_whether_a_face_stands_still_is_judged_by_its_size_at_that_end(at_end):
    # Standing 500 ms centred on (0.4, 0.5), 0.2 wide, then moving 0.02 a second for 600 ms, and seen 0.1 wide at the
    # end of it (walking away): 0.2 of its own sizes a second there, so moving, and measured over those
    # 600 ms alone. By the 0.2 wide boxes before it, it would be 0.1 sizes a second: still, and measured
    # over 3 s with the standing. Played backwards for the start of a track.
    centres = [0.4] * 6 + [round(0.4 + 0.002 * k, 6) for k in range(1, 7)]
    widths = [0.2] * 11 + [0.1]
    times = [100 * k for k in range(12)]
    if not at_end:
        times = [1100 - t for t in reversed(times)]
        centres, widths = centres[::-1], widths[::-1]
    faces = [sample(t, round(c - w / 2, 6), round(0.5 - w / 2, 6), w) for t, c, w in zip(times, centres, widths, strict=True)]
    (track,) = build_tracks(faces)
    points = [(t, b.cx) for t, b in zip(track.times, track.boxes, strict=True)]
    speed = _least_squares_speed(points[-7:] if at_end else points[:7])
    assert abs(speed) * 1000 == pytest.approx(0.02)
    assert track.velocity(at_end=at_end)[0] == pytest.approx(speed)


@pytest.mark.parametrize("at_end", [True, False])
def test_a_face_is_followed_out_by_the_size_it_had_within_a_second_of_that_end(at_end):
    # Walking right and away from the camera at y = 0.5: 0.3 wide at 0 ms, 0.1 wide from 100 ms on, its centre at 0.85
    # at 1100 ms, 0.5 of the frame a second. The right edge is 0.2 away from its last 0.1 wide box: gone
    # 571 ms on at the slowest speed. (By its 0.3 wide box of 1.1 s before, 0.3 away: 857 ms.)
    # Played backwards for a face that walked in by the right edge.
    times = [100 * k for k in range(12)]
    centres = [round(0.3 + 0.05 * k, 6) for k in range(12)]
    widths = [0.3] + [0.1] * 11
    if not at_end:
        times = [1100 - t for t in reversed(times)]
        centres, widths = centres[::-1], widths[::-1]
    faces = [sample(t, round(c - w / 2, 6), round(0.5 - w / 2, 6), w) for t, c, w in zip(times, centres, widths, strict=True)]
    timeline = FaceTimeline(build_tracks(faces), hold_ms=100)
    edge_ms = 1100 if at_end else 0
    gone = 0.2 / (0.7 * 0.05 / 100)
    sign = 1 if at_end else -1
    assert len(timeline.boxes_at(edge_ms + sign * (gone - 20))) == 1
    assert timeline.boxes_at(edge_ms + sign * (gone + 20)) == []
