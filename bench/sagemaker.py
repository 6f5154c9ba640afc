"""Benchmark the local SageMaker with the review classifier (images/review-classifier), in one run:

1. training: a training job through the local provider vs the same train.py run directly in the same
   environment on the same files (target: ≤ 1.1×); the environment's creation is reported apart (it is
   built once per requirements.txt and cached);
2. serving: InvokeEndpoint p50/p99 through boto3 and the local model server vs the inference script's
   input_fn → predict_fn → output_fn called in-process in the same environment, the two alternating in
   blocks of 10 calls so both meet the same machine load; and, per call, the endpoint's own overhead: the
   client's time minus the time the server spent in the script (target: ≤ 5 ms added at p99);
3. the demo model: training time and macro-F1 / per-class recall on the held-out set, as the training job
   reported them and as the endpoint answers them.

    python bench/sagemaker.py            # 100 images per class, 40 held out, 10 epochs
    python bench/sagemaker.py --quick    # tiny: 12 per class, 2 epochs, 30 invocations (CI)
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))   # before bench/ (this script's folder), whose engine.py is a benchmark

from review_images import CLASSES, make_set

from engine.aws import LocalAWS
from engine.aws.providers.sagemaker_images import image_python, local_image

IMAGE = "111111111111.dkr.ecr.us-east-1.amazonaws.com/review-classifier:latest"
ROLE = "arn:aws:iam::111111111111:role/sagemaker-execution"
METRICS = [{"Name": "validation:macro_f1", "Regex": r"validation_macro_f1=([0-9.]+)"},
           {"Name": "validation:accuracy", "Regex": r"validation_accuracy=([0-9.]+)"},
           *({"Name": f"validation:recall_{name}", "Regex": rf"validation_recall_{name}=([0-9.]+)"} for name in CLASSES)]

# In-process baseline: the inference script's chain, timed inside the image's environment. It answers one
# timing per line of stdin, so the bench alternates it with InvokeEndpoint calls.
_DIRECT = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
import inference
model = inference.model_fn(sys.argv[2])
bodies = [open(p, "rb").read() for p in sys.argv[3:]]
print("ready", flush=True)
for line in sys.stdin:
    body = bodies[int(line) % len(bodies)]
    start = time.perf_counter()
    data = inference.input_fn(body, "application/x-image")
    middle = time.perf_counter()
    prediction = inference.predict_fn(data, model)
    after = time.perf_counter()
    inference.output_fn(prediction, "application/json")
    print(time.perf_counter() - start, after - middle, flush=True)
"""


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def upload(aws: LocalAWS, folder: Path, bucket: str, prefix: str) -> None:
    s3 = aws.client("s3")
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            s3.put_object(Bucket=bucket, Key=f"{prefix}{path.relative_to(folder).as_posix()}", Body=path.read_bytes())


def wait(describe, field: str, moving: tuple[str, ...]) -> dict:
    while True:
        answer = describe()
        if answer[field] not in moving:
            return answer
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny inputs, one repetition (CI)")
    args = parser.parse_args()
    per_class, held_out, epochs, invocations = (12, 6, 2, 30) if args.quick else (100, 40, 10, 300)

    image = local_image(IMAGE, ROOT)
    started = time.monotonic()
    environment = image_python(image)
    print(f"image environment ({image.name}): "
          + (f"built in {environment.build_seconds:.1f} s" if environment.build_seconds
             else f"cached, found in {time.monotonic() - started:.2f} s") + f" — {environment.python.parent.parent}")

    with tempfile.TemporaryDirectory(prefix="bench-sagemaker-") as scratch:
        project = Path(scratch)
        (project / "images").symlink_to(ROOT / "images")
        train_set = make_set(project / "data/train", per_class=per_class, seed=7, size=64, bucket="datasets",
                             prefix="reviews/train/", name="train")
        held_set = make_set(project / "data/held-out", per_class=held_out, seed=1007, size=64, bucket="datasets",
                            prefix="reviews/held-out/", name="held")
        with LocalAWS(project / ".stepsmith") as aws:
            aws.create_bucket("datasets")
            upload(aws, project / "data/train", "datasets", "reviews/train/")
            upload(aws, project / "data/held-out", "datasets", "reviews/held-out/")
            sagemaker = aws.client("sagemaker")
            channels = [{"ChannelName": name, "DataSource": {"S3DataSource": {
                "S3DataType": "AugmentedManifestFile", "S3Uri": f"s3://datasets/reviews/{folder}/output.manifest",
                "AttributeNames": ["source-ref", "review-class", "review-class-metadata"]}}}
                for name, folder in (("train", "train"), ("validation", "held-out"))]
            hyperparameters = {"epochs": str(epochs), "image-size": "32"}
            job_started = time.monotonic()
            sagemaker.create_training_job(
                TrainingJobName="bench-train", RoleArn=ROLE, HyperParameters=hyperparameters,
                AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File",
                                        "MetricDefinitions": METRICS},
                InputDataConfig=channels, OutputDataConfig={"S3OutputPath": "s3://datasets/models"},
                ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
                StoppingCondition={"MaxRuntimeInSeconds": 3600})
            job = wait(lambda: sagemaker.describe_training_job(TrainingJobName="bench-train"),
                       "TrainingJobStatus", ("InProgress", "Stopping"))
            provider_seconds = time.monotonic() - job_started
            if job["TrainingJobStatus"] != "Completed":
                sys.exit(f"training failed: {job.get('FailureReason')}")
            phases = {t["Status"]: (t["EndTime"] - t["StartTime"]).total_seconds()
                      for t in job["SecondaryStatusTransitions"] if t.get("EndTime")}

            # The same script, run directly in the same environment on the job's own downloaded files.
            ml = aws.state_dir / "sagemaker/training-jobs/bench-train/opt/ml"
            direct_model = project / "direct/model"
            direct_model.mkdir(parents=True)
            (project / "direct/output/data").mkdir(parents=True)
            env = {"SM_CHANNEL_TRAIN": str(ml / "input/data/train"),
                   "SM_CHANNEL_VALIDATION": str(ml / "input/data/validation"),
                   "SM_MODEL_DIR": str(direct_model), "SM_OUTPUT_DIR": str(project / "direct/output"),
                   "SM_OUTPUT_DATA_DIR": str(project / "direct/output/data"), "PATH": "/usr/bin:/bin"}
            direct_started = time.monotonic()
            subprocess.run([str(environment.python), str(ml / "code/train.py"), "--epochs", str(epochs),
                            "--image-size", "32"], env=env, check=True, capture_output=True, cwd=ml / "code")
            direct_seconds = time.monotonic() - direct_started

            artifact = job["ModelArtifacts"]["S3ModelArtifacts"]
            sagemaker.create_model(ModelName="bench-model", ExecutionRoleArn=ROLE,
                                   PrimaryContainer={"Image": IMAGE, "ModelDataUrl": artifact})
            sagemaker.create_endpoint_config(EndpointConfigName="bench-config", ProductionVariants=[{
                "VariantName": "AllTraffic", "ModelName": "bench-model", "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large"}])
            deploy_started = time.monotonic()
            sagemaker.create_endpoint(EndpointName="bench-endpoint", EndpointConfigName="bench-config")
            endpoint = wait(lambda: sagemaker.describe_endpoint(EndpointName="bench-endpoint"), "EndpointStatus",
                            ("Creating",))
            deploy_seconds = time.monotonic() - deploy_started
            try:
                if endpoint["EndpointStatus"] != "InService":
                    sys.exit(f"endpoint failed: {endpoint.get('FailureReason')}")
                runtime = aws.client("sagemaker-runtime")
                paths = sorted((held_set.folder / "images").glob("*.jpg"))
                bodies = [path.read_bytes() for path in paths]
                predictions = {}
                for path, body in zip(paths, bodies, strict=True):      # held-out scoring, and a warm-up
                    answer = runtime.invoke_endpoint(EndpointName="bench-endpoint", Body=body,
                                                     ContentType="application/x-image", Accept="application/json")
                    predictions[path.name] = json.loads(answer["Body"].read())["label"]
                baseline = subprocess.Popen(
                    [str(environment.python), "-c", _DIRECT, str(ml / "code"), str(direct_model), *map(str, paths)],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
                assert baseline.stdin is not None and baseline.stdout is not None
                baseline.stdout.readline()                            # the model is loaded
                latencies, overheads, direct = [], [], {"chain": [], "predict": []}
                # Blocks of 10 calls, baseline then endpoint: both meet the same load over the run, and
                # neither runs while the other's OpenMP threads still spin after a call.
                for block in range(0, invocations + 10, 10):          # the first block of each warms up
                    for i in range(block, block + 10):
                        baseline.stdin.write(f"{i}\n")
                        chain, predict = map(float, baseline.stdout.readline().split())
                        if block:
                            direct["chain"].append(chain)
                            direct["predict"].append(predict)
                    time.sleep(0.3)
                    for i in range(block, block + 10):
                        start = time.perf_counter()
                        response = runtime.invoke_endpoint(
                            EndpointName="bench-endpoint", Body=bodies[i % len(bodies)],
                            ContentType="application/x-image", Accept="application/json")
                        elapsed = time.perf_counter() - start
                        if block:
                            latencies.append(elapsed)
                            model_us = response["ResponseMetadata"]["HTTPHeaders"]["x-stepsmith-model-latency-us"]
                            overheads.append(elapsed - int(model_us) / 1e6)
                    time.sleep(0.3)
                baseline.stdin.close()
                baseline.wait()
            finally:
                sagemaker.delete_endpoint(EndpointName="bench-endpoint")

    final = {m["MetricName"]: m["Value"] for m in job["FinalMetricDataList"]}
    truth = held_set.truth
    recall = {name: sum(1 for f, c in truth.items() if c == name and predictions[f] == c)
              / max(1, sum(1 for c in truth.values() if c == name)) for name in CLASSES}
    precision = {name: sum(1 for f, c in truth.items() if predictions[f] == name and c == name)
                 / max(1, sum(1 for p in predictions.values() if p == name)) for name in CLASSES}
    f1 = {n: 2 * precision[n] * recall[n] / (precision[n] + recall[n]) if precision[n] + recall[n] else 0.0
          for n in CLASSES}
    p50, p99 = percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000
    d50, d99 = percentile(direct["chain"], 0.5) * 1000, percentile(direct["chain"], 0.99) * 1000
    print(f"data: {len(train_set.truth)} training images, {len(truth)} held out, {epochs} epochs at 32 px")
    print(f"training job (provider): {provider_seconds:.1f} s  [" + ", ".join(
        f"{name} {seconds:.1f} s" for name, seconds in phases.items()) + "]")
    print(f"train.py run directly:   {direct_seconds:.1f} s")
    print(f"  ratio provider/direct: {provider_seconds / direct_seconds:.2f}x (target ≤ 1.1x; environment "
          "creation excluded, reported above)")
    print(f"endpoint Creating → InService: {deploy_seconds:.1f} s")
    print(f"InvokeEndpoint ({invocations} calls): p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    print(f"input_fn→predict_fn→output_fn in-process: p50 {d50:.2f} ms, p99 {d99:.2f} ms "
          f"(predict_fn alone p50 {percentile(direct['predict'], 0.5) * 1000:.2f} ms)")
    print(f"  difference: p50 {p50 - d50:+.2f} ms, p99 {p99 - d99:+.2f} ms")
    print(f"  added by the endpoint, per call (client time − the server's time in the script, SageMaker's "
          f"OverheadLatency): p50 {percentile(overheads, 0.5) * 1000:.2f} ms, p99 "
          f"{percentile(overheads, 0.99) * 1000:.2f} ms (target ≤ 5 ms at p99)")
    print(f"demo model: held-out macro-F1 {final.get('validation:macro_f1', float('nan')):.3f} (training job's "
          f"metric), {statistics.fmean(f1.values()):.3f} (through the endpoint); recall " + ", ".join(
              f"{name} {value:.2f}" for name, value in recall.items()))


if __name__ == "__main__":
    main()
