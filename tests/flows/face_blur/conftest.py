"""Fixtures for the face-blur flow: a generated clip with known faces (3 s, 320x240, 30000/1001 fps)."""

from __future__ import annotations

import json

import pytest
from face_blur_checks import media


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory):
    """A 3 s 320x240 clip at 30000/1001 fps with AAC audio and two moving faces crossing edges."""
    return media.make_clip(tmp_path_factory.mktemp("clip") / "faces.mp4", 320, 240, 3.0)


@pytest.fixture(scope="session")
def ground_truth(clip) -> dict:
    return json.loads(clip.path.with_suffix(".faces.json").read_text())


