"""The state types. Each is compiled once from its ASL object and then run many times.

A state runs in a ``Scope`` (its lane: variables, last event id, context object). ``execute`` returns
``(next state name or None, output, assigned variables or None)`` or raises StateFailure/FieldFailure.
JSONPath and JSONata states share one class per type; the query language picks the pipeline.
"""
from __future__ import annotations

import json
from collections import ChainMap
from collections.abc import Callable
from typing import Any

from . import expressions, jsonpath, timestamps
from .choice import compile_condition, compile_rule
from .errors import (
    QUERY_EVALUATION,
    RUNTIME,
    DefinitionError,
    FieldFailure,
    StateFailure,
    state_cause,
)
from .payload import (
    ResultPath,
    compile_jsonata_template,
    compile_jsonpath_template,
    compile_typed_jsonata,
    dumps,
    unexpected_result_type,
)
from .retry import Catcher, Retrier, RetryState, matches

JSONATA = "JSONata"
JSONPATH = "JSONPath"

_COMMON = {"Type", "Comment", "QueryLanguage", "Next", "End"}
_JSONPATH_ONLY = {"InputPath", "OutputPath", "Parameters", "ResultSelector", "ResultPath", "ItemsPath",
                  "SecondsPath", "TimestampPath", "ErrorPath", "CausePath", "TimeoutSecondsPath",
                  "HeartbeatSecondsPath", "MaxConcurrencyPath", "ToleratedFailureCountPath",
                  "ToleratedFailurePercentagePath", "Iterator", "Result"}
_JSONATA_ONLY = {"Arguments", "Output", "Items"}


def _apply_path(path: jsonpath.Path | None | bool, value: Any, scope: Scope) -> Any:
    """InputPath/OutputPath: None keeps the value, False (`null` in the definition) gives {}."""
    if path is None:
        return value
    if path is False:
        return {}
    try:
        return path.get(value, scope.context, scope.variables)
    except jsonpath.PathError as exc:
        raise FieldFailure(exc.error, exc.cause) from None


class Scope:
    """The lane a state runs in: variables visible to it, the last event id, and its ``$$``."""

    __slots__ = ("context", "history", "last_out", "last_text", "prev", "variables")

    def __init__(self, variables: ChainMap, prev: int, history: Any) -> None:
        self.variables = variables
        self.prev = prev
        self.history = history  # where this lane's events go (a distributed map's children keep their own)
        self.context: dict = {}
        self.last_out: Any = None
        self.last_text: str | None = None


def child_variables(variables: ChainMap, program: Any) -> ChainMap:
    """The variable scope of a branch or iteration: its own layer only when it can assign."""
    return variables.new_child() if program.assigns else variables


class Frame:
    """A context object and variables, for evaluating one expression outside a state's own scope."""

    __slots__ = ("context", "variables")

    def __init__(self, context: dict, variables: Any) -> None:
        self.context = context
        self.variables = variables


class State:
    """What every state has: a name, a transition, a query language, Assign, and its event names."""

    kind = "State"
    allowed: frozenset[str] = frozenset()
    terminal = False
    retry_count_in_context = False

    def __init__(self, name: str, spec: dict, query_language: str) -> None:
        self.name = name
        self.spec = spec
        ql = spec.get("QueryLanguage", query_language)
        if ql not in (JSONPATH, JSONATA):
            raise DefinitionError("'QueryLanguage' must be JSONPath or JSONata", name, "QueryLanguage")
        if query_language == JSONATA and ql == JSONPATH:
            raise DefinitionError(
                "A state cannot use JSONPath when the state machine's QueryLanguage is JSONata",
                name,
                "QueryLanguage",
            )
        self.jsonata = ql == JSONATA
        self.query_language = ql
        # Building the context object costs time on every entry; skip it for states that cannot read it.
        self.needs_context = self.jsonata or self.kind in ("Task", "Map") or "$$" in json.dumps(spec)
        self.entered_type = f"{self.kind}StateEntered"
        self.exited_type = f"{self.kind}StateExited"
        unknown = set(spec) - _COMMON - self.allowed - {"Assign"}
        if unknown:
            raise DefinitionError(f"Field(s) not allowed in a {self.kind} state: {sorted(unknown)}", name,
                                  min(unknown))
        wrong = set(spec) & (_JSONPATH_ONLY if self.jsonata else _JSONATA_ONLY)
        if wrong:
            raise DefinitionError(f"The field '{min(wrong)}' is not supported for {ql} states", name, min(wrong))
        self.next: str | None = None
        if not self.terminal:
            nxt, end = spec.get("Next"), spec.get("End")
            if end is True and nxt is None:
                self.next = None
            elif isinstance(nxt, str) and not end:
                self.next = nxt
            else:
                raise DefinitionError("A state needs exactly one of 'Next' or 'End': true", name, "Next")
        self.assign = self._compile_assign(spec.get("Assign"), "Assign")
        # JSONPath-mode paths; inactive ones stay None
        self.input_path = self._path_field("InputPath") if not self.jsonata else None
        self.output_path = self._path_field("OutputPath") if not self.jsonata else None
        self.output = self._jsonata_field("Output") if self.jsonata else None

    # --- compile helpers -------------------------------------------------------------------------

    def _path_field(self, key: str) -> Any:
        """InputPath/OutputPath: absent → '$' (identity, returned as None); null → discard (``{}``)."""
        if key not in self.spec:
            return None
        text = self.spec[key]
        if text is None:
            return False
        if not isinstance(text, str):
            raise DefinitionError(f"'{key}' must be a path or null", self.name, key)
        if text == "$":
            return None
        return expressions.compile_path(text, key, self.name)

    def _template(self, key: str) -> Callable[[Any, Any], Any] | None:
        if key not in self.spec:
            return None
        fn, _ = compile_jsonpath_template(self.spec[key], self.name, key)
        return fn

    def _jsonata_field(self, key: str) -> Callable[[Any, Any], Any] | None:
        if key not in self.spec:
            return None
        try:
            fn, _ = compile_jsonata_template(self.spec[key], key)
        except DefinitionError as exc:
            raise DefinitionError(exc.message, self.name, key) from None
        return fn

    def _compile_assign(self, assign: Any, field: str) -> Callable[[Any, Any], Any] | None:
        if assign is None:
            return None
        if not isinstance(assign, dict):
            raise DefinitionError("'Assign' must be an object", self.name, field)
        for key in assign:
            var = key[:-2] if (key.endswith(".$") and not self.jsonata) else key
            if not var or var.startswith("$") or not (var[0].isalpha() or var[0] == "_"):
                raise DefinitionError(f"Invalid variable name '{var}'", self.name, field)
        if self.jsonata:
            fn, _ = compile_jsonata_template(assign, field)
        else:
            fn, _ = compile_jsonpath_template(assign, self.name, field)
        return fn

    def _compile_retry_catch(self, result_path_default: str | None = "$") -> None:
        retry = self.spec.get("Retry", [])
        catch = self.spec.get("Catch", [])
        if not isinstance(retry, list) or not isinstance(catch, list):
            raise DefinitionError("'Retry' and 'Catch' must be arrays", self.name, "Retry")
        for field, rules in (("Retry", retry), ("Catch", catch)):
            if not all(isinstance(rule, dict) for rule in rules):
                raise DefinitionError(f"Each element of '{field}' must be an object", self.name, field)
        self.retriers = [Retrier(r, self.name) for r in retry]
        self.catchers = [Catcher(c, self.name) for c in catch]
        for field, rules in (("Retry", self.retriers), ("Catch", self.catchers)):
            if any("States.ALL" in rule.error_equals for rule in rules[:-1]):
                raise DefinitionError(f"'States.ALL' may only appear in the last element of '{field}'",
                                      self.name, field)
        for c in self.catchers:
            if self.jsonata:
                c.output = None
                if "Output" in c.spec:
                    c.output, _ = compile_jsonata_template(c.spec["Output"], "Output")
                c.assign = self._compile_assign(c.spec.get("Assign"), "Assign")
            else:
                rp = c.spec.get("ResultPath", result_path_default)
                c.result_path = ResultPath(rp, self.name, "ResultPath")
                c.assign = self._compile_assign(c.spec.get("Assign"), "Assign")

    # --- run helpers -----------------------------------------------------------------------------

    def apply_input_path(self, raw: Any, scope: Scope) -> Any:
        return _apply_path(self.input_path, raw, scope)

    def apply_output_path(self, value: Any, scope: Scope) -> Any:
        return _apply_path(self.output_path, value, scope)

    def states_binding(self, raw: Any, scope: Scope, **extra: Any) -> dict:
        """The JSONata ``$states`` variable."""
        binding = {"input": raw, "context": scope.context}
        binding.update(extra)
        return binding

    def finish_jsonata(self, binding: dict, default: Any, scope: Scope, output: Any = None,
                       assign: Any = None) -> tuple[Any, dict | None]:
        """Output and Assign of a JSONata state; both see the variables from before the state."""
        out_fn = output if output is not None else self.output
        out = out_fn(binding, scope) if out_fn is not None else default
        assigned = (assign if assign is not None else self.assign)
        values = assigned(binding, scope) if assigned is not None else None
        return out, values

    def execute(self, run: Any, raw: Any, scope: Scope, entered: int) -> tuple[str | None, Any, dict | None]:
        raise NotImplementedError


# ------------------------------------------------------------------------------------------ Pass


class PassState(State):
    """``Type: Pass``: reshape data, optionally inject a fixed Result."""

    kind = "Pass"
    allowed = frozenset({"InputPath", "OutputPath", "Parameters", "Result", "ResultPath", "Output"})

    def __init__(self, name: str, spec: dict, query_language: str) -> None:
        super().__init__(name, spec, query_language)
        if not self.jsonata:
            self.parameters = self._template("Parameters")
            self.has_result = "Result" in spec
            self.result = spec.get("Result")
            self.result_path = ResultPath(spec.get("ResultPath", "$"), name)

    def execute(self, run: Any, raw: Any, scope: Scope, entered: int) -> tuple[str | None, Any, dict | None]:
        if self.jsonata:
            out, values = self.finish_jsonata(self.states_binding(raw, scope), raw, scope)
            return self.next, out, values
        effective = self.apply_input_path(raw, scope)
        if self.parameters is not None:
            effective = self.parameters(effective, scope)
        result = self.result if self.has_result else effective
        values = self.assign(result, scope) if self.assign is not None else None
        out = self.result_path.apply(raw, result)
        return self.next, self.apply_output_path(out, scope), values


# --------------------------------------------------------------------------------------- Succeed


class SucceedState(State):
    """``Type: Succeed``: end this program successfully."""

    kind = "Succeed"
    terminal = True
    allowed = frozenset({"InputPath", "OutputPath", "Output"})

    def execute(self, run: Any, raw: Any, scope: Scope, entered: int) -> tuple[str | None, Any, dict | None]:
        if self.jsonata:
            out, values = self.finish_jsonata(self.states_binding(raw, scope), raw, scope)
            return None, out, values
        out = self.apply_output_path(self.apply_input_path(raw, scope), scope)
        return None, out, None


# ------------------------------------------------------------------------------------------ Fail


class FailState(State):
    """``Type: Fail``: end the execution (or branch) with an error and cause."""

    kind = "Fail"
    terminal = True
    allowed = frozenset({"Error", "Cause", "ErrorPath", "CausePath"})

    def __init__(self, name: str, spec: dict, query_language: str) -> None:
        super().__init__(name, spec, query_language)
        if "Error" in spec and "ErrorPath" in spec:
            raise DefinitionError("Use 'Error' or 'ErrorPath', not both", name, "ErrorPath")
        if "Cause" in spec and "CausePath" in spec:
            raise DefinitionError("Use 'Cause' or 'CausePath', not both", name, "CausePath")
        self.error = self._text_field("Error", "ErrorPath")
        self.cause = self._text_field("Cause", "CausePath")

    def _text_field(self, key: str, path_key: str) -> Callable[[Any, Any], Any] | None:
        if key in self.spec and not isinstance(self.spec[key], str):
            raise DefinitionError(f"'{key}' must be a string", self.name, key)
        if self.jsonata:
            value = self.spec.get(key)
            if value is None:
                return None
            if expressions.is_jsonata(value):
                return compile_typed_jsonata(value, key, str, "string")
            return lambda binding, scope: value
        if path_key in self.spec:
            text = self.spec[path_key]
            if not isinstance(text, str):
                raise DefinitionError(f"'{path_key}' must be a path or an intrinsic function", self.name, path_key)
            evaluate = expressions.compile_dynamic(text, path_key, self.name)

            def text_from_path(data: Any, scope: Any) -> str:
                result = evaluate(data, scope)
                if not isinstance(result, str):
                    raise FieldFailure(
                        RUNTIME,
                        f"The {path_key} field must refer to a string, but '{text}' refers to: {dumps(result)}",
                    )
                return result

            return text_from_path
        if key in self.spec:
            value = self.spec[key]
            return lambda data, scope: value
        return None

    def execute(self, run: Any, raw: Any, scope: Scope, entered: int) -> tuple[str | None, Any, dict | None]:
        data = self.states_binding(raw, scope) if self.jsonata else raw
        error = self.error(data, scope) if self.error is not None else None
        cause = self.cause(data, scope) if self.cause is not None else None
        raise StateFailure(error, cause)


# ---------------------------------------------------------------------------------------- Choice


class ChoiceState(State):
    """``Type: Choice``: pick the next state from the first matching rule."""

    kind = "Choice"
    terminal = True  # transitions come from the rules, not Next/End
    allowed = frozenset({"InputPath", "OutputPath", "Choices", "Default", "Output"})

    def __init__(self, name: str, spec: dict, query_language: str) -> None:
        super().__init__(name, spec, query_language)
        choices = spec.get("Choices")
        if not isinstance(choices, list) or not choices:
            raise DefinitionError("'Choices' must be a non-empty array", name, "Choices")
        self.default = spec.get("Default")
        if self.default is not None and not isinstance(self.default, str):
            raise DefinitionError("'Default' must be a state name", name, "Default")
        self.rules: list[tuple[Callable, str, Any, Any]] = []
        for rule in choices:
            if not isinstance(rule, dict) or not isinstance(rule.get("Next"), str):
                raise DefinitionError("Each choice rule needs 'Next'", name, "Choices")
            if self.jsonata:
                if "Condition" not in rule:
                    raise DefinitionError("A JSONata choice rule needs 'Condition'", name, "Choices")
                test = compile_condition(rule["Condition"], name)
                output = None
                if "Output" in rule:
                    output, _ = compile_jsonata_template(rule["Output"], "Output")
            else:
                body = {k: v for k, v in rule.items() if k not in ("Next", "Assign", "Comment")}
                test = compile_rule(body, name)
                output = None
            assign = self._compile_assign(rule.get("Assign"), "Assign")
            self.rules.append((test, rule["Next"], assign, output))

    def execute(self, run: Any, raw: Any, scope: Scope, entered: int) -> tuple[str | None, Any, dict | None]:
        if self.jsonata:
            binding = self.states_binding(raw, scope)
            for test, nxt, assign, output in self.rules:
                if test(binding, scope):
                    out, values = self.finish_jsonata(binding, raw, scope, output or self.output, assign)
                    return nxt, out, values
            if self.default is None:
                raise StateFailure("States.NoChoiceMatched", "No Matches!")
            out, values = self.finish_jsonata(binding, raw, scope)
            return self.default, out, values
        effective = self.apply_input_path(raw, scope)
        for test, nxt, assign, _ in self.rules:
            if test(effective, scope):
                values = assign(effective, scope) if assign is not None else None
                return nxt, self.apply_output_path(effective, scope), values
        if self.default is None:
            raise StateFailure("States.NoChoiceMatched", "No Matches!")
        values = self.assign(effective, scope) if self.assign is not None else None
        return self.default, self.apply_output_path(effective, scope), values


# ------------------------------------------------------------------------------------------ Wait


class WaitState(State):
    """``Type: Wait``: let (virtual) time pass, for seconds or until a timestamp."""

    kind = "Wait"
    allowed = frozenset({"InputPath", "OutputPath", "Seconds", "Timestamp", "SecondsPath", "TimestampPath",
                         "Output"})

    def __init__(self, name: str, spec: dict, query_language: str) -> None:
        super().__init__(name, spec, query_language)
        given = [k for k in ("Seconds", "Timestamp", "SecondsPath", "TimestampPath") if k in spec]
        if len(given) != 1:
            raise DefinitionError(
                "A Wait state needs exactly one of Seconds, Timestamp, SecondsPath, TimestampPath", name,
                given[1] if len(given) > 1 else "Seconds",
            )
        self.field = given[0]
        value = spec[self.field]
        self.dynamic: Callable | None = None
        if self.jsonata and expressions.is_jsonata(value):
            self.dynamic = expressions.compile_jsonata(value, self.field)
            self.source = value[2:-2].strip()
        elif self.field == "Seconds":
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise DefinitionError("'Seconds' must be a non-negative integer", name, "Seconds")
        elif self.field == "Timestamp":
            if timestamps.parse(value) is None:
                raise DefinitionError("'Timestamp' must be an ISO-8601 timestamp", name, "Timestamp")
        else:
            if not isinstance(value, str):
                raise DefinitionError(f"'{self.field}' must be a path", name, self.field)
            self.path = expressions.compile_path(value, self.field, name)
        self.value = value

    def _until(self, run: Any, effective: Any, scope: Scope, binding: Any) -> float:
        field, value = self.field, self.value
        if self.dynamic is not None:
            value = self.dynamic(binding, scope)
            return self._check(run, field, value, None)
        if field == "Seconds":
            return run.clock.now() + value
        if field == "Timestamp":
            return timestamps.parse(value)  # type: ignore[return-value]
        try:
            value = self.path.get(effective, scope.context, scope.variables)
        except jsonpath.PathError:
            raise FieldFailure(
                RUNTIME, f"The {field} parameter does not reference an input value: {self.value}"
            ) from None
        return self._check(run, field, value, self.value)

    def _check(self, run: Any, field: str, value: Any, path: str | None) -> float:
        shown = value if isinstance(value, str) else dumps(value)
        if field.startswith("Seconds"):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                isinstance(value, float) and not value.is_integer()
            ):
                if path is None:
                    raise unexpected_result_type(self.source, "Seconds", "integer", value)
                raise FieldFailure(RUNTIME, f"The {field} parameter cannot be parsed as a long value: {path} == {shown}")
            if value < 0:
                if path is None:
                    raise FieldFailure(
                        QUERY_EVALUATION,
                        f"The JSONata expression '{self.source}' specified for the field 'Seconds' returned a "
                        f"negative value: {dumps(value)}",
                    )
                raise FieldFailure(RUNTIME, f"The {field} parameter references a negative value: {path} == {shown}")
            return run.clock.now() + value
        moment = timestamps.parse(value)
        if moment is None:
            if path is None:
                raise FieldFailure(
                    QUERY_EVALUATION,
                    f"The JSONata expression '{self.source}' specified for the field 'Timestamp' returned an "
                    f"invalid ISO-8601 extended offset date-time format string: {shown}",
                )
            raise FieldFailure(
                RUNTIME,
                f"The {field} parameter does not reference a valid ISO-8601 extended offset date-time format "
                f"string: {path} == {shown}",
            )
        return moment

    def execute(self, run: Any, raw: Any, scope: Scope, entered: int) -> tuple[str | None, Any, dict | None]:
        if self.jsonata:
            binding = self.states_binding(raw, scope)
            until = self._until(run, raw, scope, binding)
            out, values = self.finish_jsonata(binding, raw, scope)
            run.wait_until(until)
            return self.next, out, values
        effective = self.apply_input_path(raw, scope)
        until = self._until(run, effective, scope, None)
        values = self.assign(effective, scope) if self.assign is not None else None
        run.wait_until(until)
        return self.next, self.apply_output_path(effective, scope), values


# ---------------------------------------------------------------------- Task / Parallel / Map base


class RecoverableState(State):
    """A state with Retry and Catch (Task, Parallel, Map): attempts run until one succeeds or none may."""

    def __init__(self, name: str, spec: dict, query_language: str) -> None:
        super().__init__(name, spec, query_language)
        self._compile_retry_catch()
        if not self.jsonata:
            self.parameters = self._template("Parameters")
            self.result_selector = self._template("ResultSelector")
            self.result_path = ResultPath(spec.get("ResultPath", "$"), name)
        else:
            self.arguments = self._jsonata_field("Arguments")

    def attempt(self, run: Any, raw: Any, scope: Scope, entered: int, retry_count: int) -> Any:
        """One try: returns the raw result (before ResultSelector/Output)."""
        raise NotImplementedError

    def failed_event(self, run: Any, scope: Scope, error: str | None, cause: str | None) -> None:
        """Record this state type's failure event (TaskFailed is recorded by the attempt itself)."""

    def execute(self, run: Any, raw: Any, scope: Scope, entered: int) -> tuple[str | None, Any, dict | None]:
        retry = RetryState(len(self.retriers)) if self.retriers else None
        retry_count = 0
        while True:
            try:
                result = self.attempt(run, raw, scope, entered, retry_count)
                return self.finish(raw, result, scope)
            except FieldFailure as f:
                error, cause = f.error, state_cause(self.name, entered, f.message)
                self.failed_event(run, scope, error, cause)
            except StateFailure as f:
                error, cause = f.error, f.cause
            if retry is not None and error not in ("States.Runtime", "States.DataLimitExceeded"):
                delay = retry.next_delay(self.retriers, error)
                if delay is not None:
                    run.sleep(delay)
                    retry_count += 1
                    continue
            for catcher in self.catchers:
                if matches(catcher.error_equals, error):
                    return self.caught(catcher, raw, scope, error, cause)
            raise StateFailure(error, cause)

    def finish(self, raw: Any, result: Any, scope: Scope) -> tuple[str | None, Any, dict | None]:
        if self.jsonata:
            binding = self.states_binding(raw, scope, result=result)
            out, values = self.finish_jsonata(binding, result, scope)
            return self.next, out, values
        if self.result_selector is not None:
            result = self.result_selector(result, scope)
        values = self.assign(result, scope) if self.assign is not None else None
        out = self.result_path.apply(raw, result)
        return self.next, self.apply_output_path(out, scope), values

    def caught(self, catcher: Catcher, raw: Any, scope: Scope, error: str | None,
               cause: str | None) -> tuple[str | None, Any, dict | None]:
        error_output: dict = {"Error": error}
        if cause is not None:
            error_output["Cause"] = cause
        if self.jsonata:
            binding = self.states_binding(raw, scope, errorOutput=error_output)
            out = catcher.output(binding, scope) if catcher.output is not None else error_output
            values = catcher.assign(binding, scope) if catcher.assign is not None else None
            return catcher.next, out, values
        values = catcher.assign(error_output, scope) if catcher.assign is not None else None
        return catcher.next, catcher.result_path.apply(raw, error_output), values

    def effective_input(self, raw: Any, scope: Scope) -> Any:
        """JSONPath: InputPath then Parameters; JSONata: Arguments (or the raw input)."""
        if self.jsonata:
            if self.arguments is None:
                return raw
            return self.arguments(self.states_binding(raw, scope), scope)
        effective = self.apply_input_path(raw, scope)
        if self.parameters is not None:
            effective = self.parameters(effective, scope)
        return effective


def number_from_path(value: Any, field: str, path: str, kind: str) -> Any:
    """Validate a ``*Path`` numeric field's value with AWS's texts (numeric strings are accepted)."""
    number: Any = None
    if isinstance(value, str):
        try:
            number = int(value) if kind == "integer" else float(value)
        except ValueError:
            number = None
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and (
        kind != "integer" or isinstance(value, int) or value.is_integer()
    ):
        number = value
    if number is None:
        shown = value if isinstance(value, str) else dumps(value)
        raise FieldFailure(
            RUNTIME, f"The {field} field refers to value \"{shown}\" which is not a valid {kind}: {path}"
        )
    return int(number) if kind == "integer" else number
