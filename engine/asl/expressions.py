"""One place where the interpreter meets the query languages (jsonpath, intrinsics, jsonata).

Every field value that is an expression is compiled here once per definition into an evaluator
``(data, frame) -> value``; ``frame`` carries the context object (``$$``) and the variables.
Failures leave as FieldFailure (the caller adds AWS's "An error occurred while executing the state" prefix).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import intrinsics, jsonata, jsonpath
from .errors import QUERY_EVALUATION, RUNTIME, DefinitionError, FieldFailure

Evaluator = Callable[[Any, Any], Any]


def is_intrinsic(text: str) -> bool:
    """``States.Format(...)`` and friends (JSONPath mode only)."""
    return intrinsics.is_intrinsic(text)


def is_jsonata(text: Any) -> bool:
    """A ``{% ... %}`` JSONata template string."""
    return jsonata.is_template(text)


def compile_path(text: str, field: str, state: str | None = None) -> jsonpath.Path:
    """Parse a JSONPath once; a malformed one is a definition error naming the field."""
    try:
        return jsonpath.compile_path(text)
    except jsonpath.PathError as exc:
        raise DefinitionError(exc.cause, state, field) from None


def compile_dynamic(text: str, field: str, state: str | None = None) -> Evaluator:
    """The value of a ``key.$`` field: a path (``$.x``, ``$$.x``, ``$var``) or an intrinsic function."""
    if is_intrinsic(text):
        return compile_intrinsic(text, field, state)
    path = compile_path(text, field, state)

    def evaluate(data: Any, frame: Any) -> Any:
        try:
            return path.get(data, frame.context, frame.variables)
        except jsonpath.PathNotFound:
            raise FieldFailure(
                RUNTIME,
                f"The JSONPath '{text}' specified for the field '{field}' could not be found in the input "
                "'<json-input:1>'",
            ) from None
        except jsonpath.PathError as exc:
            raise FieldFailure(exc.error, exc.cause) from None

    return evaluate


def compile_intrinsic(text: str, field: str, state: str | None = None) -> Evaluator:
    """Compile a ``States.*`` intrinsic function call."""
    try:
        fn = intrinsics.compile_intrinsic(text)
    except (intrinsics.IntrinsicSyntaxError, jsonpath.PathError) as exc:
        raise DefinitionError(str(exc), state, field) from None

    def evaluate(data: Any, frame: Any) -> Any:
        try:
            return fn.evaluate(data, frame.context, frame.variables)
        except intrinsics.IntrinsicError as exc:
            raise FieldFailure(exc.error, exc.cause) from None
        except jsonpath.PathError as exc:
            raise FieldFailure(exc.error, exc.cause) from None

    return evaluate


def compile_jsonata(text: str, field: str) -> Evaluator:
    """Compile a ``{% %}`` template; the evaluator takes (``$states`` binding, frame)."""
    try:
        expr = jsonata.compile_template(text)
    except jsonata.JsonataError as exc:
        raise DefinitionError(exc.cause, None, field) from None

    def evaluate(states: Any, frame: Any) -> Any:
        try:
            value = expr.evaluate(states, frame.variables, field)
        except jsonata.JsonataError as exc:
            raise FieldFailure(exc.error or QUERY_EVALUATION, exc.cause) from None
        if value is jsonata.UNDEFINED:
            raise FieldFailure(
                QUERY_EVALUATION,
                f"The JSONata expression '{expr.source}' specified for the field '{field}' returned nothing "
                "(undefined).",
            )
        return value

    return evaluate
