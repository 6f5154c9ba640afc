"""DynamoDB number attributes as numbers: `N` means a number going in and coming out of a `dynamodb:*` step.

DynamoDB's JSON carries a number as text (`{"N": "0.93"}`), so with raw service steps a number from the state
is written `{"N.$": "States.Format('{}', $.x)"}` and read back as a string. Here the natural forms are typed:

- writing: `{"N.$": "$.x"}` (JSONPath) becomes `States.JsonToString($.x)`, the number's text, so a value that
  is not a JSON number (a string, a boolean, null) reaches DynamoDB quoted or as a word and is refused there
  (ValidationException) instead of being stored; a path that already ends at another attribute's `.N` text
  is copied as it is. `{"N": "{% expr %}"}` (JSONata) checks the value's type itself and fails with
  States.QueryEvaluationError naming the attribute. A literal `N: 8` is written as the text "8".
- reading: in a JSONPath step's `result_selector`, a path ending at an attribute's `.N` reads it as a number
  (`States.StringToJson`); JSONata reads one with `$number($states.result.Item.x.N)`.
"""
from __future__ import annotations

import re
from typing import Any

_EXPRESSION = re.compile(r"^\s*\{%(.*)%\}\s*$", re.DOTALL)
# A plain JSONPath (not an intrinsic) that ends at a number attribute's text: `$.Item.accuracy.N`, `…['N']`.
_NUMBER_TEXT = re.compile(r"^\$[^(]*(\.N|\['N'\])$")


def typed_request(payload: Any, jsonata: bool, attribute: str = "") -> Any:
    """A dynamodb step's Parameters/Arguments with every `N` attribute value written from a number."""
    if isinstance(payload, list):
        return [typed_request(item, jsonata, attribute) for item in payload]
    if not isinstance(payload, dict):
        return payload
    if len(payload) == 1 and "N.$" in payload and not jsonata:
        path = payload["N.$"]
        if isinstance(path, str) and path.startswith("$") and "(" not in path and not _NUMBER_TEXT.match(path):
            return {"N.$": f"States.JsonToString({path})"}
        return payload
    if len(payload) == 1 and "N" in payload:
        value = payload["N"]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return {"N": str(value)}
        match = _EXPRESSION.match(value) if jsonata and isinstance(value, str) else None
        if match:
            name = attribute or "N"
            return {"N": "{% ($value := " + match.group(1).strip() + '; $type($value) = "number" ? '
                    f'$string($value) : $error("DynamoDB number attribute {name} needs a number, not " & '
                    '$type($value))) %}'}
        return payload
    return {key: typed_request(value, jsonata, key if key not in _ATTRIBUTE_VALUE_TYPES else attribute)
            for key, value in payload.items()}


_ATTRIBUTE_VALUE_TYPES = ("S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL")


def typed_result_selector(selector: Any) -> Any:
    """A dynamodb step's ResultSelector with each path to an attribute's `.N` text read as a number."""
    if isinstance(selector, dict):
        return {key: (f"States.StringToJson({value})" if key.endswith(".$") and isinstance(value, str)
                      and _NUMBER_TEXT.match(value) else typed_result_selector(value))
                for key, value in selector.items()}
    if isinstance(selector, list):
        return [typed_result_selector(item) for item in selector]
    return selector


def number_literals(payload: Any, keys: tuple = ()) -> list[tuple[tuple, Any]]:
    """(key path, value) of every literal `N` attribute value in a request (to check it is a number's text)."""
    found: list[tuple[tuple, Any]] = []
    if isinstance(payload, dict):
        if len(payload) == 1 and "N" in payload and not (isinstance(payload["N"], str)
                                                         and _EXPRESSION.match(payload["N"])):
            return [((*keys, "N"), payload["N"])]
        for key, value in payload.items():
            found += number_literals(value, (*keys, key))
    elif isinstance(payload, list):
        for index, value in enumerate(payload):
            found += number_literals(value, (*keys, index))
    return found
