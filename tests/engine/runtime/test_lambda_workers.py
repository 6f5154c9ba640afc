"""Local Lambda execution environments: concurrent invocations overlap and share nothing, as on AWS."""
import io
import json
import os
import threading

from engine import execute
from engine.asl import VirtualClock
from engine.tasks import LambdaRunner, LocalDispatcher

ACCOUNT, REGION = "111111111111", "us-east-1"


def arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:demo-{name}"


def invoke_together(runner, function, events):
    results = [None] * len(events)

    def one(index, event):
        results[index] = runner.invoke(function, event)

    threads = [threading.Thread(target=one, args=(i, e)) for i, e in enumerate(events)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_invocations_overlap_and_do_not_share_environment_globals_or_tmp(app, aws, tmp_path):
    runner = LambdaRunner(logs=io.StringIO())
    function = app.functions["DemoProbeFunction"]
    meet = {"meet": str(tmp_path), "partners": 2}   # each waits, inside its invocation, for the other's mark
    invocations = invoke_together(runner, function, [{"id": "a", "seconds": 0.2, **meet},
                                                     {"id": "b", "seconds": 0.2, **meet}])
    a, b = (invocation.payload for invocation in invocations)
    assert not any(invocation.failed for invocation in invocations), invocations
    assert (a["env"], a["global"], a["file"]) == ("a", "a", "a")
    assert (b["env"], b["global"], b["file"]) == ("b", "b", "b")
    assert a["pid"] != b["pid"] and a["tmp"] != b["tmp"]
    assert a["met"] and b["met"]                                       # they ran at the same time
    assert "PROBE" not in os.environ                                  # nor did they touch the engine's


def test_a_warm_worker_keeps_its_module_state_and_one_invocation_at_a_time(app, aws):
    runner = LambdaRunner(logs=io.StringIO())
    function = app.functions["DemoProbeFunction"]
    first = runner.invoke(function, {"id": "x", "seconds": 0}).payload
    second = runner.invoke(function, {"id": "y", "seconds": 0}).payload
    assert second["pid"] == first["pid"]     # the same warm environment served both, one after the other


class _SlowLog(io.StringIO):
    """A log that takes its time with each line, as a busy terminal or a loaded machine does."""

    def write(self, text):
        threading.Event().wait(0.05)
        return super().write(text)


def test_handler_output_and_logging_reach_the_runners_logs_before_the_result(app, aws):
    logs = _SlowLog()
    LambdaRunner(logs=logs).invoke(app.functions["DemoProbeFunction"], {"id": "z", "seconds": 0})
    text = logs.getvalue()   # no waiting: what the handler printed is all there when its result is
    assert "probe z working" in text
    line = next(line for line in text.splitlines() if "logged" in line)
    assert line.startswith("[WARNING]\t") and line.endswith("\tprobe z logged")   # Lambda's log line


def test_a_function_that_outlives_its_timeout_is_killed_and_the_next_invoke_starts_cold(app, aws):
    runner = LambdaRunner(logs=io.StringIO())
    slow = app.functions["DemoSlowFunction"]
    timed_out = runner.invoke(slow, {"seconds": 30})
    assert timed_out.error == "Lambda.Unknown"
    assert "Task timed out after 1.00 seconds" in timed_out.cause
    assert runner.invoke(slow, {"seconds": 0}).payload == "finished"


def test_map_over_a_handler_runs_iterations_in_separate_environments_at_once(app, aws):
    runner = LambdaRunner(logs=io.StringIO())
    # three warm environments first, so that no iteration waits for a cold start
    invoke_together(runner, app.functions["DemoProbeFunction"], [{"id": "w", "seconds": 0.3}] * 3)
    dispatcher = LocalDispatcher(app, runner=runner)
    definition = {"StartAt": "M", "States": {"M": {
        "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 3, "End": True,
        "ItemProcessor": {"StartAt": "Probe", "States": {"Probe": {
            "Type": "Task", "Resource": arn("DemoProbeFunction"), "End": True}}}}}}
    items = [{"id": str(i), "seconds": 0.4} for i in range(3)]
    result = execute(definition, json.dumps({"items": items}), dispatcher=dispatcher, clock=VirtualClock())
    assert result.status == "SUCCEEDED", result.cause
    outputs = json.loads(result.output)
    assert [o["env"] for o in outputs] == ["0", "1", "2"] == [o["global"] for o in outputs]
    assert len({o["pid"] for o in outputs}) == 3
    assert max(o["began"] for o in outputs) < min(o["ended"] for o in outputs)   # side by side


def test_handlers_in_parallel_branches_reach_the_same_local_aws(app, aws):
    dispatcher = LocalDispatcher(app, runner=LambdaRunner(logs=io.StringIO()))
    write = arn("DemoWriteFunction")
    definition = {"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": f"W{i}", "States": {f"W{i}": {"Type": "Task", "Resource": write,
                                                  "Parameters": {"key": f"k{i}", "body": f"v{i}"}, "End": True}}}
        for i in range(2)]}}}
    result = execute(definition, "{}", dispatcher=dispatcher)
    assert result.status == "SUCCEEDED", result.cause
    s3 = aws.client("s3")
    assert {s3.get_object(Bucket="demo-databucket", Key=f"k{i}")["Body"].read() for i in range(2)} == {b"v0", b"v1"}


def test_serve_answers_concurrent_requests_concurrently(app, aws):
    import urllib.request

    from engine.serve import LocalApi, Route

    lines: list = []
    route = Route.of("GET", "/probe/{id}", app.functions["DemoProbeApiFunction"])
    with LocalApi(app, aws, routes=[route], port=0, log=lines.append) as api:
        bodies: dict = {}

        def get(name):
            with urllib.request.urlopen(f"{api.url}/probe/{name}", timeout=30) as answer:
                bodies[name] = json.loads(answer.read())

        for _ in range(2):   # the first round starts two workers; the second finds them warm
            threads = [threading.Thread(target=get, args=(name,)) for name in ("one", "two")]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    one, two = bodies["one"], bodies["two"]
    assert (one["env"], two["env"]) == ("one", "two")
    assert max(one["began"], two["began"]) < min(one["ended"], two["ended"])   # answered side by side
    assert "[WARNING] demo-DemoProbeApiFunction probe one logged" in lines   # its log, as serve shows it


def test_idle_workers_past_the_limit_stop_least_recently_used_first(app, aws, monkeypatch):
    from engine import lambdas

    LambdaRunner.shutdown()
    monkeypatch.setattr(lambdas, "WARM_IN_ALL", 1)
    runner = LambdaRunner(logs=io.StringIO())
    first = runner.invoke(app.functions["DemoProbeFunction"], {"id": "p", "seconds": 0}).payload["pid"]
    runner.invoke(app.functions["DemoCountFunction"], {})
    idle = [worker for pool in LambdaRunner._pools.values() for worker in pool]
    assert len(idle) == 1 and idle[0].function_name == "demo-DemoCountFunction"
    assert runner.invoke(app.functions["DemoProbeFunction"], {"id": "p", "seconds": 0}).payload["pid"] != first


def test_a_workflows_functions_are_started_ahead_of_their_steps_and_only_once(app, aws):
    LambdaRunner.shutdown()   # no worker left warm by an earlier test
    runner = LambdaRunner(logs=io.StringIO())
    definition = {"StartAt": "Probe", "States": {
        "Probe": {"Type": "Task", "Resource": arn("DemoProbeFunction"), "Next": "Count"},
        "Count": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                  "Parameters": {"FunctionName": arn("DemoCountFunction")}, "End": True}}}
    LocalDispatcher(app, runner=runner).warm_functions(definition)

    def workers(name):
        pooled = [w for pool in LambdaRunner._pools.values() for w in pool] + list(LambdaRunner._busy)
        return [w for w in pooled if w.function_name == f"demo-{name}"]

    try:
        # The first step's invoke comes while its worker is still starting: it waits for that one.
        first = runner.invoke(app.functions["DemoProbeFunction"], {"id": "a", "seconds": 0}).payload
        # The later step's worker starts without anyone invoking it.
        for _ in range(500):
            if workers("DemoCountFunction"):
                break
            threading.Event().wait(0.02)
        assert len(workers("DemoCountFunction")) == 1
        assert [w.process.pid for w in workers("DemoProbeFunction")] == [first["pid"]]
        second = runner.invoke(app.functions["DemoProbeFunction"], {"id": "b", "seconds": 0}).payload
        assert second["pid"] == first["pid"]
    finally:
        LambdaRunner.shutdown()   # tests that time cold starts against each other expect no warm worker
