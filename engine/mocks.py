"""Step Functions Local's MockConfigFile, as-is: answer chosen Task states with canned results or errors.

    config = MockConfig.load("tests/MockConfigFile.json")
    dispatcher = config.dispatcher("face-blur", "HappyPath", fallback=LocalDispatcher(app))
    execute(definition, input_text, dispatcher=dispatcher)

A test case maps state names to mocked responses; a mocked response maps attempt numbers ("0", "1-2")
to `{"Return": value}` or `{"Throw": {"Error": ..., "Cause": ...}}`. Attempts count every call of that
state in the execution (retries and Map iterations alike), from 0. Past the last attempt listed, the
last response repeats. States without a mock go to the fallback dispatcher (real handlers, local AWS).
"""
from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from engine.asl import tokens
from engine.asl.tasks import TaskCall, TaskDispatcher, TaskFailed


class MockConfigError(Exception):
    """A mock config file that does not follow the MockConfigFile format; message names file and field."""


@dataclass(frozen=True)
class MockedAttempt:
    """One entry of a mocked response: attempts `first`..`last` return `value` or throw `error`/`cause`."""

    first: int
    last: int
    returns: bool
    value: Any = None
    error: str | None = None
    cause: str | None = None


_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


class MockConfig:
    """A parsed MockConfigFile: state machines → test cases → state → mocked response name."""

    def __init__(self, document: dict, source: str = "<mock config>") -> None:
        self.source = source
        if not isinstance(document, dict):
            raise MockConfigError(f"{source}: a mock config is a JSON object with StateMachines and MockedResponses")
        machines = document.get("StateMachines") or {}
        responses = document.get("MockedResponses") or {}
        if not isinstance(machines, dict) or not isinstance(responses, dict):
            raise MockConfigError(f"{source}: StateMachines and MockedResponses must be objects")
        self.responses = {name: self._parse_response(name, entries) for name, entries in responses.items()}
        self.test_cases: dict[str, dict[str, dict[str, str]]] = {}
        for machine, spec in machines.items():
            cases = (spec or {}).get("TestCases") if isinstance(spec, dict) else None
            if not isinstance(cases, dict):
                raise MockConfigError(f"{source}: StateMachines.{machine}.TestCases must be an object")
            for case, states in cases.items():
                if not isinstance(states, dict):
                    raise MockConfigError(f"{source}: StateMachines.{machine}.TestCases.{case} must map state "
                                          "names to mocked response names")
                for state, response in states.items():
                    if response not in self.responses:
                        raise MockConfigError(
                            f"{source}: StateMachines.{machine}.TestCases.{case}.{state} refers to "
                            f"'{response}', which MockedResponses does not define")
            self.test_cases[machine] = cases

    @classmethod
    def load(cls, path: str | Path) -> MockConfig:
        """Read a MockConfigFile.json."""
        path = Path(path)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise MockConfigError(f"{path}: no such mock config file") from None
        except json.JSONDecodeError as error:
            raise MockConfigError(f"{path}:{error.lineno}:{error.colno}: {error.msg}") from None
        return cls(document, str(path))

    def _parse_response(self, name: str, entries: Any) -> list[MockedAttempt]:
        where = f"{self.source}: MockedResponses.{name}"
        if not isinstance(entries, dict) or not entries:
            raise MockConfigError(f"{where} must map attempt numbers (\"0\", \"1-2\") to Return or Throw")
        attempts = []
        for key, entry in entries.items():
            match = _RANGE.match(str(key))
            if match is None:
                raise MockConfigError(f"{where}: '{key}' is not an attempt number or range like \"1-2\"")
            first = int(match[1])
            last = int(match[2]) if match[2] is not None else first
            if last < first:
                raise MockConfigError(f"{where}: range '{key}' ends before it starts")
            if not isinstance(entry, dict) or len({"Return", "Throw"} & set(entry)) != 1:
                raise MockConfigError(f"{where}.{key} must have exactly one of Return or Throw")
            if "Return" in entry:
                attempts.append(MockedAttempt(first, last, True, value=entry["Return"]))
            else:
                thrown = entry["Throw"]
                if not isinstance(thrown, dict) or "Error" not in thrown:
                    raise MockConfigError(f"{where}.{key}.Throw needs Error (and Cause)")
                attempts.append(MockedAttempt(first, last, False, error=str(thrown["Error"]),
                                              cause=None if thrown.get("Cause") is None else str(thrown["Cause"])))
        attempts.sort(key=lambda attempt: attempt.first)
        for previous, following in pairwise(attempts):
            if following.first <= previous.last:
                raise MockConfigError(f"{where}: attempts {previous.first}-{previous.last} and "
                                      f"{following.first}-{following.last} overlap")
        return attempts

    def state_machine_key(self, *names: str) -> str | None:
        """The StateMachines key matching any of `names` (workflow name, state machine name, logical id)."""
        for name in names:
            if name in self.test_cases:
                return name
        return None

    def dispatcher(self, state_machine: str, test_case: str, fallback: TaskDispatcher | None) -> MockDispatcher:
        """A dispatcher answering the test case's mocked states and passing other Tasks to `fallback`."""
        if state_machine not in self.test_cases:
            known = ", ".join(sorted(self.test_cases)) or "none"
            raise MockConfigError(f"{self.source}: no state machine '{state_machine}' in StateMachines "
                                  f"(it has: {known})")
        cases = self.test_cases[state_machine]
        if test_case not in cases:
            known = ", ".join(sorted(cases)) or "none"
            raise MockConfigError(f"{self.source}: state machine '{state_machine}' has no test case "
                                  f"'{test_case}' (it has: {known})")
        mocked = {state: self.responses[response] for state, response in cases[test_case].items()}
        return MockDispatcher(mocked, fallback)


class MockDispatcher:
    """Answers mocked Task states from their responses, attempt by attempt; the rest go to `fallback`."""

    def __init__(self, mocked: dict[str, list[MockedAttempt]], fallback: TaskDispatcher | None) -> None:
        self.mocked = mocked
        self.fallback = fallback
        self.attempts: dict[str, int] = {}    # state name → calls so far in this execution
        self._lock = threading.Lock()

    def run_task(self, call: TaskCall) -> Any:
        """Answer a mocked state's attempt, or run the Task for real."""
        responses = self.mocked.get(call.state_name)
        if responses is None:
            if self.fallback is None:
                raise TaskFailed("States.TaskFailed", f"State '{call.state_name}' is not mocked in this test case "
                                                      "and no real dispatcher was given.")
            return self.fallback.run_task(call)
        with self._lock:
            attempt = self.attempts.get(call.state_name, 0)
            self.attempts[call.state_name] = attempt + 1
        chosen = next((entry for entry in responses if entry.first <= attempt <= entry.last), None)
        if chosen is None:
            earlier = [entry for entry in responses if entry.last < attempt]
            chosen = earlier[-1] if earlier else responses[0]
        if not chosen.returns:
            raise TaskFailed(chosen.error or "", chosen.cause)
        if call.task_token is not None:
            # As Step Functions Local does: the mocked result is what the callback would have sent.
            tokens.send_task_success(call.task_token, chosen.value)
        return chosen.value
