"""Helpers for interpreter tests: run a definition and look at its result and history."""
from __future__ import annotations

import json
from typing import Any

from engine import execute
from engine.asl import TaskCall, TaskFailed


def run(definition: dict, value: Any = None, **kwargs: Any):
    """Execute with a JSON value as input (None → AWS's default ``{}``)."""
    return execute(definition, None if value is None else json.dumps(value), **kwargs)


def output(definition: dict, value: Any = None, **kwargs: Any) -> Any:
    """The output of a run that must succeed."""
    result = run(definition, value, **kwargs)
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    return json.loads(result.output)


def one_state(state: dict, name: str = "S", **top: Any) -> dict:
    """A machine made of one state that ends it."""
    state = dict(state)
    if state["Type"] not in ("Succeed", "Fail", "Choice"):
        state.setdefault("End", True)
    return {"StartAt": name, "States": {name: state}, **top}


def event_types(result) -> list[str]:
    return [e["type"] for e in result.history]


class ScriptedDispatcher:
    """A dispatcher whose answers are scripted per call: values are returned, TaskFailed raised."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls: list[TaskCall] = []

    def run_task(self, call: TaskCall) -> Any:
        self.calls.append(call)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, TaskFailed):
            raise answer
        if callable(answer):
            return answer(call)
        return answer


