"""Benchmark review inspection (workflows/review-inspection.yaml) with the demo classifier, in one run:

1. batch transform: the local Batch Transform over a day's photos (one image per request; one request at a
   time, and four as the workflow sends them) in images/s, against the inference script's input_fn →
   predict_fn → output_fn called in a plain loop over the same images in the same environment (target:
   ≤ 1.2×). The job's own times split the model server's start (the image's Python, MXNet, the model)
   from its serving;
2. a day end to end: `stepsmith run review-inspection` over a generated day of reviews (2,000 by default),
   a review tool answering every doubtful review with the true classes, the time split by step;
3. the decisions against the true labels: precision of automatic credits and the share of reviews the
   model decided, at the spec's confidence threshold, and what other thresholds would give on the same
   answers.

    python bench/review_inspection.py                  # demo model (100 photos a class, 10 epochs), 2,000 reviews
    python bench/review_inspection.py --reviews 500    # a smaller day
    python bench/review_inspection.py --quick          # 12 photos a class, 2 epochs, 30 reviews (CI)
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))   # before bench/ (this script's folder), whose engine.py is a benchmark
sys.path.insert(1, str(ROOT / "handlers"))

from review_inspection.rules import CreditRules, Photo, prediction

from engine.aws import LocalAWS
from engine.aws.providers.sagemaker_images import image_python, local_image

DATE = "2026-12-03"
UPLOADS = "stepsmith-reviewuploadsbucket"
PREDICTIONS = "stepsmith-reviewpredictionsbucket"
TABLE = "stepsmith-ReviewDecisionsTable"
THRESHOLD = 0.9                                  # the spec's ConfidenceThreshold default
RULES = '{"Product": ["product"], "Style": ["full-length"]}'

# The baseline: the inference script's chain over every image, in the image's environment, model loaded once.
_LOOP = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
import inference
model = inference.model_fn(sys.argv[2])
bodies = [open(p, "rb").read() for p in sys.argv[3:]]
for body in bodies[:5]:    # warm-up, as the server's first requests
    inference.output_fn(inference.predict_fn(inference.input_fn(body, "application/x-image"), model), "application/json")
start = time.perf_counter()
for body in bodies:
    inference.output_fn(inference.predict_fn(inference.input_fn(body, "application/x-image"), model), "application/json")
print(time.perf_counter() - start)
"""


def _module(name: str):
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def run_day(project: Path, truth: dict) -> tuple[float, dict, object]:
    """`stepsmith run review-inspection` with a truthful review tool; (seconds, history record, reviewer)."""
    from click.testing import CliRunner

    from engine.commands import run

    review_day = _module("review_day")
    reviewer = review_day.Reviewer(review_day.truthful(truth))
    here = Path.cwd()
    os.chdir(project)
    reviewer.start()
    try:
        started = time.perf_counter()
        result = CliRunner().invoke(run, ["review-inspection", "--input", json.dumps({"date": DATE}),
                                          "--name", "bench-day", "-q"], catch_exceptions=False)
        seconds = time.perf_counter() - started
    finally:
        reviewer.stop.set()
        reviewer.join()
        os.chdir(here)
    if result.exit_code != 0:
        sys.exit(f"the day's run failed:\n{result.output[-3000:]}")
    record = json.loads((project / ".stepsmith" / "executions" / "bench-day.json").read_text())
    return seconds, record, reviewer


def step_times(record: dict) -> dict[str, float]:
    """Seconds in each top-level state, from the execution's history (entered → exited)."""
    entered: dict[str, float] = {}
    spent: dict[str, float] = {}
    for event in record["events"]:
        details = event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails")
        if not details:
            continue
        moment = _seconds(event["timestamp"])
        if event["type"].endswith("StateEntered"):
            entered.setdefault(details["name"], moment)
        elif details["name"] in entered:
            spent[details["name"]] = spent.get(details["name"], 0.0) + moment - entered.pop(details["name"])
    return spent


def _seconds(stamp: object) -> float:
    from datetime import datetime

    return datetime.fromisoformat(str(stamp)).timestamp() if not isinstance(stamp, int | float) else float(stamp)


def rows(project: Path) -> list[dict]:
    from boto3.dynamodb.types import TypeDeserializer

    reader = TypeDeserializer()
    found, start = [], None
    with LocalAWS(project / ".stepsmith") as aws:
        client = aws.client("dynamodb")
        while True:
            page = client.scan(TableName=TABLE, **({"ExclusiveStartKey": start} if start else {}))
            found += [{k: reader.deserialize(v) for k, v in item.items()} for item in page["Items"]]
            start = page.get("LastEvaluatedKey")
            if not start:
                return found


def answers(project: Path, day) -> dict[str, dict]:
    """The workflow's transform answers (`<photo>.out`), by photo key."""
    base = project / ".stepsmith" / "s3" / PREDICTIONS / "runs" / f"dt={DATE}" / "bench-day" / "predictions"
    return {f"{day.prefix}{path.relative_to(base).as_posix().removesuffix('.out')}": json.loads(path.read_text())
            for path in base.rglob("*.out")}


def sweep(day, predicted: dict[str, dict]) -> tuple[list[tuple[float, float | None, float, int]], int]:
    """(threshold, precision of automatic credits, share automated, automatic credits) on the same answers;
    and how many good reviews had an answer for every photo."""
    table = []
    for threshold in (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99):
        rules = CreditRules.from_text(RULES, str(threshold))
        credited = right = automated = good = 0
        for review_id, truth in day.truth.items():
            if truth["broken"]:
                continue
            keys = [f"{day.prefix}images/{review_id}-{n}.jpg" for n in range(len(truth["classes"]))]
            if not all(key in predicted for key in keys):
                continue
            good += 1
            photos: list[Photo] = [prediction(predicted[key]) for key in keys]
            verdict = rules.judge(truth["type"], photos)
            if verdict.decision != "doubtful":
                automated += 1
            if verdict.decision == "credited":
                credited += 1
                right += truth["deserves"]
        table.append((threshold, right / credited if credited else None, automated / good if good else 0.0, credited))
    return table, good


def transform_against_loop(project: Path, day, package: str, rounds: int) -> dict:
    """The local batch transform vs the inference chain in a plain loop over the same photos.

    A job's serving time is the service's own: TransformStartTime (its model server answers) to
    TransformEndTime; the server's start (the image's Python, MXNet, the model) is CreationTime to
    TransformStartTime, reported apart. The jobs and the loop take turns for `rounds` rounds and each
    keeps its fastest: on a shared machine the fastest run is the one least disturbed."""
    photos = sorted(path for path in (day.folder / day.prefix / "images").glob("*.jpg")
                    if path.read_bytes()[:3] == b"\xff\xd8\xff")
    manifest = [{"prefix": f"s3://{UPLOADS}/{day.prefix}images/"}, *[path.name for path in photos]]
    timings: dict = {"photos": len(photos), "rounds": rounds}
    image = local_image(_module("review_day").IMAGE, ROOT)
    environment = image_python(image)
    with LocalAWS(project / ".stepsmith") as aws, tempfile.TemporaryDirectory(prefix="bench-model-") as model_dir:
        s3, sagemaker = aws.client("s3"), aws.client("sagemaker")
        s3.put_object(Bucket=PREDICTIONS, Key="bench/all.manifest", Body=json.dumps(manifest).encode())
        role = "arn:aws:iam::111111111111:role/bench"
        sagemaker.create_model(ModelName="bench-transform", ExecutionRoleArn=role,
                               PrimaryContainer={"ModelPackageName": package})
        artifact = sagemaker.describe_model_package(ModelPackageName=package)[
            "InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
        bucket, key = artifact.removeprefix("s3://").split("/", 1)
        with tarfile.open(project / ".stepsmith" / "s3" / bucket / key) as archive:
            archive.extractall(model_dir, filter="data")
        for round_ in range(rounds):
            for name, in_flight in (("one-at-a-time", 1), ("four-in-flight", 4)):
                job_name = f"bench-{name}-{round_}"
                sagemaker.create_transform_job(
                    TransformJobName=job_name, ModelName="bench-transform", BatchStrategy="SingleRecord",
                    MaxConcurrentTransforms=in_flight,
                    TransformInput={"ContentType": "application/x-image", "SplitType": "None", "DataSource": {
                        "S3DataSource": {"S3DataType": "ManifestFile",
                                         "S3Uri": f"s3://{PREDICTIONS}/bench/all.manifest"}}},
                    TransformOutput={"S3OutputPath": f"s3://{PREDICTIONS}/bench/{job_name}/",
                                     "Accept": "application/json"},
                    TransformResources={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1})
                while (job := sagemaker.describe_transform_job(TransformJobName=job_name))[
                        "TransformJobStatus"] == "InProgress":
                    time.sleep(0.05)
                if job["TransformJobStatus"] != "Completed":
                    sys.exit(f"transform {job_name} failed: {job.get('FailureReason')}")
                serving = (job["TransformEndTime"] - job["TransformStartTime"]).total_seconds()
                timings[name] = min(serving, timings.get(name, serving))
                start = (job["TransformStartTime"] - job["CreationTime"]).total_seconds()
                timings["start"] = min(start, timings.get("start", start))
            done = subprocess.run([str(environment.python), "-c", _LOOP, str(image.code_dir), model_dir,
                                   *map(str, photos)], capture_output=True, text=True, check=True)
            loop = float(done.stdout.split()[-1])
            timings["loop"] = min(loop, timings.get("loop", loop))
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny inputs, one repetition (CI)")
    parser.add_argument("--reviews", type=int, default=2000, help="reviews in the generated day")
    parser.add_argument("--per-class", type=int, default=100, help="the demo model's training photos per class")
    parser.add_argument("--epochs", type=int, default=10, help="the demo model's training epochs")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of transform jobs and loop, fastest kept")
    args = parser.parse_args()
    reviews, per_class, epochs = (30, 12, 2) if args.quick else (args.reviews, args.per_class, args.epochs)
    review_day = _module("review_day")

    def say(text: str) -> None:
        print(f"… {text}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-review-inspection-") as scratch:
        project = review_day.new_project(Path(scratch) / "project")
        say(f"training the demo model ({per_class} photos a class, {epochs} epochs)")
        started = time.perf_counter()
        package = review_day.promote_demo_model(project, per_class=per_class, epochs=epochs)
        training = time.perf_counter() - started
        day = review_day.make_day(Path(scratch) / "day", date=DATE, reviews=reviews, size=64, seed=23)
        review_day.upload_day(project, day)
        say(f"inspecting a day of {reviews} reviews")

        seconds, record, reviewer = run_day(project, day.truth)
        spent = step_times(record)
        scored = review_day.score(day.truth, rows(project))
        predicted = answers(project, day)
        table, answered = sweep(day, predicted)
        say("batch transform against the inference chain in a loop")
        timings = transform_against_loop(project, day, package, rounds=1 if args.quick else args.rounds)

    print(f"demo model: {per_class} photos a class, {epochs} epochs, trained in {training:.1f} s")
    n, loop = timings["photos"], timings["loop"]
    print(f"batch transform of {n} photos, once its model server answers (the job's TransformStartTime → "
          f"TransformEndTime; the server's start apart, {timings['start']:.2f} s), fastest of {timings['rounds']} "
          "rounds taken in turns:")
    for name in ("one-at-a-time", "four-in-flight"):
        print(f"  {name:15s} {timings[name]:6.2f} s = {n / timings[name]:6.1f} images/s: "
              f"{timings[name] / loop:.2f}x the loop (target ≤ 1.2x)")
    print(f"  input_fn→predict_fn→output_fn in a plain loop: {loop:.2f} s = {n / loop:.1f} images/s")
    execution = _seconds(record["stopDate"]) - _seconds(record["startDate"])
    chained = ", ".join(f"{item['stateMachine']} {item['status']}" for item in record.get("startedExecutions", []))
    print(f"a day of {reviews} reviews end to end: {execution:.1f} s the execution "
          f"({reviews / execution:.1f} reviews/s); {seconds:.1f} s wall with what its writes started"
          f"{f' ({chained}: people labelled photos, so retraining ran)' if chained else ''}; by step:")
    for name in ("Find the production model", "Plan the day", "Make the model", "Classify the photos",
                 "Decide each review", "Summarise the day"):
        if name in spent:
            print(f"  {name:28s} {spent[name]:7.2f} s")
    print(f"  people asked: {len(reviewer.seen)} reviews (answered at once, truthfully, by the bench's review tool)")
    precision = scored["precision_auto_credits"]
    print(f"against the true labels at threshold {THRESHOLD}: precision of automatic credits "
          f"{'n/a' if precision is None else f'{precision:.3f}'} ({scored['auto_credited']} credited by the model), "
          f"share automated {scored['share_automated']:.1%} of {scored['good']} good reviews (targets ≥ 0.98 and "
          f"≥ 70 %); broken reviews reported {scored['broken_reported']}/{scored['broken']}")
    print(f"the same answers at other thresholds ({answered} good reviews; threshold: precision of automatic "
          "credits, share automated):")
    for threshold, share_precision, automated, credited in table:
        shown = "n/a" if share_precision is None else f"{share_precision:.3f}"
        print(f"  {threshold:.2f}: {shown} ({credited} credits), {automated:.1%}")


if __name__ == "__main__":
    main()
