"""The detect handler's contract with its event: which video, which packing line."""

from __future__ import annotations

import pytest
from tray_count.detect import BadVideo, line_of, video_of


@pytest.mark.parametrize(("key", "line"), [
    ("line=3/2026-12-04/clip.mp4", "3"),
    ("uploads/line-7.mp4", "7"),
    ("line-A2/clip.mp4", "A2"),
    ("line-12-morning.mp4", "12"),
])
def test_the_line_comes_from_the_key(key, line):
    assert line_of(key) == line


@pytest.mark.parametrize("key", ["clip.mp4", "pipeline-3.mp4", "line=/clip.mp4", "line=../x/clip.mp4"])
def test_a_key_without_a_line_is_refused_with_what_to_do(key):
    with pytest.raises(BadVideo, match="line=<id>/"):
        line_of(key)


def test_video_from_an_s3_event_or_plain_input():
    event = {"detail": {"bucket": {"name": "lines"}, "object": {"key": "line-3.mp4", "size": 5}}}
    assert video_of(event) == ("lines", "line-3.mp4")
    assert video_of({"bucket": "lines", "key": "line-3.mp4"}) == ("lines", "line-3.mp4")
    with pytest.raises(BadVideo):
        video_of({"bucket": "lines"})
