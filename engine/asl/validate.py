"""The one ASL validator: what Step Functions' CreateStateMachine refuses, this refuses.

The compiler runs it on its own output (cfn-lint and `sam validate` treat the definition as opaque
JSON) and the engine's loader runs it on every definition it is given, so "validates" and "runs" can
never disagree. It checks what the ASL specification (states-language.net) and Step Functions require:
transitions resolve inside their own scope, every state is reachable and some state ends the scope,
field combinations are legal for the state type and query language, Retry/Catch, Choice rules, Wait,
Fail, Map and Credentials fields have legal values, Resource is an ARN, and every JSONPath, intrinsic
function and JSONata expression parses — with the same parsers the interpreter runs them with.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from . import intrinsics, jsonata, jsonpath, timestamps

STATE_TYPES = ("Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map")
QUERY_LANGUAGES = ("JSONPath", "JSONata")
MAX_NAME_LENGTH = 80

_COMMON = {"Type", "Comment", "QueryLanguage"}
_FLOW = {"Next", "End"}
_JSONPATH_IO = {"InputPath", "OutputPath"}
_ERRORS = {"Retry", "Catch"}
_MAP_COMMON = {
    "ItemProcessor", "Iterator", "ItemSelector", "ItemReader", "ItemBatcher", "ResultWriter",
    "MaxConcurrency", "ToleratedFailurePercentage", "ToleratedFailureCount", "Label",
}

# Fields each state type may carry, by query language (AWS "State fields" tables).
_ALLOWED: dict[str, dict[str, set[str]]] = {
    "JSONPath": {
        "Pass": _FLOW | _JSONPATH_IO | {"Parameters", "ResultPath", "Result", "Assign"},
        "Task": _FLOW | _JSONPATH_IO | _ERRORS | {
            "Parameters", "ResultPath", "ResultSelector", "Resource", "TimeoutSeconds",
            "TimeoutSecondsPath", "HeartbeatSeconds", "HeartbeatSecondsPath", "Credentials", "Assign"},
        "Choice": _JSONPATH_IO | {"Choices", "Default", "Assign"},
        "Wait": _FLOW | _JSONPATH_IO | {"Seconds", "SecondsPath", "Timestamp", "TimestampPath", "Assign"},
        "Succeed": _JSONPATH_IO,
        "Fail": {"Error", "Cause", "ErrorPath", "CausePath"},
        "Parallel": _FLOW | _JSONPATH_IO | _ERRORS | {
            "Branches", "Parameters", "ResultPath", "ResultSelector", "Assign"},
        "Map": _FLOW | _JSONPATH_IO | _ERRORS | _MAP_COMMON | {
            "Parameters", "ResultPath", "ResultSelector", "ItemsPath", "MaxConcurrencyPath",
            "ToleratedFailurePercentagePath", "ToleratedFailureCountPath", "Assign"},
    },
    "JSONata": {
        "Pass": _FLOW | {"Output", "Assign"},
        "Task": _FLOW | _ERRORS | {
            "Arguments", "Output", "Assign", "Resource", "TimeoutSeconds", "HeartbeatSeconds", "Credentials"},
        "Choice": {"Choices", "Default", "Output", "Assign"},
        "Wait": _FLOW | {"Seconds", "Timestamp", "Output", "Assign"},
        "Succeed": {"Output"},
        "Fail": {"Error", "Cause"},
        "Parallel": _FLOW | _ERRORS | {"Branches", "Arguments", "Output", "Assign"},
        "Map": _FLOW | _ERRORS | _MAP_COMMON | {"Items", "Output", "Assign"},
    },
}

_COMPARATORS = {
    "String": ("StringEquals", "StringLessThan", "StringGreaterThan", "StringLessThanEquals",
               "StringGreaterThanEquals", "StringMatches"),
    "Numeric": ("NumericEquals", "NumericLessThan", "NumericGreaterThan", "NumericLessThanEquals",
                "NumericGreaterThanEquals"),
    "Boolean": ("BooleanEquals",),
    "Timestamp": ("TimestampEquals", "TimestampLessThan", "TimestampGreaterThan",
                  "TimestampLessThanEquals", "TimestampGreaterThanEquals"),
}
_TYPE_TESTS = ("IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp")
_ALL_COMPARATORS: set[str] = set(_TYPE_TESTS)
for _names in _COMPARATORS.values():
    _ALL_COMPARATORS.update(_names)
    _ALL_COMPARATORS.update(n + "Path" for n in _names if n != "StringMatches")


@dataclass(frozen=True)
class ASLError:
    """One problem: where (`path` of the state, `field`) and what is wrong; `state` names the state."""

    path: str
    field: str
    message: str
    state: str | None = dataclasses.field(default=None, compare=False)

    def __str__(self) -> str:
        where = f"{self.path}.{self.field}" if self.field else self.path
        return f"{where}: {self.message}"


def check_definition(definition: Any, *, endless_loops: bool = True) -> list[ASLError]:
    """Every reason CreateStateMachine would refuse `definition` (an empty list when it is valid).

    `endless_loops=False` also refuses states from which no path reaches a terminal state: AWS accepts
    those (they loop until the execution times out), but the compiler must never produce one.
    """
    checker = _Checker(endless_loops)
    checker.check_machine(definition)
    return checker.errors


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_jsonata(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("{%") and value.endswith("%}")


def _is_path(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("$")


def _path_problem(value: Any, reference: bool = False) -> str | None:
    """Why `value` is not a JSONPath AWS accepts (a reference path: `$`-rooted names and indexes)."""
    if not isinstance(value, str):
        return "must be a JSONPath string"
    try:
        path = jsonpath.compile_path(value)
    except jsonpath.PathError as exc:
        return exc.cause
    if reference and not (path.reference and path.root == "$"):
        return f"must be a valid reference path ($ followed by names and indexes), not {value!r}"
    return None


def _dynamic_problem(value: Any) -> str | None:
    """Why the value of a `key.$` field is neither a JSONPath nor an intrinsic function call."""
    if isinstance(value, str) and value.startswith("States."):
        try:
            intrinsics.compile_intrinsic(value)
        except (intrinsics.IntrinsicSyntaxError, jsonpath.PathError) as exc:
            return str(exc)
        return None
    if not _is_path(value):
        return "a key ending in .$ needs a JSONPath or an intrinsic function"
    return _path_problem(value)


def _jsonata_problems(value: Any, where: str) -> list[tuple[str, str]]:
    """(field, problem) for every `{% %}` string inside a JSONata-mode value that does not parse."""
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in _jsonata_problems(item, f"{where}.{key}")]
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in _jsonata_problems(item, f"{where}[{i}]")]
    if not isinstance(value, str) or not (value.startswith("{%") or value.endswith("%}")):
        return []
    try:
        jsonata.compile_template(value)
    except jsonata.JsonataError as exc:
        return [(where, exc.cause)]
    return []


# An ARN as Step Functions takes it for Resource; `${Name}` placeholders (SAM/CloudFormation
# DefinitionSubstitutions, Terraform templatefile) stand for any part and are filled in at deploy time.
_PLACEHOLDER = re.compile(r"\$\{[^${}]+\}")
_ARN = re.compile(r"arn:[a-z0-9-]+:[a-z0-9-]+:[a-z0-9-]*:[^:]*:.+")
_LAMBDA_ARN = re.compile(r"arn:[a-z0-9-]+:lambda:[a-z0-9-]*:[^:]*:function:[A-Za-z0-9_-]+(:(\$LATEST|[A-Za-z0-9_-]+))?")


def _resource_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return "a Task needs a Resource ARN"
    text = _PLACEHOLDER.sub("x", value)
    if "${" in text:
        return f"{value!r} has an unclosed ${{...}} placeholder"
    if _PLACEHOLDER.sub("", value) == "":
        return None  # the whole Resource is substituted at deploy time
    if not _ARN.fullmatch(text):
        return f"Value is not a valid resource ARN: {value!r}"
    if text.split(":")[2] == "lambda" and not _LAMBDA_ARN.fullmatch(text):
        return f"Value is not a valid Lambda function ARN (function:name or function:name:alias): {value!r}"
    return None


class _Checker:
    def __init__(self, endless_loops: bool = True) -> None:
        self.endless_loops = endless_loops
        self.errors: list[ASLError] = []
        self.names: dict[str, str] = {}  # state name -> path of the scope that defines it
        self.state: str | None = None  # the state being checked, for the errors' `state`

    def error(self, path: str, field: str, message: str, state: str | None = None) -> None:
        self.errors.append(ASLError(path, field, message, state or self.state))

    # -- scopes ---------------------------------------------------------------------------------

    def check_machine(self, definition: Any) -> None:
        if not isinstance(definition, dict):
            self.error("$", "", "a state machine definition must be a JSON object")
            return
        allowed = {"StartAt", "States", "Comment", "Version", "TimeoutSeconds", "QueryLanguage"}
        for key in sorted(set(definition) - allowed):
            self.error("$", key, "unknown top-level field")
        language = definition.get("QueryLanguage", "JSONPath")
        if language not in QUERY_LANGUAGES:
            self.error("$", "QueryLanguage", f"must be JSONPath or JSONata, not {language!r}")
            language = "JSONPath"
        if "TimeoutSeconds" in definition and not (
            _is_int(definition["TimeoutSeconds"]) and 0 < definition["TimeoutSeconds"] < 99999999
        ):
            self.error("$", "TimeoutSeconds", "must be a positive integer")
        self.check_scope(definition, "$", language, top_language=language)

    def check_scope(self, scope: Any, path: str, language: str, top_language: str,
                    extra_fields: frozenset[str] = frozenset()) -> None:
        if not isinstance(scope, dict):
            self.error(path, "", "must be an object with StartAt and States")
            return
        outer = self.state
        if path != "$":
            for key in sorted(set(scope) - {"StartAt", "States", "Comment"} - extra_fields):
                self.error(path, key, "unknown field in a branch")
        states = scope.get("States")
        if not isinstance(states, dict) or not states:
            self.error(path, "States", "must be a non-empty object of states")
            return
        start = scope.get("StartAt")
        if not isinstance(start, str):
            self.error(path, "StartAt", "is required and must be a state name")
        elif start not in states:
            self.error(path, "StartAt", f"names {start!r}, which is not a state in this scope")

        for name, state in states.items():
            state_path = f"{path}.States.{name}"
            self.state = name
            if len(name) > MAX_NAME_LENGTH:
                self.error(state_path, "", f"state names are at most {MAX_NAME_LENGTH} characters")
            if name in self.names:
                self.error(state_path, "", f"state name is also defined at {self.names[name]}; "
                           "state names must be unique in the whole state machine")
            else:
                self.names[name] = f"{path}.States"
            self.check_state(state, state_path, language, top_language, states)
        self.state = outer
        self.check_graph(states, start if isinstance(start, str) else None, path)

    def check_graph(self, states: dict[str, Any], start: str | None, path: str) -> None:
        edges = {name: _successors(state) for name, state in states.items()}
        if start in states:
            seen = {start}
            todo = [start]
            while todo:
                for target in edges[todo.pop()]:
                    if target in states and target not in seen:
                        seen.add(target)
                        todo.append(target)
            for name in states:
                if name not in seen:
                    self.error(f"{path}.States.{name}", "", f"State '{name}' is not reachable", name)
        terminal = {name for name, state in states.items() if _is_terminal(state)}
        if not terminal:
            self.error(path, "States", "No terminal state: no state ends this scope (End: true, Succeed or Fail)")
            return
        if self.endless_loops:
            return
        # A state that can never reach a terminal state loops forever: Step Functions accepts it,
        # but no compiled workflow should contain one.
        can_finish = set(terminal)
        changed = True
        while changed:
            changed = False
            for name in states:
                if name not in can_finish and any(t in can_finish for t in edges[name]):
                    can_finish.add(name)
                    changed = True
        for name in states:
            if name not in can_finish:
                self.error(f"{path}.States.{name}", "", "no path from this state reaches a terminal state", name)

    # -- states ---------------------------------------------------------------------------------

    def check_state(self, state: Any, path: str, language: str, top_language: str,
                    scope: dict[str, Any]) -> None:
        if not isinstance(state, dict):
            self.error(path, "", "a state must be an object")
            return
        kind = state.get("Type")
        if kind not in STATE_TYPES:
            self.error(path, "Type", f"must be one of {', '.join(STATE_TYPES)}, not {kind!r}")
            return
        if "QueryLanguage" in state:
            own = state["QueryLanguage"]
            if own not in QUERY_LANGUAGES:
                self.error(path, "QueryLanguage", f"must be JSONPath or JSONata, not {own!r}")
            elif top_language == "JSONata" and own == "JSONPath":
                self.error(path, "QueryLanguage", "a JSONata state machine cannot have JSONPath states")
            else:
                language = own
        allowed = _ALLOWED[language][kind] | _COMMON
        for key in sorted(set(state) - allowed):
            other = "JSONata" if language == "JSONPath" else "JSONPath"
            if key in _ALLOWED[other][kind]:
                self.error(path, key, f"not allowed in a {language} state (it is a {other} field)")
            else:
                self.error(path, key, f"not allowed in a {kind} state")

        if "Assign" in state and kind not in ("Succeed", "Fail"):
            for problem in _assign_errors(state["Assign"], language):
                self.error(path, "Assign", problem)
        self.check_transition(state, path, kind, scope)
        if language == "JSONPath":
            for key in ("InputPath", "OutputPath"):
                value = state.get(key)
                if value is not None:
                    problem = _path_problem(value)
                    if problem:
                        self.error(path, key, problem)
            if state.get("ResultPath") is not None:
                problem = _path_problem(state["ResultPath"], reference=True)
                if problem:
                    self.error(path, "ResultPath", problem)
            for key in ("Parameters", "ResultSelector", "ItemSelector", "Assign"):
                if key in state:
                    self.check_payload_template(state[key], path, key)
            for holder, key in (("ItemReader", "Parameters"), ("ResultWriter", "Parameters"),
                                ("ItemBatcher", "BatchInput")):
                if isinstance(state.get(holder), dict) and key in state[holder]:
                    self.check_payload_template(state[holder][key], path, f"{holder}.{key}")
            for list_field in ("Choices", "Catch"):
                items = state.get(list_field)
                for i, item in enumerate(items if isinstance(items, list) else []):
                    if isinstance(item, dict) and "Assign" in item:
                        self.check_payload_template(item["Assign"], path, f"{list_field}[{i}].Assign")
        else:
            for key, value in state.items():
                if key in ("Choices", "Catch", "Retry") and isinstance(value, list):
                    # a rule's, catcher's or retrier's Comment is prose, never an expression
                    value = [{k: v for k, v in item.items() if k != "Comment"} if isinstance(item, dict)
                             else item for item in value]
                if key not in ("Branches", "ItemProcessor", "Iterator", "Comment", "Type"):
                    for where, problem in _jsonata_problems(value, key):
                        self.error(path, where, problem)
        getattr(self, f"check_{kind.lower()}")(state, path, language, top_language, scope)
        if kind in ("Task", "Parallel", "Map"):
            self.check_retry(state.get("Retry"), path)
            self.check_catch(state.get("Catch"), path, language, scope)

    def check_transition(self, state: dict, path: str, kind: str, scope: dict[str, Any]) -> None:
        if kind in ("Choice", "Succeed", "Fail"):
            return  # field table already forbids Next/End on these
        has_next, end = "Next" in state, state.get("End")
        if "End" in state and not isinstance(end, bool):
            self.error(path, "End", "must be true or false")
        if has_next and end is True:
            self.error(path, "Next", "a state cannot have both Next and End: true")
        elif not has_next and end is not True:
            self.error(path, "Next", f"a {kind} state needs Next or End: true")
        if has_next:
            self.check_target(state["Next"], path, "Next", scope)

    def check_target(self, target: Any, path: str, field: str, scope: dict[str, Any]) -> None:
        if not isinstance(target, str):
            self.error(path, field, "must be a state name")
        elif target not in scope:
            self.error(path, field, f"Missing 'Next' target: {target} (no state of that name in this scope)")

    def check_payload_template(self, template: Any, path: str, field: str) -> None:
        if isinstance(template, dict):
            plain = set()
            for key, value in template.items():
                name = key.removesuffix(".$")
                if name in plain:
                    self.error(path, f"{field}.{key}", f"the field '{name}' is given twice "
                               "(once with .$ and once without)")
                plain.add(name)
                if key.endswith(".$"):
                    problem = _dynamic_problem(value)
                    if problem:
                        self.error(path, f"{field}.{key}", problem)
                else:
                    self.check_payload_template(value, path, f"{field}.{key}")
        elif isinstance(template, list):
            for i, value in enumerate(template):
                self.check_payload_template(value, path, f"{field}[{i}]")

    def check_pass(self, state: dict, path: str, language: str, top: str, scope: dict) -> None:
        pass  # Pass has no constraints beyond the field table and its transition

    def check_succeed(self, state: dict, path: str, language: str, top: str, scope: dict) -> None:
        pass  # Succeed has no constraints beyond the field table

    def check_task(self, state: dict, path: str, language: str, top: str, scope: dict) -> None:
        problem = _resource_problem(state.get("Resource"))
        if problem:
            self.error(path, "Resource", problem)
        if "Credentials" in state:
            self.check_credentials(state["Credentials"], path, language)
        for field in ("TimeoutSeconds", "HeartbeatSeconds"):
            if field + "Path" in state and field in state:
                self.error(path, field, f"use either {field} or {field}Path, not both")
            if field in state:
                value = state[field]
                if not ((_is_int(value) and 0 < value < 99999999) or (language == "JSONata" and _is_jsonata(value))):
                    self.error(path, field, "must be a positive integer")
            if field + "Path" in state:
                problem = _path_problem(state[field + "Path"])
                if problem:
                    self.error(path, field + "Path", problem)
        timeout, heartbeat = state.get("TimeoutSeconds"), state.get("HeartbeatSeconds")
        if _is_int(timeout) and _is_int(heartbeat) and heartbeat >= timeout:
            self.error(path, "HeartbeatSeconds", "must be smaller than TimeoutSeconds")

    def check_credentials(self, credentials: Any, path: str, language: str) -> None:
        # AWS: Credentials names the role to assume, as RoleArn (JSONata: a string or expression;
        # JSONPath: a string, or RoleArn.$ with a path or intrinsic function) and nothing else.
        keys = ("RoleArn",) if language == "JSONata" else ("RoleArn", "RoleArn.$")
        if not isinstance(credentials, dict) or len(credentials) != 1 or next(iter(credentials)) not in keys:
            self.error(path, "Credentials", f"must be an object with exactly one of {', '.join(keys)}")
            return
        key, value = next(iter(credentials.items()))
        if key == "RoleArn.$":
            problem = _dynamic_problem(value)
            if problem:
                self.error(path, "Credentials.RoleArn.$", problem)
        elif not isinstance(value, str) or not value:
            self.error(path, "Credentials.RoleArn", "must be a role ARN")

    def check_wait(self, state: dict, path: str, language: str, top: str, scope: dict) -> None:
        given = [f for f in ("Seconds", "SecondsPath", "Timestamp", "TimestampPath") if f in state]
        if len(given) != 1:
            self.error(path, "Seconds", "a Wait needs exactly one of Seconds, SecondsPath, Timestamp, "
                       f"TimestampPath (has {', '.join(given) or 'none'})")
        seconds = state.get("Seconds")
        if "Seconds" in state and not ((_is_int(seconds) and seconds >= 0)
                                       or (language == "JSONata" and _is_jsonata(seconds))):
            self.error(path, "Seconds", "must be a non-negative integer")
        for field in ("SecondsPath", "TimestampPath"):
            if field in state:
                problem = _path_problem(state[field])
                if problem:
                    self.error(path, field, problem)
        if "Timestamp" in state and timestamps.parse(state["Timestamp"]) is None and not (
                language == "JSONata" and _is_jsonata(state["Timestamp"])):
            self.error(path, "Timestamp", "must be an ISO-8601 timestamp such as 2026-01-31T12:00:00Z")

    def check_fail(self, state: dict, path: str, language: str, top: str, scope: dict) -> None:
        for field in ("Error", "Cause"):
            if field in state and field + "Path" in state:
                self.error(path, field, f"use either {field} or {field}Path, not both")
            if field in state and not isinstance(state[field], str):
                self.error(path, field, "must be a string")

    def check_choice(self, state: dict, path: str, language: str, top: str, scope: dict) -> None:
        choices = state.get("Choices")
        if not isinstance(choices, list) or not choices:
            self.error(path, "Choices", "a Choice needs a non-empty list of rules")
            choices = []
        for i, rule in enumerate(choices):
            rule_path = f"Choices[{i}]"
            if not isinstance(rule, dict):
                self.error(path, rule_path, "a choice rule must be an object")
                continue
            if "Next" not in rule:
                self.error(path, f"{rule_path}.Next", "every top-level choice rule needs Next")
            else:
                self.check_target(rule["Next"], path, f"{rule_path}.Next", scope)
            if language == "JSONata":
                for key in sorted(set(rule) - {"Condition", "Next", "Assign", "Output", "Comment"}):
                    self.error(path, f"{rule_path}.{key}", "not allowed in a JSONata choice rule")
                if not _is_jsonata(rule.get("Condition")) and not isinstance(rule.get("Condition"), bool):
                    self.error(path, f"{rule_path}.Condition", "a JSONata rule needs Condition \"{% … %}\"")
            else:
                self.check_rule(rule, path, rule_path, top=True)
        if "Default" in state:
            self.check_target(state["Default"], path, "Default", scope)

    def check_rule(self, rule: Any, path: str, rule_path: str, top: bool) -> None:
        if not isinstance(rule, dict):
            self.error(path, rule_path, "a choice rule must be an object")
            return
        extra = {"Next", "Assign"} if top else set()
        if not top and "Next" in rule:
            self.error(path, f"{rule_path}.Next", "nested choice rules cannot have Next")
        booleans = [k for k in ("And", "Or", "Not") if k in rule]
        comparators = [k for k in rule if k in _ALL_COMPARATORS]
        if booleans:
            if len(booleans) > 1 or comparators or "Variable" in rule:
                self.error(path, rule_path, "a rule is either one of And/Or/Not or a single comparison")
            op = booleans[0]
            if op == "Not":
                self.check_rule(rule["Not"], path, f"{rule_path}.Not", top=False)
            elif not isinstance(rule[op], list) or not rule[op]:
                self.error(path, f"{rule_path}.{op}", "must be a non-empty list of rules")
            else:
                for j, sub in enumerate(rule[op]):
                    self.check_rule(sub, path, f"{rule_path}.{op}[{j}]", top=False)
            for key in sorted(set(rule) - {"And", "Or", "Not", "Comment"} - extra):
                self.error(path, f"{rule_path}.{key}", "unknown field in a choice rule")
            return
        if not _is_path(rule.get("Variable")):
            self.error(path, f"{rule_path}.Variable", "a comparison needs a Variable path starting with $")
        else:
            problem = _path_problem(rule["Variable"])
            if problem:
                self.error(path, f"{rule_path}.Variable", problem)
        if len(comparators) != 1:
            self.error(path, rule_path, f"a comparison needs exactly one operator (has {len(comparators)})")
        for key in sorted(set(rule) - {"Variable", "Comment"} - set(comparators) - extra):
            self.error(path, f"{rule_path}.{key}", "unknown field in a choice rule")
        for op in comparators:
            value = rule[op]
            if op.endswith("Path"):
                ok = _is_path(value) and _path_problem(value) is None
                wanted = "a valid JSONPath"
            elif op in _TYPE_TESTS:
                ok, wanted = isinstance(value, bool), "true or false"
            elif op.startswith(("String", "Timestamp")):
                ok, wanted = isinstance(value, str), "a string"
            elif op.startswith("Numeric"):
                ok, wanted = _is_number(value), "a number"
            else:
                ok, wanted = isinstance(value, bool), "true or false"
            if not ok:
                self.error(path, f"{rule_path}.{op}", f"must be {wanted}")

    def check_parallel(self, state: dict, path: str, language: str, top: str, scope: dict) -> None:
        branches = state.get("Branches")
        if not isinstance(branches, list) or not branches:
            self.error(path, "Branches", "a Parallel needs a non-empty list of branches")
            return
        for i, branch in enumerate(branches):
            self.check_scope(branch, f"{path}.Branches[{i}]", language, top)

    def check_map(self, state: dict, path: str, language: str, top: str, scope: dict) -> None:
        if ("ItemProcessor" in state) == ("Iterator" in state):
            self.error(path, "ItemProcessor", "a Map needs exactly one of ItemProcessor or Iterator")
        if "Parameters" in state and "ItemSelector" in state:
            self.error(path, "ItemSelector", "use either ItemSelector or Parameters, not both")
        for field in ("MaxConcurrency", "ToleratedFailurePercentage", "ToleratedFailureCount"):
            if field in state and field + "Path" in state:
                self.error(path, field, f"use either {field} or {field}Path, not both")
        concurrency = state.get("MaxConcurrency")
        if "MaxConcurrency" in state and not ((_is_int(concurrency) and concurrency >= 0)
                                              or (language == "JSONata" and _is_jsonata(concurrency))):
            self.error(path, "MaxConcurrency", "must be a non-negative integer (0 = no limit)")
        percentage = state.get("ToleratedFailurePercentage")
        for field in ("ItemsPath", "MaxConcurrencyPath", "ToleratedFailurePercentagePath",
                      "ToleratedFailureCountPath"):
            if field in state:
                problem = _path_problem(state[field])
                if problem:
                    self.error(path, field, problem)
        count = state.get("ToleratedFailureCount")
        if "ToleratedFailureCount" in state and not ((_is_int(count) and count >= 0)
                                                     or (language == "JSONata" and _is_jsonata(count))):
            self.error(path, "ToleratedFailureCount", "must be a non-negative integer")
        if "ToleratedFailurePercentage" in state and not (
                (_is_number(percentage) and 0 <= percentage <= 100)
                or (language == "JSONata" and _is_jsonata(percentage))):
            self.error(path, "ToleratedFailurePercentage", "must be a number between 0 and 100")
        for holder in ("ItemBatcher", "ItemReader.ReaderConfig"):
            settings: Any = state
            for part in holder.split("."):
                settings = settings.get(part) if isinstance(settings, dict) else None
            if isinstance(settings, dict):
                for key in sorted(settings):
                    if key + "Path" in settings:
                        self.error(path, f"{holder}.{key}", f"use either {key} or {key}Path, not both")

        if "Items" in state and not (isinstance(state["Items"], list) or _is_jsonata(state["Items"])):
            self.error(path, "Items", "must be an array or a JSONata expression")
        processor = state.get("ItemProcessor", state.get("Iterator"))
        field = "ItemProcessor" if "ItemProcessor" in state else "Iterator"
        mode = "INLINE"
        # AWS runs a legacy Iterator that carries ProcessorConfig too.
        if isinstance(processor, dict) and "ProcessorConfig" in processor:
            config = processor.get("ProcessorConfig", {})
            if not isinstance(config, dict):
                self.error(path, f"{field}.ProcessorConfig", "must be an object")
                config = {}
            mode = config.get("Mode", "INLINE")
            if mode not in ("INLINE", "DISTRIBUTED"):
                self.error(path, f"{field}.ProcessorConfig.Mode", "must be INLINE or DISTRIBUTED")
            execution = config.get("ExecutionType")
            if mode == "DISTRIBUTED" and execution not in ("STANDARD", "EXPRESS"):
                self.error(path, "ItemProcessor.ProcessorConfig.ExecutionType",
                           "a distributed Map needs ExecutionType STANDARD or EXPRESS")
            if mode == "INLINE" and execution is not None:
                self.error(path, "ItemProcessor.ProcessorConfig.ExecutionType",
                           "ExecutionType applies to distributed Maps only")
        if mode != "DISTRIBUTED":
            # The tolerated-failure fields are not here: AWS runs inline Maps that carry them.
            for only in ("ItemReader", "ItemBatcher", "ResultWriter", "Label"):
                if only in state:
                    self.error(path, only, "only a distributed Map (ProcessorConfig Mode DISTRIBUTED) has this")
        reader = state.get("ItemReader")
        if reader is not None and (not isinstance(reader, dict) or not isinstance(reader.get("Resource"), str)):
            self.error(path, "ItemReader.Resource", "an ItemReader needs a Resource ARN")
        writer = state.get("ResultWriter")
        if writer is not None and not isinstance(writer, dict):
            self.error(path, "ResultWriter", "must be an object")
        if field in state:
            self.check_scope(processor, f"{path}.{field}", language, top,
                             extra_fields=frozenset({"ProcessorConfig"}))

    # -- error handling -------------------------------------------------------------------------

    def check_error_equals(self, handler: dict, path: str, field: str, is_last: bool) -> None:
        errors = handler.get("ErrorEquals")
        if not isinstance(errors, list) or not errors or not all(isinstance(e, str) for e in errors):
            self.error(path, f"{field}.ErrorEquals", "must be a non-empty list of error names")
        elif "States.ALL" in errors and (len(errors) != 1 or not is_last):
            self.error(path, f"{field}.ErrorEquals", "States.ALL must be alone and in the last element")

    def check_retry(self, retry: Any, path: str) -> None:
        if retry is None:
            return
        if not isinstance(retry, list):
            self.error(path, "Retry", "must be a list of retriers")
            return
        allowed = {"ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds",
                   "JitterStrategy", "Comment"}
        for i, retrier in enumerate(retry):
            field = f"Retry[{i}]"
            if not isinstance(retrier, dict):
                self.error(path, field, "a retrier must be an object")
                continue
            for key in sorted(set(retrier) - allowed):
                self.error(path, f"{field}.{key}", "unknown field in a retrier")
            self.check_error_equals(retrier, path, field, i == len(retry) - 1)
            if "IntervalSeconds" in retrier and not (_is_int(retrier["IntervalSeconds"])
                                                     and retrier["IntervalSeconds"] >= 1):
                self.error(path, f"{field}.IntervalSeconds", "must be a positive integer")
            if "MaxAttempts" in retrier and not (_is_int(retrier["MaxAttempts"]) and retrier["MaxAttempts"] >= 0):
                self.error(path, f"{field}.MaxAttempts", "must be a non-negative integer")
            if "BackoffRate" in retrier and not (_is_number(retrier["BackoffRate"])
                                                 and retrier["BackoffRate"] >= 1.0):
                self.error(path, f"{field}.BackoffRate", "must be a number >= 1.0")
            if "MaxDelaySeconds" in retrier and not (_is_int(retrier["MaxDelaySeconds"])
                                                     and retrier["MaxDelaySeconds"] >= 1):
                self.error(path, f"{field}.MaxDelaySeconds", "must be a positive integer")
            if "JitterStrategy" in retrier and retrier["JitterStrategy"] not in ("FULL", "NONE"):
                self.error(path, f"{field}.JitterStrategy", "must be FULL or NONE")

    def check_catch(self, catch: Any, path: str, language: str, scope: dict[str, Any]) -> None:
        if catch is None:
            return
        if not isinstance(catch, list):
            self.error(path, "Catch", "must be a list of catchers")
            return
        allowed = {"ErrorEquals", "Next", "Assign", "Comment"}
        allowed |= {"ResultPath"} if language == "JSONPath" else {"Output"}
        for i, catcher in enumerate(catch):
            field = f"Catch[{i}]"
            if not isinstance(catcher, dict):
                self.error(path, field, "a catcher must be an object")
                continue
            for key in sorted(set(catcher) - allowed):
                self.error(path, f"{field}.{key}", f"not allowed in a {language} catcher")
            self.check_error_equals(catcher, path, field, i == len(catch) - 1)
            if "Next" not in catcher:
                self.error(path, f"{field}.Next", "a catcher needs Next")
            else:
                self.check_target(catcher["Next"], path, f"{field}.Next", scope)
            if catcher.get("ResultPath") is not None:
                problem = _path_problem(catcher["ResultPath"], reference=True)
                if problem:
                    self.error(path, f"{field}.ResultPath", problem)


def _assign_errors(assign: Any, language: str) -> list[str]:
    """Problems with an Assign block: it must be an object of variable names (`name.$` in JSONPath)."""
    if not isinstance(assign, dict):
        return ["must be an object of variable names"]
    problems = []
    for key in assign:
        name = key[:-2] if language == "JSONPath" and key.endswith(".$") else key
        # AWS: Unicode identifiers (UAX #31 start and continue characters), at most 80 characters.
        if not name.isidentifier() or name == "states" or len(name) > MAX_NAME_LENGTH:
            problems.append(f"{key!r} is not a variable name (a Unicode identifier of at most "
                            f"{MAX_NAME_LENGTH} characters, not 'states')")
    return problems


def _successors(state: Any) -> list[str]:
    """Names a state can transition to within its own scope."""
    if not isinstance(state, dict):
        return []
    targets: list[Any] = [state.get("Next"), state.get("Default")]
    choices, catchers = state.get("Choices"), state.get("Catch")
    for rule in choices if isinstance(choices, list) else []:
        if isinstance(rule, dict):
            targets.append(rule.get("Next"))
    for catcher in catchers if isinstance(catchers, list) else []:
        if isinstance(catcher, dict):
            targets.append(catcher.get("Next"))
    return [t for t in targets if isinstance(t, str)]


def _is_terminal(state: Any) -> bool:
    return isinstance(state, dict) and (state.get("Type") in ("Succeed", "Fail") or state.get("End") is True)
