"""Fixtures for the review-inspection flow: a project holding it, a promoted classifier, a generated day.

"A promoted model" is made the way CONTRACT-ml says retrain-and-promote makes one (bench/review_day.py's
promote_demo_model): a review classifier trained through the local SageMaker (tiny here: seconds), then
model package group `review-classifier` and an `Approved` package naming its image and ModelDataUrl.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from review_inspection_checks import ROOT, make_day, new_project, review_day, upload_day

HANDLERS = ROOT / "handlers"
if str(HANDLERS) not in sys.path:
    sys.path.insert(0, str(HANDLERS))  # the Lambda task root: `review_inspection` is a top-level package

@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> Path:
    """A project whose local state holds a promoted tiny classifier (trained once per session)."""
    project = new_project(tmp_path_factory.mktemp("trained") / "project")
    review_day().promote_demo_model(project, per_class=12, epochs=3)
    return project


@pytest.fixture
def project(trained, tmp_path) -> Path:
    """A fresh copy of the trained project (its local state: the classifier and its registry)."""
    copy = new_project(tmp_path / "project")
    shutil.copytree(trained / ".stepsmith", copy / ".stepsmith", ignore=shutil.ignore_patterns("*.lock"))
    return copy


@pytest.fixture
def day(project, tmp_path):
    """A small generated day (24 reviews, some broken), uploaded to the project's review-uploads bucket."""
    made = make_day(tmp_path / "day", date="2026-12-03", reviews=24, size=32, seed=3, broken=0.15)
    upload_day(project, made)
    return made
