"""Parameter values checked as CloudFormation checks them at deploy time, with its messages.

`--parameter-overrides` on `compile`, `run`, `serve` and `invoke` goes through here, so a typo in a key
or a value the parameter's own rules refuse is caught locally instead of being lost or used.
"""
from __future__ import annotations

import re
from typing import Any


def check_parameter_values(parameters: dict[str, Any], overrides: dict[str, str]) -> list[str]:
    """Every problem with `overrides` for a template's `Parameters` section, in CloudFormation's words."""
    problems: list[str] = []
    unknown = sorted(set(overrides) - set(parameters))
    if unknown:
        known = ", ".join(sorted(parameters)) or "none"
        problems.append(f"Parameters: [{', '.join(unknown)}] do not exist in the template "
                        f"(its parameters: {known})")
    for name, value in overrides.items():
        spec = parameters.get(name)
        if isinstance(spec, dict):
            problems.extend(_check_value(name, spec, str(value)))
    return problems


def _check_value(name: str, spec: dict, value: str) -> list[str]:
    kind = str(spec.get("Type", "String"))
    listed = kind.startswith("List<") or kind == "CommaDelimitedList"
    members = [member.strip() for member in value.split(",")] if listed else [value]
    if listed and value == "":
        members = []
    constraint = spec.get("ConstraintDescription")
    problems: list[str] = []
    for member in members:
        problem = _member_problem(name, spec, kind, member)
        if problem:
            # CloudFormation shows the template's ConstraintDescription instead of the rule, when given.
            problems.append(f"Parameter '{name}' failed to satisfy constraint: {constraint} (got '{member}')"
                            if constraint else problem)
            break
    return problems


def _member_problem(name: str, spec: dict, kind: str, value: str) -> str | None:
    numeric = kind in ("Number", "List<Number>")
    if numeric:
        try:
            number = float(value)
        except ValueError:
            return f"Parameter '{name}' must be a number (got '{value}')"
        if "MinValue" in spec and number < float(spec["MinValue"]):
            return f"Parameter '{name}' must be a number not less than {spec['MinValue']} (got {value})"
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            return f"Parameter '{name}' must be a number not greater than {spec['MaxValue']} (got {value})"
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [str(item) for item in allowed]:
        return (f"Parameter '{name}' must be one of AllowedValues: "
                f"{', '.join(str(item) for item in allowed)} (got '{value}')")
    if "MinLength" in spec and len(value) < int(spec["MinLength"]):
        return f"Parameter '{name}' must contain at least {spec['MinLength']} characters (got '{value}')"
    if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
        return f"Parameter '{name}' must contain at most {spec['MaxLength']} characters"
    pattern = spec.get("AllowedPattern")
    # CloudFormation matches the whole value (Java's String.matches).
    if pattern is not None and re.fullmatch(str(pattern), value) is None:
        return f"Parameter '{name}' must match pattern {pattern} (AllowedPattern; got '{value}')"
    return None
