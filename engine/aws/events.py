"""Local EventBridge: the events AWS services emit, and event-pattern matching as EventBridge does it."""
from __future__ import annotations

import datetime as dt
import ipaddress
import uuid
from fnmatch import fnmatchcase
from typing import Any


def s3_object_created(bucket: str, key: str, *, size: int, etag: str, account: str, region: str,
                      version_id: str | None = None, reason: str = "PutObject",
                      time: dt.datetime | None = None) -> dict:
    """The "Object Created" event S3 sends to EventBridge for a new object (what a rule's target receives)."""
    when = (time or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    obj: dict[str, Any] = {"key": key, "size": size, "etag": etag.strip('"')}
    if version_id and version_id != "null":
        obj["version-id"] = version_id
    obj["sequencer"] = uuid.uuid4().hex[:18].upper()
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": account,
        "time": when,
        "region": region,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": obj,
            "request-id": uuid.uuid4().hex[:16].upper(),
            "requester": account,
            "source-ip-address": "127.0.0.1",
            "reason": reason,
        },
    }


def scheduler_input(template: str, *, schedule_arn: str, time: dt.datetime | None = None,
                    execution_id: str | None = None) -> str:
    """A schedule's target Input as Scheduler delivers it: its context attributes filled in."""
    when = (time or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    values = {"schedule-arn": schedule_arn, "scheduled-time": when,
              "execution-id": execution_id or str(uuid.uuid4()), "attempt-number": "1"}
    for name, value in values.items():
        template = template.replace(f"<aws.scheduler.{name}>", value)
    return template


_MISSING = object()


def matches(pattern: dict, event: Any) -> bool:
    """Whether `event` matches an EventBridge event pattern (all fields; any value within a field)."""
    if not isinstance(pattern, dict):
        return False
    if "$or" in pattern:
        rest = {key: value for key, value in pattern.items() if key != "$or"}
        return matches(rest, event) and any(matches(option, event) for option in pattern["$or"])
    for field, expected in pattern.items():
        value = event.get(field, _MISSING) if isinstance(event, dict) else _MISSING
        if isinstance(expected, dict):
            if value is _MISSING or not matches(expected, value):
                return False
        elif isinstance(expected, list):
            if not _field_matches(expected, value):
                return False
        else:
            return False   # EventBridge rejects such patterns; never match rather than guess
    return True


def _field_matches(options: list, value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    exists_rules = [option for option in options if isinstance(option, dict) and "exists" in option]
    if value is _MISSING:
        return any(rule["exists"] is False for rule in exists_rules)
    for option in options:
        for item in values:
            if _one_matches(option, item):
                return True
    return False


def _one_matches(option: Any, value: Any) -> bool:
    if not isinstance(option, dict):
        if isinstance(option, bool) or isinstance(value, bool):
            return option is value
        if isinstance(option, int | float) and isinstance(value, int | float):
            return float(option) == float(value)
        return option == value
    if len(option) != 1:
        return False     # EventBridge allows one filter per object
    ((kind, argument),) = option.items()
    if kind == "exists":
        return argument is True
    if kind == "prefix":
        return _affix(argument, value, str.startswith)
    if kind == "suffix":
        return _affix(argument, value, str.endswith)
    if kind == "equals-ignore-case":
        return isinstance(value, str) and value.casefold() == str(argument).casefold()
    if kind == "wildcard":
        return isinstance(value, str) and fnmatchcase(value, str(argument))
    if kind == "anything-but":
        if isinstance(argument, list):
            return all(not _one_matches(item, value) for item in argument)
        if isinstance(argument, dict):
            return not _one_matches(argument, value)
        return not _one_matches(argument, value)
    if kind == "numeric":
        return _numeric(argument, value)
    if kind == "cidr":
        try:
            return ipaddress.ip_address(str(value)) in ipaddress.ip_network(str(argument), strict=False)
        except ValueError:
            return False
    return False


def _affix(argument: Any, value: Any, test) -> bool:
    if not isinstance(value, str):
        return False
    if isinstance(argument, dict) and "equals-ignore-case" in argument:
        return test(value.casefold(), str(argument["equals-ignore-case"]).casefold())
    return test(value, str(argument))


_COMPARE = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, "=": lambda a, b: a == b,
            ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


def _numeric(conditions: list, value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    for index in range(0, len(conditions) - 1, 2):
        operator, bound = conditions[index], conditions[index + 1]
        if operator not in _COMPARE or not _COMPARE[operator](float(value), float(bound)):
            return False
    return True


def is_s3_trigger(pattern: dict) -> bool:
    """Whether a rule's pattern listens for S3 Object Created events."""
    return "aws.s3" in (pattern.get("source") or []) and "Object Created" in (pattern.get("detail-type") or [])


def trigger_buckets(pattern: dict) -> list[str]:
    """The bucket names an S3 trigger pattern lists (literal names only)."""
    names = ((pattern.get("detail") or {}).get("bucket") or {}).get("name") or []
    return [name for name in names if isinstance(name, str)]


