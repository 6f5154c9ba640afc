"""Generate a day of customer reviews for workflows/review-inspection.yaml, with the true labels kept aside.

    python bench/review_day.py build/day --date 2026-12-03 --reviews 200
    stepsmith s3 cp --recursive build/day/reviews s3://stepsmith-reviewuploadsbucket/reviews

writes, under OUT/reviews/dt=DATE/, one `<review>.json` per review ({review_id, type, user_id, images})
and its photos under images/ (drawn by bench/review_images.py: package, product, full-length,
half-length), and OUT/truth.json (never uploaded): each review's true photo classes, whether it deserves
its credits, and why it is broken if it is. Both review types and all four classes occur; about
`--broken` of the reviews are broken: a photo that is missing, an unknown review type, or a photo that
is not an image.

    python bench/review_day.py --promote      # a demo classifier, registered Approved in review-classifier

trains a small review classifier on generated photos through the local SageMaker of the project in the
current folder and registers it as retrain-and-promote registers a promoted model (CONTRACT-ml), to try
review-inspection before retrain-and-promote has run. `Reviewer` is a review tool for tests and
benchmarks: it reads the human-review queue of a run in this process and answers from the truth.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

EARNING = {"Product": "product", "Style": "full-length"}   # the credit rules the workflow's spec sets
BROKEN = ("missing image", "unknown type", "unreadable image")
IMAGE = "111111111111.dkr.ecr.us-east-1.amazonaws.com/review-classifier:latest"   # → images/review-classifier
TRAINING_ROLE = "arn:aws:iam::111111111111:role/retrain-and-promote-training"
ROOT = Path(__file__).resolve().parent.parent
UPLOADS = "stepsmith-reviewuploadsbucket"     # review-inspection's `review-uploads` bucket in the local stack
DATASETS = "stepsmith-datasetsbucket"     # retrain-and-promote's `datasets` bucket in the local stack


def _drawing():
    """bench/review_images.py as a module (its photo drawing and classes)."""
    name = "bench_review_images"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("review_images.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@dataclass(frozen=True)
class Day:
    """A generated day: the folder to upload (`reviews/`), and each review's truth by review id."""

    folder: Path
    date: str
    truth: dict[str, dict]

    @property
    def prefix(self) -> str:
        return f"reviews/dt={self.date}/"


def make_day(out: str | Path, *, date: str, reviews: int, seed: int = 11, size: int = 64,
             broken: float = 0.04, earning_share: float = 0.5) -> Day:
    """Draw a day of `reviews` reviews into `out`; `earning_share` of the good ones deserve credits."""
    drawing = _drawing()
    out = Path(out)
    day = out / "reviews" / f"dt={date}"
    (day / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    truth: dict[str, dict] = {}
    for index in range(reviews):
        review_id = f"r{date.replace('-', '')}-{index:05d}"
        review_type = ("Product", "Style")[index % 2]
        count = 1 if rng.random() < 0.8 else 2
        deserves = rng.random() < earning_share
        others = [c for c in drawing.CLASSES if c != EARNING[review_type]]
        classes = [str(rng.choice(others)) for _ in range(count)]
        if deserves:
            classes[int(rng.integers(0, count))] = EARNING[review_type]
        fault = BROKEN[int(rng.integers(0, len(BROKEN)))] if rng.random() < broken else None
        keys = []
        for n, cls in enumerate(classes):
            key = f"{day.relative_to(out).as_posix()}/images/{review_id}-{n}.jpg"
            keys.append(key)
            if fault == "missing image" and n == 0:
                continue
            if fault == "unreadable image" and n == 0:
                (out / key).write_bytes(b"this is not a photo\n" * 4)
                continue
            cv2.imwrite(str(out / key), drawing.DRAW[cls](rng, size), [cv2.IMWRITE_JPEG_QUALITY, 90])
        metadata = {"review_id": review_id, "type": "Video" if fault == "unknown type" else review_type,
                    "user_id": f"u{int(rng.integers(1, 10_000)):05d}", "images": keys}
        (day / f"{review_id}.json").write_text(json.dumps(metadata), encoding="utf-8")
        truth[review_id] = {"type": review_type, "classes": classes, "deserves": deserves, "broken": fault}
    (out / "truth.json").write_text(json.dumps({"date": date, "reviews": truth}, indent=1), encoding="utf-8")
    return Day(out, date, truth)


def new_project(folder: str | Path) -> Path:
    """A project holding review-inspection and retrain-and-promote (which declares what review-inspection
    takes from it), with this repository's handlers/ and images/ linked."""
    folder = Path(folder)
    (folder / "workflows").mkdir(parents=True)
    for flow in ("review-inspection", "retrain-and-promote"):
        shutil.copy(ROOT / "workflows" / f"{flow}.yaml", folder / "workflows")
    for name in ("handlers", "images"):
        (folder / name).symlink_to(ROOT / name)
    shutil.copy(ROOT / "samconfig.toml", folder)
    return folder


def upload_day(project: str | Path, day: Day) -> None:
    """Stage the day's reviews in the project's local S3, as `stepsmith s3 cp --recursive` would."""
    from engine.aws import LocalAWS

    with LocalAWS(Path(project) / ".stepsmith") as aws:
        aws.create_bucket(UPLOADS)
        s3 = aws.client("s3")
        for path in sorted((day.folder / "reviews").rglob("*")):
            if path.is_file():
                s3.put_object(Bucket=UPLOADS, Key=path.relative_to(day.folder).as_posix(), Body=path.read_bytes())


def score(truth: dict[str, dict], rows: list[dict]) -> dict:
    """How the decisions compare with the truth: precision of automatic credits, share decided automatically."""
    by_id = {row["review_id"]: row for row in rows}
    good = [rid for rid, t in truth.items() if t["broken"] is None]
    auto = [rid for rid in good if by_id.get(rid, {}).get("decided_by") == "model"]
    credited = [rid for rid in auto if by_id[rid]["decision"] == "credited"]
    refused = [rid for rid in auto if by_id[rid]["decision"] == "refused"]
    return {
        "reviews": len(truth), "good": len(good),
        "auto_credited": len(credited), "auto_refused": len(refused),
        "precision_auto_credits": (sum(truth[r]["deserves"] for r in credited) / len(credited)) if credited else None,
        "accuracy_auto_refusals": (sum(not truth[r]["deserves"] for r in refused) / len(refused)) if refused else None,
        "share_automated": len(auto) / len(good) if good else None,
        "broken_reported": sum(by_id.get(rid, {}).get("decision") == "error"
                               for rid, t in truth.items() if t["broken"]),
        "broken": sum(t["broken"] is not None for t in truth.values()),
    }


def promote_demo_model(project: str | Path, *, per_class: int = 100, epochs: int = 10, size: int = 32,
                       seed: int = 5, datasets: str = DATASETS) -> str:
    """Train a review classifier on generated photos in `project`'s local SageMaker and register it
    Approved in model package group review-classifier (CONTRACT-ml's "promoted model"); its package ARN."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from engine.aws import LocalAWS

    project = Path(project)
    with tempfile.TemporaryDirectory(prefix="review-day-") as scratch:
        labelled = _drawing().make_set(Path(scratch) / "set", per_class=per_class, seed=seed, size=64,
                                       bucket=datasets, prefix="demo/", name="demo")
        with LocalAWS(project / ".stepsmith") as aws:
            if datasets not in {b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]}:
                aws.create_bucket(datasets)
            s3 = aws.client("s3")
            for path in sorted(labelled.folder.rglob("*")):
                if path.is_file():
                    s3.put_object(Bucket=datasets, Key="demo/" + path.relative_to(labelled.folder).as_posix(),
                                  Body=path.read_bytes())
            sagemaker = aws.client("sagemaker")
            name = f"demo-review-classifier-{int(time.time())}"
            sagemaker.create_training_job(
                TrainingJobName=name, RoleArn=TRAINING_ROLE,
                HyperParameters={"epochs": str(epochs), "image-size": str(size), "batch-size": "16"},
                AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
                InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
                    "S3DataType": "AugmentedManifestFile", "S3Uri": f"s3://{datasets}/demo/output.manifest",
                    "AttributeNames": ["source-ref", "review-class", "review-class-metadata"]}}}],
                OutputDataConfig={"S3OutputPath": f"s3://{datasets}/demo-models/"},
                ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
                StoppingCondition={"MaxRuntimeInSeconds": 3600})
            while (job := sagemaker.describe_training_job(TrainingJobName=name))["TrainingJobStatus"] in (
                    "InProgress", "Stopping"):
                time.sleep(0.2)
            if job["TrainingJobStatus"] != "Completed":
                raise RuntimeError(f"training {name} failed: {job.get('FailureReason')}")
            return register(aws, job)


def register(aws, job: dict, *, status: str = "Approved") -> str:
    """CreateModelPackage for a finished training job, as retrain-and-promote records a candidate."""
    sagemaker = aws.client("sagemaker")
    if not sagemaker.list_model_package_groups(NameContains="review-classifier")["ModelPackageGroupSummaryList"]:
        sagemaker.create_model_package_group(ModelPackageGroupName="review-classifier")
    return sagemaker.create_model_package(
        ModelPackageGroupName="review-classifier", ModelApprovalStatus=status,
        InferenceSpecification={"Containers": [{"Image": IMAGE,
                                                "ModelDataUrl": job["ModelArtifacts"]["S3ModelArtifacts"]}],
                                "SupportedContentTypes": ["application/x-image"],
                                "SupportedResponseMIMETypes": ["application/json"]},
        CustomerMetadataProperties={"training_job": job["TrainingJobName"], "macro_f1": "unmeasured",
                                    "production_macro_f1": "none",
                                    "decision": "promoted" if status == "Approved" else "rejected",
                                    "reason": "bench/review_day.py demo model"})["ModelPackageArn"]


class Reviewer(threading.Thread):
    """A review tool: reads the human-review queue of the run in progress (in this process) and answers each
    task with `answer(message)`, or never answers it when that returns None. Plain boto3, as on AWS."""

    def __init__(self, answer: Callable[[dict], dict | None]) -> None:
        super().__init__(daemon=True)
        self.answer = answer
        self.seen: list[dict] = []
        self.stop = threading.Event()

    def run(self) -> None:
        session = None
        while not self.stop.is_set():
            try:
                session = self._read_queue(session)
            except Exception:  # noqa: BLE001 - the run's local AWS started or stopped meanwhile
                session = None
            self.stop.wait(0.05)

    def _read_queue(self, session: tuple | None) -> tuple | None:
        """One look at the queue; the clients and queue URLs are made once per local AWS session and kept:
        a boto3 client costs ~3 ms of CPU to make (measured here), and a tool polling 20 times a second would
        otherwise take ~6 % of a core from the run it is measured beside."""
        import boto3

        from engine.aws import providers

        active = providers._active
        if active is None:   # only ever the local AWS of a run in this process, never an account
            return None
        if session is None or session[0] is not active:
            session = (active, boto3.client("sqs", region_name="us-east-1"),
                       boto3.client("stepfunctions", region_name="us-east-1"), [])
        _, sqs, stepfunctions, urls = session
        if not urls:
            urls.extend(url for url in sqs.list_queues().get("QueueUrls", []) if "humanreviewtasks" in url.lower())
        for url in urls:
            for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
                body = json.loads(message["Body"])
                self.seen.append(body)
                output = self.answer(body)
                if output is not None:
                    stepfunctions.send_task_success(taskToken=body["task_token"], output=json.dumps(output))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return session


def truthful(truth: dict[str, dict]) -> Callable[[dict], dict]:
    """A person who classes every photo right."""
    return lambda task: {"classes": [truth[task["review_id"]]["classes"][photo["n"]] for photo in task["photos"]]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, nargs="?", help="the folder to write (not with --quick)")
    parser.add_argument("--date", default="2026-12-03", help="the day (YYYY-MM-DD)")
    parser.add_argument("--reviews", type=int, default=200)
    parser.add_argument("--size", type=int, default=64, help="photo width and height in pixels")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--broken", type=float, default=0.04, help="share of broken reviews (0-1)")
    parser.add_argument("--quick", action="store_true", help="a day of 12 small reviews in a temporary folder (CI)")
    parser.add_argument("--promote", action="store_true",
                        help="train a demo classifier in this project's local SageMaker and register it Approved")
    parser.add_argument("--per-class", type=int, default=100, help="--promote: training photos per class")
    parser.add_argument("--epochs", type=int, default=10, help="--promote: training epochs")
    args = parser.parse_args()
    if args.promote:
        print(promote_demo_model(Path.cwd(), per_class=args.per_class, epochs=args.epochs))
        return
    if args.quick:
        with tempfile.TemporaryDirectory() as folder:
            day = make_day(folder, date=args.date, reviews=12, size=32, broken=0.25, seed=args.seed)
            photos = list((day.folder / day.prefix / "images").iterdir())
            print(f"--quick: {len(day.truth)} reviews, {len(photos)} photos, "
                  f"{sum(t['broken'] is not None for t in day.truth.values())} broken")
            raise SystemExit(0 if len(day.truth) == 12 and photos else 1)
    if args.out is None:
        parser.error("the output folder is required (or --quick)")
    day = make_day(args.out, date=args.date, reviews=args.reviews, size=args.size, seed=args.seed,
                   broken=args.broken)
    kinds = {kind: sum(t["broken"] == kind for t in day.truth.values()) for kind in BROKEN}
    print(f"{len(day.truth)} reviews of {day.date} in {day.folder / 'reviews'} "
          f"(broken: {', '.join(f'{n} {kind}' for kind, n in kinds.items())}); truth in {day.folder / 'truth.json'}")


if __name__ == "__main__":
    main()
