"""Task tokens for ``.waitForTaskToken``: a local SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat.

The interpreter registers a token before it dispatches the task, then waits here until someone answers:
the task itself (a handler calling Step Functions through local AWS answers synchronously), another
thread, or a poller added with ``add_source`` (e.g. a mailbox that another process writes to).
"""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class TaskTimedOut(Exception):
    """No answer (or heartbeat) came within the state's TimeoutSeconds/HeartbeatSeconds."""

    def __init__(self, heartbeat: bool) -> None:
        super().__init__("heartbeat" if heartbeat else "timeout")
        self.heartbeat = heartbeat


class InvalidToken(Exception):
    """The token is unknown or its task already finished (AWS: TaskDoesNotExist / InvalidToken)."""


@dataclass
class _Waiter:
    done: threading.Event = field(default_factory=threading.Event)
    output: Any = None
    error: str | None = None
    cause: str | None = None
    failed: bool = False
    last_beat: float = field(default_factory=time.monotonic)


_lock = threading.Lock()
_waiters: dict[str, _Waiter] = {}
_sources: list[Callable[[], None]] = []


def new_token() -> str:
    """Register and return a fresh task token."""
    token = uuid.uuid4().hex + uuid.uuid4().hex
    with _lock:
        _waiters[token] = _Waiter()
    return token


def add_source(poll: Callable[[], None]) -> None:
    """Add a callable polled while a token is waited on; it answers tokens via send_task_*."""
    _sources.append(poll)


def pending() -> list[str]:
    """Tokens still waiting for an answer."""
    with _lock:
        return [t for t, w in _waiters.items() if not w.done.is_set()]


def _get(token: str) -> _Waiter:
    with _lock:
        waiter = _waiters.get(token)
    if waiter is None or waiter.done.is_set():
        raise InvalidToken(f"Task Token is invalid or the task already finished: {token}")
    return waiter


def send_task_success(token: str, output: Any) -> None:
    """Complete the task with ``output`` (a JSON value, or JSON text)."""
    waiter = _get(token)
    waiter.output = output
    waiter.done.set()


def send_task_failure(token: str, error: str | None = None, cause: str | None = None) -> None:
    """Fail the task with an error name and cause, which Retry/Catch then see."""
    waiter = _get(token)
    waiter.failed, waiter.error, waiter.cause = True, error, cause
    waiter.done.set()


def send_task_heartbeat(token: str) -> None:
    """Tell the interpreter the task is still alive (resets the HeartbeatSeconds timer)."""
    _get(token).last_beat = time.monotonic()


def wait(token: str, timeout: float | None, heartbeat: float | None) -> tuple[bool, Any, str | None, str | None]:
    """Block until the token is answered; returns (failed, output, error, cause).

    Raises TaskTimedOut when the timeout or heartbeat interval passes first (wall-clock seconds).
    """
    with _lock:
        waiter = _waiters[token]
    started = time.monotonic()
    try:
        while not waiter.done.is_set():
            for poll in _sources:
                poll()
            now = time.monotonic()
            if timeout is not None and now - started >= timeout:
                raise TaskTimedOut(heartbeat=False)
            if heartbeat is not None and now - waiter.last_beat >= heartbeat:
                raise TaskTimedOut(heartbeat=True)
            waiter.done.wait(0.05)
        return waiter.failed, waiter.output, waiter.error, waiter.cause
    finally:
        with _lock:
            _waiters.pop(token, None)


def discard(token: str) -> None:
    """Forget a token whose task was cancelled before anyone answered it."""
    with _lock:
        _waiters.pop(token, None)
