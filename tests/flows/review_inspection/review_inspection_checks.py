"""Helpers for the review-inspection tests: bench/review_day.py (the day generator, the demo model, a
review tool), uploads, and reading what a run left in local state."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
UPLOADS = "stepsmith-reviewuploadsbucket"


def review_day():
    """bench/review_day.py as a module."""
    name = "bench_review_day"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / "review_day.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module    # dataclasses look their module up while the class is built
        spec.loader.exec_module(module)
    return sys.modules[name]


def make_day(folder: Path, **options):
    return review_day().make_day(folder, **options)


def upload_day(project: Path, day) -> None:
    review_day().upload_day(project, day)


def table_rows(project: Path) -> list[dict]:
    """Every row of review-decisions, as the runs left it."""
    from boto3.dynamodb.types import TypeDeserializer

    from engine.aws import LocalAWS

    with LocalAWS(project / ".stepsmith") as aws:
        table = aws.client("dynamodb")
        rows, start = [], None
        while True:
            page = table.scan(TableName="stepsmith-ReviewDecisionsTable",
                              **({"ExclusiveStartKey": start} if start else {}))
            rows += page["Items"]
            start = page.get("LastEvaluatedKey")
            if not start:
                break
    reader = TypeDeserializer()
    return [{key: reader.deserialize(value) for key, value in row.items()} for row in rows]


def read_object(project: Path, bucket: str, key: str) -> bytes:
    """An object of the project's local S3 (kept as a plain file)."""
    return (project / ".stepsmith" / "s3" / bucket / key).read_bytes()


def new_project(root: Path) -> Path:
    return review_day().new_project(root)
