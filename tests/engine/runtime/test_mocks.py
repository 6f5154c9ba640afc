"""MockConfigFile: attempt ranges, Return/Throw seen by Retry/Catch, fall-through to real handlers."""
import json
from pathlib import Path

import pytest

from engine import execute
from engine.asl.tasks import TaskCall, TaskFailed
from engine.mocks import MockConfig, MockConfigError

CONFIG = Path(__file__).parent / "fixtures" / "mocks" / "MockConfigFile.json"


def call(state: str) -> TaskCall:
    return TaskCall(state_name=state, resource="arn:aws:states:::lambda:invoke", arguments={},
                    timeout_seconds=None, heartbeat_seconds=None, task_token=None, credentials=None)


def test_attempt_ranges_then_last_response_repeats():
    dispatcher = MockConfig.load(CONFIG).dispatcher("demo", "RetryPath", fallback=None)
    errors = []
    for _ in range(3):
        with pytest.raises(TaskFailed) as failure:
            dispatcher.run_task(call("Greet"))
        errors.append((failure.value.error, failure.value.cause))
    assert errors == [("Lambda.ServiceException", "An internal service error occurred."),
                      ("Lambda.TooManyRequestsException", "Rate exceeded."),
                      ("Lambda.TooManyRequestsException", "Rate exceeded.")]
    assert dispatcher.run_task(call("Greet")) == {"greeting": "finally"}
    assert dispatcher.run_task(call("Greet")) == {"greeting": "finally"}


def test_unmocked_state_without_fallback_fails_clearly():
    dispatcher = MockConfig.load(CONFIG).dispatcher("demo", "HappyPath", fallback=None)
    with pytest.raises(TaskFailed, match="not mocked"):
        dispatcher.run_task(call("Other"))


def test_retries_consume_mocked_attempts_in_a_real_execution(app):
    definition = {
        "StartAt": "Greet",
        "States": {"Greet": {
            "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "demo-DemoGreetFunction", "Payload.$": "$"},
            "Retry": [{"ErrorEquals": ["Lambda.ServiceException", "Lambda.TooManyRequestsException"],
                       "MaxAttempts": 3, "IntervalSeconds": 1}],
            "End": True}},
    }
    dispatcher = MockConfig.load(CONFIG).dispatcher("demo", "RetryPath", fallback=None)
    result = execute(definition, "{}", dispatcher=dispatcher)
    assert result.status == "SUCCEEDED"
    assert json.loads(result.output) == {"greeting": "finally"}
    assert dispatcher.attempts == {"Greet": 4}


def test_mocked_throw_is_caught_and_unmocked_states_run_real_handlers(app, dispatcher):
    machine = app.state_machine("demo")
    mocked = MockConfig.load(CONFIG).dispatcher("demo", "FailPath", fallback=dispatcher)
    result = execute(machine.definition, json.dumps({"fail": True}), dispatcher=mocked)
    assert result.status == "FAILED" and result.error == "Demo.Failed"

    hybrid = MockConfig({"StateMachines": {"demo": {"TestCases": {"T": {"Fail": "X"}}}},
                         "MockedResponses": {"X": {"0": {"Return": {}}}}}).dispatcher("demo", "T", dispatcher)
    result = execute(machine.definition, json.dumps({"name": "real"}), dispatcher=hybrid)
    assert result.status == "SUCCEEDED"
    assert json.loads(result.output)["greeting"]["greeting"] == "hello real"   # the real handler ran


@pytest.mark.parametrize("document, message", [
    ({"StateMachines": {"m": {"TestCases": {"t": {"S": "Missing"}}}}, "MockedResponses": {}},
     "refers to 'Missing'"),
    ({"MockedResponses": {"R": {"one": {"Return": 1}}}}, "not an attempt number"),
    ({"MockedResponses": {"R": {"0": {"Return": 1, "Throw": {"Error": "E"}}}}}, "exactly one of Return or Throw"),
    ({"MockedResponses": {"R": {"0-2": {"Return": 1}, "2": {"Return": 2}}}}, "overlap"),
])
def test_invalid_configs_are_reported_with_the_field(document, message):
    with pytest.raises(MockConfigError, match=message):
        MockConfig(document)


def test_unknown_test_case_lists_the_known_ones():
    with pytest.raises(MockConfigError, match="has no test case 'Nope' .*HappyPath"):
        MockConfig.load(CONFIG).dispatcher("demo", "Nope", fallback=None)


def test_mocked_wait_for_task_token_returns_without_a_callback():
    definition = {"StartAt": "Ask", "States": {"Ask": {
        "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "Parameters": {"QueueUrl": "https://sqs.us-east-1.amazonaws.com/111111111111/q",
                       "MessageBody": {"token.$": "$$.Task.Token"}},
        "TimeoutSeconds": 5, "End": True}}}
    config = MockConfig({"StateMachines": {"sm": {"TestCases": {"T": {"Ask": "Approved"}}}},
                         "MockedResponses": {"Approved": {"0": {"Return": {"approved": True}}}}})
    result = execute(definition, "{}", dispatcher=config.dispatcher("sm", "T", fallback=None))
    assert result.status == "SUCCEEDED"
    assert json.loads(result.output) == {"approved": True}
