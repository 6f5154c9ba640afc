"""Parallel branches and Map iterations run side by side, as on AWS, on a coherent virtual clock."""
import datetime as dt
import json
import threading
import time

from engine.asl import TaskFailed, VirtualClock, execute, tokens

FN = "arn:aws:states:::lambda:invoke"
START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


class SlowDispatcher:
    """Each task sleeps `seconds` of real time (item["fail"]: fails instead); records when it ran."""

    def __init__(self, seconds: float = 0.3, fail_after: float = 0.05) -> None:
        self.seconds = seconds
        self.fail_after = fail_after
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.spans: dict = {}

    def run_task(self, call):
        item = call.arguments
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        began = time.monotonic()
        try:
            if isinstance(item, dict) and item.get("fail"):
                time.sleep(self.fail_after)
                raise TaskFailed("Boom", f"item {item.get('id')}")
            time.sleep(self.seconds)
            return item
        finally:
            with self.lock:
                self.running -= 1
                key = item.get("id") if isinstance(item, dict) else None
                self.spans[key] = (began, time.monotonic())


def map_of(items_path="$.items", concurrency=None, processor=None):
    state = {"Type": "Map", "ItemsPath": items_path, "End": True,
             "ItemProcessor": processor or {"StartAt": "Work", "States": {
                 "Work": {"Type": "Task", "Resource": FN, "End": True}}}}
    if concurrency is not None:
        state["MaxConcurrency"] = concurrency
    return {"StartAt": "M", "States": {"M": state}}


def test_map_iterations_overlap_in_time_and_the_virtual_clock_counts_the_overlap_once():
    d = SlowDispatcher(0.3)
    items = [{"id": i} for i in range(4)]
    result = execute(map_of(concurrency=4), json.dumps({"items": items}), dispatcher=d, clock=VirtualClock(START))
    assert result.status == "SUCCEEDED", result.cause
    assert json.loads(result.output) == items   # results keep the items' order
    starts = [span[0] for span in d.spans.values()]
    ends = [span[1] for span in d.spans.values()]
    assert max(starts) < min(ends)              # all four ran at the same time
    assert d.most == 4
    # four 0.3 s tasks side by side take 0.3 s of the execution's time, not 1.2 s
    assert 0.25 <= result.stop_date - result.start_date < 0.9


def test_max_concurrency_is_respected():
    d = SlowDispatcher(0.1)
    items = [{"id": i} for i in range(7)]
    result = execute(map_of(concurrency=2), json.dumps({"items": items}), dispatcher=d)
    assert result.status == "SUCCEEDED", result.cause
    assert d.most == 2
    assert json.loads(result.output) == items


def test_max_concurrency_one_runs_iterations_one_at_a_time():
    d = SlowDispatcher(0.05)
    result = execute(map_of(concurrency=1), json.dumps({"items": [{"id": i} for i in range(3)]}), dispatcher=d)
    assert result.status == "SUCCEEDED"
    assert d.most == 1


def test_a_failing_iteration_does_not_stop_the_others_starting_and_aborts_those_in_flight():
    d = SlowDispatcher(0.6, fail_after=0.05)
    items = [{"id": 0, "fail": True}, {"id": 1}, {"id": 2}, {"id": 3}]
    result = execute(map_of(concurrency=4), json.dumps({"items": items}), dispatcher=d)
    assert (result.status, result.error, result.cause) == ("FAILED", "Boom", "item 0")
    types = [e["type"] for e in result.history]
    assert types.count("MapIterationStarted") == 4          # every iteration had started
    assert types.count("MapIterationFailed") == 1
    assert types.count("MapIterationAborted") == 3          # the others were aborted, as on AWS
    assert types[-2:] == ["MapStateFailed", "ExecutionFailed"]
    assert "MapIterationSucceeded" not in types             # an aborted iteration reports nothing later
    aborted = [e["mapIterationAbortedEventDetails"]["index"] for e in result.history
               if e["type"] == "MapIterationAborted"]
    assert sorted(aborted) == [1, 2, 3]
    recorded = len(result.history)
    time.sleep(0.8)                  # the aborted iterations' tasks end now, and record nothing
    assert len(result.history) == recorded


def test_the_execution_timeout_ends_waiting_branches_without_a_state_failure():
    definition = {"TimeoutSeconds": 60, "StartAt": "P", "States": {"P": {"Type": "Parallel", "End": True,
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], "Branches": [
            {"StartAt": "A", "States": {"A": {"Type": "Wait", "Seconds": 100, "End": True}}},
            {"StartAt": "B", "States": {"B": {"Type": "Wait", "Seconds": 200, "End": True}}}]},
        "Caught": {"Type": "Pass", "End": True}}}
    result = execute(definition, "{}", clock=VirtualClock(START))
    assert (result.status, result.error) == ("TIMED_OUT", "States.Timeout")
    assert result.stop_date - result.start_date == 60
    assert "ParallelStateFailed" not in [e["type"] for e in result.history]


def test_a_failed_iteration_caught_by_the_map_lets_the_execution_go_on():
    d = SlowDispatcher(0.2)
    definition = map_of(concurrency=3)
    definition["States"]["M"].update({"Catch": [{"ErrorEquals": ["Boom"], "Next": "After"}]})
    definition["States"]["M"].pop("End")
    definition["States"]["M"]["Next"] = "Never"
    definition["States"]["Never"] = {"Type": "Fail", "Error": "NotHere"}
    definition["States"]["After"] = {"Type": "Pass", "End": True}
    items = [{"id": 0}, {"id": 1, "fail": True}, {"id": 2}]
    result = execute(definition, json.dumps({"items": items}), dispatcher=d)
    assert result.status == "SUCCEEDED"
    assert json.loads(result.output)["Error"] == "Boom"


def test_parallel_branches_overlap_in_time():
    d = SlowDispatcher(0.3)
    definition = {"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": f"Work{i}", "States": {f"Work{i}": {"Type": "Task", "Resource": FN, "Parameters": {"id": i},
                                                        "End": True}}}
        for i in range(3)]}}}
    result = execute(definition, "{}", dispatcher=d)
    assert result.status == "SUCCEEDED", result.cause
    assert json.loads(result.output) == [{"id": 0}, {"id": 1}, {"id": 2}]
    assert d.most == 3


def test_two_branches_wait_for_their_task_tokens_at_the_same_time():
    def branch(name):
        return {"StartAt": name, "States": {name: {
            "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Parameters": {"QueueUrl": "q", "MessageBody": {"token.$": "$$.Task.Token"}}, "End": True}}}

    class Submitter:
        def run_task(self, call):
            return {"MessageId": call.state_name}

    answered: list = []
    earlier = set(tokens.pending())   # tokens other tests left behind are not this run's

    def answer_when_both_wait():
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            waiting = set(tokens.pending()) - earlier
            if len(waiting) == 2:   # only possible when both branches wait at once
                for n, token in enumerate(sorted(waiting)):
                    tokens.send_task_success(token, {"n": n})
                answered.append(True)
                return
            time.sleep(0.01)
        for token in set(tokens.pending()) - earlier:
            tokens.send_task_failure(token, "NeverBothWaiting", "the branches waited one after the other")

    helper = threading.Thread(target=answer_when_both_wait)
    helper.start()
    definition = {"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": True,
                                                  "Branches": [branch("A"), branch("B")]}}}
    result = execute(definition, "{}", dispatcher=Submitter())
    helper.join()
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert answered == [True]
    assert sorted(o["n"] for o in json.loads(result.output)) == [0, 1]


def test_waits_in_branches_overlap_on_the_virtual_clock_and_the_first_failure_wins():
    definition = {"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "Long", "States": {"Long": {"Type": "Wait", "Seconds": 500, "Next": "Late"},
                                       "Late": {"Type": "Fail", "Error": "Late"}}},
        {"StartAt": "Short", "States": {"Short": {"Type": "Wait", "Seconds": 30, "Next": "Early"},
                                        "Early": {"Type": "Fail", "Error": "Early"}}},
    ]}}}
    began = time.monotonic()
    result = execute(definition, "{}", clock=VirtualClock(START))
    assert time.monotonic() - began < 5               # virtual waits take no real time
    assert (result.status, result.error) == ("FAILED", "Early")
    assert result.stop_date - result.start_date == 30  # the 500 s branch was stopped, not waited for


def test_a_wait_beside_real_work_ends_when_the_work_ends_if_the_work_is_longer():
    # Branch A works 0.4 s (real); branch B waits 10 s (virtual) and then checks on A's lane: on AWS B's
    # Wait ends 10 s after the start whatever A does; locally the clock jumps once nothing else can run.
    d = SlowDispatcher(0.4)
    definition = {"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": FN, "Parameters": {"id": "a"},
                                                "End": True}}},
        {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 10, "End": True}}},
    ]}}}
    began = time.monotonic()
    result = execute(definition, "{}", dispatcher=d, clock=VirtualClock(START))
    real = time.monotonic() - began
    assert result.status == "SUCCEEDED"
    assert result.stop_date - result.start_date == 10
    assert real < 5


def test_a_short_wait_beside_long_real_work_ends_in_real_time_before_the_work():
    # While real work is in flight, virtual time flows with the wall clock: B's 1 s Wait ends (and B
    # fails the Parallel) while A's 3 s task still runs, as it would on AWS.
    d = SlowDispatcher(3.0)
    definition = {"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": FN, "Parameters": {"id": "a"},
                                                "End": True}}},
        {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 1, "Next": "Give up"},
                                       "Give up": {"Type": "Fail", "Error": "TooSlow"}}},
    ]}}}
    began = time.monotonic()
    result = execute(definition, "{}", dispatcher=d, clock=VirtualClock(START))
    assert (result.status, result.error) == ("FAILED", "TooSlow")
    assert time.monotonic() - began < 2.5          # the execution did not wait for the 3 s task
    assert 1 <= result.stop_date - result.start_date < 1.5


def test_iterations_that_cannot_wait_run_in_order_in_the_callers_thread():
    definition = map_of(processor={"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    seen = []
    real_thread = threading.current_thread()

    def listener(event):
        seen.append(threading.current_thread() is real_thread)

    result = execute(definition, json.dumps({"items": list(range(5))}), listener=listener)
    assert result.status == "SUCCEEDED"
    assert all(seen)
    indexes = [e["mapIterationStartedEventDetails"]["index"] for e in result.history
               if e["type"] == "MapIterationStarted"]
    assert indexes == [0, 1, 2, 3, 4]


def test_distributed_map_children_overlap_and_fail_past_the_tolerance():
    d = SlowDispatcher(0.2)
    processor = {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                 "StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": FN, "End": True}}}
    definition = map_of(concurrency=5, processor=processor)
    definition["States"]["M"]["ToleratedFailureCount"] = 1
    items = [{"id": i, "fail": i in (1, 3)} for i in range(5)]
    result = execute(definition, json.dumps({"items": items}), dispatcher=d)
    assert (result.status, result.error) == ("FAILED", "States.ExceedToleratedFailureThreshold")
    assert d.most >= 4
    items = [{"id": i, "fail": i == 1} for i in range(5)]
    result = execute(definition, json.dumps({"items": items}), dispatcher=SlowDispatcher(0.05))
    assert result.status == "SUCCEEDED", result.cause
    assert json.loads(result.output)[1] == {"Error": "Boom", "Cause": "item 1"}


def test_with_the_real_clock_waits_in_branches_overlap_in_real_time():
    from engine.asl import RealClock

    definition = {"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "A", "States": {"A": {"Type": "Wait", "Seconds": 1, "End": True}}},
        {"StartAt": "B", "States": {"B": {"Type": "Wait", "Seconds": 1, "End": True}}}]}}}
    result = execute(definition, "{}", clock=RealClock())
    assert result.status == "SUCCEEDED"
    assert 1 <= result.stop_date - result.start_date < 1.9   # one second, not two one after the other
