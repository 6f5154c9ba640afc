"""Choice rules: the JSONPath comparison operators, And/Or/Not, and JSONata ``Condition``."""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from . import expressions, jsonpath, timestamps
from .errors import RUNTIME, DefinitionError, FieldFailure
from .payload import compile_typed_jsonata

Test = Callable[[Any, Any], bool]  # (input, frame) -> bool


def _is_number(v: Any) -> bool:
    return type(v) is int or type(v) is float  # exact types: a bool is an int subclass, not a number


def _string_matches(pattern: str) -> re.Pattern:
    # '*' is the only wildcard; '\*' and '\\' are literal.
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "*" else re.escape(ch))
        i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def _num_cmp(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    return lambda a, b: _is_number(a) and _is_number(b) and op(a, b)


def _str_cmp(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    return lambda a, b: isinstance(a, str) and isinstance(b, str) and op(a, b)


def _ts_cmp(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        ta, tb = timestamps.parse(a), timestamps.parse(b)
        return ta is not None and tb is not None and op(ta, tb)

    return compare


def _bool_eq(a: Any, b: Any) -> bool:
    return isinstance(a, bool) and isinstance(b, bool) and a == b


_EQ = lambda a, b: a == b
_LT = lambda a, b: a < b
_GT = lambda a, b: a > b
_LE = lambda a, b: a <= b
_GE = lambda a, b: a >= b

COMPARATORS: dict[str, Callable[[Any, Any], bool]] = {
    "StringEquals": _str_cmp(_EQ),
    "StringLessThan": _str_cmp(_LT),
    "StringGreaterThan": _str_cmp(_GT),
    "StringLessThanEquals": _str_cmp(_LE),
    "StringGreaterThanEquals": _str_cmp(_GE),
    "NumericEquals": _num_cmp(_EQ),
    "NumericLessThan": _num_cmp(_LT),
    "NumericGreaterThan": _num_cmp(_GT),
    "NumericLessThanEquals": _num_cmp(_LE),
    "NumericGreaterThanEquals": _num_cmp(_GE),
    "BooleanEquals": _bool_eq,
    "TimestampEquals": _ts_cmp(_EQ),
    "TimestampLessThan": _ts_cmp(_LT),
    "TimestampGreaterThan": _ts_cmp(_GT),
    "TimestampLessThanEquals": _ts_cmp(_LE),
    "TimestampGreaterThanEquals": _ts_cmp(_GE),
}

_TYPE_TESTS: dict[str, Callable[[Any], bool]] = {
    "IsNull": lambda v: v is None,
    "IsNumeric": _is_number,
    "IsString": lambda v: isinstance(v, str),
    "IsBoolean": lambda v: isinstance(v, bool),
    "IsTimestamp": lambda v: timestamps.parse(v) is not None,
}

_LITERAL_TYPES: dict[str, Callable[[Any], bool]] = {
    "String": lambda v: isinstance(v, str),
    "Numeric": _is_number,
    "Boolean": lambda v: isinstance(v, bool),
    "Timestamp": lambda v: isinstance(v, str),
}

OPERATORS = frozenset(
    list(COMPARATORS) + [k + "Path" for k in COMPARATORS] + list(_TYPE_TESTS)
    + ["IsPresent", "StringMatches", "And", "Or", "Not"]
)


def _path_getter(path: jsonpath.Path) -> Callable[[Any, Any], Any]:
    """Reads a compiled path at run time; a path that fails fails the state with AWS's error and cause."""

    def get(data: Any, frame: Any) -> Any:
        try:
            return path.get(data, frame.context, frame.variables)
        except jsonpath.PathNotFound as exc:
            raise FieldFailure(RUNTIME, exc.cause) from None
        except jsonpath.PathError as exc:
            raise FieldFailure(exc.error, exc.cause) from None

    return get


def compile_rule(rule: dict, state: str) -> Test:
    """Compile one JSONPath choice rule (a top-level rule also carries Next, which the caller reads)."""
    ops = [k for k in rule if k in OPERATORS]
    if len(ops) != 1:
        raise DefinitionError(
            "A choice rule must have exactly one comparison operator or And/Or/Not"
            + (f", found {sorted(ops)}" if ops else ""),
            state,
            "Choices",
        )
    op = ops[0]
    value = rule[op]
    if op in ("And", "Or"):
        if not isinstance(value, list) or not value:
            raise DefinitionError(f"'{op}' must be a non-empty array of rules", state, "Choices")
        tests = [compile_rule(r, state) for r in value]
        if op == "And":
            return lambda data, frame: all(t(data, frame) for t in tests)
        return lambda data, frame: any(t(data, frame) for t in tests)
    if op == "Not":
        if not isinstance(value, dict):
            raise DefinitionError("'Not' must be a rule object", state, "Choices")
        inner = compile_rule(value, state)
        return lambda data, frame: not inner(data, frame)

    variable = rule.get("Variable")
    if not isinstance(variable, str):
        raise DefinitionError(f"The comparison '{op}' needs a 'Variable' path", state, "Choices")
    var_path = expressions.compile_path(variable, "Variable", state)

    if op == "IsPresent":
        if not isinstance(value, bool):
            raise DefinitionError("'IsPresent' must be true or false", state, "Choices")

        def present(data: Any, frame: Any) -> bool:
            return var_path.exists(data, frame.context, frame.variables) is value

        return present

    get = _path_getter(var_path)

    if op in _TYPE_TESTS:
        if not isinstance(value, bool):
            raise DefinitionError(f"'{op}' must be true or false", state, "Choices")
        check = _TYPE_TESTS[op]

        def type_test(data: Any, frame: Any) -> bool:
            try:
                v = var_path.get(data, frame.context, frame.variables)
            except jsonpath.PathError:
                return False
            return check(v) is value

        return type_test

    if op == "StringMatches":
        if not isinstance(value, str):
            raise DefinitionError("'StringMatches' must be a string", state, "Choices")
        pattern = _string_matches(value)
        def matches_pattern(data: Any, frame: Any) -> bool:
            v = get(data, frame)
            return isinstance(v, str) and pattern.match(v) is not None

        return matches_pattern

    if op.endswith("Path"):
        compare = COMPARATORS[op[:-4]]
        if not isinstance(value, str):
            raise DefinitionError(f"'{op}' must be a path", state, "Choices")
        other = _path_getter(expressions.compile_path(value, op, state))
        return lambda data, frame: compare(get(data, frame), other(data, frame))

    compare = COMPARATORS[op]
    kind = next(k for k in _LITERAL_TYPES if op.startswith(k))
    if not _LITERAL_TYPES[kind](value):
        raise DefinitionError(f"The value of '{op}' must be of type {kind}", state, "Choices")
    return lambda data, frame: compare(get(data, frame), value)


def compile_condition(text: Any, state: str, field: str = "Condition") -> Callable[[Any, Any], bool]:
    """A JSONata ``Condition``; it must evaluate to a boolean."""
    if isinstance(text, bool):
        return lambda states, frame: text
    if not expressions.is_jsonata(text):
        raise DefinitionError("'Condition' must be a JSONata expression {% ... %} or a boolean", state, field)
    return compile_typed_jsonata(text, field, bool, "boolean")
