"""Retry and Catch: AWS's error-name matching, back-off, and which catcher wins."""
from __future__ import annotations

import random
from typing import Any

from .errors import ALL, NOT_CAUGHT_BY_ALL, NOT_TASK_FAILED, TASK_FAILED, DefinitionError


def matches(error_equals: tuple[str, ...], error: str | None) -> bool:
    """Whether an ErrorEquals list covers ``error`` (States.ALL / States.TaskFailed are wildcards)."""
    name = error or ""
    if name in error_equals:
        return True
    if ALL in error_equals and name not in NOT_CAUGHT_BY_ALL:
        return True
    return TASK_FAILED in error_equals and name not in NOT_TASK_FAILED


def _error_equals(spec: dict, state: str, field: str) -> tuple[str, ...]:
    names = spec.get("ErrorEquals")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise DefinitionError("'ErrorEquals' must be a non-empty array of error names", state, field)
    if ALL in names and len(names) != 1:
        raise DefinitionError("'States.ALL' must appear alone in 'ErrorEquals'", state, field)
    return tuple(names)


class Retrier:
    """One element of a state's ``Retry``."""

    __slots__ = ("backoff", "error_equals", "interval", "jitter", "max_attempts", "max_delay")

    def __init__(self, spec: dict, state: str) -> None:
        self.error_equals = _error_equals(spec, state, "Retry")
        self.interval = spec.get("IntervalSeconds", 1)
        self.max_attempts = spec.get("MaxAttempts", 3)
        self.backoff = spec.get("BackoffRate", 2.0)
        self.max_delay = spec.get("MaxDelaySeconds")
        self.jitter = spec.get("JitterStrategy", "NONE")
        if not isinstance(self.interval, int) or isinstance(self.interval, bool) or self.interval < 1:
            raise DefinitionError("'IntervalSeconds' must be a positive integer", state, "Retry")
        if not isinstance(self.max_attempts, int) or isinstance(self.max_attempts, bool) or self.max_attempts < 0:
            raise DefinitionError("'MaxAttempts' must be a non-negative integer", state, "Retry")
        if not isinstance(self.backoff, (int, float)) or isinstance(self.backoff, bool) or self.backoff < 1:
            raise DefinitionError("'BackoffRate' must be a number >= 1.0", state, "Retry")
        if self.jitter not in ("FULL", "NONE"):
            raise DefinitionError("'JitterStrategy' must be FULL or NONE", state, "Retry")

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based) of this retrier."""
        delay = self.interval * (self.backoff ** attempt)
        if self.max_delay is not None:
            delay = min(delay, self.max_delay)
        if self.jitter == "FULL":
            delay = random.uniform(0, delay)
        return delay


class Catcher:
    """One element of a state's ``Catch``."""

    __slots__ = ("assign", "error_equals", "next", "output", "result_path", "spec")

    def __init__(self, spec: dict, state: str) -> None:
        self.error_equals = _error_equals(spec, state, "Catch")
        self.next = spec.get("Next")
        if not isinstance(self.next, str):
            raise DefinitionError("A catcher needs 'Next'", state, "Catch")
        self.spec = spec
        # compiled by the state, which knows its query language
        self.result_path: Any = None
        self.assign: Any = None
        self.output: Any = None


class RetryState:
    """Attempts made so far against each retrier of one state entry."""

    __slots__ = ("counts",)

    def __init__(self, n: int) -> None:
        self.counts = [0] * n

    def next_delay(self, retriers: list[Retrier], error: str | None) -> float | None:
        """Delay before the next attempt, or None when no retrier allows one (first match decides)."""
        for i, retrier in enumerate(retriers):
            if matches(retrier.error_equals, error):
                if self.counts[i] >= retrier.max_attempts:
                    return None
                delay = retrier.delay(self.counts[i])
                self.counts[i] += 1
                return delay
        return None
