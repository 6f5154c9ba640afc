"""Deploy-time parameters (`${param:X}`) as values inside conditions and JSONata expressions.

A parameter reaches a definition only as text: SAM's DefinitionSubstitutions replace `${X}` inside
strings. So a parameter compared as a number or a boolean is carried into a workflow variable with
`States.StringToJson` (JSONPath) or `$number(…)` (JSONata) before it is compared; one that is plainly
text compares as a string. A String parameter that looks like a number or a boolean must say which
it is: the comparison is never silently textual.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

_PARAM = re.compile(r"\$\{param:([^}]*)\}")


class ParameterTypeError(ValueError):
    """A parameter whose comparison type cannot be decided from its declaration."""

    def __init__(self, message: str, hint: str):
        super().__init__(message)
        self.message = message
        self.hint = hint


def comparison_type(name: str, declared_type: str, values: Iterable[Any]) -> str:
    """How a parameter written without `as TYPE` compares: numeric for Number parameters, string
    for plain text; raises ParameterTypeError for a String whose default/allowed values look typed."""
    if declared_type == "Number":
        return "numeric"
    values = [value for value in values if value is not None]
    texts = {str(value).lower() for value in values}
    if texts and texts <= {"true", "false"}:
        raise ParameterTypeError(f"parameter '{name}' holds true/false as text: say how to compare it",
                                 f"write ${{param:{name}}} as boolean, or as string")
    if any(_looks_numeric(value) for value in values):
        raise ParameterTypeError(f"parameter '{name}' is a String, so this would compare text, not numbers",
                                 f"declare {name} with type: Number, or write ${{param:{name}}} as string")
    return "string"


def _looks_numeric(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    return isinstance(value, str) and re.fullmatch(r"\s*-?\d+(\.\d+)?([eE][+-]?\d+)?\s*", value) is not None


def variable(name: str) -> str:
    """The workflow variable a typed parameter is carried in: `MinAccuracy` → `param_MinAccuracy`."""
    return "param_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


def json_value(name: str) -> str:
    """The JSONPath intrinsic that turns the substituted text of parameter `name` into its JSON value."""
    return f"States.StringToJson('${{param:{name}}}')"


def in_jsonata(expression: str) -> Iterator[tuple[int, str]]:
    """(offset, name) of every ${param:X} in a JSONata expression that is not inside a string literal."""
    for match in jsonata_matches(_PARAM, expression):
        yield match.start(), match.group(1)


def jsonata_matches(pattern: re.Pattern[str], expression: str) -> Iterator[re.Match[str]]:
    """The matches of `pattern` in a JSONata expression that start outside its string literals (and
    backquoted names): `'${param:X}'` and `"$states.result"` are text, not references."""
    quote: str | None = None
    index = 0
    while index < len(expression):
        char = expression[index]
        if quote:
            if char == "\\":
                index += 1
            elif char == quote:
                quote = None
        elif char in "\"'`":
            quote = char
        elif (match := pattern.match(expression, index)) is not None:
            yield match
            index = match.end()
            continue
        index += 1


def typed_jsonata(expression: str, number_parameters: set[str]) -> str:
    """`expression` with each bare ${param:X} made a JSONata value: `$number("…")` for Number
    parameters, a string literal for the rest (quoted references are already text)."""
    pieces: list[str] = []
    last = 0
    for offset, name in in_jsonata(expression):
        reference = "${param:" + name + "}"
        pieces.append(expression[last:offset])
        pieces.append(f'$number("{reference}")' if name in number_parameters else f'"{reference}"')
        last = offset + len(reference)
    pieces.append(expression[last:])
    return "".join(pieces)
