import datetime as dt
import json
import random
from itertools import pairwise

import pytest
from aslrun import ScriptedDispatcher, event_types, one_state, output, run

from engine.asl import DefinitionError, TaskFailed, VirtualClock, retry

LAMBDA = "arn:aws:states:::lambda:invoke"


def task(**fields):
    return one_state({"Type": "Task", "Resource": LAMBDA, **fields})


def test_dispatcher_gets_effective_parameters_and_result_flows_through_selector_and_paths():
    d = ScriptedDispatcher({"Payload": {"n": 2}, "StatusCode": 200})
    definition = task(
        Parameters={"FunctionName": "f", "Payload.$": "$.in"},
        ResultSelector={"n.$": "$.Payload.n"},
        ResultPath="$.out",
    )
    assert output(definition, {"in": {"x": 1}}, dispatcher=d) == {"in": {"x": 1}, "out": {"n": 2}}
    call = d.calls[0]
    assert (call.state_name, call.resource) == ("S", LAMBDA)
    assert call.arguments == {"FunctionName": "f", "Payload": {"x": 1}}
    assert call.context["State"]["RetryCount"] == 0


def test_task_events():
    result = run(task(), {}, dispatcher=ScriptedDispatcher({"ok": True}))
    assert event_types(result) == ["ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted",
                                   "TaskSucceeded", "TaskStateExited", "ExecutionSucceeded"]
    scheduled = result.history[2]["taskScheduledEventDetails"]
    assert (scheduled["resourceType"], scheduled["resource"], scheduled["region"]) == ("lambda", "invoke", "us-east-1")


def test_function_arn_resource_records_lambda_events():
    definition = one_state({"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:111111111111:function:f"})
    result = run(definition, {}, dispatcher=ScriptedDispatcher(1))
    assert "LambdaFunctionScheduled" in event_types(result)
    assert "LambdaFunctionSucceeded" in event_types(result)


def test_no_dispatcher_fails_the_task():
    result = run(task(), {})
    assert (result.status, result.error) == ("FAILED", "States.TaskFailed")


def test_retry_then_succeed_with_backoff_on_the_virtual_clock():
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    d = ScriptedDispatcher(TaskFailed("Boom"), TaskFailed("Boom"), {"done": True})
    definition = task(Retry=[{"ErrorEquals": ["Boom"], "IntervalSeconds": 2, "BackoffRate": 3, "MaxAttempts": 2}])
    result = run(definition, {}, dispatcher=d, clock=VirtualClock(start))
    assert result.status == "SUCCEEDED"
    assert [c.context["State"]["RetryCount"] for c in d.calls] == [0, 1, 2]
    scheduled = [e["timestamp"] for e in result.history if e["type"] == "TaskScheduled"]
    assert [(b - a).total_seconds() for a, b in pairwise(scheduled)] == [2, 6]


def test_max_delay_caps_backoff():
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    d = ScriptedDispatcher(TaskFailed("E"), TaskFailed("E"), TaskFailed("E"), 1)
    definition = task(Retry=[{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 10, "BackoffRate": 10,
                              "MaxAttempts": 3, "MaxDelaySeconds": 15}])
    result = run(definition, {}, dispatcher=d, clock=VirtualClock(start))
    scheduled = [e["timestamp"] for e in result.history if e["type"] == "TaskScheduled"]
    assert [(b - a).total_seconds() for a, b in pairwise(scheduled)] == [10, 15, 15]


def test_full_jitter_waits_a_uniform_share_of_each_backoff(monkeypatch):
    # The engine draws jitter from the `random` module; a seeded generator in its place makes the
    # waits known in advance: uniform(0, d) for each back-off d (2 s, then 6 s, then the 10 s cap).
    monkeypatch.setattr(retry, "random", random.Random(19))
    draws = random.Random(19)
    expected = [draws.uniform(0, 2), draws.uniform(0, 6), draws.uniform(0, 10)]
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    d = ScriptedDispatcher(TaskFailed("Boom"), TaskFailed("Boom"), TaskFailed("Boom"), {"done": True})
    definition = task(Retry=[{"ErrorEquals": ["Boom"], "IntervalSeconds": 2, "BackoffRate": 3, "MaxAttempts": 3,
                              "MaxDelaySeconds": 10, "JitterStrategy": "FULL"}])
    result = run(definition, {}, dispatcher=d, clock=VirtualClock(start))
    assert result.status == "SUCCEEDED"
    scheduled = [e["timestamp"] for e in result.history if e["type"] == "TaskScheduled"]
    waits = [(b - a).total_seconds() for a, b in pairwise(scheduled)]
    assert waits == pytest.approx(expected, abs=0.01)
    assert all(0 <= wait < cap for wait, cap in zip(waits, [2, 6, 10], strict=True))
    assert waits != pytest.approx([2, 6, 10], abs=0.01)  # jitter applied, not the plain back-off


def test_retry_defaults_are_three_attempts_one_second_doubling():
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    d = ScriptedDispatcher(TaskFailed("Boom"))
    result = run(task(Retry=[{"ErrorEquals": ["Boom"]}]), {}, dispatcher=d, clock=VirtualClock(start))
    assert (result.status, len(d.calls)) == ("FAILED", 4)
    scheduled = [e["timestamp"] for e in result.history if e["type"] == "TaskScheduled"]
    assert [(b - a).total_seconds() for a, b in pairwise(scheduled)] == pytest.approx([1, 2, 4], abs=0.01)


@pytest.mark.parametrize(("rate", "waits"), [(1, [2, 2, 2]), (1.5, [2, 3, 4.5])])
def test_backoff_rate_may_be_one_or_a_fraction_above(rate, waits):
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    d = ScriptedDispatcher(TaskFailed("Boom"), TaskFailed("Boom"), TaskFailed("Boom"), 1)
    definition = task(Retry=[{"ErrorEquals": ["Boom"], "IntervalSeconds": 2, "BackoffRate": rate}])
    result = run(definition, {}, dispatcher=d, clock=VirtualClock(start))
    assert result.status == "SUCCEEDED"
    scheduled = [e["timestamp"] for e in result.history if e["type"] == "TaskScheduled"]
    assert [(b - a).total_seconds() for a, b in pairwise(scheduled)] == pytest.approx(waits, abs=0.01)


@pytest.mark.parametrize(("retrier", "message"), [
    ({"ErrorEquals": []}, "'ErrorEquals' must be a non-empty array of error names"),
    ({"ErrorEquals": ["States.ALL", "X"]}, "'States.ALL' must appear alone in 'ErrorEquals'"),
    ({"ErrorEquals": ["X"], "IntervalSeconds": 0}, "'IntervalSeconds' must be a positive integer"),
    ({"ErrorEquals": ["X"], "IntervalSeconds": 1.5}, "'IntervalSeconds' must be a positive integer"),
    ({"ErrorEquals": ["X"], "IntervalSeconds": True}, "'IntervalSeconds' must be a positive integer"),
    ({"ErrorEquals": ["X"], "MaxAttempts": -1}, "'MaxAttempts' must be a non-negative integer"),
    ({"ErrorEquals": ["X"], "MaxAttempts": False}, "'MaxAttempts' must be a non-negative integer"),
    ({"ErrorEquals": ["X"], "MaxAttempts": 2.0}, "'MaxAttempts' must be a non-negative integer"),
    ({"ErrorEquals": ["X"], "BackoffRate": 0.5}, "'BackoffRate' must be a number >= 1.0"),
    ({"ErrorEquals": ["X"], "BackoffRate": True}, "'BackoffRate' must be a number >= 1.0"),
    ({"ErrorEquals": ["X"], "JitterStrategy": "HALF"}, "'JitterStrategy' must be FULL or NONE"),
])
def test_a_malformed_retrier_is_rejected_with_its_place(retrier, message):
    with pytest.raises(DefinitionError) as info:
        run(task(Retry=[retrier]), {})
    assert (info.value.message, info.value.state, info.value.field) == (message, "S", "Retry")


@pytest.mark.parametrize(("catcher", "message"), [
    ({"ErrorEquals": ["X"]}, "A catcher needs 'Next'"),
    ({"ErrorEquals": "States.ALL", "Next": "S"}, "'ErrorEquals' must be a non-empty array of error names"),
    ({"ErrorEquals": [1], "Next": "S"}, "'ErrorEquals' must be a non-empty array of error names"),
    ({"ErrorEquals": ["X", "States.ALL"], "Next": "S"}, "'States.ALL' must appear alone in 'ErrorEquals'"),
])
def test_a_malformed_catcher_is_rejected_with_its_place(catcher, message):
    with pytest.raises(DefinitionError) as info:
        run(task(Catch=[catcher]), {})
    assert (info.value.message, info.value.state, info.value.field) == (message, "S", "Catch")


def test_retry_exhausted_fails_with_the_task_error():
    d = ScriptedDispatcher(TaskFailed("Boom", "why"))
    result = run(task(Retry=[{"ErrorEquals": ["Boom"], "MaxAttempts": 1}]), {}, dispatcher=d)
    assert (result.status, result.error, result.cause) == ("FAILED", "Boom", "why")
    assert len(d.calls) == 2


def test_max_attempts_zero_never_retries_and_first_matching_retrier_decides():
    d = ScriptedDispatcher(TaskFailed("Boom"))
    definition = task(Retry=[{"ErrorEquals": ["Boom"], "MaxAttempts": 0},
                             {"ErrorEquals": ["States.ALL"], "MaxAttempts": 5}])
    run(definition, {}, dispatcher=d)
    assert len(d.calls) == 1


def test_catch_routes_error_output_into_result_path():
    definition = {
        "StartAt": "T",
        "States": {
            "T": {"Type": "Task", "Resource": LAMBDA, "Next": "Done",
                  "Catch": [{"ErrorEquals": ["Other"], "Next": "Wrong"},
                            {"ErrorEquals": ["States.ALL"], "Next": "Handled", "ResultPath": "$.err"}]},
            "Handled": {"Type": "Pass", "End": True},
            "Wrong": {"Type": "Fail"},
            "Done": {"Type": "Succeed"},
        },
    }
    out = output(definition, {"a": 1}, dispatcher=ScriptedDispatcher(TaskFailed("Boom", "bad")))
    assert out == {"a": 1, "err": {"Error": "Boom", "Cause": "bad"}}


def test_task_failed_wildcard_does_not_catch_timeout():
    definition = {
        "StartAt": "T",
        "States": {
            "T": {"Type": "Task", "Resource": LAMBDA, "End": True,
                  "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "H"}]},
            "H": {"Type": "Succeed"},
        },
    }
    assert run(definition, {}, dispatcher=ScriptedDispatcher(TaskFailed("Custom"))).status == "SUCCEEDED"
    result = run(definition, {}, dispatcher=ScriptedDispatcher(TaskFailed("States.Timeout")))
    assert (result.status, result.error) == ("FAILED", "States.Timeout")


def test_states_all_does_not_catch_runtime_errors():
    definition = {
        "StartAt": "T",
        "States": {
            "T": {"Type": "Task", "Resource": LAMBDA, "Parameters": {"x.$": "$.missing"}, "End": True,
                  "Retry": [{"ErrorEquals": ["States.ALL"]}],
                  "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "H"}]},
            "H": {"Type": "Succeed"},
        },
    }
    d = ScriptedDispatcher(1)
    result = run(definition, {}, dispatcher=d)
    assert (result.status, result.error) == ("FAILED", "States.Runtime")
    assert d.calls == []


def test_timeout_seconds_path_reaches_dispatcher_and_history():
    d = ScriptedDispatcher(1)
    result = run(task(TimeoutSecondsPath="$.t", HeartbeatSeconds=5), {"t": 30}, dispatcher=d)
    assert (d.calls[0].timeout_seconds, d.calls[0].heartbeat_seconds) == (30, 5)
    details = result.history[2]["taskScheduledEventDetails"]
    assert (details["timeoutInSeconds"], details["heartbeatInSeconds"]) == (30, 5)


def test_jsonata_task_arguments_output_and_result_binding():
    definition = one_state({"Type": "Task", "Resource": LAMBDA, "Arguments": {"v": "{% $states.input.v + 1 %}"},
                            "Output": {"got": "{% $states.result.r %}", "was": "{% $states.input.v %}"}},
                           QueryLanguage="JSONata")
    d = ScriptedDispatcher(lambda call: {"r": call.arguments["v"] * 10})
    assert output(definition, {"v": 1}, dispatcher=d) == {"got": 20, "was": 1}


def test_jsonata_catch_output_sees_error_output():
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "T",
        "States": {
            "T": {"Type": "Task", "Resource": LAMBDA, "End": True,
                  "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "H",
                             "Output": "{% $states.errorOutput.Error & '/' & $states.input.k %}"}]},
            "H": {"Type": "Pass", "End": True},
        },
    }
    assert output(definition, {"k": "v"}, dispatcher=ScriptedDispatcher(TaskFailed("E", "c"))) == "E/v"


def test_dispatcher_timeout_is_recorded_as_task_timed_out_and_caught_by_name():
    definition = {
        "StartAt": "T",
        "States": {
            "T": {"Type": "Task", "Resource": LAMBDA, "TimeoutSeconds": 3, "End": True,
                  "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "H"}]},
            "H": {"Type": "Pass", "End": True},
        },
    }
    result = run(definition, {}, dispatcher=ScriptedDispatcher(TaskFailed("States.Timeout", "took too long")))
    assert result.status == "SUCCEEDED"
    assert "TaskTimedOut" in event_types(result)
    assert json.loads(result.output) == {"Error": "States.Timeout", "Cause": "took too long"}


def test_resource_type_and_name_in_events():
    from engine.asl.taskstate import split_resource

    assert split_resource("arn:aws:states:::aws-sdk:s3:getObject") == ("aws-sdk:s3", "getObject")
    assert split_resource("arn:aws:states:::states:startExecution.sync:2") == ("states", "startExecution.sync:2")
    assert split_resource("arn:aws:states:::sqs:sendMessage.waitForTaskToken") == (
        "sqs", "sendMessage.waitForTaskToken")


def test_interrupt_aborts_the_execution_and_keeps_its_history():
    def interrupt(call):
        raise KeyboardInterrupt

    result = run(task(), {}, dispatcher=ScriptedDispatcher(interrupt))
    assert result.status == "ABORTED"
    assert event_types(result)[-1] == "ExecutionAborted"
    assert "TaskStarted" in event_types(result)


def test_slow_task_time_shows_in_a_virtual_clock_history():
    import time

    def slow(call):
        time.sleep(0.2)
        return {}

    result = run(task(), {}, dispatcher=ScriptedDispatcher(slow))
    stamps = {e["type"]: e["timestamp"] for e in result.history}
    assert (stamps["TaskSucceeded"] - stamps["TaskStarted"]).total_seconds() >= 0.2
