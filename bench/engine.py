"""Benchmark: this engine's ASL interpreter against moto's, in one run, on the same machine.

Measures mean time per execution over the conformance corpus (../shared/conformance, when present),
on a 20-state workflow, and on a 10,000-item Map; prints each engine's time and the ratio moto/ours.

    .venv/bin/python bench/engine.py [--sample N] [--map-items N] [--moto-map-items N]
    .venv/bin/python bench/engine.py --quick     # tiny inputs, one repetition: proves it runs (CI)

moto's interpreter runs every execution in a thread and really sleeps in Wait states, so it is timed
over a sample of corpus cases without Wait states (the same sample is timed for this engine), and its
Map over fewer items (scaled linearly to the 10,000 items; both numbers are printed).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from engine import execute
from engine.asl.definition import clear_cache

CORPUS = os.path.join(ROOT, "..", "shared", "conformance", "aws-recorded.jsonl")


def twenty_states() -> dict:
    """A 20-state workflow: Pass with Parameters/ResultPath, intrinsics, Choice, variables."""
    states: dict = {}
    for i in range(20):
        name, nxt = f"S{i}", f"S{i + 1}"
        if i % 5 == 4:
            states[name] = {"Type": "Choice", "Choices": [
                {"Variable": "$.count", "NumericGreaterThanEquals": 0, "Next": nxt}], "Default": "Fail"}
        elif i % 5 == 2:
            states[name] = {"Type": "Pass", "Assign": {f"v{i}.$": "$.count"},
                            "Parameters": {"count.$": "States.MathAdd($.count, 1)", "tags.$": "$.tags",
                                           "label.$": "States.Format('step {} of {}', $.count, 20)"},
                            "Next": nxt}
        else:
            states[name] = {"Type": "Pass", "Parameters": {"count.$": "States.MathAdd($.count, 1)",
                                                           "tags.$": "$.tags", "step": i},
                            "ResultPath": "$", "Next": nxt}
    states["S19"] = {"Type": "Succeed"}
    states["Fail"] = {"Type": "Fail", "Error": "Negative"}
    return {"StartAt": "S0", "States": states}


def big_map() -> dict:
    return {"StartAt": "M", "States": {"M": {
        "Type": "Map", "ItemsPath": "$.items", "End": True,
        "ItemSelector": {"value.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index"},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Double", "States": {
            "Double": {"Type": "Pass", "Parameters": {"value.$": "States.MathAdd($.value, $.value)",
                                                      "index.$": "$.index"},
                       "OutputPath": "$.value", "End": True}}}}}}


def time_ours(cases: list[tuple[dict, str | None]], repeat: int = 1) -> float:
    """Mean seconds per execution (best of ``repeat`` passes), compiling each definition afresh per pass."""
    best = float("inf")
    for _ in range(repeat):
        clear_cache()
        started = time.perf_counter()
        for definition, value in cases:
            execute(definition, value)
        best = min(best, (time.perf_counter() - started) / len(cases))
    return best


class Moto:
    """moto's Step Functions interpreter, driven through boto3 as a user would."""

    def __init__(self) -> None:
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        import logging

        import boto3
        from moto import mock_aws

        logging.getLogger("moto").setLevel(logging.CRITICAL)  # its interpreter logs every failure it meets
        self.mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        self.mock.start()
        self.sfn = boto3.client("stepfunctions", region_name="us-east-1")
        self.role = "arn:aws:iam::123456789012:role/bench"
        self.count = 0

    def run(self, definition: dict, value: str | None, timeout: float = 600.0) -> str:
        self.count += 1
        arn = self.sfn.create_state_machine(name=f"bench{self.count}", definition=json.dumps(definition),
                                            roleArn=self.role)["stateMachineArn"]
        execution = self.sfn.start_execution(stateMachineArn=arn, name=f"exec{self.count}",
                                              input=value if value is not None else "{}")["executionArn"]
        deadline = time.perf_counter() + timeout
        while True:
            status = self.sfn.describe_execution(executionArn=execution)["status"]
            if status != "RUNNING" or time.perf_counter() > deadline:
                return status
            time.sleep(0.001)

    def time(self, cases: list[tuple[dict, str | None]]) -> float:
        started = time.perf_counter()
        for definition, value in cases:
            self.run(definition, value)
        return (time.perf_counter() - started) / len(cases)

    def stop(self) -> None:
        self.mock.stop()


def _has_wait(definition: dict) -> bool:
    return '"Wait"' in json.dumps(definition)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sample", type=int, default=100, help="corpus cases timed on moto (default 100)")
    ap.add_argument("--map-items", type=int, default=10_000)
    ap.add_argument("--moto-map-items", type=int, default=500, help="items in moto's Map run (scaled up)")
    ap.add_argument("--no-moto", action="store_true", help="time only this engine")
    ap.add_argument("--quick", action="store_true", help="tiny inputs, one repetition (CI: it runs; no figures)")
    args = ap.parse_args()
    repeat, flow_runs, moto_flow_runs = 3, 200, 20
    if args.quick:
        args.sample, args.map_items, args.moto_map_items = 3, 100, 10
        repeat, flow_runs, moto_flow_runs = 1, 2, 1

    if args.quick:
        print("--quick: tiny inputs, one repetition; the figures show that it runs, not how fast.")
    rows: list[tuple[str, float, float | None, str]] = []
    corpus: list[tuple[dict, str | None]] = []
    if os.path.exists(CORPUS):
        with open(CORPUS) as f:
            corpus = [(c["definition"], c["input"]) for c in map(json.loads, f)]
    flow = twenty_states()
    flow_input = json.dumps({"count": 0, "tags": ["a", "b", "c"]})
    items = json.dumps({"items": list(range(args.map_items))})
    map_def = big_map()

    ours_corpus = time_ours(corpus, repeat=repeat) if corpus and not args.quick else None
    candidates = [c for c in corpus if not _has_wait(c[0])]
    step = max(1, len(candidates) // max(1, args.sample))
    sample = candidates[::step][: args.sample]
    ours_sample = time_ours(sample, repeat=repeat) if sample else None
    ours_flow = time_ours([(flow, flow_input)] * flow_runs, repeat=repeat)
    ours_map = ours_map_cpu = float("inf")
    for _ in range(repeat):
        started, cpu = time.perf_counter(), time.process_time()
        result = execute(map_def, items)
        ours_map = min(ours_map, time.perf_counter() - started)
        ours_map_cpu = min(ours_map_cpu, time.process_time() - cpu)
        assert result.status == "SUCCEEDED", result.cause

    moto_sample = moto_flow = moto_map = None
    if not args.no_moto:
        moto = Moto()
        try:
            moto_sample = moto.time(sample) if sample else None
            moto_flow = moto.time([(flow, flow_input)] * moto_flow_runs)
            small = json.dumps({"items": list(range(args.moto_map_items))})
            started = time.perf_counter()
            if moto.run(map_def, small) != "SUCCEEDED":
                raise RuntimeError("moto's interpreter did not run the Map benchmark")
            moto_map = (time.perf_counter() - started) * args.map_items / args.moto_map_items
        finally:
            moto.stop()

    if ours_corpus is not None:
        rows.append((f"conformance corpus, all {len(corpus)} cases", ours_corpus, None, "per execution"))
    if ours_sample is not None:
        rows.append((f"corpus sample ({len(sample)} cases, no Wait)", ours_sample, moto_sample, "per execution"))
    rows.append(("20-state workflow", ours_flow, moto_flow, "per execution"))
    rows.append((f"Map over {args.map_items:,} items", ours_map, moto_map,
                 f"one execution (moto: {args.moto_map_items} items, scaled)"))

    print(f"{'benchmark':42} {'stepsmith':>12} {'moto':>12} {'moto/ours':>10}")
    for label, ours, theirs, unit in rows:
        ratio = f"{theirs / ours:9.1f}x" if theirs else "-"
        theirs_text = f"{theirs * 1000:10.2f}ms" if theirs else "-"
        print(f"{label:42} {ours * 1000:10.3f}ms {theirs_text:>12} {ratio:>10}   ({unit})")
    print(f"\nMap over {args.map_items:,} items, this engine: {ours_map:.3f} s wall, {ours_map_cpu:.3f} s CPU "
          f"(target < 1 s; wall time includes whatever else this machine is running).")
    if not args.no_moto:
        print(f"moto was timed on {len(sample)} corpus cases (every {step}th without a Wait state) and a "
              f"{args.moto_map_items}-item Map scaled to {args.map_items:,}; this engine on the same sample.\n"
              "moto's time per execution is what a boto3 user sees: CreateStateMachine, StartExecution, then "
              "DescribeExecution every millisecond until the execution leaves RUNNING.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
