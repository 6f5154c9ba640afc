import threading

from aslrun import ScriptedDispatcher, event_types, one_state, output, run

from engine.asl import tokens

RESOURCE = "arn:aws:states:::sqs:sendMessage.waitForTaskToken"


def token_task(**fields):
    return one_state({"Type": "Task", "Resource": RESOURCE,
                      "Parameters": {"QueueUrl": "q", "MessageBody": {"token.$": "$$.Task.Token"}}, **fields})


def test_task_answered_during_dispatch_completes_with_the_sent_output():
    def answer(call):
        tokens.send_task_success(call.arguments["MessageBody"]["token"], '{"approved": true}')
        return {"MessageId": "m"}

    result = run(token_task(), {}, dispatcher=ScriptedDispatcher(answer))
    assert result.status == "SUCCEEDED"
    assert result.output == '{"approved":true}'
    assert "TaskSubmitted" in event_types(result)


def test_task_answered_from_another_thread():
    def answer(call):
        token = call.task_token
        threading.Timer(0.05, tokens.send_task_failure, args=(token, "Rejected", "no")).start()
        return {}

    result = run(token_task(), {}, dispatcher=ScriptedDispatcher(answer))
    assert (result.status, result.error, result.cause) == ("FAILED", "Rejected", "no")


def test_unanswered_token_times_out():
    result = run(token_task(TimeoutSeconds=1), {}, dispatcher=ScriptedDispatcher({}))
    assert (result.status, result.error) == ("FAILED", "States.Timeout")
    assert "TaskTimedOut" in event_types(result)
    assert tokens.pending() == []
    stamps = {e["type"]: e["timestamp"] for e in result.history}
    assert (stamps["TaskTimedOut"] - stamps["TaskStarted"]).total_seconds() >= 1  # the wait shows in history


def test_heartbeat_keeps_it_alive_then_success():
    def answer(call):
        token = call.task_token

        def beat_then_finish():
            for _ in range(6):  # 1.2 s in all, longer than HeartbeatSeconds, beating well within it
                tokens.send_task_heartbeat(token)
                threading.Event().wait(0.2)
            tokens.send_task_success(token, "done")

        threading.Thread(target=beat_then_finish).start()
        return {}

    assert output(token_task(HeartbeatSeconds=1), {}, dispatcher=ScriptedDispatcher(answer)) == "done"
