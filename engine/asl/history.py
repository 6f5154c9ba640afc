"""The execution history, shaped like GetExecutionHistory's events."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .clock import to_datetime
from .payload import dumps

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


class Deferred:
    """A JSON value whose text is only produced when the history is read (most runs never read it)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class History:
    """Appends events with ids and previousEventId, stamps them with the clock, tells a listener.

    Events are kept as tuples and turned into GetExecutionHistory-shaped dicts when first read, so
    a run whose history nobody looks at pays almost nothing for it.
    """

    __slots__ = ("_clock", "_events", "_last_stamp", "_last_time", "_listener", "_raw")

    def __init__(self, clock: Any, listener: Callable[[dict], None] | None) -> None:
        self._raw: list[tuple] = []
        self._events: list[dict] = []
        self._clock = clock
        self._listener = listener
        self._last_time: float | None = None
        self._last_stamp: Any = None

    def __len__(self) -> int:
        return len(self._raw)

    def add(self, event_type: str, previous: int, details: dict | None = None) -> int:
        """Record one event after event ``previous``; returns its id."""
        raw = self._raw
        event_id = len(raw) + 1
        raw.append((event_id, previous, self._clock.now(), event_type, details))
        if self._listener is not None:
            self._listener(self._materialize_to(event_id)[-1])
        return event_id

    @property
    def events(self) -> list[dict]:
        """Every event so far, shaped like GetExecutionHistory's."""
        return self._materialize_to(len(self._raw))

    def _materialize_to(self, count: int) -> list[dict]:
        events = self._events
        for event_id, previous, now, event_type, details in self._raw[len(events):count]:
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
                for k, v in details.items():
                    if type(v) is Deferred:
                        details[k] = dumps(v.value)
                event[key] = details
            events.append(event)
        return events
