"""Task dispatch overhead: a handler called directly vs. through LambdaRunner and a whole local execution.

    .venv/bin/python bench/runtime.py [--n 500]
    .venv/bin/python bench/runtime.py --quick     # tiny inputs, one repetition: proves it runs (CI)

Prints mean times and ratios against the direct call measured in the same run, plus LocalAWS start/stop.
"""
from __future__ import annotations

import argparse
import json
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="tiny inputs, one repetition (CI: it runs; no figures)")
    args = parser.parse_args()
    n = 2 if args.quick else args.n

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
        invoke = mean_seconds(lambda: runner.invoke(function, {"x": 1}), n)
        dispatcher = LocalDispatcher(app, runner=runner)
        greet = app.functions["DemoGreetFunction"].arn
        definition = {"StartAt": "A", "States": {
            "A": {"Type": "Task", "Resource": greet, "ResultPath": "$.a", "Next": "B"},
            "B": {"Type": "Task", "Resource": greet, "ResultPath": "$.b", "Next": "C"},
            "C": {"Type": "Task", "Resource": greet, "ResultPath": "$.c", "End": True}}}
        text = json.dumps({"name": "bench"})
        execution = mean_seconds(lambda: execute(definition, text, dispatcher=dispatcher), max(1, n // 10))
    restart = mean_seconds(lambda: LocalAWS(ROOT / "build" / "bench-state", app=app, persist=False)
                           .__enter__().__exit__(None, None, None), 5)

    print(f"direct handler call            {direct * 1e6:10.1f} µs   1.0×")
    print(f"LambdaRunner.invoke            {invoke * 1e6:10.1f} µs   {invoke / direct:,.0f}× direct")
    print(f"execute: 3 Lambda tasks        {execution * 1e3:10.2f} ms   {execution / invoke:.1f}× one invoke")
    print(f"LocalAWS first start (app)     {first_start * 1e3:10.1f} ms")
    print(f"LocalAWS start+stop, warm      {restart * 1e3:10.1f} ms")


if __name__ == "__main__":
    main()
