"""Payload templates (Parameters, ResultSelector, ItemSelector, Arguments, Output, Assign) and ResultPath.

Each template is compiled once per definition into a function ``(data, frame) -> value``; a template
with nothing dynamic in it compiles to its constant. JSON values are never mutated in place, so
constants and inputs can be shared between states without copying.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from . import expressions
from .errors import QUERY_EVALUATION, RESULT_PATH_MATCH_FAILURE, DefinitionError, FieldFailure, StateFailure
from .jsonata import type_name as json_type  # the JSON type names AWS prints in cause texts

Evaluator = Callable[[Any, Any], Any]


# Compact JSON text, as AWS prints payloads (a bound method: no wrapper call on this hot path).
dumps: Callable[[Any], str] = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def unexpected_result_type(source: str, field: str, expected: str, value: Any) -> FieldFailure:
    """AWS's failure for a JSONata expression whose result has the wrong JSON type for its field."""
    return FieldFailure(
        QUERY_EVALUATION,
        f"The JSONata expression '{source}' specified for the field '{field}' returned an unexpected result "
        f"type. Expected '{expected}', but was '{json_type(value)}' for value: {dumps(value)}",
    )


def compile_typed_jsonata(text: str, field: str, expected: type, expected_name: str) -> Callable[[Any, Any], Any]:
    """A `{% %}` field whose result must be of one JSON type (`expected_name` as AWS prints it)."""
    evaluate = expressions.compile_jsonata(text, field)
    source = text[2:-2].strip()

    def typed(binding: Any, frame: Any) -> Any:
        value = evaluate(binding, frame)
        if not isinstance(value, expected):
            raise unexpected_result_type(source, field, expected_name, value)
        return value

    return typed


def _const(value: Any) -> Evaluator:
    return lambda data, frame: value


# --- JSONPath templates --------------------------------------------------------------------------


def compile_jsonpath_template(template: Any, state: str, field: str) -> tuple[Evaluator, bool]:
    """Compile a JSONPath-mode payload template; returns (evaluator, is_constant)."""
    if isinstance(template, dict):
        parts: list[tuple[str, Evaluator, bool]] = []
        dynamic = False
        for key, value in template.items():
            if key.endswith(".$"):
                if not isinstance(value, str):
                    raise DefinitionError(
                        f"The value of '{key}' must be a JSONPath or an intrinsic function", state, field
                    )
                parts.append((key[:-2], expressions.compile_dynamic(value, key, state), False))
                dynamic = True
            else:
                fn, const = compile_jsonpath_template(value, state, field)
                parts.append((key, fn, const))
                dynamic = dynamic or not const
        if not dynamic:
            return _const(template), True
        return _dict_evaluator(parts), False
    if isinstance(template, list):
        compiled = [compile_jsonpath_template(v, state, field) for v in template]
        if all(c for _, c in compiled):
            return _const(template), True
        fns = [f for f, _ in compiled]
        return (lambda data, frame: [f(data, frame) for f in fns]), False
    return _const(template), True


def _dict_evaluator(parts: list[tuple[str, Evaluator, bool]]) -> Evaluator:
    consts = {k: f(None, None) for k, f, c in parts if c}
    dyn = [(k, f) for k, f, c in parts if not c]
    order = [k for k, _, _ in parts]

    if len(consts) == 0:
        def evaluate(data: Any, frame: Any) -> Any:
            return {k: f(data, frame) for k, f in dyn}
    else:
        def evaluate(data: Any, frame: Any) -> Any:
            out = dict(consts)
            for k, f in dyn:
                out[k] = f(data, frame)
            return {k: out[k] for k in order}
    return evaluate


# --- JSONata templates ---------------------------------------------------------------------------


def compile_jsonata_template(template: Any, field: str) -> tuple[Evaluator, bool]:
    """Compile a JSONata-mode value: ``{% %}`` strings anywhere inside evaluate, the rest is literal.

    The evaluator takes ``(states, frame)`` where states is the ``$states`` binding.
    """
    if isinstance(template, str):
        if expressions.is_jsonata(template):
            return expressions.compile_jsonata(template, field), False
        return _const(template), True
    if isinstance(template, dict):
        parts = [(k, *compile_jsonata_template(v, f"{field}/{k}")) for k, v in template.items()]
        if all(c for _, _, c in parts):
            return _const(template), True
        return _dict_evaluator(parts), False
    if isinstance(template, list):
        compiled = [compile_jsonata_template(v, f"{field}[{i}]") for i, v in enumerate(template)]
        if all(c for _, c in compiled):
            return _const(template), True
        fns = [f for f, _ in compiled]
        return (lambda states, frame: [f(states, frame) for f in fns]), False
    return _const(template), True


# --- ResultPath ----------------------------------------------------------------------------------

_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|\['((?:[^'\\]|\\.)*)'\]|\[\"((?:[^\"\\]|\\.)*)\"\]")


def parse_reference_path(path: str, state: str, field: str) -> list[str | int]:
    """Split a reference path like ``$.a.b[0]['c d']`` into its steps."""
    if not path.startswith("$") or path.startswith("$$"):
        raise DefinitionError(f"The value for the field '{field}' must be a valid JSONPath: {path}", state, field)
    steps: list[str | int] = []
    pos = 1
    while pos < len(path):
        m = _STEP.match(path, pos)
        if m is None:
            raise DefinitionError(
                f"The value for the field '{field}' must be a valid reference path: {path}", state, field
            )
        name, index, q1, q2 = m.groups()
        if index is not None:
            steps.append(int(index))
        else:
            steps.append(name if name is not None else (q1 if q1 is not None else q2))
        pos = m.end()
    return steps


class ResultPath:
    """Where a state's result goes in its raw input (``ResultPath``); ``None`` means discard."""

    __slots__ = ("discard", "steps", "text")

    def __init__(self, text: str | None, state: str, field: str = "ResultPath") -> None:
        self.text = text
        self.discard = text is None
        self.steps = [] if text is None else parse_reference_path(text, state, field)

    def apply(self, raw: Any, result: Any) -> Any:
        """The state output: ``raw`` with ``result`` placed at the path (copies only along the path)."""
        if self.discard:
            return raw
        if not self.steps:
            return result
        return self._set(raw, 0, result, raw)

    def _set(self, node: Any, i: int, value: Any, raw: Any) -> Any:
        step = self.steps[i]
        last = i == len(self.steps) - 1
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                self._fail(raw)
            out = list(node)
            out[step] = value if last else self._set(node[step], i + 1, value, raw)
            return out
        if node is None and i > 0:
            node = {}
        if not isinstance(node, dict):
            self._fail(raw)
        out = dict(node)
        out[step] = value if last else self._set(node.get(step), i + 1, value, raw)
        return out

    def _fail(self, raw: Any) -> None:
        raise StateFailure(
            RESULT_PATH_MATCH_FAILURE,
            f"Unable to apply ResultPath \"{self.text}\" to input \"{dumps(raw)}\"",
        )


__all__ = [
    "FieldFailure",
    "ResultPath",
    "compile_jsonata_template",
    "compile_jsonpath_template",
    "compile_typed_jsonata",
    "dumps",
    "json_type",
    "parse_reference_path",
    "unexpected_result_type",
]
