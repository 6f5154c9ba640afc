import datetime as dt

import pytest
from aslrun import one_state, output, run

from engine.asl import VirtualClock

START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def elapsed(result) -> float:
    return (result.history[-1]["timestamp"] - result.history[0]["timestamp"]).total_seconds()


def test_wait_seconds_takes_virtual_time_only():
    result = run(one_state({"Type": "Wait", "Seconds": 3600}), {"a": 1}, clock=VirtualClock(START))
    assert result.status == "SUCCEEDED"
    assert elapsed(result) == 3600


def test_wait_timestamp_path_and_past_timestamps():
    state = one_state({"Type": "Wait", "TimestampPath": "$.at"})
    assert elapsed(run(state, {"at": "2024-01-01T00:00:10Z"}, clock=VirtualClock(START))) == 10
    assert elapsed(run(state, {"at": "2023-01-01T00:00:00Z"}, clock=VirtualClock(START))) == 0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "The SecondsPath parameter references a negative value: $.s == -1"),
        (1.5, "The SecondsPath parameter cannot be parsed as a long value: $.s == 1.5"),
    ],
)
def test_wait_seconds_path_errors(value, message):
    result = run(one_state({"Type": "Wait", "SecondsPath": "$.s"}), {"s": value})
    assert (result.status, result.error) == ("FAILED", "States.Runtime")
    assert result.cause.endswith(message)


def test_wait_timestamp_without_zone_is_rejected_at_run_time():
    result = run(one_state({"Type": "Wait", "TimestampPath": "$.t"}), {"t": "2024-01-01T00:00:00"})
    assert result.cause.endswith(
        "The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format "
        "string: $.t == 2024-01-01T00:00:00"
    )


def test_execution_timeout_seconds_times_out():
    definition = one_state({"Type": "Wait", "Seconds": 100}, TimeoutSeconds=10)
    result = run(definition, {}, clock=VirtualClock(START))
    assert (result.status, result.error) == ("TIMED_OUT", "States.Timeout")
    assert result.history[-1]["type"] == "ExecutionTimedOut"
    assert elapsed(result) == 10


def test_jsonata_wait_seconds_expression():
    definition = one_state({"Type": "Wait", "Seconds": "{% $states.input.s * 2 %}"}, QueryLanguage="JSONata")
    assert elapsed(run(definition, {"s": 5}, clock=VirtualClock(START))) == 10


def test_fail_with_error_and_cause():
    result = run(one_state({"Type": "Fail", "Error": "E", "Cause": "C"}))
    assert (result.status, result.error, result.cause, result.output) == ("FAILED", "E", "C", None)
    assert result.history[-1]["executionFailedEventDetails"] == {"error": "E", "cause": "C"}


def test_fail_paths_and_intrinsic_cause():
    state = {"Type": "Fail", "ErrorPath": "$.e", "CausePath": "States.Format('bad {}', $.n)"}
    result = run(one_state(state), {"e": "Err", "n": 3})
    assert (result.error, result.cause) == ("Err", "bad 3")


def test_fail_jsonata():
    state = {"Type": "Fail", "Error": "{% 'E' & $states.input.n %}", "Cause": "plain"}
    result = run(one_state(state, QueryLanguage="JSONata"), {"n": 1})
    assert (result.error, result.cause) == ("E1", "plain")


def test_succeed_applies_paths():
    assert output(one_state({"Type": "Succeed", "InputPath": "$.a", "OutputPath": "$.b"}), {"a": {"b": 2}}) == 2


def test_waiting_past_a_year_times_out_like_a_standard_workflow():
    result = run(one_state({"Type": "Wait", "SecondsPath": "$.s"}), {"s": 10**12}, clock=VirtualClock(START))
    assert (result.status, result.error) == ("TIMED_OUT", "States.Timeout")
    assert elapsed(result) == 365 * 24 * 3600
