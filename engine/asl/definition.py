"""A state machine definition compiled once: its states as objects, nested programs for Map/Parallel."""
from __future__ import annotations

import json
from typing import Any

from .errors import DefinitionError
from .states import JSONATA, JSONPATH, State
from .validate import check_definition

_MAX_NAME = 80


class Program:
    """StartAt plus States: the top level, a Parallel branch, or a Map's item processor."""

    __slots__ = ("assigns", "can_wait", "query_language", "start_at", "states")

    def __init__(self, start_at: str, states: dict[str, State], query_language: str) -> None:
        self.start_at = start_at
        self.states = states
        self.query_language = query_language
        # Whether any state here assigns variables: if none does, a branch or iteration can share its
        # parent's variable scope instead of opening its own.
        self.assigns = any(_assigns(state) for state in states.values())
        # Whether running it can ever wait (a Task, a Wait, a back-off): only then can branches or
        # iterations of it overlap in time, so only then do they need lanes of their own.
        self.can_wait = any(_can_wait(state) for state in states.values())


class StateMachine(Program):
    """The whole definition: the top-level program plus machine-wide settings."""

    __slots__ = ("comment", "timeout_seconds")

    def __init__(self, program: Program, timeout_seconds: int | None, comment: str | None) -> None:
        super().__init__(program.start_at, program.states, program.query_language)
        self.assigns = program.assigns
        self.can_wait = program.can_wait
        self.timeout_seconds = timeout_seconds
        self.comment = comment


def _state_classes() -> dict[str, type]:
    from .mapstate import MapState
    from .parallel import ParallelState
    from .states import ChoiceState, FailState, PassState, SucceedState, WaitState
    from .taskstate import TaskState

    return {
        "Pass": PassState,
        "Task": TaskState,
        "Choice": ChoiceState,
        "Wait": WaitState,
        "Succeed": SucceedState,
        "Fail": FailState,
        "Parallel": ParallelState,
        "Map": MapState,
    }


_CLASSES: dict[str, type] | None = None


def compile_program(spec: Any, query_language: str, where: str | None = None) -> Program:
    """Compile StartAt/States (checking that every transition names a state in this program)."""
    global _CLASSES
    if _CLASSES is None:
        _CLASSES = _state_classes()
    if not isinstance(spec, dict):
        raise DefinitionError("A state machine must be a JSON object with StartAt and States", where)
    states_spec = spec.get("States")
    start_at = spec.get("StartAt")
    if not isinstance(states_spec, dict) or not states_spec:
        raise DefinitionError("'States' must be a non-empty object", where, "States")
    if not isinstance(start_at, str) or start_at not in states_spec:
        raise DefinitionError(f"'StartAt' names no state: {start_at!r}", where, "StartAt")
    states: dict[str, State] = {}
    for name, state_spec in states_spec.items():
        if len(name) > _MAX_NAME:
            raise DefinitionError(f"State names must be at most {_MAX_NAME} characters", name)
        if not isinstance(state_spec, dict):
            raise DefinitionError("A state must be a JSON object", name)
        kind = state_spec.get("Type")
        cls = _CLASSES.get(kind) if isinstance(kind, str) else None
        if cls is None:
            raise DefinitionError(f"Unknown state type {state_spec.get('Type')!r}", name, "Type")
        try:
            states[name] = cls(name, state_spec, query_language)
        except DefinitionError as exc:
            if exc.state is None:  # raised by a helper that only knew the field: name the state too
                raise DefinitionError(exc.message, name, exc.field) from None
            raise
        except (TypeError, AttributeError, ValueError, KeyError) as exc:
            # A field of the wrong JSON type that no specific check caught: still a rejection, not a crash.
            raise DefinitionError(f"Invalid state definition: {exc}", name) from None
    for state in states.values():
        for target, field in _transitions(state):
            if target not in states:
                raise DefinitionError(f"Missing 'Next' target: {target}", state.name, field)
    return Program(start_at, states, query_language)


def _assigns(state: State) -> bool:
    if state.assign is not None:
        return True
    if any(rule[2] is not None for rule in getattr(state, "rules", ())):
        return True
    return any(c.assign is not None for c in getattr(state, "catchers", ()))


def _can_wait(state: State) -> bool:
    if state.kind in ("Task", "Wait") or getattr(state, "retriers", None):
        return True
    programs = getattr(state, "branches", None) or [getattr(state, "processor", None)]
    return any(program is not None and program.can_wait for program in programs)


def _transitions(state: State) -> list[tuple[str, str]]:
    out = []
    if state.next is not None:
        out.append((state.next, "Next"))
    for rule in getattr(state, "rules", ()):
        out.append((rule[1], "Choices"))
    default = getattr(state, "default", None)
    if default is not None:
        out.append((default, "Default"))
    for catcher in getattr(state, "catchers", ()):
        out.append((catcher.next, "Catch"))
    return out


def load(definition: Any) -> StateMachine:
    """Compile a definition given as a dict or JSON text (cached by its text); raises DefinitionError."""
    if isinstance(definition, bytes):
        definition = definition.decode()
    if isinstance(definition, str):
        return _load_text(definition)
    try:
        text = json.dumps(definition)
    except (TypeError, ValueError) as exc:
        raise DefinitionError(f"The definition is not JSON: {exc}") from None
    return _load_text(text)


_CACHE: dict[str, StateMachine] = {}
_CACHE_SIZE = 256


def _load_text(text: str) -> StateMachine:
    # Compiled states hold no per-run data, so one compilation serves every run of a definition.
    machine = _CACHE.get(text)
    if machine is None:
        machine = _compile(text)
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[text] = machine
    return machine


def clear_cache() -> None:
    """Forget compiled definitions (benchmarks use this to time compilation too)."""
    _CACHE.clear()


def _compile(text: str) -> StateMachine:
    # Compiled from the text, never from the caller's dict: constants in the compiled machine must not
    # be objects the caller may later change.
    try:
        definition = json.loads(text)
    except ValueError as exc:
        raise DefinitionError(f"The definition is not valid JSON: {exc}") from None
    if not isinstance(definition, dict):
        raise DefinitionError("A state machine definition must be a JSON object")
    ql = definition.get("QueryLanguage", JSONPATH)
    if ql not in (JSONPATH, JSONATA):
        raise DefinitionError("'QueryLanguage' must be JSONPath or JSONata", None, "QueryLanguage")
    timeout = definition.get("TimeoutSeconds")
    if timeout is not None and (not isinstance(timeout, int) or isinstance(timeout, bool) or timeout < 1):
        raise DefinitionError("'TimeoutSeconds' must be a positive integer", None, "TimeoutSeconds")
    program = compile_program(definition, ql)
    _check_unique_names(program, set())
    # The states above refuse what they cannot run; the validator refuses the rest of what
    # CreateStateMachine refuses (reachability, field combinations, ARNs...), so that loading and
    # `validate` give one verdict. Run once per definition text: the compiled machine is cached.
    problems = check_definition(definition)
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise DefinitionError(f"{first.message}{more}", first.state, first.field or None)
    return StateMachine(program, timeout, definition.get("Comment"))


def _check_unique_names(program: Program, seen: set[str]) -> None:
    # The ASL spec: state names are unique in the whole machine, branches and item processors included.
    for name, state in program.states.items():
        if name in seen:
            raise DefinitionError("State names must be unique within the whole state machine", name)
        seen.add(name)
        for inner in getattr(state, "branches", ()):
            _check_unique_names(inner, seen)
        processor = getattr(state, "processor", None)
        if processor is not None:
            _check_unique_names(processor, seen)
