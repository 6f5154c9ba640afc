"""Where a local SageMaker request's time goes, with the standard-library echo image (a model that costs ~0):

1. one request to the model server over its kept-alive connection, sent by a thread that was idle, by one
   that has just spent 3 ms of CPU (as a thread does after S3 calls through botocore and moto), and by an
   idle thread while another thread of the process keeps a core busy;
2. InvokeEndpoint by layers: the raw HTTP request, the provider function, boto3's sagemaker-runtime client;
3. a batch transform (one record per object, one request at a time): time per object against the raw
   HTTP request in a loop, with the S3 calls' share.

    python bench/sagemaker_overhead.py            # 300 requests a layer, 200 objects
    python bench/sagemaker_overhead.py --quick    # 30 requests, 20 objects (CI)
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "tests" / "engine" / "sagemaker"))

from sagemaker_checks import deploy_model, endpoint_config, settled, stop_endpoints

from engine.aws import LocalAWS
from engine.aws.providers import sagemaker_hosting as hosting


def spin(ms: float) -> None:
    end = time.perf_counter() + ms / 1e3
    while time.perf_counter() < end:
        pass


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1e3


def show(name: str, values: list[float]) -> None:
    print(f"  {name:44s} p50 {percentile(values, 0.5):6.2f} ms  p99 {percentile(values, 0.99):6.2f} ms")


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny inputs, one repetition (CI)")
    args = parser.parse_args()
    requests, objects = (30, 20) if args.quick else (300, 200)
    with tempfile.TemporaryDirectory(prefix="bench-sagemaker-overhead-") as scratch:
        project = Path(scratch)
        shutil.copytree(ROOT / "tests/engine/sagemaker/fixtures/images", project / "images")
        os.chdir(project)
        with LocalAWS(project / ".stepsmith") as aws:
            aws.create_bucket("data")
            try:
                run(aws, requests, objects)
            finally:
                stop_endpoints(aws)


def run(aws: LocalAWS, requests: int, objects: int) -> None:
    deploy_model(aws, "m")
    endpoint_config(aws, "c", "m")
    aws.client("sagemaker").create_endpoint(EndpointName="e", EndpointConfigName="c")
    settled(aws, "e")
    runtime = aws.client("sagemaker-runtime")
    port = hosting.server_state(hosting._current(aws, "e")["_serving"]["variants"]["AllTraffic"])[2]
    body = b'{"x": 3}'

    def post() -> None:
        hosting.post_invocation(port, body, "application/json", "*/*")

    def busy_neighbour() -> None:
        stop = threading.Event()
        neighbour = threading.Thread(target=lambda: [spin(2.5) or time.sleep(0.0003) for _ in iter(stop.is_set, True)])
        neighbour.start()
        return stop, neighbour

    print(f"load average at the start: {load()}")
    modes = {"idle sender": lambda: time.sleep(0.003), "sender that just spent 3 ms of CPU": lambda: spin(3)}
    times: dict[str, list[float]] = {name: [] for name in [*modes, "idle sender, another thread busy"]}
    for _ in range(max(1, requests // 15)):      # interleaved, so each meets the same load
        for name, before in modes.items():
            for _ in range(15):
                before()
                started = time.perf_counter()
                post()
                times[name].append(time.perf_counter() - started)
        stop, neighbour = busy_neighbour()
        for _ in range(15):
            started = time.perf_counter()
            post()
            times["idle sender, another thread busy"].append(time.perf_counter() - started)
        stop.set()
        neighbour.join()
    print("1. one request to the model server (echo model):")
    for name, values in times.items():
        show(name, values)

    layers = {
        "raw HTTP request (post_invocation)": post,
        "provider InvokeEndpoint": lambda: hosting.invoke_endpoint(
            {"EndpointName": "e", "Body": body, "ContentType": "application/json"}, aws),
        "boto3 sagemaker-runtime InvokeEndpoint": lambda: runtime.invoke_endpoint(
            EndpointName="e", Body=body, ContentType="application/json")["Body"].read(),
    }
    times = {name: [] for name in layers}
    for _ in range(max(1, requests // 10)):
        for name, call in layers.items():
            for _ in range(10):
                started = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - started)
    print(f"2. InvokeEndpoint by layers (back to back), load {load()}:")
    for name, values in times.items():
        show(name, values)

    s3, sagemaker = aws.client("s3"), aws.client("sagemaker")
    for i in range(objects):
        s3.put_object(Bucket="data", Key=f"in/all/{i:04d}.json", Body=json.dumps({"x": i}).encode())
    s3.put_object(Bucket="data", Key="in/one/0.json", Body=body)

    def job(name: str, prefix: str) -> float:
        started = time.perf_counter()
        sagemaker.create_transform_job(
            TransformJobName=name, ModelName="m", BatchStrategy="SingleRecord", MaxConcurrentTransforms=1,
            TransformInput={"ContentType": "application/json", "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://data/in/{prefix}/"}}},
            TransformOutput={"S3OutputPath": f"s3://data/out/{name}/"},
            TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1})
        while (status := sagemaker.describe_transform_job(TransformJobName=name))["TransformJobStatus"] == \
                "InProgress":
            time.sleep(0.05)
        if status["TransformJobStatus"] != "Completed":
            sys.exit(f"transform {name} failed: {status.get('FailureReason')}")
        return time.perf_counter() - started

    per_object, s3_calls, raw = [], [], []
    for repetition in range(1 if requests < 100 else 3):
        one = job(f"one-{repetition}", "one")
        per_object.append((job(f"all-{repetition}", "all") - one) / max(1, objects - 1))
        started = time.perf_counter()
        for i in range(objects):
            s3.get_object(Bucket="data", Key=f"in/all/{i:04d}.json")["Body"].read()
            s3.put_object(Bucket="data", Key=f"out/loop/{i:04d}.out", Body=body)
        s3_calls.append((time.perf_counter() - started) / objects)
        started = time.perf_counter()
        for _ in range(objects):
            post()
        raw.append((time.perf_counter() - started) / objects)
    print(f"3. batch transform, {objects} objects one request at a time, load {load()}:")
    print("  per object: " + ", ".join(f"{value * 1e3:.2f}" for value in per_object) + " ms; S3 get + put in a "
          "loop: " + ", ".join(f"{value * 1e3:.2f}" for value in s3_calls) + " ms; the raw request in a loop: "
          + ", ".join(f"{value * 1e3:.2f}" for value in raw) + " ms")
    print(f"  median per object {statistics.median(per_object) * 1e3:.2f} ms = "
          f"{statistics.median(per_object) / statistics.median(raw):.1f}x the raw request")


if __name__ == "__main__":
    main()
