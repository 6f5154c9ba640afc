"""IAM identity-policy evaluation, small and exact: Allow/Deny, Action/NotAction, Resource/NotResource,
ARN wildcards, and the String, Ip, Arn, Numeric, Bool and Null condition operators (with IfExists).

Anything else (set operators, policy variables in conditions) raises PolicyError rather than guess:
a local answer that differs from AWS's is worse than none.
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

ALLOW = "Allow"
DENY = "Deny"


class PolicyError(ValueError):
    """A policy this evaluator cannot decide exactly."""


@dataclass(frozen=True)
class Decision:
    """The answer for one request: allowed or not, and the statement that decided (None: implicit deny)."""

    allowed: bool
    reason: str  # "explicit allow", "explicit deny", "implicit deny"
    statement: Mapping | None = None


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


@lru_cache(maxsize=1024)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern:
    """* any run, ? one character; everything else literal."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


@lru_cache(maxsize=1024)
def _arn_glob(pattern: str) -> re.Pattern:
    # A wildcard stays inside its colon-separated ARN segment, except at the end of a segment, where
    # IAM lets it run past the colons (so `arn:aws:s3:*` covers every S3 ARN).
    parts = []
    for index, c in enumerate(pattern):
        if c == "*":
            at_segment_end = index + 1 == len(pattern) or pattern[index + 1] == ":"
            parts.append(".*" if at_segment_end else "[^:]*")
        elif c == "?":
            parts.append("[^:]")
        else:
            parts.append(re.escape(c))
    return re.compile("".join(parts), re.DOTALL)


def action_matches(pattern: str, action: str) -> bool:
    """`sagemaker:Create*` against `sagemaker:CreatePresignedDomainUrl` (actions ignore case)."""
    return bool(_glob(pattern, True).fullmatch(action))


def resource_matches(pattern: str, arn: str) -> bool:
    """An ARN pattern from a policy against a resource ARN (case-sensitive, segment-aware wildcards)."""
    if pattern == "*":
        return True
    return bool(_arn_glob(pattern).fullmatch(arn))


def _ip_in(network: str, address: str) -> bool:
    try:
        return ipaddress.ip_address(address.strip()) in ipaddress.ip_network(network.strip(), strict=False)
    except ValueError:
        return False


def _number(text: Any) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _compare(base: str, policy: str, actual: str) -> bool:
    """One context value against one policy value, for a positive (non-negated) base operator."""
    if base == "StringEquals":
        return actual == policy
    if base == "StringEqualsIgnoreCase":
        return actual.lower() == policy.lower()
    if base == "StringLike":
        return bool(_glob(policy, False).fullmatch(actual))
    if base == "IpAddress":
        return _ip_in(policy, actual)
    if base in ("ArnEquals", "ArnLike"):
        return resource_matches(policy, actual)
    if base == "Bool":
        return actual.lower() == policy.lower()
    if base.startswith("Numeric"):
        left, right = _number(actual), _number(policy)
        if left is None or right is None:
            return False
        return {"NumericEquals": left == right, "NumericLessThan": left < right,
                "NumericLessThanEquals": left <= right, "NumericGreaterThan": left > right,
                "NumericGreaterThanEquals": left >= right}[base]
    raise PolicyError(f"condition operator {base} is not supported locally")


# negated operator → its positive form; a negated operator holds when no policy value matches (NOR)
_NEGATED = {"StringNotEquals": "StringEquals", "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
            "StringNotLike": "StringLike", "NotIpAddress": "IpAddress", "ArnNotEquals": "ArnEquals",
            "ArnNotLike": "ArnLike", "NumericNotEquals": "NumericEquals"}
_POSITIVE = {"StringEquals", "StringEqualsIgnoreCase", "StringLike", "IpAddress", "ArnEquals", "ArnLike",
             "Bool", "NumericEquals", "NumericLessThan", "NumericLessThanEquals", "NumericGreaterThan",
             "NumericGreaterThanEquals"}


def _context_value(context: Mapping[str, Any], key: str) -> list[str] | None:
    # Condition keys are case-insensitive.
    for name, value in context.items():
        if name.lower() == key.lower():
            return [str(v) for v in _as_list(value)] if value is not None else None
    return None


def condition_holds(operator: str, block: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
    """One operator's block ({key: value or [values]}); every key must hold (AND)."""
    if ":" in operator:
        raise PolicyError(f"set operator {operator} is not supported locally")
    if_exists = operator.endswith("IfExists") and operator != "IfExists"
    base = operator[: -len("IfExists")] if if_exists else operator
    for key, wanted in block.items():
        wanted_values = [str(v).lower() if isinstance(v, bool) else str(v) for v in _as_list(wanted)]
        actual = _context_value(context, key)
        if base == "Null":
            if if_exists:
                raise PolicyError("NullIfExists is not an IAM operator")
            absent = actual is None
            if not any(absent == (w.lower() == "true") for w in wanted_values):
                return False
            continue
        if actual is None:
            # Absent key: IfExists passes; a negated operator is true; a positive one is false.
            if if_exists or base in _NEGATED:
                continue
            if base in _POSITIVE:
                return False
            raise PolicyError(f"condition operator {operator} is not supported locally")
        if base in _NEGATED:
            positive = _NEGATED[base]
            if any(_compare(positive, w, a) for w in wanted_values for a in actual):
                return False
        elif base in _POSITIVE:
            if not any(_compare(base, w, a) for w in wanted_values for a in actual):
                return False
        else:
            raise PolicyError(f"condition operator {operator} is not supported locally")
    return True


def statement_applies(statement: Mapping, action: str, resource: str | None,
                      context: Mapping[str, Any]) -> bool:
    """Whether a statement's Action, Resource and Condition all match this request.

    `resource=None` (a request whose resource is not known locally) leans toward allowing: an Allow
    statement matches whatever its Resource, a Deny only when it denies every resource (`"*"`).
    """
    if "NotAction" in statement:
        if any(action_matches(p, action) for p in _as_list(statement["NotAction"])):
            return False
    elif not any(action_matches(p, action) for p in _as_list(statement.get("Action"))):
        return False
    if resource is None:
        if statement.get("Effect") == DENY and "*" not in _as_list(statement.get("Resource")):
            return False
    elif "NotResource" in statement:
        if any(resource_matches(p, resource) for p in _as_list(statement["NotResource"])):
            return False
    elif not any(resource_matches(p, resource) for p in _as_list(statement.get("Resource"))):
        return False
    for operator, block in (statement.get("Condition") or {}).items():
        if not condition_holds(operator, block, context):
            return False
    return True


def statements_of(policies: Iterable[Mapping]) -> list[Mapping]:
    """The statements of policy documents ({Statement: …}) or of bare statements, flattened."""
    statements: list[Mapping] = []
    for policy in policies:
        if "Statement" in policy:
            statements.extend(_as_list(policy["Statement"]))
        else:
            statements.append(policy)
    return statements


def evaluate(policies: Iterable[Mapping], action: str, resource: str | None,
             context: Mapping[str, Any] | None = None) -> Decision:
    """Decide a request against identity policies: an explicit Deny wins, then any Allow, else deny.

    With `resource=None` the answer is exact when it is a deny for want of any Allow of the action (no
    resource could change that) and may be too lenient otherwise; see `statement_applies`.
    """
    context = context or {}
    allow: Mapping | None = None
    for statement in statements_of(policies):
        effect = statement.get("Effect")
        if effect not in (ALLOW, DENY):
            raise PolicyError(f"statement Effect must be Allow or Deny, not {effect!r}")
        if statement_applies(statement, action, resource, context):
            if effect == DENY:
                return Decision(False, "explicit deny", statement)
            allow = allow or statement
    if allow is not None:
        return Decision(True, "explicit allow", allow)
    return Decision(False, "implicit deny")
