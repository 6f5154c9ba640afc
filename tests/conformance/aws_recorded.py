"""Run the project's local ASL engine against executions recorded on real AWS Step Functions.

Usage (from the project root): .venv/bin/python tests/conformance/aws_recorded.py [--only TEXT]
                                                                   [--failures FILE] [--timeout S]
(`make conformance`). test_aws_recorded.py runs the same cases under pytest and gates CI; this script
prints the table per category.

Each line of aws-recorded.jsonl is one execution: an ASL definition, the execution input, and
what AWS returned (status + output, or status + error + cause). The cases come from the
snapshot tests of LocalStack (Apache-2.0), whose snapshots were recorded against AWS; only
executions that need no AWS service (no Task, ItemReader or ResultWriter) are kept.

The engine is reached through one call:

    from engine import execute
    result = execute(definition, input_text, state_machine_name=..., execution_name=...,
                     account="111111111111", region="us-east-1")
    result.status  -> "SUCCEEDED" | "FAILED" | "TIMED_OUT" | "ABORTED"
    result.output  -> the execution output as JSON text (or a JSON value), None when failed
    result.error, result.cause -> strings or None

Before comparing, the actual values get the same normalisation the recordings got:
account, region and partition placeholders, every ISO-8601 timestamp -> "date", the
per-case regex replacements and masked keys.

A case passes when status and output (or status and error) equal AWS's; "exact" also
requires the cause text to equal AWS's. Prints a table per category and, last,
"N passed, M failed".
"""
import argparse
import collections
import importlib
import json
import os
import re
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ISO8601 = re.compile(
    r"(?:[1-9]\d{3}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1\d|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)|"
    r"(?:0[13578]|1[02])-31)|(?:[1-9]\d(?:0[48]|[2468][048]|[13579][26])|(?:[2468][048]|[13579][26])00)-02-29)"
    r"T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,9})?(?:Z|[+-][01]\d:?([0-5]\d)?)"
)


class CaseTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise CaseTimeout()


def as_value(v):
    if isinstance(v, (bytes, bytearray)):
        v = v.decode()
    if isinstance(v, str):
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


def mask(value, keys):
    if isinstance(value, dict):
        return {k: (keys[k] if k in keys else mask(v, keys)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v, keys) for v in value]
    return value


def normalise(value, case):
    text = json.dumps(value)
    for pattern, replacement in case["replace"] + [
        ["123456789012", "111111111111"],
        ["us-east-1", "<region>"],
        ["arn:aws:", "arn:<partition>:"],
    ]:
        text = re.sub(pattern, replacement.replace("\\", "\\\\"), text)
    text = ISO8601.sub("date", text)
    return mask(json.loads(text), dict(case["mask_keys"]))


def norm_text(s, case):
    if s is None:
        return None
    v = normalise(s, case)
    return v if v != "" else None


def judge(case, result):
    exp = case["expected"]
    status = getattr(result, "status", None)
    if status != exp["status"]:
        detail = f"status {status} (error={getattr(result, 'error', None)!r}) != {exp['status']}"
        return "fail", detail
    if status == "SUCCEEDED":
        actual = normalise(as_value(result.output), case)
        expected = exp["output"]
        if actual == expected:
            return "exact", ""
        return "fail", f"output {json.dumps(actual)[:300]} != {json.dumps(expected)[:300]}"
    error, cause = norm_text(result.error, case), norm_text(result.cause, case)
    if error != exp["error"]:
        return "fail", f"error {error!r} != {exp['error']!r}"
    if cause == exp["cause"]:
        return "exact", ""
    return "pass", f"cause {str(cause)[:300]!r} != {str(exp['cause'])[:300]!r}"


def load_cases(path: str = os.path.join(HERE, "aws-recorded.jsonl")) -> list[dict]:
    """Every recorded execution, in file order."""
    with open(path) as lines:
        return [json.loads(line) for line in lines]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default=os.path.join(HERE, "aws-recorded.jsonl"))
    ap.add_argument("--only", help="run only cases whose id contains this text")
    ap.add_argument("--failures", help="write every failing case with its reason to this JSON file")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds per case")
    args = ap.parse_args()

    sys.path.insert(0, os.getcwd())
    execute = importlib.import_module("engine").execute

    cases = load_cases(args.cases)
    if args.only:
        cases = [c for c in cases if args.only in c["id"]]
    table = collections.defaultdict(collections.Counter)
    failures = []
    signal.signal(signal.SIGALRM, _alarm)
    started = time.perf_counter()
    for case in cases:
        signal.setitimer(signal.ITIMER_REAL, args.timeout)
        try:
            result = execute(
                case["definition"], case["input"],
                state_machine_name=case["state_machine_name"],
                execution_name=case["execution_name"],
                account="111111111111", region="us-east-1",
            )
            verdict, why = judge(case, result)
        except CaseTimeout:
            verdict, why = "fail", f"no result in {args.timeout} s"
        except Exception as exc:  # noqa: BLE001 — the engine must never raise for a definition AWS accepts
            verdict, why = "fail", f"engine raised {type(exc).__name__}: {str(exc)[:300]}"
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        key = f"{case['category']} ({case['query_language']})"
        table[key][verdict] += 1
        if verdict != "exact":
            failures.append({"id": case["id"], "verdict": verdict, "why": why})
    elapsed = time.perf_counter() - started

    print(f"{'category':36} {'cases':>6} {'exact':>6} {'pass':>6} {'fail':>6}")
    for key in sorted(table):
        c = table[key]
        print(f"{key:36} {sum(c.values()):6} {c['exact']:6} {c['pass']:6} {c['fail']:6}")
    total = collections.Counter()
    for c in table.values():
        total.update(c)
    n = sum(total.values())
    print(f"{'all':36} {n:6} {total['exact']:6} {total['pass']:6} {total['fail']:6}")
    print(f"exact (cause text too): {total['exact']}/{n}; {elapsed:.2f} s, {1000 * elapsed / max(n, 1):.2f} ms a case")
    if args.failures:
        with open(args.failures, "w") as f:
            json.dump(failures, f, indent=1)
    passed = total["exact"] + total["pass"]
    print(f"{passed} passed, {total['fail']} failed")
    return 0 if total["fail"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
