"""Parameter values checked as CloudFormation checks them at deploy time, with its messages.

`--parameter-overrides` on `compile`, `run`, `serve` and `invoke` goes through here, so a typo in a key
or a value the parameter's own rules refuse is caught locally instead of being lost or used.
"""
from __future__ import annotations

import re
from typing import Any

_IP_OPERATORS = ("IpAddress", "NotIpAddress", "IpAddressIfExists", "NotIpAddressIfExists")


def check_parameter_values(parameters: dict[str, Any], overrides: dict[str, str],
                           template: dict[str, Any] | None = None) -> list[str]:
    """Every problem with `overrides` for a template's `Parameters` section, in CloudFormation's words.

    With the whole `template`, a parameter used in an IAM IpAddress condition must also be an IP address or
    CIDR block, as IAM refuses the policy otherwise (at deploy time, or silently in an SCP written beside).
    """
    problems: list[str] = []
    for name in sorted(_ip_parameters(template or {}) & set(overrides)):
        problem = _ip_problem(name, overrides[name])
        if problem:
            problems.append(problem)
    unknown = sorted(set(overrides) - set(parameters))
    if unknown:
        known = ", ".join(sorted(parameters)) or "none"
        problems.append(f"Parameters: [{', '.join(unknown)}] do not exist in the template "
                        f"(its parameters: {known})")
    for name, value in overrides.items():
        spec = parameters.get(name)
        if isinstance(spec, dict):
            problems.extend(check_value(name, spec, str(value)))
    return problems


def check_value(name: str, spec: dict, value: str) -> list[str]:
    """The problems CloudFormation reports for `value` of the template parameter `spec` (none: it is fine)."""
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


def _ip_parameters(value: Any) -> set[str]:
    """Parameters referenced (Ref or ${Name} in a Sub) as values of IpAddress/NotIpAddress conditions."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= _ip_parameters(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key in _IP_OPERATORS and isinstance(item, dict):
                for condition_value in item.values():
                    found |= _references(condition_value)
            else:
                found |= _ip_parameters(item)
    return found


def _references(value: Any) -> set[str]:
    if isinstance(value, list):
        return {name for item in value for name in _references(item)}
    if isinstance(value, dict) and "Ref" in value and isinstance(value["Ref"], str):
        return {value["Ref"]}
    if isinstance(value, dict) and "Fn::Sub" in value:
        text = value["Fn::Sub"][0] if isinstance(value["Fn::Sub"], list) else value["Fn::Sub"]
        return set(re.findall(r"\$\{([A-Za-z0-9]+)\}", str(text)))
    return set()


def _ip_problem(name: str, value: str) -> str | None:
    import ipaddress

    for member in [part.strip() for part in value.split(",")]:
        try:
            ipaddress.ip_network(member, strict=False)
        except ValueError:
            return (f"Parameter '{name}' must be an IP address or CIDR block, as the IAM IpAddress condition "
                    f"that uses it needs (got '{member}')")
    return None
