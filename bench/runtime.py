"""Task dispatch overhead: a handler called directly vs. a warm and a cold local Lambda invoke and a whole
local execution; a Map over 100 items of 50 ms work at MaxConcurrency 10 against the ideal; and loading
and saving local state (`.stepsmith/`) of 5,000 S3 objects and 2,000 DynamoDB items.

    .venv/bin/python bench/runtime.py [--n 500] [--cold 5] [--items 100] [--objects 5000] [--rows 2000]
    .venv/bin/python bench/runtime.py --quick     # tiny inputs, one repetition: proves it runs (CI)

Prints mean times and ratios against the direct call measured in the same run, plus LocalAWS start/stop.
A cold invoke starts a worker process and imports the handler (Lambda's init phase); a warm one reuses it.
The Map's ideal is ⌈items / concurrency⌉ × 50 ms: what perfectly overlapped work would take. Local state
is measured against the same objects and items put, listed and scanned through the boto3 API in the same
run (how it was loaded and saved before it went straight through moto's backends).
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FIXTURE = ROOT / "tests" / "engine" / "runtime" / "fixtures" / "app"


def mean_seconds(fn, n: int) -> float:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.mean(samples)


def state_against_api(app, objects: int, rows: int) -> dict[str, float]:
    """Seconds to load and to save (nothing changed) a state of `objects` 2 KB objects and `rows` items, and
    the same work through the boto3 API: PutObject and BatchWriteItem to load, ListObjectsV2 and Scan to save."""
    import os
    import tempfile

    from engine.aws import LocalAWS
    from engine.aws.state import load_state, save_state

    bucket, table = "bench-databucket", "bench-ItemsTable"   # the fixture app's, in stack "bench"
    items = [{"id": {"S": f"review-{i:06}"}, "score": {"N": str(i / 7)}, "tags": {"SS": ["a", "b"]}}
             for i in range(rows)]
    with tempfile.TemporaryDirectory(prefix="bench-state-") as scratch:
        state = Path(scratch) / ".stepsmith"
        with LocalAWS(state, app=app) as aws:      # saved as a run would leave it
            with aws.moto_s3() as backend:
                for i in range(objects):
                    backend.put_object(bucket, f"photos/{i:06}.jpg", os.urandom(2048))
            with aws.moto_dynamodb() as backend:
                for item in items:
                    backend.put_item(table, item)
            aws.touched.update(("s3", "dynamodb"))
        times = {}
        with LocalAWS(state, app=app, persist=False) as aws:     # started and provisioned; loaded below
            started = time.perf_counter()
            loaded = load_state(aws, state)
            times["load"] = time.perf_counter() - started
            assert (len(loaded["s3"][bucket]), len(loaded["dynamodb"][table])) == (objects, rows)
            aws.touched.update(("s3", "dynamodb"))
            started = time.perf_counter()
            save_state(aws, state, loaded)
            times["save"] = time.perf_counter() - started
        files = sorted(path for path in (state / "s3" / bucket).rglob("*") if path.is_file())
        with LocalAWS(state, app=app, persist=False) as aws:
            s3, dynamodb = aws.client("s3"), aws.client("dynamodb")
            started = time.perf_counter()
            for path in files:
                s3.put_object(Bucket=bucket, Key=path.relative_to(state / "s3" / bucket).as_posix(),
                              Body=path.read_bytes(), ContentType="image/jpeg")
            for start in range(0, len(items), 25):
                dynamodb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": item}}
                                                                for item in items[start:start + 25]]})
            times["load_api"] = time.perf_counter() - started
            started = time.perf_counter()
            listed = sum(len(page.get("Contents", []))
                         for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket))
            scanned = sum(len(page["Items"]) for page in dynamodb.get_paginator("scan").paginate(TableName=table))
            times["save_api"] = time.perf_counter() - started
            assert (listed, scanned) == (objects, rows), (listed, scanned)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--cold", type=int, default=5, help="cold invokes to time")
    parser.add_argument("--items", type=int, default=100, help="Map items (50 ms of work each)")
    parser.add_argument("--objects", type=int, default=5000, help="S3 objects in the local state to load and save")
    parser.add_argument("--rows", type=int, default=2000, help="DynamoDB items in the local state to load and save")
    parser.add_argument("--quick", action="store_true", help="tiny inputs, one repetition (CI: it runs; no figures)")
    args = parser.parse_args()
    n = 2 if args.quick else args.n
    cold_n = 1 if args.quick else args.cold
    items = 4 if args.quick else args.items

    if args.quick:
        print("--quick: tiny inputs, one repetition; the figures show that it runs, not how fast.")
    from engine import execute
    from engine.app import App
    from engine.aws import LocalAWS
    from engine.tasks import LambdaRunner, LocalDispatcher

    app = App.load(FIXTURE, stack="bench")
    started = time.perf_counter()
    with LocalAWS(ROOT / "build" / "bench-state", app=app, persist=False):
        first_start = time.perf_counter() - started
        function = app.functions["DemoCountFunction"]
        sys.path.insert(0, str(function.code_uri))
        import demo

        direct = mean_seconds(lambda: demo.count({}, None), n)
        runner = LambdaRunner()

        def cold_invoke() -> None:
            LambdaRunner.shutdown()
            runner.invoke(function, {"x": 1})

        cold = mean_seconds(cold_invoke, cold_n)
        invoke = mean_seconds(lambda: runner.invoke(function, {"x": 1}), n)
        dispatcher = LocalDispatcher(app, runner=runner)
        greet = app.functions["DemoGreetFunction"].arn
        definition = {"StartAt": "A", "States": {
            "A": {"Type": "Task", "Resource": greet, "ResultPath": "$.a", "Next": "B"},
            "B": {"Type": "Task", "Resource": greet, "ResultPath": "$.b", "Next": "C"},
            "C": {"Type": "Task", "Resource": greet, "ResultPath": "$.c", "End": True}}}
        text = json.dumps({"name": "bench"})
        execute(definition, text, dispatcher=dispatcher)   # its function's worker starts warm, as the others
        execution = mean_seconds(lambda: execute(definition, text, dispatcher=dispatcher), max(1, n // 10))
        slow = app.functions["DemoSlowFunction"].arn
        concurrency = 10
        fan_out = {"StartAt": "M", "States": {"M": {
            "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": concurrency, "End": True,
            "ItemProcessor": {"StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": slow, "End": True}}}}}}
        work = json.dumps({"items": [{"seconds": 0.05}] * items})
        LambdaRunner.shutdown()
        map_cold = mean_seconds(lambda: execute(fan_out, work, dispatcher=dispatcher), 1)
        map_warm = mean_seconds(lambda: execute(fan_out, work, dispatcher=dispatcher), 1 if args.quick else 3)
        LambdaRunner.shutdown()
    restart = mean_seconds(lambda: LocalAWS(ROOT / "build" / "bench-state", app=app, persist=False)
                           .__enter__().__exit__(None, None, None), 5)
    objects, rows = (20, 10) if args.quick else (args.objects, args.rows)
    state = state_against_api(app, objects, rows)

    print(f"direct handler call            {direct * 1e6:10.1f} µs   1.0×")
    print(f"Lambda invoke, warm            {invoke * 1e6:10.1f} µs   {invoke / direct:,.0f}× direct "
          f"(overhead {(invoke - direct) * 1e3:.2f} ms)")
    print(f"Lambda invoke, cold            {cold * 1e3:10.1f} ms   {cold / direct:,.0f}× direct "
          f"({cold / invoke:,.0f}× warm: a worker process starts and imports the handler)")
    print(f"execute: 3 Lambda tasks        {execution * 1e3:10.2f} ms   {execution / invoke:.1f}× one invoke")
    print(f"LocalAWS first start (app)     {first_start * 1e3:10.1f} ms")
    print(f"LocalAWS start+stop, warm      {restart * 1e3:10.1f} ms")
    print(f"state of {objects:,} objects + {rows:,} items: load {state['load']:.2f} s = "
          f"{state['load'] / state['load_api']:.2f}× the API's {state['load_api']:.2f} s (PutObject, BatchWriteItem); "
          f"save, nothing changed, {state['save']:.2f} s = {state['save'] / state['save_api']:.2f}× the API's "
          f"{state['save_api']:.2f} s (ListObjectsV2, Scan)")
    ideal = math.ceil(items / concurrency) * 0.05
    label = f"Map {items}×50 ms, concurrency {concurrency}"
    print(f"{label + ', warm':<31}{map_warm:10.2f} s    {map_warm / ideal:.2f}× ideal ({ideal:.2f} s)")
    print(f"{label + ', cold':<31}{map_cold:10.2f} s    {map_cold / ideal:.2f}× ideal "
          f"(includes {min(items, concurrency)} cold starts)")


if __name__ == "__main__":
    main()
