"""What checking IAM locally costs: the same boto3 calls, as a function's role, with and without the check.

    .venv/bin/python bench/iam.py [--n 300]
    .venv/bin/python bench/iam.py --quick     # tiny inputs, one repetition: proves it runs (CI)

Prints median times per call and the ratio against the unchecked call measured in the same session, the
decision alone (operation → authorizations → policy evaluation), and reading the roles (once per session).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FIXTURE = ROOT / "tests" / "engine" / "runtime" / "fixtures" / "app"

from runtime import mean_seconds  # bench/runtime.py: this folder is on sys.path when a benchmark runs


def interleaved(app, n: int) -> dict[str, float]:
    """Median seconds per call, checked and unchecked calls alternating in one session (the machine is
    shared and moto's speed drifts, so separate runs would compare the drift, not the check)."""
    from engine.aws import LocalAWS
    from engine.aws.access import acting_as

    function = app.functions["DemoWriteFunction"]   # its role may s3:PutObject in the data bucket
    bucket = app.buckets["DataBucket"]
    samples: dict[str, list[float]] = {"put off": [], "put on": [], "head off": [], "head on": []}
    with LocalAWS(ROOT / "build" / "bench-iam-state", app=app, persist=False) as aws:
        s3, permissions = aws.client("s3"), aws.permissions
        s3.put_object(Bucket=bucket, Key="warm", Body=b"x")
        with acting_as(function.arn):
            s3.put_object(Bucket=bucket, Key="k", Body=b"x")      # reads the roles once
            for index in range(2 * n):
                mode = "on" if index % 2 else "off"
                aws.permissions = permissions if mode == "on" else None
                started = time.perf_counter()
                s3.put_object(Bucket=bucket, Key="k", Body=b"x")
                samples[f"put {mode}"].append(time.perf_counter() - started)
                started = time.perf_counter()
                _head_or_denied(s3, bucket)
                samples[f"head {mode}"].append(time.perf_counter() - started)
        aws.permissions = permissions
    return {name: statistics.median(values) for name, values in samples.items()}


def _head_or_denied(s3, bucket: str) -> None:
    from botocore.exceptions import ClientError

    try:
        s3.head_object(Bucket=bucket, Key="warm")    # s3:GetObject: not granted to this role
    except ClientError:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="tiny inputs, one repetition (CI: it runs; no figures)")
    args = parser.parse_args()
    n = 2 if args.quick else args.n
    if args.quick:
        print("--quick: tiny inputs, one repetition; the figures show that it runs, not how fast.")

    from engine.app import App
    from engine.aws.access import Permissions
    from engine.aws.requests import authorizations

    app = App.load(FIXTURE, stack="bench")
    times = interleaved(app, n)
    put_off, put_on, head_off, head_on = (times[name] for name in ("put off", "put on", "head off", "head on"))
    caller = (app.functions["DemoWriteFunction"].arn, None)
    started = time.perf_counter()
    permissions = Permissions(app)
    permissions.principal(*caller)     # reads the template: once per LocalAWS session, on its first checked call
    first = time.perf_counter() - started
    params = {"Bucket": app.buckets["DataBucket"], "Key": "k", "Body": b"x"}
    decide = mean_seconds(lambda: permissions.refusal(
        caller, "s3", authorizations("s3", "s3", "PutObject", params, app.region, app.account)), n * 10)

    print(f"s3 PutObject, IAM off          {put_off * 1e6:10.1f} µs   1.00×")
    print(f"s3 PutObject, IAM checked      {put_on * 1e6:10.1f} µs   {put_on / put_off:.2f}× unchecked")
    print(f"s3 HeadObject, IAM off         {head_off * 1e6:10.1f} µs   1.00×")
    print(f"s3 HeadObject, refused by IAM  {head_on * 1e6:10.1f} µs   {head_on / head_off:.2f}× unchecked (answered)")
    print(f"the decision alone             {decide * 1e6:10.1f} µs   {decide / put_off:.3f}× an unchecked PutObject")
    print(f"roles read, once per session   {first * 1e3:10.1f} ms")


if __name__ == "__main__":
    main()
