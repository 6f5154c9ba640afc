"""Runs a compiled state machine: the state loop, events, the context object, time."""
from __future__ import annotations

import json
import time
import traceback
from collections import ChainMap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .clock import VirtualClock, iso
from .definition import Program, StateMachine, load
from .errors import (
    DATA_LIMIT_EXCEEDED,
    RUNTIME,
    TIMEOUT,
    ExecutionTimedOut,
    FieldFailure,
    InvalidExecutionInput,
    StateFailure,
    state_cause,
)
from .history import Deferred, History
from .lanes import NOT_STARTED, Lanes
from .payload import dumps
from .states import Scope, State
from .tasks import NoDispatcher, TaskDispatcher

PAYLOAD_LIMIT = 256 * 1024
MAX_DURATION = 365 * 24 * 3600
# Locally there is no execution role; this name is the one our AWS-recorded conformance corpus used.
DEFAULT_ROLE_NAME = "snf_role"
_NOT_TRUNCATED = {"truncated": False}
_NO_CONTEXT: dict = {}


@dataclass
class ExecutionResult:
    """What DescribeExecution and GetExecutionHistory would say about one run."""

    status: str  # SUCCEEDED | FAILED | TIMED_OUT | ABORTED
    output: str | None = None  # JSON text, only when SUCCEEDED
    error: str | None = None
    cause: str | None = None
    execution_arn: str = ""
    state_machine_arn: str = ""
    name: str = ""
    start_date: float = 0.0  # epoch seconds on the run's clock
    stop_date: float = 0.0
    _history: History | None = field(default=None, repr=False)
    # Distributed Maps' child executions: (mapRunArn, child state machine ARN, [ChildExecution]) per Map run.
    map_runs: list = field(default_factory=list, repr=False)

    @property
    def history(self) -> list[dict]:
        """The events, shaped like GetExecutionHistory's (built on first access)."""
        return [] if self._history is None else self._history.events


# What a distributed map's child execution tells the run's listener: only that a task waits for a token, and
# what it sent (its TaskScheduled), so whoever watches the run (`stepsmith run`) can show how to answer it.
# The rest of a child's events are its own history, as on AWS.
_TOKEN_EVENTS = frozenset({"TaskScheduled", "TaskSubmitted"})


def _token_waits(listener: Callable[[dict], None] | None) -> Callable[[dict], None] | None:
    if listener is None:
        return None
    return lambda event: listener(event) if event["type"] in _TOKEN_EVENTS else None


class Run:
    """One execution in progress: shared by every branch and iteration it spawns."""

    def __init__(self, machine: StateMachine, input_value: Any, *, state_machine_name: str,
                 execution_name: str, account: str, region: str, dispatcher: TaskDispatcher,
                 clock: Any, listener: Callable[[dict], None] | None, role_arn: str) -> None:
        self.machine = machine
        self.clock = clock
        self.dispatcher = dispatcher
        self.region = region
        self.account = account
        self.history = History(clock, listener)
        self.child_listener = _token_waits(listener)
        self.state_machine_arn = f"arn:aws:states:{region}:{account}:stateMachine:{state_machine_name}"
        self.execution_arn = f"arn:aws:states:{region}:{account}:execution:{state_machine_name}:{execution_name}"
        self.started = clock.now()
        self.role_arn = role_arn
        self.execution_context = {
            "Id": self.execution_arn,
            "Input": input_value,
            "Name": execution_name,
            "RoleArn": role_arn,
            "StartTime": iso(self.started),
            "RedriveCount": 0,
        }
        self.machine_context = {"Id": self.state_machine_arn, "Name": state_machine_name}
        self.map_runs: list = []   # see ExecutionResult.map_runs
        # A Standard workflow runs at most a year; a longer wait ends the execution as timed out.
        limit = MAX_DURATION if machine.timeout_seconds is None else min(machine.timeout_seconds, MAX_DURATION)
        self.deadline = self.started + limit
        self.lanes: Lanes | None = None  # made by the first fork whose lanes can wait (see lanes.py)

    # --- events and time -------------------------------------------------------------------------

    def event(self, scope: Scope, event_type: str, details: dict | None = None) -> int:
        """Record an event in ``scope``'s lane; returns its id."""
        event_id = scope.history.add(event_type, scope.prev, details)
        scope.prev = event_id
        return event_id

    def sleep(self, seconds: float) -> None:
        """Let time pass (virtually by default), stopping at the execution's deadline."""
        self.wait_until(self.clock.now() + seconds)

    def wait_until(self, epoch_seconds: float) -> None:
        """Let time pass until an instant, stopping at the execution's deadline."""
        if epoch_seconds > self.deadline:
            self._sleep_until(self.deadline)
            raise ExecutionTimedOut()
        self._sleep_until(epoch_seconds)

    def _sleep_until(self, epoch_seconds: float) -> None:
        lanes = self.lanes
        if lanes is None or not lanes.owns_current_thread():
            self.clock.sleep_until(epoch_seconds)
        else:
            lanes.sleep_until(epoch_seconds)   # other lanes run meanwhile; the clock jumps when none can

    def working(self, cancel: Callable[[], None] | None = None) -> Working:
        """``with run.working():`` around real work (a task, a task token): other lanes run meanwhile,
        and the work advances a virtual clock by its real duration (overlapping work overlaps)."""
        return Working(self, cancel)

    def fork(self, job: Callable[[int, Any], Any], items: list, limit: int, can_wait: bool,
             stop: Callable[[int, BaseException], bool]) -> tuple[list[Any], int | None, int | None]:
        """Run ``job(index, item)`` for every item side by side (see Lanes.fork for what comes back).

        Jobs that can never wait (no Task, Wait or back-off anywhere in them) would not overlap
        anyway: they run one after another in this thread, in the order lanes would have run them.
        """
        if can_wait:
            if self.lanes is None:
                self.lanes = Lanes(self.clock)
            if self.lanes.owns_current_thread():
                return self.lanes.fork(job, items, limit, stop)
        outcomes: list[Any] = [NOT_STARTED] * len(items)
        last = None
        for index, item in enumerate(items):
            try:
                outcomes[index] = job(index, item)
            except (StateFailure, ExecutionTimedOut) as error:
                outcomes[index] = error
                if stop(index, error):
                    return outcomes, index, index
            last = index
        return outcomes, None, last

    def state_context(self, name: str, retry_count: int | None = None) -> dict:
        """The context object (``$$``) as a state sees it on entry."""
        state = {"EnteredTime": iso(self.clock.now()), "Name": name}
        if retry_count is not None:
            state["RetryCount"] = retry_count
        return {"Execution": self.execution_context, "State": state, "StateMachine": self.machine_context}

    # --- the state loop --------------------------------------------------------------------------

    def run_program(self, program: Program, value: Any, scope: Scope) -> Any:
        """Run states from StartAt until one ends the program; returns its output."""
        name: str | None = program.start_at
        states = program.states
        while name is not None:
            if self.clock.now() >= self.deadline:
                raise ExecutionTimedOut()
            name, value = self.run_state(states[name], value, scope)
        return value

    def run_state(self, state: State, raw: Any, scope: Scope) -> tuple[str | None, Any]:
        """Enter, execute and exit one state; returns (next name, output)."""
        text = scope.last_text if raw is scope.last_out and scope.last_text is not None else Deferred(raw)
        history = scope.history
        entered = scope.prev = history.add(state.entered_type, scope.prev,
                                           {"name": state.name, "input": text, "inputDetails": _NOT_TRUNCATED})
        scope.context = (self.state_context(state.name, 0 if state.retry_count_in_context else None)
                         if state.needs_context else _NO_CONTEXT)
        try:
            nxt, out, assigned = state.execute(self, raw, scope, entered)
        except FieldFailure as f:
            raise StateFailure(f.error, state_cause(state.name, entered, f.message)) from None
        if out is raw and type(text) is str:  # passed through unchanged: its text is known and within limits
            out_text = text
        else:
            out_text = dumps(out)
        if len(out_text) > PAYLOAD_LIMIT and len(out_text.encode()) > PAYLOAD_LIMIT:
            raise StateFailure(
                DATA_LIMIT_EXCEEDED,
                f"The state/task '{state.name}' returned a result with a size exceeding the maximum number of "
                "bytes service limit.",
            )
        details: dict = {"name": state.name, "output": out_text, "outputDetails": _NOT_TRUNCATED}
        if assigned is not None:
            scope.variables.maps[0].update(assigned)
            details["assignedVariables"] = {k: dumps(v) for k, v in assigned.items()}
            details["assignedVariablesDetails"] = _NOT_TRUNCATED
        scope.prev = history.add(state.exited_type, scope.prev, details)
        scope.last_out, scope.last_text = out, out_text
        return nxt, out


class Working:
    """Real work in a lane: gives the baton up meanwhile, then brings the virtual clock up to date.

    Only noticeable durations count, so instant local work does not blur the exact times of waits and
    back-off. A lane aborted meanwhile raises LaneAborted on the way out and leaves the clock alone.
    """

    __slots__ = ("_cancel", "_clock_from", "_lanes", "_real_from", "_run")

    def __init__(self, run: Run, cancel: Callable[[], None] | None) -> None:
        self._run = run
        self._cancel = cancel
        self._lanes: Lanes | None = None

    def __enter__(self) -> None:
        run = self._run
        self._real_from, self._clock_from = time.monotonic(), run.clock.now()
        lanes = run.lanes
        if lanes is not None and lanes.owns_current_thread():
            self._lanes = lanes
            lanes.begin_work(self._cancel)

    def __exit__(self, *exc: object) -> None:
        if self._lanes is not None:
            self._lanes.end_work()
        clock = self._run.clock
        lag = (time.monotonic() - self._real_from) - (clock.now() - self._clock_from)
        if lag >= 0.05:
            clock.sleep(lag)


def execute(
    definition: Any,
    input_text: str | None = None,
    state_machine_name: str = "sm",
    execution_name: str = "ex",
    account: str = "111111111111",
    region: str = "us-east-1",
    dispatcher: TaskDispatcher | None = None,
    clock: Any = None,
    listener: Callable[[dict], None] | None = None,
    role_arn: str | None = None,
) -> ExecutionResult:
    """Run a state machine definition (dict or JSON text) on an input (JSON text; None means ``{}``).

    Raises DefinitionError when AWS would reject the definition and InvalidExecutionInput when the input
    is not JSON; every failure at run time is a FAILED/TIMED_OUT result, never an exception, and
    KeyboardInterrupt (Ctrl-C) stops the run as ABORTED.
    """
    machine = load(definition)
    if input_text is None:
        input_text = "{}"
    try:
        input_value = json.loads(input_text)
    except (TypeError, ValueError) as exc:
        raise InvalidExecutionInput(f"The execution input is not valid JSON: {exc}") from None
    clock = clock if clock is not None else VirtualClock()
    run = Run(
        machine, input_value,
        state_machine_name=state_machine_name, execution_name=execution_name, account=account,
        region=region, dispatcher=dispatcher if dispatcher is not None else NoDispatcher(), clock=clock,
        listener=listener, role_arn=role_arn or f"arn:aws:iam::{account}:role/{DEFAULT_ROLE_NAME}",
    )
    scope = Scope(ChainMap({}), 0, run.history)
    run.event(scope, "ExecutionStarted", {
        "input": input_text, "inputDetails": _NOT_TRUNCATED, "roleArn": run.role_arn,
    })
    result = ExecutionResult(status="RUNNING", execution_arn=run.execution_arn,
                             state_machine_arn=run.state_machine_arn, name=execution_name,
                             start_date=run.started)
    try:
        output = run.run_program(machine, input_value, scope)
    except StateFailure as f:
        result.status, result.error, result.cause = "FAILED", f.error, f.cause
        run.event(scope, "ExecutionFailed", _error_details(f.error, f.cause))
    except ExecutionTimedOut:
        result.status, result.error = "TIMED_OUT", TIMEOUT
        run.event(scope, "ExecutionTimedOut", {"error": TIMEOUT})
    except KeyboardInterrupt:  # Ctrl-C is the local StopExecution: keep the history of what ran
        result.status = "ABORTED"
        run.event(scope, "ExecutionAborted", {})
    except Exception as exc:  # noqa: BLE001 — an engine bug must not take the caller down with it
        cause = f"Stepsmith engine error: {type(exc).__name__}: {exc}\n{traceback.format_exc()}"
        result.status, result.error, result.cause = "FAILED", RUNTIME, cause
        run.event(scope, "ExecutionFailed", _error_details(RUNTIME, cause))
    else:
        text = scope.last_text if output is scope.last_out and scope.last_text is not None else dumps(output)
        result.status, result.output = "SUCCEEDED", text
        run.event(scope, "ExecutionSucceeded", {"output": text, "outputDetails": _NOT_TRUNCATED})
    result.stop_date = clock.now()
    result._history = run.history
    result.map_runs = run.map_runs
    return result


def _error_details(error: str | None, cause: str | None) -> dict:
    details = {}
    if error is not None:
        details["error"] = error
    if cause is not None:
        details["cause"] = cause
    return details
