"""JSONata (`{% expr %}`) as AWS Step Functions evaluates it, on top of the `jsonata-python` package.

Each template is compiled once (`compile_template`, cached by text). Evaluation binds `$states`
(input, result, errorOutput, context) and the workflow variables, adds the functions Step Functions
provides ($partition, $range, $hash, $random, $uuid, $parse; $eval is disabled), and turns the
library's values back into plain JSON the way AWS prints them (no `2.0`, `Infinity` as a string).
An expression that yields nothing returns `UNDEFINED`; the caller decides what that means for its field.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import threading
import uuid
from functools import lru_cache
from typing import Any, Self

import jsonata as _jsonata
from jsonata import jexception as _jexception
from jsonata import utils as _jutils

__all__ = [
    "UNDEFINED",
    "Expression",
    "JsonataError",
    "compile_template",
    "is_template",
    "type_name",
]

QUERY_EVALUATION_ERROR = "States.QueryEvaluationError"
_RANGE_LIMIT = 360145  # AWS refuses $range results larger than this
_NULL = _jutils.Utils.NULL_VALUE
_LOCK = threading.RLock()  # jsonata-python keeps per-instance state during evaluation
# The library prints debugging lines ("Proc not found ...") to stdout on some errors; keep them out of
# the CLI's output by shadowing `print` in that one module.
_jsonata.jsonata.print = lambda *args, **kwargs: None  # type: ignore[attr-defined]


class _Undefined:
    """JSONata's `undefined`: the expression produced no value at all (not even null)."""

    _instance: _Undefined | None = None

    def __new__(cls) -> Self:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False


UNDEFINED = _Undefined()


class JsonataError(Exception):
    """A template that cannot be compiled or that failed; `error`/`cause` are what AWS reports."""

    def __init__(self, cause: str, error: str = QUERY_EVALUATION_ERROR, code: str | None = None) -> None:
        super().__init__(cause)
        self.error = error
        self.cause = cause
        self.code = code


def is_template(value: Any) -> bool:
    """True for a `{% ... %}` string; AWS allows no blanks before `{%` or after `%}`."""
    return isinstance(value, str) and value.startswith("{%") and value.endswith("%}") and len(value) >= 4


def type_name(value: Any) -> str:
    """JSONata's `$type()` of a plain JSON value (as AWS names it in cause texts)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


# --------------------------------------------------------------------------- AWS's functions
# Bound as plain lambdas; they get JSONata values (lists may be JList, null may be NULL_VALUE).


def _integer(value: Any) -> int | None:
    """AWS truncates non-integer arguments toward zero."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return int(value)


def _aws_partition(array: Any = None, size: Any = None) -> Any:
    n = _integer(size)
    if not isinstance(array, list) or not array or n is None or n <= 0:
        return None
    items = list(array)
    return [items[i:i + n] for i in range(0, len(items), n)]


def _aws_range(start: Any = None, end: Any = None, step: Any = None) -> Any:
    a, b, s = _integer(start), _integer(end), _integer(step)
    if a is None or b is None or s is None or s == 0 or (b - a) * s < 0:
        return None
    count = (b - a) // s + 1
    if count > _RANGE_LIMIT:
        raise _jexception.JException("D1001", 0, "Expression evaluation memory limit exceeded")
    values = list(range(a, b + (1 if s > 0 else -1), s))
    # AWS collapses a one-element range to the bare number.
    return values[0] if len(values) == 1 else values


_HASHES = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}


def _aws_hash(data: Any = None, algorithm: Any = None) -> Any:
    if data is None or algorithm is None:
        return None
    if not isinstance(data, str):
        raise _ArgumentError("$hash", "The first argument of $hash must be a string")
    if algorithm not in _HASHES:
        raise _ArgumentError(
            "$hash", f"The algorithm {algorithm!r} is not supported; use one of MD5, SHA-1, SHA-256, SHA-384, SHA-512"
        )
    return hashlib.new(_HASHES[algorithm], data.encode()).hexdigest()


def _aws_random(seed: Any = None) -> float:
    if seed is None or seed is _NULL:
        return random.random()
    n = _integer(seed)
    if n is None:
        raise _ArgumentError("$random", "The seed of $random must be a number")
    return random.Random(n).random()


def _aws_uuid() -> str:
    return str(uuid.uuid4())


def _aws_parse(text: Any = None) -> Any:
    if text is None:
        return None
    if not isinstance(text, str):
        raise _ArgumentError("$parse", "The argument of $parse must be a string")
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise _ArgumentError("$parse", f"Unable to parse the JSON string: {exc.msg}") from None
    return _to_jsonata(value)


class _ArgumentError(Exception):
    def __init__(self, function: str, message: str) -> None:
        super().__init__(message)
        self.function = function


_AWS_FUNCTIONS = {
    "partition": _aws_partition,
    "range": _aws_range,
    "hash": _aws_hash,
    "random": _aws_random,
    "uuid": _aws_uuid,
    "parse": _aws_parse,
}


# --------------------------------------------------------------------------- value conversion


def _to_jsonata(value: Any) -> Any:
    """A bound value as the library expects it: JSON null is NULL_VALUE, not None (= undefined)."""
    return _NULL if value is None else value


def _number(value: float) -> Any:
    if not math.isfinite(value):
        # JSON has no literal for these; AWS writes the name JavaScript gives them.
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if value.is_integer() and abs(value) < 1e21:
        return int(value)  # JavaScript prints 2.0 as 2
    return value


def _to_json(value: Any) -> Any:
    """The library's result as plain JSON values (dict/list/str/int/float/bool/None)."""
    if value is None or value is _NULL:
        return None
    t = type(value)
    if t is str or t is bool:
        return value
    if t is int:
        # JavaScript numbers are doubles: from 1e21 on they print in exponent form
        return value if -10**21 < value < 10**21 else float(value)
    if t is float:
        return _number(value)
    if isinstance(value, dict):
        # None inside an object is JSON null (the library drops undefined members itself)
        return {k: _to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_json(v) for v in value]
    if isinstance(value, (int, float)):
        return _number(float(value)) if not isinstance(value, bool) else value
    # functions and other library objects have no JSON form
    return None



# --------------------------------------------------------------------------- error messages
# AWS runs jsonata-js and quotes its messages. jsonata-python's catalog came through a Java port that
# renamed "function" to "Object" and drops the JSON quoting of {{placeholders}}; render them as JS does.

_ARRAY_TYPES = {"a": "arrays", "b": "booleans", "f": "functions", "n": "numbers", "o": "objects", "s": "strings"}
_PLACEHOLDER = re.compile(r"\{\{\{(\w+)\}\}\}|\{\{(\w+)\}\}")


def _js_json(value: Any) -> str:
    if value is None or value is _NULL:
        return "null"
    if isinstance(value, float):
        value = _number(value)
        if isinstance(value, str):  # non-finite: JSON.stringify writes null
            return "null"
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError):
        return json.dumps(str(value), ensure_ascii=False)


def _js_message(exc: _jexception.JException) -> str:
    """The message jsonata-js would give for this error code."""
    template = _jexception.JException.error_codes.get(exc.error)
    if template is None:
        return str(exc)
    template = template.replace("Object", "function")
    values = [exc.current, exc.expected, exc.extra]
    if exc.error == "D1002":  # the port passes the operator first
        values = [exc.expected]
    elif exc.error == "T0412":
        values = [exc.current, exc.expected, _ARRAY_TYPES.get(str(exc.extra), exc.extra)]
    elif exc.error in ("S0207", "S0203") and values and values[-1] == "(end)":
        values = values[:-1]
    position = iter(values)
    missing = False

    def fill(match: re.Match[str]) -> str:
        nonlocal missing
        value = next(position, None)
        if value is None:
            missing = True
            return ""
        return str(value) if match.group(1) else _js_json(value)

    message = _PLACEHOLDER.sub(fill, template)
    return str(exc) if missing else message


def _top_level_reference(node: Any, top: bool = True) -> str | None:
    """The first name read from the (absent) top-level context item, or "$$"; None when there is none.

    AWS evaluates expressions without a context item and refuses such definitions outright.
    """
    kind = getattr(node, "type", None)
    if kind is None:
        if isinstance(node, list):
            for item in node:
                found = _top_level_reference(item, top)
                if found:
                    return found
        return None
    if kind == "variable" and node.value == "$":
        return "$$"
    if kind == "path":
        steps = node.steps or []
        for i, step in enumerate(steps):
            first = i == 0 and top
            if first and getattr(step, "type", None) == "name":
                return str(step.value)
            found = _children_reference(step, first)
            if found:
                return found
        return None
    if kind == "name":
        return str(node.value) if top else None
    return _children_reference(node, top)


_CHILDREN = ("lhs", "rhs", "lhs_object", "expression", "expressions", "arguments", "procedure", "body", "condition",
             "then", "_else", "update", "delete", "pattern")
_OTHER_CONTEXT = ("stages", "predicate", "group", "terms")  # evaluated against each item, not the top


def _children_reference(node: Any, top: bool) -> str | None:
    for attr in _CHILDREN:
        child = getattr(node, attr, None)
        if child is not None and child is not node:
            found = _top_level_reference(child, top)
            if found:
                return found
    for attr in _OTHER_CONTEXT:
        child = getattr(node, attr, None)
        if child is not None and child is not node:
            found = _find_dollar_dollar(child)
            if found:
                return found
    return None


def _find_dollar_dollar(node: Any) -> str | None:
    if isinstance(node, list):
        return next((f for f in map(_find_dollar_dollar, node) if f), None)
    if not hasattr(node, "position"):  # not a parser node (group objects carry no type)
        return None
    if getattr(node, "type", None) == "variable" and node.value == "$":
        return "$$"
    for attr in _CHILDREN + _OTHER_CONTEXT + ("steps", "expr"):
        child = getattr(node, attr, None)
        if child is not None and child is not node:
            found = _find_dollar_dollar(child)
            if found:
                return found
    return None

# --------------------------------------------------------------------------- compiled expressions

# `$states.input.a.b`, `$states.context.Map.Item.Value`, `$var.a` — answered without the library
# when every step lands on an object (arrays would need JSONata's mapping semantics).
_SIMPLE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z_][A-Za-z0-9_]*)*)")


class Expression:
    """A compiled `{% %}` template. `evaluate()` gives a JSON value or UNDEFINED."""

    __slots__ = ("_compiled", "_simple", "source", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.source = text[2:-2].strip()  # what AWS quotes in cause texts
        self._simple: tuple[str, tuple[str, ...]] | None = None
        m = _SIMPLE.fullmatch(self.source)
        if m and m.group(1) not in _AWS_FUNCTIONS:
            self._simple = (m.group(1), tuple(m.group(2).split(".")[1:]))
        try:
            with _LOCK:
                compiled = _jsonata.Jsonata(self.source)
        except _jexception.JException as exc:
            raise JsonataError(f"INVALID_JSONATA_EXPRESSION: {_js_message(exc)}", "States.Runtime", exc.error) \
                from None
        except Exception as exc:  # noqa: BLE001 - the third-party parser may fail any way; AWS says "invalid"
            raise JsonataError(f"INVALID_JSONATA_EXPRESSION: {exc}", "States.Runtime") from None
        reference = _top_level_reference(compiled.ast)
        if reference == "$$":
            raise JsonataError("UNSUPPORTED_JSONATA_EXPRESSION: Reference to '$$' is not supported.", "States.Runtime")
        if reference is not None:
            raise JsonataError(
                f"UNSUPPORTED_JSONATA_EXPRESSION: Reference to '{reference}' at the top level is not supported.",
                "States.Runtime",
            )
        compiled.set_output_convert_nulls(False)
        for name, fn in _AWS_FUNCTIONS.items():
            compiled.register_lambda(name, fn)
        compiled.register_function("eval", None)  # AWS disables $eval; $parse replaces it
        self._compiled = compiled

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"

    def evaluate(self, states: dict[str, Any] | None = None, variables: dict[str, Any] | None = None,
                 field: str | None = None, now: float | None = None) -> Any:
        """Evaluate with `$states` bound to `states` and each variable bound by name.

        `field` (e.g. "Output/result") only names the field in the cause text of a failure; `now`
        (epoch seconds, e.g. the virtual clock's) is what `$now()` and `$millis()` answer.
        """
        simple = self._simple
        if simple is not None:
            root, steps = simple
            scope = variables if root != "states" else {"states": states}
            if scope is not None and root in scope:
                node = scope[root]
                for step in steps:
                    if type(node) is not dict:
                        break
                    node = node.get(step, UNDEFINED)
                    if node is UNDEFINED:
                        return UNDEFINED
                else:
                    return _to_json(node)
        # Bound here so the library's per-node callback lookups stop at the first frame.
        bindings: dict[str, Any] = {"__evaluate_entry": None, "__evaluate_exit": None}
        if variables:
            for name, value in variables.items():
                bindings[name] = _to_jsonata(value)
        if states is not None:
            bindings["states"] = {k: _to_jsonata(v) for k, v in states.items()}
        compiled = self._compiled
        if now is not None:
            # The library stamps the wall clock when evaluation starts; the entry hook runs right after.
            millis = int(now * 1000)

            def stamp(*_: Any) -> None:
                compiled.timestamp = millis

            bindings["__evaluate_entry"] = stamp
        try:
            with _LOCK:
                _jsonata.Jsonata.CURRENT.jsonata = compiled  # $now/$millis read the running instance
                result = compiled.evaluate(None, bindings)
        except _jexception.JException as exc:
            raise self._failure(field, exc.error, _js_message(exc)) from None
        except _ArgumentError as exc:
            raise self._failure(field, None, str(exc)) from None
        except ValueError as exc:
            # $number('abc') reaches Python's float(); jsonata-js raises D3030 there
            m = re.search(r"could not convert string to float: '(.*)'", str(exc))
            if m:
                raise self._failure(field, "D3030", f"Unable to cast value to a number: {_js_json(m.group(1))}") \
                    from None
            raise self._failure(field, None, str(exc)) from None
        except ZeroDivisionError:
            raise self._failure(field, "D1001", "Number out of range") from None
        except RecursionError:
            raise self._failure(field, "U1001", "Stack overflow error: Check for non-terminating recursive function.") \
                from None
        except Exception as exc:  # noqa: BLE001 - a library bug must fail the state, never the engine
            raise self._failure(field, None, str(exc) or type(exc).__name__) from None
        if result is None:
            return UNDEFINED
        return _to_json(result)

    def _failure(self, field: str | None, code: str | None, message: str) -> JsonataError:
        # AWS: "... threw an error during evaluation. T2002: <message>" for a coded JSONata error,
        # "...evaluation: <message>" for one of its own bounds.
        tail = f". {code}: {message}" if code else f": {message}"
        where = f" specified for the field '{field}'" if field else ""
        return JsonataError(
            f"The JSONata expression '{self.source}'{where} threw an error during evaluation{tail}",
            QUERY_EVALUATION_ERROR,
            code,
        )


@lru_cache(maxsize=4096)
def compile_template(text: str) -> Expression:
    """Compile a `{% expr %}` string once (cached by text); JsonataError when it does not parse."""
    if not is_template(text):
        raise JsonataError(f"Invalid JSONata template '{text}': it must start with '{{%' and end with '%}}'",
                           "States.Runtime")
    return Expression(text)
