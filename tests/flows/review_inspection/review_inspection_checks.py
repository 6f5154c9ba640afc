"""Helpers for the review-inspection tests: the day generator, uploads, a reviewer that reads the queue."""
from __future__ import annotations

import importlib.util
import json
import sys
import threading
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
UPLOADS = "stepsmith-reviewuploadsbucket"


def _bench(name: str):
    module_name = f"bench_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, ROOT / "bench" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module    # dataclasses look their module up while the class is built
        spec.loader.exec_module(module)
    return sys.modules[module_name]


def review_images():
    return _bench("review_images")


def review_day():
    return _bench("review_day")


def make_day(folder: Path, **options):
    return review_day().make_day(folder, **options)


def upload_day(project: Path, day) -> None:
    """Stage the day's reviews in local S3, as `stepsmith s3 cp --recursive` would."""
    from engine.aws import LocalAWS

    with LocalAWS(project / ".stepsmith") as aws:
        aws.create_bucket(UPLOADS)
        s3 = aws.client("s3")
        for path in sorted((day.folder / "reviews").rglob("*")):
            if path.is_file():
                s3.put_object(Bucket=UPLOADS, Key=path.relative_to(day.folder).as_posix(), Body=path.read_bytes())


class Reviewer(threading.Thread):
    """A review tool: reads the human-review queue of the run in progress and answers each task.

    `answer(message)` returns the task's output, or None to never answer that one. Runs in this process,
    where the run's local AWS is, so it uses plain boto3 as a tool on AWS would.
    """

    def __init__(self, answer: Callable[[dict], dict | None]) -> None:
        super().__init__(daemon=True)
        self.answer = answer
        self.seen: list[dict] = []
        self.stop = threading.Event()

    def run(self) -> None:
        import boto3

        while not self.stop.is_set():
            try:
                sqs = boto3.client("sqs", region_name="us-east-1")
                urls = [url for url in sqs.list_queues().get("QueueUrls", []) if "humanreviewtasks" in url.lower()]
            except Exception:   # noqa: BLE001 - no local AWS active yet
                urls = []
            for url in urls:
                got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
                for message in got.get("Messages", []):
                    body = json.loads(message["Body"])
                    self.seen.append(body)
                    output = self.answer(body)
                    if output is not None:
                        boto3.client("stepfunctions", region_name="us-east-1").send_task_success(
                            taskToken=body["task_token"], output=json.dumps(output))
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            self.stop.wait(0.05)


def truthful(truth: dict[str, dict]) -> Callable[[dict], dict]:
    """A person who classes every photo right."""
    return lambda task: {"classes": [truth[task["review_id"]]["classes"][photo["n"]] for photo in task["photos"]]}


def table_rows(project: Path) -> list[dict]:
    """Every row of review-decisions, as the runs left it."""
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
    from boto3.dynamodb.types import TypeDeserializer

    reader = TypeDeserializer()
    return [{key: reader.deserialize(value) for key, value in row.items()} for row in rows]


def read_object(project: Path, bucket: str, key: str) -> bytes:
    path = project / ".stepsmith" / "s3" / bucket / key
    return path.read_bytes()
