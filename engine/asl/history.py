"""The execution history, shaped like GetExecutionHistory's events."""
from __future__ import annotations

from typing import Any, Callable

from .clock import to_datetime

# event type -> the key its details live under (GetExecutionHistory's naming)
_DETAILS_KEY = {
    "ExecutionStarted": "executionStartedEventDetails",
    "ExecutionSucceeded": "executionSucceededEventDetails",
    "ExecutionFailed": "executionFailedEventDetails",
    "ExecutionTimedOut": "executionTimedOutEventDetails",
    "ExecutionAborted": "executionAbortedEventDetails",
    "MapStateStarted": "mapStateStartedEventDetails",
    "MapIterationStarted": "mapIterationStartedEventDetails",
    "MapIterationSucceeded": "mapIterationSucceededEventDetails",
    "MapIterationFailed": "mapIterationFailedEventDetails",
    "MapIterationAborted": "mapIterationAbortedEventDetails",
    "MapRunStarted": "mapRunStartedEventDetails",
    "MapRunFailed": "mapRunFailedEventDetails",
    "TaskScheduled": "taskScheduledEventDetails",
    "TaskStarted": "taskStartedEventDetails",
    "TaskSubmitted": "taskSubmittedEventDetails",
    "TaskSucceeded": "taskSucceededEventDetails",
    "TaskFailed": "taskFailedEventDetails",
    "TaskTimedOut": "taskTimedOutEventDetails",
    "LambdaFunctionScheduled": "lambdaFunctionScheduledEventDetails",
    "LambdaFunctionSucceeded": "lambdaFunctionSucceededEventDetails",
    "LambdaFunctionFailed": "lambdaFunctionFailedEventDetails",
    "LambdaFunctionTimedOut": "lambdaFunctionTimedOutEventDetails",
    "EvaluationFailed": "evaluationFailedEventDetails",
}


_KEYS: dict[str, str] = {}


def details_key(event_type: str) -> str | None:
    """The details key for an event type; state Entered/Exited events share two keys."""
    key = _DETAILS_KEY.get(event_type)
    if key is not None:
        return key
    if event_type.endswith("StateEntered"):
        return "stateEnteredEventDetails"
    if event_type.endswith("StateExited"):
        return "stateExitedEventDetails"
    return None


class History:
    """Appends events with ids and previousEventId, stamps them with the clock, tells a listener."""

    __slots__ = ("events", "_clock", "_listener", "_last_time", "_last_stamp")

    def __init__(self, clock: Any, listener: Callable[[dict], None] | None) -> None:
        self.events: list[dict] = []
        self._clock = clock
        self._listener = listener
        self._last_time: float | None = None
        self._last_stamp: Any = None

    def add(self, event_type: str, previous: int, details: dict | None = None) -> int:
        """Record one event after event ``previous``; returns its id."""
        event_id = len(self.events) + 1
        now = self._clock.now()
        if now != self._last_time:  # a virtual clock stands still between waits: reuse the datetime
            self._last_time, self._last_stamp = now, to_datetime(now)
        event: dict = {
            "id": event_id,
            "previousEventId": previous,
            "timestamp": self._last_stamp,
            "type": event_type,
        }
        if details is not None:
            key = _KEYS.get(event_type)
            if key is None:
                key = _KEYS[event_type] = details_key(event_type) or "details"
            event[key] = details
        self.events.append(event)
        if self._listener is not None:
            self._listener(event)
        return event_id
