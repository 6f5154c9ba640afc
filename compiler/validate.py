"""Every check a spec gets before it compiles: the JSON Schema, then every cross-reference.

All checks run and every problem is returned as a SpecError with the place of the offending node,
so one `stepsmith validate` shows the whole list. Handler code is read with `ast`, never imported.
"""
from __future__ import annotations

import ast
import difflib
import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from compiler import parameters
from compiler.conditions import (
    Comparison,
    Condition,
    JsonataCondition,
    condition_paths,
    jsonata_bare_set_members,
)
from compiler.errors import SpecError
from compiler.load import STEP_KINDS, Document
from compiler.ml import is_expression, metric_key
from compiler.model import (
    INTEGRATION_SUFFIXES,
    REFERENCE,
    REFERENCE_KINDS,
    UNSET,
    ApiTrigger,
    ChoiceStep,
    DeployStep,
    EventTrigger,
    FailStep,
    HandlerStep,
    KeyPath,
    Located,
    MapStep,
    ParallelStep,
    Parameter,
    PollStep,
    Resource,
    S3Trigger,
    ServiceStep,
    SourcePlace,
    Step,
    SucceedStep,
    TrainStep,
    WaitStep,
    Workflow,
    pascal_case,
    walk_steps,
)

SCHEMA_PATH = Path(__file__).with_name("schema.json")
_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
_ISO_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
# The error names Step Functions itself raises (ASL spec, "Errors").
STATES_ERRORS = (
    "States.ALL", "States.DataLimitExceeded", "States.ExceedToleratedFailureThreshold",
    "States.HeartbeatTimeout", "States.Http.Socket", "States.IntrinsicFailure", "States.ItemReaderFailed",
    "States.NoChoiceMatched", "States.ParameterPathFailure", "States.Permissions",
    "States.QueryEvaluationError", "States.ResultPathMatchFailure", "States.ResultWriterFailed",
    "States.Runtime", "States.TaskFailed", "States.Timeout", "States.BranchFailed",
)
_ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9*?]+$")
_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_PSEUDO_PARAMETERS = {"AWS::Region", "AWS::AccountId", "AWS::Partition", "AWS::URLSuffix", "AWS::StackName",
                      "AWS::StackId"}
_JSONATA = re.compile(r"^\s*\{%(.*)%\}\s*$", re.DOTALL)
# The top-level fields of an EventBridge event (what a pattern's top level may match).
_EVENT_ENVELOPE = ("version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail",
                   "$or")


@cache
def load_schema() -> dict[str, Any]:
    """The spec language's JSON Schema (compiler/schema.json)."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def did_you_mean(word: str, choices: Any) -> str | None:
    """A 'did you mean …' hint for the closest choice, if any is close."""
    close = difflib.get_close_matches(str(word), [str(choice) for choice in choices], n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


# --- the schema ----------------------------------------------------------------------------------------

_JSON_TYPES = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
               "object": "a mapping", "array": "a list", "null": "null"}

_PATTERN_MESSAGES = {
    "name": "names are kebab-case: lowercase letters, digits and '-', starting with a letter",
    "handler": "handler is `module[.function]` with Python identifiers, e.g. face_blur.collect_faces",
    "service": "service is `service:action[.sync|.sync:2|.waitForTaskToken]`, e.g. rekognition:startFaceDetection",
    "schedule": "a schedule is `rate(1 day)`, `cron(0 3 * * ? *)` or {cron: ..., timezone: ...}",
    "image": "image names are lowercase: images/<name>/Dockerfile",
    "path": "API paths start with '/'",
    "resources": "resource names are kebab-case, e.g. videos-in",
    "parameters": "parameter names are letters and digits, e.g. VpcEndpointId",
    "environment": "environment variable names are letters, digits and '_', starting with a letter",
    "endpoint": "an API endpoint is regional, private, or ${param:X} to choose at deploy time",
}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "a mapping"


_KINDS = ("bucket", "table", "topic", "queue", "parameter", "role", "model-group", "vpc_endpoints")
_KIND_ALIASES = {"s3": "bucket", "dynamodb": "table", "sns": "topic", "sqs": "queue", "ssm": "parameter",
                 "iam": "role", "model_group": "model-group", "registry": "model-group"}


def _bool_hint(instance: Any) -> str | None:
    """YAML 1.1 reads unquoted yes/no/on/off/true/false as booleans: a name like `yes` arrives as true."""
    if isinstance(instance, bool):
        return "YAML reads unquoted yes/no/on/off/true/false as true/false: put the text in quotes, e.g. \"yes\""
    return None


def _root_validator(child: Any) -> str | None:
    """The validator that failed at the root of an anyOf/oneOf branch (through $ref), else None."""
    rest = [part for part in list(child.relative_schema_path)[1:] if part != "$ref"]
    return child.validator if len(rest) == 1 else None


def _fits(children: list[Any], instance: Any) -> bool:
    """Whether an anyOf/oneOf branch is meant for a value of this type (its errors are then the real ones)."""
    for child in children:
        validator = _root_validator(child)
        if validator == "type":
            return False
        if validator in ("enum", "const"):
            values = child.validator_value if validator == "enum" else [child.validator_value]
            if not any(type(value) is type(instance) for value in values):
                return False
    return True


def _branch_type(branch: dict[str, Any]) -> str | None:
    """A branch's expected type in words, when it has one."""
    schema = branch
    if "$ref" in schema:
        schema = load_schema()["$defs"].get(schema["$ref"].rsplit("/", 1)[-1], {})
    if "type" in schema and isinstance(schema["type"], str):
        return _JSON_TYPES[schema["type"]]
    if "enum" in schema:
        return "one of: " + ", ".join(map(str, schema["enum"]))
    return None


def _is_step_path(path: KeyPath) -> bool:
    return len(path) >= 2 and path[-2] == "steps" and isinstance(path[-1], int)


def check_schema(doc: Document) -> list[SpecError]:
    """Validate the document against schema.json; errors point at the offending key or value."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(load_schema())
    errors: list[SpecError] = []
    for error in validator.iter_errors(doc.data):
        errors.extend(_schema_error(error, doc))
    return errors


def _schema_error(error: Any, doc: Document) -> Iterator[SpecError]:
    path: KeyPath = tuple(error.absolute_path)
    instance, kind, expected = error.instance, error.validator, error.validator_value
    where = doc.where(path)
    if kind in ("anyOf", "oneOf"):
        branches = error.validator_value
        required = [branch.get("required", [None])[0] for branch in branches
                    if set(branch) == {"required"}]
        if required and len(required) == len(branches) and isinstance(instance, dict):
            present = [key for key in required if key in instance]
            if _is_step_path(path) and not present:
                yield SpecError(where, f"step '{instance.get('name', '?')}' has no kind",
                                "add one of: " + ", ".join(STEP_KINDS))
            elif not present:
                yield SpecError(where, f"needs one of: {', '.join(required)}")
            else:
                yield SpecError(where, f"use only one of: {', '.join(present)}")
            return
        from jsonschema.exceptions import best_match

        # Judge the value by the branch its type fits (a retry rule written as a mapping is a full rule,
        # not a misspelt preset), and report all of that branch's errors.
        branches: dict[int, list[Any]] = {}
        for child in error.context:
            branches.setdefault(child.relative_schema_path[0], []).append(child)
        fitting = [children for _, children in sorted(branches.items()) if _fits(children, instance)]
        if len(fitting) == 1:
            for child in fitting[0]:
                yield from _schema_error(child, doc)
            return
        if not fitting and branches:
            wanted = list(dict.fromkeys(_branch_type(branch) for branch in error.validator_value))
            if None not in wanted:
                yield SpecError(where, f"expected {' or '.join(wanted)}, got {_json_type(instance)}",
                                _bool_hint(instance))
                return
        # Otherwise prefer the branch whose type fits: "-1 is below 0" beats "expected a string".
        candidates = [child for children in fitting for child in children] or \
            [child for child in error.context if child.validator != "type"] or error.context
        best = best_match(candidates) if candidates else None
        if best is not None:
            yield from _schema_error(best, doc)
        else:
            yield SpecError(where, "not a valid value here")
        return
    if kind in ("additionalProperties", "unevaluatedProperties"):
        declared = instance.get("type") if isinstance(instance, dict) else None
        if declared is not None and declared not in error.schema.get("properties", {}).get("type", {}).get(
                "enum", [declared]):
            return  # a resource of an unknown kind: its keys may suit the kind meant; the type says it all
        allowed = list(error.schema.get("properties", {}))
        extras = [key for key in instance if key not in allowed]
        if _is_step_path(path) and len([k for k in STEP_KINDS if k in instance]) > 1:
            kinds = [k for k in STEP_KINDS if k in instance]
            extras = [key for key in extras if key not in kinds]
            if kinds[0] in allowed:  # report the clash once, from the first kind's schema
                yield SpecError(where, f"a step has exactly one kind; '{instance.get('name', '?')}' has "
                                f"{' and '.join(kinds)}", "split it into separate steps")
        for key in extras:
            hint = did_you_mean(key, allowed)
            yield SpecError(doc.where((*path, key), key=True), f"unknown key '{key}'",
                            hint or ("allowed here: " + ", ".join(allowed) if allowed else None))
        return
    if kind == "required":
        missing = [key for key in expected if key not in instance]
        owner = f"step '{instance.get('name')}' " if _is_step_path(path) and "name" in instance else ""
        for key in missing:
            yield SpecError(where, f"{owner}missing required key '{key}'")
        return
    if kind == "propertyNames":
        yield SpecError(doc.where((*path, instance), key=True), f"'{instance}' is not a valid name here",
                        "resource names are kebab-case (videos-in); parameter names are alphanumeric (VpcId)")
        return
    if kind == "enum":
        hint = did_you_mean(instance, expected)
        yield SpecError(where, f"{json.dumps(instance)} is not one of: {', '.join(map(str, expected))}", hint)
        return
    if kind == "const":
        yield SpecError(where, f"must be {json.dumps(expected)}", "leave the key out instead")
        return
    if kind == "type":
        wanted = [expected] if isinstance(expected, str) else expected
        hint = _bool_hint(instance) if "string" in wanted else None
        if wanted == ["array"] and isinstance(instance, (str, int, float)):
            hint = f"a list, even of one: [{instance}]"
        if hint is None and isinstance(instance, str) and path[:1] == ("resources",) and len(path) == 2:
            kind = _KIND_ALIASES.get(instance.lower(), instance if instance in _KINDS else "bucket")
            hint = f"a resource is a mapping, e.g. {path[1]}: {{type: {kind}}}"
        yield SpecError(where, f"expected {' or '.join(_JSON_TYPES[t] for t in wanted)}, got {_json_type(instance)}",
                        hint)
        return
    if kind == "pattern":
        field = next((key for key in reversed(path) if isinstance(key, str)), "")
        yield SpecError(where, f"{json.dumps(instance)} is not valid here",
                        _PATTERN_MESSAGES.get(field, f"must match {expected}"))
        return
    if kind in ("minimum", "maximum"):
        word = "at least" if kind == "minimum" else "at most"
        yield SpecError(where, f"{instance} is out of range: must be {word} {expected}")
        return
    if kind == "minItems":
        yield SpecError(where, f"needs at least {expected} item{'s' if expected != 1 else ''}")
        return
    if kind in ("minProperties", "maxProperties"):
        choices = ", ".join(error.schema.get("properties", {}))
        yield SpecError(where, f"needs exactly one of: {choices}" if choices else "must be empty")
        return
    yield SpecError(where, error.message)


def without_invalid_parts(doc: Document) -> tuple[Document, set[str]] | None:
    """A copy of a schema-invalid document with the invalid parts taken out, so the checks that do not
    depend on them still run: an unknown or invalid key is removed, a step whose name or kind is broken
    becomes a pass step of the same name, an invalid resource is removed (its name is returned, so
    "no resource named" errors about it can be dropped). None when the workflow's skeleton is broken."""
    import copy

    from jsonschema import Draft202012Validator

    data = copy.deepcopy(doc.data)
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list) or not data["steps"]:
        return None
    removed: set[str] = set()
    for error in Draft202012Validator(load_schema()).iter_errors(doc.data):
        path: KeyPath = tuple(error.absolute_path)
        if error.validator in ("additionalProperties", "unevaluatedProperties") and isinstance(error.instance, dict):
            allowed = error.schema.get("properties", {})
            path = (*path, next((key for key in error.instance if key not in allowed), ""))
        if not _remove(data, path, removed):
            return None
    return Document(doc.file, data, doc.places, doc.key_places, doc.quoted), removed


def _remove(data: dict[str, Any], path: KeyPath, removed: set[str]) -> bool:
    """Take the part at `path` out of `data` (see without_invalid_parts); False if it cannot be."""
    if not path or path[0] == "steps" and len(path) < 3:
        return False
    if path[0] == "resources" and len(path) >= 2:
        (data.get("resources") or {}).pop(path[1], None)
        removed.add(str(path[1]))
        return True
    if path[0] != "steps":
        if path[0] == "parameters" and len(path) >= 2 and isinstance(data.get("parameters"), dict):
            data["parameters"][path[1]] = {}  # a String without a default: references to it still resolve
        else:
            data.pop(path[0], None)
        return True
    # The innermost step around the error: (..., "steps", index, key, ...).
    cut = max(index for index in range(1, len(path)) if path[index - 1] == "steps" and isinstance(path[index], int))
    steps = _at(data, path[:cut])
    if not isinstance(steps, list) or path[cut] >= len(steps):
        return False
    step = steps[path[cut]]
    key = path[cut + 1] if len(path) > cut + 1 else None
    if isinstance(step, dict) and key not in (None, "name", *STEP_KINDS):
        step.pop(key, None)
        return True
    name = step.get("name") if isinstance(step, dict) else None
    placeholder: dict[str, Any] = {"name": name if isinstance(name, str) else f"(step {path[cut] + 1})",
                                   "pass": {}}
    for kept in ("next", "end"):
        value = step.get(kept) if isinstance(step, dict) else None
        if isinstance(value, str if kept == "next" else bool):
            placeholder[kept] = value
    steps[path[cut]] = placeholder
    return True


def _at(data: Any, path: KeyPath) -> Any:
    for key in path:
        try:
            data = data[key]
        except (KeyError, IndexError, TypeError):
            return None
    return data


# --- cross-references ----------------------------------------------------------------------------------


class _Checker:
    def __init__(self, workflow: Workflow, doc: Document, root: Path):
        self.workflow = workflow
        self.doc = doc
        self.root = root
        self.errors: list[SpecError] = []
        self.handler_names = {step.name for step in workflow.handler_steps()}
        self.node_paths = {place: path for path, place in doc.places.items()}  # a step's place → its path

    def error(self, place: SourcePlace, message: str, hint: str | None = None) -> None:
        self.errors.append(SpecError(place, message, hint))

    def run(self) -> list[SpecError]:
        workflow = self.workflow
        if not _NAME.match(workflow.name):
            self.error(workflow.where("name"), f"workflow name '{workflow.name}' is not kebab-case",
                       "rename the file or set `name:` like face-blur")
        self.check_parameters()
        self.check_resources()
        self.check_triggers()
        self.check_references()
        self.check_scope(workflow.steps, "the workflow")
        self.check_state_names()
        self.check_function_names()
        self.check_functions()
        # Steps run by express child executions of a distributed map: no .sync, no task tokens.
        self.express_children = {id(getattr(child, "task", child)) for step in workflow.all_steps()
                                 if isinstance(step, MapStep) and step.mode == "distributed"
                                 and step.execution_type == "express" for child in walk_steps(step.steps)}
        for step in workflow.all_steps():
            self.check_step(step)
        return self.errors

    # parameters, resources and triggers

    def check_parameters(self) -> None:
        """Each constraint fits the parameter's type, and the default satisfies them (CloudFormation refuses
        a stack whose default breaks its own constraints, and run/serve use the default)."""
        from compiler.overrides import check_value
        from compiler.sam import parameter_spec

        for parameter in self.workflow.parameters.values():
            numeric = parameter.type in ("Number", "List<Number>")
            text = parameter.type == "String" or parameter.type.startswith("AWS::") or \
                parameter.type in ("CommaDelimitedList",) or parameter.type.startswith("List<") and not numeric
            for key, applies, kind in (("min_value", numeric, "Number"), ("max_value", numeric, "Number"),
                                       ("min_length", text, "String"), ("max_length", text, "String"),
                                       ("allowed_pattern", text, "String")):
                if getattr(parameter, key) is not None and not applies:
                    self.error(parameter.where(key), f"`{key}` applies to {kind} parameters, not {parameter.type}",
                               "remove it, or change the parameter's type")
            for low, high in (("min_value", "max_value"), ("min_length", "max_length")):
                if None not in (getattr(parameter, low), getattr(parameter, high)) and \
                        getattr(parameter, low) > getattr(parameter, high):
                    self.error(parameter.where(low), f"{low} {getattr(parameter, low)} is greater than {high} "
                               f"{getattr(parameter, high)}", "no value could satisfy both")
            if parameter.allowed_pattern is not None:
                try:
                    re.compile(parameter.allowed_pattern)
                except re.error as exc:
                    self.error(parameter.where("allowed_pattern"), f"allowed_pattern is not a regular "
                               f"expression: {exc}", "CloudFormation matches it against the whole value")
                    continue
            if numeric:
                for index, value in enumerate(parameter.allowed_values or []):
                    if not _is_number(value):
                        self.error(parameter.where("allowed_values", index), f"{parameter.type} parameter "
                                   f"{parameter.name} allows {json.dumps(value)}, which is not a number")
            if parameter.default is None:
                continue
            if parameter.type == "Number" and not _is_number(parameter.default):
                self.error(parameter.where("default"), f"the default of Number parameter {parameter.name} is "
                           f"{json.dumps(parameter.default)}, not a number",
                           "give a number, or declare the parameter as type: String")
                continue
            default = parameter.default
            if isinstance(default, bool):
                default = "true" if default else "false"
            for problem in check_value(parameter.name, parameter_spec(parameter), str(default)):
                self.error(parameter.where("default"), f"the default breaks the parameter's own constraints: "
                           f"{problem}", "CloudFormation refuses the stack; change the default or the constraint")

    def resource(self, name: str, place: SourcePlace, types: tuple[str, ...] | None = None) -> None:
        resources = self.workflow.resources
        if name not in resources:
            self.error(place, f"no resource named '{name}'",
                       did_you_mean(name, resources) or "declare it under `resources:`")
        elif types and resources[name].type not in types:
            self.error(place, f"resource '{name}' is a {resources[name].type}, not a {' or '.join(types)}")
        elif resources[name].type == "vpc_endpoints":
            self.error(place, f"resource '{name}' is vpc_endpoints (networking); steps cannot use it",
                       "steps reach AWS through the endpoints without naming them")

    def check_image(self, image: str, place: SourcePlace) -> None:
        if not (self.root / "images" / image / "Dockerfile").is_file():
            self.error(place, f"image '{image}' has no Dockerfile", f"create images/{image}/Dockerfile")

    def check_shared_role_parts(self, resource: Any) -> None:
        """A role's statements and images; what `from` (declared in another workflow) allows."""
        for key in ("policies", "images"):
            if getattr(resource, key) and resource.type != "role":
                self.error(resource.where(key), f"`{key}` only applies to role resources")
        for index, statement in enumerate(resource.policies):
            self.check_statement(statement, lambda *keys, i=index, r=resource: r.where("policies", i, *keys))
        for index, image in enumerate(resource.images):
            self.check_image(image, resource.where("images", index))
        if resource.shared_from is None:
            return
        if resource.shared_from == self.workflow.name:
            self.error(resource.where("from"), f"'{resource.name}' comes `from` this same workflow",
                       "declare it here without `from`")
        for key in ("external", "service", "key", "ttl", "value", "name", "description"):
            if (key,) in resource.places:
                self.error(resource.where(key), f"`{key}` is decided by workflow '{resource.shared_from}', "
                           "which declares the resource", "leave it out here")

    def check_resources(self) -> None:
        for resource in self.workflow.resources.values():
            self.check_shared_role_parts(resource)
            for index, name in enumerate(resource.reads):
                self.resource(name, resource.where("reads", index))
            for index, name in enumerate(resource.writes):
                self.resource(name, resource.where("writes", index))
            if resource.type != "role" and (resource.reads or resource.writes):
                self.error(resource.where("reads" if resource.reads else "writes"),
                           "only `role` resources list reads/writes", "handlers declare reads/writes on their step")
            for key, types in (("key", ("table",)), ("ttl", ("table",)), ("value", ("parameter",)),
                               ("service", ("role",)), ("given_name", ("model-group",)),
                               ("description", ("model-group",))):
                if getattr(resource, key) is not None and resource.type not in types:
                    written = "name" if key == "given_name" else key
                    self.error(resource.where(written), f"`{written}` only applies to {types[0]} resources")
            if resource.given_name is not None and resource.external is not None:
                self.error(resource.where("name"), "an external model group is named by `external.name`",
                           "leave `name` out")
            spec = (self.doc.data.get("resources") or {}).get(resource.name) or {}
            for key in ("when", "vpc_id", "subnet_ids", "security_group_ids", "services", "private_dns"):
                if key in spec and resource.type != "vpc_endpoints":
                    self.error(resource.where(key), f"`{key}` only applies to vpc_endpoints resources")
            endpoints = resource.endpoints
            if endpoints is None:
                continue
            if resource.external is not None:
                self.error(resource.where("external"), "vpc_endpoints cannot be external",
                           "leave existing endpoints out of the spec")
            for key in ("subnet_ids", "security_group_ids"):
                self.check_id_list(key, getattr(endpoints, key), resource.where(key))
            if endpoints.when is not None and not re.fullmatch(r"\$\{param:[^}]*\}", endpoints.when):
                self.error(resource.where("when"), "`when` is one ${param:X} that is true or false",
                           "e.g. when: ${param:CreateVpcEndpoints}")

    def check_triggers(self) -> None:
        """Each trigger on its own; `trigger` and `triggers` not both; one API route at most."""
        data = self.doc.data
        if data.get("trigger") and data.get("triggers"):
            self.error(self.doc.where(("triggers",), key=True), "a workflow has `trigger` or `triggers`, not both",
                       "move the single trigger into the `triggers:` list")
        apis = [trigger for trigger in self.workflow.triggers if isinstance(trigger, ApiTrigger)]
        for extra in apis[1:]:
            self.error(extra.place, "a workflow has at most one api trigger",
                       f"the first is at line {apis[0].place.line}")
        for trigger in self.workflow.triggers:
            if isinstance(trigger, EventTrigger):
                self.check_event_pattern(trigger.pattern, trigger, ("pattern",))
            else:
                self.check_trigger(trigger)

    def check_event_pattern(self, pattern: dict[str, Any], trigger: EventTrigger, keys: KeyPath) -> None:
        """EventBridge refuses a pattern whose leaves are not lists; top-level fields are the envelope's."""
        for key, value in pattern.items():
            place = trigger.where(*keys, key)
            if len(keys) == 1 and key not in _EVENT_ENVELOPE:
                self.error(place, f"'{key}' is not a field of an EventBridge event",
                           did_you_mean(key, _EVENT_ENVELOPE) or "put event-specific fields under `detail`")
            elif key == "$or" and isinstance(value, list):
                for index, option in enumerate(value):
                    if isinstance(option, dict):
                        self.check_event_pattern(option, trigger, (*keys, key, index))
            elif isinstance(value, dict):
                self.check_event_pattern(value, trigger, (*keys, key))
            elif not isinstance(value, list) or not value:
                self.error(place, f"'{key}' must be a list of values or filters in an event pattern",
                           f"write {key}: [{json.dumps(value) if value not in (None, []) else '...'}]")

    def check_trigger(self, trigger: Any) -> None:
        if isinstance(trigger, S3Trigger):
            self.resource(trigger.bucket, trigger.where("bucket"), ("bucket",))
        elif isinstance(trigger, ApiTrigger):
            chosen = re.fullmatch(r"\$\{param:([^}]*)\}", trigger.endpoint)
            if (trigger.endpoint == "private" or chosen) and not trigger.vpc_endpoint_id:
                what = "an API that may be private" if chosen else "a private API"
                self.error(trigger.place, f"{what} needs `vpc_endpoint_id`",
                           "e.g. vpc_endpoint_id: ${param:VpcEndpointId}")
            if trigger.endpoint == "regional" and trigger.vpc_endpoint_id:
                self.error(trigger.where("vpc_endpoint_id"), "`vpc_endpoint_id` only applies to private APIs",
                           "add endpoint: private")
            parameter = self.workflow.parameters.get(chosen.group(1)) if chosen else None
            if parameter is not None and sorted(parameter.allowed_values or []) != ["private", "regional"]:
                # Any other value would deploy a regional (public) API: a typo must fail the deploy instead.
                self.error(trigger.where("endpoint"), f"parameter '{parameter.name}' chooses the endpoint, so "
                           "it must allow exactly private and regional",
                           f"declare {parameter.name}: {{allowed_values: [private, regional], default: private}}")
            if trigger.respond is not None:
                top = {step.name: step for step in self.workflow.steps}
                target = top.get(trigger.respond)
                if target is None:
                    self.error(trigger.where("respond"), f"no step named '{trigger.respond}'",
                               did_you_mean(trigger.respond, top))
                elif not isinstance(target, HandlerStep):
                    self.error(trigger.where("respond"), f"step '{trigger.respond}' is a {target.kind} step; "
                               "only a handler step can answer an HTTP request")
        elif trigger is not None and trigger.expression.startswith("rate("):
            match = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", trigger.expression)
            if match is None:
                self.error(trigger.place, f"{trigger.expression} is not a rate expression",
                           "e.g. rate(5 minutes), rate(1 hour), rate(1 day)")
            elif (int(match.group(1)) == 1) == match.group(2).endswith("s") or int(match.group(1)) == 0:
                count, unit = int(match.group(1)), match.group(2).rstrip("s")
                fixed = f"rate({count} {unit}{'' if count == 1 else 's'})" if count else "a positive number"
                self.error(trigger.place, f"{trigger.expression} is not a valid rate", f"write {fixed}")
        elif trigger is not None and trigger.expression.startswith("cron("):
            fields = trigger.expression[5:-1].split()
            if len(fields) != 6:
                self.error(trigger.place, f"cron needs 6 fields (minutes hours day-of-month month day-of-week "
                           f"year), got {len(fields)}", "e.g. 0 3 * * ? *")
            elif "?" not in (fields[2], fields[4]):
                self.error(trigger.place, "cron needs '?' in day-of-month or day-of-week", "e.g. 0 3 * * ? *")

    def check_references(self) -> None:
        """${resource:x}, ${param:X} and ${function:Step} anywhere in the document, and no placeholder of
        another kind (it would reach AWS as literal text)."""
        for path, text in _strings(self.doc.data):
            if not {"policies", "scp"} & set(path):  # policies have their own placeholders, checked there
                self.check_placeholders(path, text)
            for match in REFERENCE.finditer(text):
                place = self.doc.where(path)
                if "\n" not in text:
                    offset = match.start() + (1 if path in self.doc.quoted else 0)
                    place = SourcePlace(place.file, place.line, place.col + offset)
                kind, name = match.group(1), match.group(2)
                if kind == "param" and name in self.workflow.parameters and _JSONATA.match(text):
                    self.check_jsonata_parameter(self.workflow.parameters[name], text, match.start(), place)
                if kind == "resource":
                    self.resource(name, place)
                elif kind == "param" and name not in self.workflow.parameters:
                    self.error(place, f"no parameter named '{name}'",
                               did_you_mean(name, self.workflow.parameters) or "declare it under `parameters:`")
                elif kind == "function" and _in_environment(path):
                    # A function naming itself would be a dependency cycle CloudFormation refuses.
                    self.error(place, "an environment cannot name a function", "pass its ARN in parameters")
                elif kind == "function" and name not in self.handler_names:
                    self.error(place, f"no handler step named '{name}'", did_you_mean(name, self.handler_names))
                elif kind == "image":
                    self.check_image(name, place)
                elif kind == "workflow" and name not in self.project_workflows():
                    self.error(place, f"no workflow named '{name}' in workflows/",
                               did_you_mean(name, self.project_workflows()) or f"add workflows/{name}.yaml")

    def project_workflows(self) -> list[str]:
        """The names ${workflow:x} may use: the project's workflow files (a workflow is named by its file)."""
        from compiler import workflow_files

        return [self.workflow.name, *(path.stem for path in workflow_files(self.root))]

    def check_placeholders(self, path: KeyPath, text: str) -> None:
        in_definition = "steps" in path and not {"environment", "vpc"} & set(path)
        for match in _PLACEHOLDER.finditer(text):
            pseudo = match.group(1) in _PSEUDO_PARAMETERS
            if REFERENCE.fullmatch(match.group(0)) or (pseudo and not in_definition):
                continue
            kind, _, name = match.group(1).partition(":")
            place = self.doc.where(path)
            if "\n" not in text:
                offset = match.start() + (1 if path in self.doc.quoted else 0)
                place = SourcePlace(place.file, place.line, place.col + offset)
            if pseudo:
                # Only our own references become DefinitionSubstitutions: this would reach AWS as text.
                self.error(place, f"{match.group(0)} has no value in a state machine",
                           "read it from the context ($$.StateMachine.Id holds region and account) or pass "
                           "a ${param:X}")
                continue
            if kind == "AWS":
                self.error(place, f"unknown pseudo parameter '{match.group(0)}'",
                           did_you_mean(match.group(1), _PSEUDO_PARAMETERS))
                continue
            if not name and not in_definition:
                continue  # outside the definition it goes through Fn::Sub, where ${Name} is a parameter
            if not name:
                meant = "param" if kind in self.workflow.parameters else \
                    "resource" if kind in self.workflow.resources else None
                self.error(place, f"unknown placeholder '{match.group(0)}'",
                           f"did you mean ${{{meant}:{kind}}}?" if meant
                           else "write ${param:Name}, ${resource:name} or ${function:Step}")
                continue
            close = difflib.get_close_matches(kind, REFERENCE_KINDS, n=1, cutoff=0.6)
            self.error(place, f"unknown reference kind '{kind}' in '{match.group(0)}'",
                       f"did you mean '${{{close[0]}:{name}}}'?" if close
                       else "references are ${resource:name}, ${param:Name} and ${function:Step}")

    def check_jsonata_parameter(self, parameter: Parameter, text: str, offset: int, place: SourcePlace) -> None:
        """A bare ${param:X} in JSONata becomes a number (Number) or a string: never ambiguous text."""
        if parameter.type == "Number" or offset not in dict(parameters.in_jsonata(text)):
            return
        try:
            parameters.comparison_type(parameter.name, parameter.type,
                                       [parameter.default, *(parameter.allowed_values or [])])
        except parameters.ParameterTypeError as exc:
            self.error(place, exc.message.replace("compare text, not numbers", "be text in JSONata"),
                       f"declare {parameter.name} with type: Number, or quote the reference to use it as text")

    # steps

    def check_scope(self, steps: list[Step], scope: str) -> None:
        """Names unique, transitions resolve, every step reachable, and some way out of every loop."""
        names: dict[str, Step] = {}
        for step in steps:
            names.setdefault(step.name, step)
        everywhere = {step.name for step in self.workflow.all_steps()}
        unresolved = False
        for step in steps:
            for target, keys in step.targets():
                if target in names:
                    continue
                unresolved = True
                if target in everywhere:
                    self.error(step.where(*keys), f"'{target}' is in another map or parallel branch",
                               "steps can only go to steps in the same list")
                else:
                    self.error(step.where(*keys), f"no step named '{target}'",
                               did_you_mean(target, names) or f"steps in {scope}: " + ", ".join(names))
            if isinstance(step, MapStep):
                self.check_scope(step.steps, f"map '{step.name}'")
            elif isinstance(step, ParallelStep):
                for branch in step.branches:
                    self.check_scope(branch, f"a branch of '{step.name}'")
        if not steps or unresolved:
            return  # reachability would only echo the broken transition
        edges = {step.name: [target for target, _ in step.targets() if target in names] for step in steps}
        reached = _reachable(steps[0].name, edges)
        for step in steps:
            if step.name not in reached:
                self.error(step.where("name"), f"step '{step.name}' is never reached",
                           "no step goes to it: add `next:` to an earlier step or remove it")
        exits = {step.name for step in steps if step.end or isinstance(step, (SucceedStep, FailStep))}
        reverse: dict[str, list[str]] = {name: [] for name in edges}
        for source, targets in edges.items():
            for target in targets:
                reverse[target].append(source)
        can_exit = set().union(*(_reachable(name, reverse) for name in exits)) if exits else set()
        stuck = [step for step in steps if step.name in reached and step.name not in can_exit]
        if stuck:
            names_text = ", ".join(f"'{step.name}'" for step in stuck)
            verb = "never reaches" if len(stuck) == 1 else "never reach"
            self.error(stuck[0].where("name"), f"loop with no exit: {names_text} {verb} an end",
                       "add a choice that leaves the loop, or `end: true`")

    def check_state_names(self) -> None:
        """ASL state names are unique in the whole state machine, nested branches included, and ≤ 80."""
        seen: dict[str, Step] = {}
        for step in self.workflow.all_steps():
            if isinstance(step, DeployStep):
                continue  # its parts (checked next) are its states, the first named like it
            from compiler.asl import step_state_names

            states = step_state_names(step)
            for state in states:
                if state in seen and seen[state] is not step:
                    first = seen[state].where("name")
                    self.error(step.where("name"), f"duplicate step name '{state}'",
                               f"first used at line {first.line}; names are unique in the whole workflow")
                elif len(state) > 80:
                    self.error(step.where("name"), f"step name '{step.name}' makes a state name longer than "
                               f"80 characters ('{state}')", "shorten it")
                seen.setdefault(state, step)

    def check_functions(self) -> None:
        """VPC settings name list parameters; policy statements are well-formed and least privilege."""
        configs = [(self.workflow.functions, self.workflow, ("functions",))]
        configs += [(step.config, step, ()) for step in self.workflow.handler_steps()
                    if ("vpc",) in step.places]
        for config, owner, prefix in configs:
            if config.vpc is None:
                continue
            for key in ("subnet_ids", "security_group_ids"):
                self.check_id_list(key, getattr(config.vpc, key), owner.where(*prefix, "vpc", key))
        for step in self.workflow.handler_steps():
            for index, statement in enumerate(step.policies):
                self.check_statement(statement, lambda *keys, i=index, s=step: s.where("policies", i, *keys))
        for index, statement in enumerate(self.workflow.scp):
            self.check_statement(statement, lambda *keys, i=index: self.workflow.where("scp", i, *keys))
            for keys, text in _strings(statement):
                for match in REFERENCE.finditer(text):
                    if match.group(1) != "param":
                        # The SCP is attached by hand, outside the stack: stack names and ARNs are unknown.
                        self.error(self.workflow.where("scp", index, *keys),
                                   f"{match.group(0)} has no value in a service control policy",
                                   "write the ARN pattern, or use ${param:X}")

    def check_id_list(self, key: str, value: str | list[str], place: SourcePlace) -> None:
        """A list of ids, or one ${param:X} naming a List<…>/CommaDelimitedList parameter."""
        if not isinstance(value, str):
            return
        match = re.fullmatch(r"\$\{param:([^}]*)\}", value)
        parameter = self.workflow.parameters.get(match.group(1)) if match else None
        if match is None:
            self.error(place, f"{key} is a list of ids or one ${{param:X}} of a list parameter")
        elif parameter is not None and not (parameter.type.startswith("List<")
                                            or parameter.type == "CommaDelimitedList"):
            self.error(place, f"parameter '{parameter.name}' is a {parameter.type}, not a list",
                       "give it type List<AWS::EC2::Subnet::Id> or CommaDelimitedList")

    def check_statement(self, statement: dict[str, Any], where: Any) -> None:
        for key in ("Action", "NotAction"):
            actions = statement.get(key, [])
            for position, action in enumerate([actions] if isinstance(actions, str) else actions):
                place = where(key, position) if isinstance(actions, list) else where(key)
                if action != "*" and not _ACTION.match(action):
                    self.error(place, f"'{action}' is not an IAM action", "write service:Action, e.g. s3:GetObject")
                elif statement.get("Effect") == "Allow" and key == "Action" and \
                        (action == "*" or action.endswith(":*")):
                    self.error(place, f"Allow of '{action}' is not least privilege",
                               "list the actions the function calls")
        for keys, text in _strings(statement):
            for match in _PLACEHOLDER.finditer(text):
                name = match.group(1)
                if not REFERENCE.fullmatch(match.group(0)) and name not in _PSEUDO_PARAMETERS:
                    self.error(where(*keys), f"unknown placeholder '{match.group(0)}'",
                               "use ${param:X}, ${resource:x} or ${AWS::Region|AccountId|Partition|URLSuffix}")

    def check_function_names(self) -> None:
        """Handler steps name Lambda functions, so their names must be unique workflow-wide."""
        seen: dict[str, HandlerStep] = {}
        for step in self.workflow.handler_steps():
            key = pascal_case(step.name)
            if key in seen and seen[key] is not step:
                self.error(step.where("name"), f"handler step '{step.name}' would name the same function as "
                           f"'{seen[key].name}' (line {seen[key].place.line})", "handler step names are unique "
                           "across the whole workflow")
            seen.setdefault(key, step)

    def check_step(self, step: Step) -> None:
        jsonpath_mode = step.query_language == "JSONPath"
        if step.next is not None and step.explicit_next and step.end:
            self.error(step.where("end"), "a step has either `next` or `end: true`, not both")
        self.check_shaping(step, jsonpath_mode)
        task = step.task if isinstance(step, PollStep) else step
        if isinstance(task, HandlerStep):
            self.check_handler(task)
        if isinstance(task, ServiceStep):
            self.check_service(task)
        if isinstance(task, TrainStep):
            self.check_train(task)
        if isinstance(step, DeployStep):
            self.check_deploy(step)
        for index, rule in enumerate(step.retry):
            if rule.preset is None and rule.max_delay is not None and rule.max_delay < rule.interval:
                self.error(step.where("retry", index, "max_delay"), "max_delay is shorter than interval")
        for key, rules in (("retry", step.retry), ("catch", step.catch)):
            self.check_error_names(step, key, [rule.errors for rule in rules])
        if isinstance(step, PollStep):
            self.check_condition(step.until, step.where("poll", "until"), jsonpath_mode)
            if step.fail_if is not None:
                self.check_condition(step.fail_if, step.where("poll", "fail_if"), jsonpath_mode)
            self.check_poll_routes(step)
            if step.timeout is not None and step.timeout < step.every:
                self.error(step.where("poll", "timeout"), f"poll timeout {step.timeout}s is shorter than "
                           f"its interval ({step.every}s)")
        elif isinstance(step, ChoiceStep):
            for index, branch in enumerate(step.branches):
                self.check_condition(branch.condition, step.where("choice", index, "if"), jsonpath_mode)
        elif isinstance(step, WaitStep):
            self.check_wait(step, jsonpath_mode)
        elif isinstance(step, MapStep):
            self.check_map(step, jsonpath_mode)
        elif isinstance(step, FailStep):
            for key in ("error_path", "cause_path"):
                value = getattr(step, key)
                if value is not None and jsonpath_mode:
                    self.check_path(value, step.where("fail", key), intrinsic=True)
                elif value is not None:
                    self.check_jsonata(value, step.where("fail", key))

    def check_deploy(self, step: DeployStep) -> None:
        """The role and image exist; the fragment keeps its state under a result path it can read back."""
        self.check_ml_role(step.role, step.where("deploy", "role"))
        self.check_image(step.image, step.where("deploy", "image"))
        self.check_ml_value(step, step.endpoint, ("deploy", "endpoint"), path=False)
        self.check_ml_value(step, step.model_data, ("deploy", "model_data"))
        for key, value in step.environment.items():
            self.check_ml_value(step, value, ("deploy", "environment", key), path=False)
        if step.query_language == "JSONata":
            return  # the fragment keeps its record in a variable; output/assign see it as $states.result
        for key, hint in (("input_path", "its paths (model_data) read the step's whole input"),
                          ("assign", ("assign in the next step, or write the step in JSONata, where assign "
                           "reads the deployment as $states.result"))):
            if key in self.step_keys(step):
                self.error(step.where(key), f"a JSONPath deploy step takes no {key}", hint)
        if not isinstance(step.result_path, str) or step.result_path == "$":
            self.error(step.where("result_path"), "a deploy step keeps its names and the endpoint's state under "
                       "its result_path", "e.g. result_path: $.deployment")
        if step.output_path is not UNSET:
            self.error(step.where("output_path"), "a deploy step takes no output_path",
                       "shape the output in the next step")

    def check_ml_role(self, name: str, place: SourcePlace) -> None:
        self.resource(name, place, ("role",))
        role = self.workflow.resources.get(name)
        if role is not None and role.type == "role" and role.service not in (None, "sagemaker") \
                and role.shared_from is None:
            self.error(place, f"role '{name}' is assumed by {role.service}, not sagemaker",
                       f"give {name} service: sagemaker")

    def check_train(self, step: TrainStep) -> None:
        """The role and image exist; the result shape the metrics Pass reads stays where it expects it."""
        self.check_ml_role(step.role, step.where("train", "role"))
        self.check_image(step.image, step.where("train", "image"))
        for channel in step.channels:
            keys = ("train", "channels", channel.name) + (("s3",) if ("train", "channels", channel.name, "s3")
                                                          in step.places else ())
            self.check_ml_value(step, channel.s3, keys)
        self.check_ml_value(step, step.output_uri, ("train", "output"))
        for key, value in step.hyperparameters.items():
            if key.endswith(".$") and step.query_language == "JSONata":
                self.error(step.where("train", "hyperparameters", key), f"'{key}' takes a path, which JSONata "
                           "steps do not have", f"write {key[:-2]}: \"{{% $states.input.{key[:-2]} %}}\" "
                           "(its value is made the string SageMaker requires)")
            elif not key.endswith(".$"):
                self.check_ml_value(step, value, ("train", "hyperparameters", key), path=False)
        for key, value in step.environment.items():
            self.check_ml_value(step, value, ("train", "environment", key), path=False)
        if step.metrics and step.output_path is not UNSET:
            self.error(step.where("output_path"), "a train step with metrics takes no output_path",
                       "shape the output in the next step")
        for name in step.metrics:
            if "'" in name or not metric_key(name):
                self.error(step.where("train", "metrics", name), f"metric name {name!r} cannot be read back",
                           "use letters, digits, ':', '_', '-' and '.'")

    def check_ml_value(self, step: Step, value: Any, keys: KeyPath, path: bool = True) -> None:
        """A train/deploy field chosen at run time is written in the step's query language: a path (`$.x`, where
        `path`) in JSONPath, a `{% %}` expression in JSONata; never the other's, which would be a literal."""
        if not isinstance(value, str) or value.startswith("${"):
            return  # a literal, or a ${param:X}/${resource:x} reference (checked with every reference)
        place = step.where(*keys)
        if step.query_language == "JSONata":
            if value.startswith("$"):
                self.error(place, f"'{value}' is a JSONPath path, and this step is JSONata: it would be used as "
                           "the literal text", "write it as an expression: "
                           + _as_jsonata(value) if value.startswith("$.") or value == "$" else "write a {% %} expression")
            elif is_expression(value):
                self.check_jsonata(value, place)
        elif is_expression(value):
            self.error(place, "a JSONata expression in a JSONPath step would be used as the literal text",
                       ("give a path ($.x) or " if path else "") + "set query_language: JSONata on the step")
        elif value.startswith("$") and not path:
            self.error(place, f"'{value}' would be used as the literal text: this field takes no path",
                       "give the value, or write the step in JSONata ({% %} expressions)")

    def check_poll_routes(self, step: PollStep) -> None:
        """on_fail needs fail_if, on_timeout needs timeout; a routed outcome has no error to name; a
        catch cannot intercept the poll's own outcomes (they end the execution in a Fail state)."""
        own = {step.error: "on_fail", step.timeout_error: "on_timeout"}
        for index, rule in enumerate(step.catch):
            for position, name in enumerate(rule.errors):
                if name in own:
                    self.error(step.where("catch", index, "errors", position),
                               f"{name} is this poll's own outcome, which ends the execution; no catch sees it",
                               f"route it with poll.{own[name]}: {rule.next}")
        for route, needs, names in (("on_fail", "fail_if", ("error", "cause")),
                                    ("on_timeout", "timeout", ("timeout_error",))):
            if getattr(step, route) is None:
                continue
            if ("poll", needs) not in step.places:
                self.error(step.where("poll", route), f"`{route}` needs `{needs}`",
                           f"add {needs}: to say when the poll goes to '{getattr(step, route)}'")
            for name in names:
                if ("poll", name) in step.places:
                    self.error(step.where("poll", name), f"`{name}` names the Fail state that `{route}` replaces",
                               f"drop it, or drop {route} to fail the workflow")

    def check_error_names(self, step: Step, key: str, lists: list[list[str]]) -> None:
        """States.* names exist; States.ALL stands alone, in the last rule (ASL's rules)."""
        for index, errors in enumerate(lists):
            for position, name in enumerate(errors):
                place = step.where(key, index, "errors", position)
                if name.startswith("States.") and name not in STATES_ERRORS:
                    self.error(place, f"unknown error name '{name}'",
                               did_you_mean(name, STATES_ERRORS) or "see the States.* errors in the ASL spec")
                elif name == "States.ALL" and len(errors) > 1:
                    self.error(place, "States.ALL must be the only error name in its rule",
                               "move the other names into an earlier rule")
                elif name == "States.ALL" and index != len(lists) - 1:
                    self.error(place, f"the {key} rule with States.ALL must be the last one",
                               "rules are tried in order, so later ones could never match")

    def check_shaping(self, step: Step, jsonpath_mode: bool) -> None:
        if jsonpath_mode:
            for key in ("arguments", "output"):
                if key in self.step_keys(step):
                    self.error(step.where(key), f"`{key}` is for JSONata steps",
                               "use parameters/result_path/output_path, or set query_language: JSONata")
            for key, reference in (("input_path", False), ("output_path", False), ("result_path", True)):
                value = getattr(step, key)
                if isinstance(value, str):
                    self.check_path(value, step.where(key), reference=reference)
            for key in ("timeout_path", "heartbeat_path"):
                if getattr(step, key) is not None:
                    self.check_path(getattr(step, key), step.where(key))
            for key in ("timeout", "heartbeat"):
                if isinstance(getattr(step, key), str):
                    self.error(step.where(key), f"`{key}` is a number of seconds", f"or use {key}_path")
            for key in ("parameters", "result_selector", "assign"):
                self.check_payload(getattr(step, key), step, (key,))
            if isinstance(step, PollStep):
                self.check_payload(step.task.parameters, step, ("poll", "parameters"))
                self.check_payload(step.task.result_selector, step, ("poll", "result_selector"))
                if isinstance(step.task.result_path, str):
                    self.check_path(step.task.result_path, step.where("poll", "result_path"), reference=True)
            for index, catch in enumerate(step.catch):
                if isinstance(catch.result_path, str):
                    self.check_path(catch.result_path, step.where("catch", index, "result_path"), reference=True)
        else:
            for key in ("input_path", "output_path", "result_path", "parameters", "result_selector",
                        "timeout_path", "heartbeat_path"):
                if key in self.step_keys(step):
                    self.error(step.where(key), f"`{key}` is for JSONPath steps",
                               "JSONata steps use arguments, output and assign")
            for key in ("arguments", "output", "assign", "timeout", "heartbeat"):
                if key == "arguments" and isinstance(step, TrainStep) or not step.places:
                    continue  # derived from fields checked at their own places (a train step, a deploy's parts)
                for keys, text in _strings(getattr(step, key, None), (key,)):
                    self.check_jsonata(text, step.where(*keys))
            if isinstance(step, PollStep):
                for keys, text in _strings(step.task.arguments, ("poll", "arguments")):
                    self.check_jsonata(text, step.where(*keys))

    def step_keys(self, step: Step) -> set[str]:
        return {keys[0] for keys in step.places if len(keys) == 1 and isinstance(keys[0], str)}

    def check_payload(self, payload: Any, step: Step, keys: KeyPath) -> None:
        """Keys ending `.$` take a path or an intrinsic function."""
        if isinstance(payload, dict):
            for key, value in payload.items():
                if key.endswith(".$"):
                    if isinstance(value, str):
                        self.check_path(value, step.where(*keys, key), intrinsic=True)
                    else:
                        self.error(step.where(*keys, key), f"'{key}' ends in .$ so its value must be a path",
                                   "drop the .$ for a literal")
                else:
                    self.check_payload(value, step, (*keys, key))
        elif isinstance(payload, list):
            for index, item in enumerate(payload):
                self.check_payload(item, step, (*keys, index))

    def check_path(self, text: str, place: SourcePlace, reference: bool = False, intrinsic: bool = False) -> None:
        if intrinsic and text.startswith("States."):
            depth = 0
            for char in re.sub(r"'(?:\\.|[^'\\])*'", "", text):
                depth += {"(": 1, ")": -1}.get(char, 0)
                if depth < 0:
                    break
            if depth != 0 or not re.match(r"^States\.[A-Za-z0-9]+\(", text):
                self.error(place, f"malformed intrinsic function {text!r}", "e.g. States.Format('{}', $.x)")
            else:
                self.check_intrinsic(text, place)
            return
        from engine.asl.jsonpath import PathSyntaxError, compile_path

        try:
            path = compile_path(text)
        except PathSyntaxError as exc:
            self.error(place, f"invalid JSONPath {text!r}: {exc.cause.split(': ', 1)[-1]}")
            return
        if reference and not (path.reference and path.root == "$"):
            self.error(place, f"{text!r} is not a reference path",
                       "result paths are simple $.a.b paths without filters or wildcards")

    def check_intrinsic(self, text: str, place: SourcePlace) -> None:
        """Every function named exists and gets as many arguments as it takes (the engine's parser)."""
        from engine.asl.intrinsics import FUNCTIONS, IntrinsicSyntaxError, compile_intrinsic

        for name in re.findall(r"(States\.[A-Za-z0-9]+)\s*\(", re.sub(r"'(?:\\.|[^'\\])*'", "''", text)):
            if name not in FUNCTIONS:
                self.error(place, f"unknown intrinsic function {name}",
                           did_you_mean(name, FUNCTIONS) or "see the intrinsic functions of the ASL spec")
                return
        try:
            compile_intrinsic(text)
        except IntrinsicSyntaxError as exc:
            reason = re.sub(r" \(at position \d+\)$", "", exc.reason)
            self.error(place, reason if " takes " in reason else f"invalid intrinsic {text!r}: {reason}")

    def check_jsonata(self, text: str, place: SourcePlace) -> None:
        match = _JSONATA.match(text)
        if not match:
            return
        import jsonata

        try:
            jsonata.Jsonata(match.group(1))
        except RuntimeError as exc:  # jsonata-python raises JException, a RuntimeError
            self.error(place, f"invalid JSONata: {exc}")

    def check_condition(self, condition: Condition | None, place: SourcePlace, jsonpath_mode: bool) -> None:
        if condition is None:
            return  # a parse error already reported
        if isinstance(condition, JsonataCondition):
            self.check_jsonata("{%" + condition.expr + "%}", place)
            for _, name in jsonata_bare_set_members(condition.expr):
                self.error(place, f"in JSONata, {name} in a set is a field name, not the string '{name}'",
                           f'quote it: "{name}"')
            return
        for path in condition_paths(condition):
            self.check_path(path, place)
        for comparison in _comparisons(condition):
            if comparison.type == "timestamp" and not comparison.value_is_path and \
                    not _ISO_TIMESTAMP.match(str(comparison.value)):
                self.error(place, f"{comparison.value!r} is not an ISO 8601 timestamp")

    def check_handler(self, step: HandlerStep) -> None:
        place = step.where("handler") if "handler" in self.step_keys(step) else step.where("poll", "handler")
        module_path = Path(*step.module.split("."))
        candidates = [self.root / "handlers" / module_path.with_suffix(".py"),
                      self.root / "handlers" / module_path / "__init__.py"]
        source = next((path for path in candidates if path.is_file()), None)
        if source is None:
            self.error(place, f"handler module '{step.module}' not found",
                       f"create handlers/{module_path.with_suffix('.py')}")
        else:
            problem = _handler_problem(source, step.function)
            if problem:
                self.error(place, problem[0], problem[1])
        if step.image is not None:
            dockerfile = self.root / "images" / step.image / "Dockerfile"
            if not dockerfile.is_file():
                self.error(step.where("image"), f"image '{step.image}' has no Dockerfile",
                           f"create images/{step.image}/Dockerfile")
        for key in ("reads", "writes"):
            for index, name in enumerate(getattr(step, key)):
                self.resource(name, step.where(key, index) if key in self.step_keys(step)
                              else step.where("poll", key, index))
        if step.wait_for_token and (self.workflow.type == "express" or id(step) in self.express_children):
            self.error(step.where("wait_for_token"), "express executions cannot wait for a task token",
                       "use type: standard (or the map's execution_type: standard)")
        if step.requirements is not None:
            self.check_requirements(step)

    def check_requirements(self, step: HandlerStep) -> None:
        """`requirements:` is a zip function's: its file exists inside the project, every line is one pip reads."""
        from compiler.package import step_requirements

        place = step.where("requirements")
        if step.image is not None:
            self.error(place, "an image function installs what its Dockerfile installs",
                       f"list them in images/{step.image}/requirements.txt, or drop `image`")
            return
        if isinstance(step.requirements, str):
            from compiler.freshness import SOURCE_FOLDERS

            path = (self.root / step.requirements).resolve()
            if not path.is_relative_to(self.root.resolve()):
                self.error(place, f"requirements file '{step.requirements}' is outside the project",
                           "give a path from the project root, e.g. handlers/resize/requirements.txt")
                return
            if path.relative_to(self.root.resolve()).parts[0] not in SOURCE_FOLDERS:
                self.error(place, f"requirements file '{step.requirements}' is outside "
                           f"{', '.join(folder + '/' for folder in SOURCE_FOLDERS)}",
                           "keep it beside the handler (e.g. handlers/resize-prod.txt), where run and serve "
                           "notice its changes and compile again")
                return
            if not path.is_file():
                self.error(place, f"requirements file '{step.requirements}' does not exist",
                           did_you_mean(step.requirements, [
                               str(p.relative_to(self.root)) for p in (*self.root.glob("*requirements*.txt"),
                                                                       *(self.root / "handlers").rglob("*.txt"))])
                           or "give a path from the project root, e.g. handlers/resize/requirements.txt")
                return
        for number, line, problem in step_requirements(self.root, step):
            if problem is None:
                continue
            where = (step.where("requirements", number - 1) if isinstance(step.requirements, list)
                     else SourcePlace(step.requirements, number, 1))
            self.error(where, f"not a pip requirement: {line!r}: {problem}",
                       "one requirement per line, e.g. pillow>=10 or requests==2.32.3")

    def check_service(self, step: ServiceStep) -> None:
        place = step.where("service") if "service" in self.step_keys(step) else step.where("poll", "service")
        for key in ("reads", "writes"):
            for index, name in enumerate(getattr(step, key)):
                self.resource(name, step.where(key, index) if key in self.step_keys(step)
                              else step.where("poll", key, index))
        self.check_api(step, place)
        if step.service == "dynamodb":
            self.check_number_literals(step)
        if step.integration is None:
            return
        if step.optimized:
            allowed = INTEGRATION_SUFFIXES.get((step.service, step.action), frozenset())
            if step.integration not in allowed:
                supported = ", ".join(f".{s}" for s in sorted(allowed)) or "none"
                self.error(place, f"{step.service}:{step.action} does not support .{step.integration}",
                           f"supported: {supported}")
        elif step.integration != "waitForTaskToken":
            self.error(place, f"the AWS SDK integration has no .{step.integration} for "
                       f"{step.service}:{step.action}", "use a poll step to wait for the job")
        if self.workflow.type == "express":
            self.error(place, f"express workflows cannot use .{step.integration}", "use type: standard")
        elif id(step) in self.express_children:
            self.error(place, f"express child executions cannot use .{step.integration}",
                       "set the map's execution_type: standard")

    def check_number_literals(self, step: ServiceStep) -> None:
        """A literal `N` is a number's text, or DynamoDB refuses the call at run time."""
        from compiler.dynamodb import number_literals

        key = "parameters" if step.query_language == "JSONPath" else "arguments"
        prefix = (key,) if key in self.step_keys(step) else ("poll", key)
        for keys, value in number_literals(getattr(step, key)):
            if not isinstance(value, str) or not _is_number(value) or value.strip().lower() in ("nan", "inf",
                                                                                               "-inf", "infinity"):
                self.error(step.where(*prefix, *keys), f"DynamoDB number attribute value {json.dumps(value)} is "
                           "not a number", "write N: 8, or N.$: a path to a number" if step.query_language ==
                           "JSONPath" else "write N: 8, or N: \"{% expression giving a number %}\"")

    def check_api(self, step: ServiceStep, place: SourcePlace) -> None:
        """The service and action exist (in Step Functions' spelling), and the fixed parts of the
        parameters fit the API's input shape (botocore's model)."""
        from compiler.services import check_parameters

        jsonata = step.query_language == "JSONata"
        key = "arguments" if jsonata else "parameters"
        for problem in check_parameters(step, getattr(step, key), jsonata):
            where = place if problem.on_name else step.where(key, *problem.keys)
            if problem.at_key:
                # A step without parameters is missing its members at `service:` itself.
                where = self.key_place(step, (key, *problem.keys)) if key in self.step_keys(step) else place
            self.error(where, problem.message, problem.hint)

    def key_place(self, owner: Located, keys: KeyPath) -> SourcePlace:
        """Where a mapping key under a step (or a poll's task) is written: the key, not its value."""
        path = self.node_paths.get(owner.place)
        place = self.doc.key_places.get((*path, *keys)) if path is not None else None
        return place or owner.where(*keys)

    def check_wait(self, step: WaitStep, jsonpath_mode: bool) -> None:
        if isinstance(step.seconds, str):
            if jsonpath_mode:
                self.error(step.where("wait"), "wait seconds must be a number in JSONPath steps",
                           "use {seconds_path: $.x}")
            else:
                self.check_jsonata(step.seconds, step.where("wait"))
        if step.seconds_path is not None:
            self.check_path(step.seconds_path, step.where("wait", "seconds_path"))
        if step.timestamp_path is not None:
            self.check_path(step.timestamp_path, step.where("wait", "until_path"))
        if step.timestamp is not None and not _ISO_TIMESTAMP.match(step.timestamp) and \
                not _JSONATA.match(step.timestamp):
            self.error(step.where("wait", "until"), f"{step.timestamp!r} is not an ISO 8601 timestamp",
                       "e.g. 2026-01-01T00:00:00Z")

    def check_map(self, step: MapStep, jsonpath_mode: bool) -> None:
        if step.mode == "distributed" and self.workflow.type == "express":
            self.error(step.where("map", "mode"), "express workflows cannot run a distributed map",
                       "use type: standard")
        if step.mode == "inline":
            for key in ("reader", "writer", "batch", "tolerated_failure_percentage", "tolerated_failure_count",
                        "label"):
                if ("map", key) in step.places:
                    self.error(step.where("map", key), f"`{key}` needs mode: distributed")
            if ("map", "execution_type") in step.places:
                self.error(step.where("map", "execution_type"), "`execution_type` needs mode: distributed")
        if isinstance(step.items, str) and jsonpath_mode:
            self.check_path(step.items, step.where("map", "items"))
        elif isinstance(step.items, list) and jsonpath_mode:
            self.error(step.where("map", "items"), "JSONPath maps take `items` as a path, e.g. $.images")
        elif isinstance(step.items, str):
            self.check_jsonata(step.items, step.where("map", "items"))
        if jsonpath_mode:
            self.check_payload(step.item_selector, step, ("map", "item_selector"))
        if step.reader is not None:
            reader = step.reader
            if step.items is not None:
                self.error(step.where("map", "items"), "a map reads its items from `items` or `reader`, not both")
            self.resource(reader.bucket, reader.where("bucket"), ("bucket",))
            if reader.format == "objects":
                if reader.key or reader.key_path:
                    self.error(reader.place, "format objects lists a prefix; it takes no key", "use prefix:")
            elif (reader.key is None) == (reader.key_path is None):
                self.error(reader.place, f"a {reader.format} reader needs exactly one of key or key_path")
            if reader.key_path is not None:
                self.check_path(reader.key_path, reader.where("key_path"))
            if reader.format != "csv" and ("csv_header",) in reader.places:
                self.error(reader.where("csv_header"), "csv_header only applies to format csv")
        if step.writer is not None:
            self.resource(step.writer.bucket, step.writer.where("bucket"), ("bucket",))


def _as_jsonata(path: str) -> str:
    """`$.training.model_artifacts` → `"{% $states.input.training.model_artifacts %}"`, for hints."""
    return '"{% $states.input' + path[1:] + ' %}"' if path != "$" else '"{% $states.input %}"'


def _is_number(value: Any) -> bool:
    """A number, or text CloudFormation reads as one (parameter values are strings)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    try:
        float(str(value))
    except ValueError:
        return False
    return True


def _handler_problem(source: Path, function: str) -> tuple[str, str | None] | None:
    """Why `function` in `source` is not a Lambda handler, or None if it is one."""
    tree = _parse_python(source)
    if isinstance(tree, SyntaxError):
        return (f"{source.name} does not parse: {tree.msg} (line {tree.lineno})", "fix the handler's syntax")
    for node in tree.body:
        if isinstance(node, ast.AsyncFunctionDef) and node.name == function:
            return (f"{function} in {source.name} is async", "Lambda handlers are plain functions")
        if isinstance(node, ast.FunctionDef) and node.name == function:
            args = node.args
            positional = args.posonlyargs + args.args
            required_kw = [a for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is None]
            if len(positional) != 2 or args.vararg or required_kw:
                shown = ", ".join(a.arg for a in positional)
                return (f"{function}({shown}) in {source.name} must take exactly (event, context)",
                        f"def {function}(event, context):")
            return None
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == function for t in node.targets):
            return None  # e.g. handler = make_handler(...): trust it
    defined = [node.name for node in tree.body if isinstance(node, ast.FunctionDef)]
    return (f"{source.name} defines no function '{function}'",
            did_you_mean(function, defined) or f"add def {function}(event, context):")


@cache
def _parse_python(source: Path) -> ast.Module | SyntaxError:
    try:
        return ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
    except SyntaxError as exc:
        return exc


def _reachable(start: str, edges: dict[str, list[str]]) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for target in edges.get(todo.pop(), []):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _comparisons(condition: Condition) -> Iterator[Comparison]:
    if isinstance(condition, Comparison):
        yield condition
    for child in getattr(condition, "items", ()):
        yield from _comparisons(child)
    if hasattr(condition, "item"):
        yield from _comparisons(condition.item)  # type: ignore[union-attr]


def _in_environment(path: KeyPath) -> bool:
    """Whether a string's path is an environment variable's value (functions: or a step's)."""
    return len(path) >= 2 and path[-2] == "environment" and not {"parameters", "arguments", "policies"} & set(path)


def _strings(value: Any, path: KeyPath = ()) -> Iterator[tuple[KeyPath, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*path, index))


def check_workflow(workflow: Workflow, doc: Document, root: Path) -> list[SpecError]:
    """Every cross-reference and semantic check of one built workflow."""
    return _Checker(workflow, doc, root).run()


def check_project(workflows: list[Workflow]) -> list[SpecError]:
    """Checks across workflows, which deploy as one stack: names and the CloudFormation logical ids derived
    from them are unique, a resource name belongs to one workflow unless every declaration shares it, and a
    parameter (one deploy-time value) is declared the same everywhere. Conflicts are reported at each place."""
    errors: list[SpecError] = []
    seen: dict[str, Workflow] = {}
    for workflow in workflows:
        key = pascal_case(workflow.name)
        if key in seen:
            errors.append(SpecError(workflow.where("name"), f"workflow name '{workflow.name}' clashes with "
                                    f"{seen[key].place.file}", "workflow names are unique in a project"))
        seen.setdefault(key, workflow)
    errors += _shared_from_errors(workflows)
    errors += _resource_conflicts(workflows)
    errors += _parameter_conflicts(workflows)
    errors += _logical_id_conflicts(workflows)
    return errors


def _resource_conflicts(workflows: list[Workflow]) -> list[SpecError]:
    errors: list[SpecError] = []
    declared: dict[str, list[Resource]] = {}
    for workflow in workflows:
        for resource in workflow.resources.values():
            if resource.shared_from is not None:
                continue  # a resource taken `from` its owner: checked in check_project
            declared.setdefault(resource.name, []).append(resource)
    for name, resources in declared.items():
        for resource in resources[1:] if len(resources) > 1 else ():
            first = resources[0]
            if not (first.shared and resource.shared):
                hint = f"rename one, or mark both `shared: true` to make them one {first.type} in the stack"
                for here, there in ((first, resource), (resource, first)):
                    errors.append(SpecError(here.place, f"resource '{name}' is also declared in {there.place}",
                                            hint))
            elif _differences(first, resource, _RESOURCE_FIELDS):
                for here, there in ((first, resource), (resource, first)):
                    errors.append(SpecError(here.place, f"shared resource '{name}' is declared differently in "
                                            f"{there.place} ({_differences(here, there, _RESOURCE_FIELDS)})",
                                            "declare a shared resource identically everywhere"))
    return errors


_RESOURCE_FIELDS = ("type", "key", "ttl", "value", "service", "reads", "writes", "external", "endpoints",
                    "policies", "images", "given_name", "description")
_PARAMETER_FIELDS = ("type", "default", "allowed_values", "description", "allowed_pattern", "min_value", "max_value",
                     "min_length", "max_length", "constraint_description")


def _differences(here: Any, there: Any, fields: tuple[str, ...]) -> str:
    """`key "id" there; …` for every field in which `there` differs from `here` (empty when none)."""
    shown = []
    for key in fields:
        mine, theirs = getattr(here, key), getattr(there, key)
        if mine != theirs:
            value = vars(theirs) if hasattr(theirs, "__dataclass_fields__") else theirs
            shown.append(f"{key} {'none' if value is None else json.dumps(value)} there")
    return "; ".join(shown)


def _parameter_conflicts(workflows: list[Workflow]) -> list[SpecError]:
    errors: list[SpecError] = []
    first: dict[str, Parameter] = {}
    for workflow in workflows:
        for parameter in workflow.parameters.values():
            other = first.setdefault(parameter.name, parameter)
            if other is parameter:
                continue
            if _differences(other, parameter, _PARAMETER_FIELDS):
                for here, there in ((other, parameter), (parameter, other)):
                    errors.append(SpecError(here.place, f"parameter '{parameter.name}' is declared differently "
                                            f"in {there.place} ({_differences(here, there, _PARAMETER_FIELDS)})",
                                            "a parameter is one deploy-time value for the whole stack: declare it "
                                            "identically, or give each workflow its own name"))
    return errors


def _logical_id_conflicts(workflows: list[Workflow]) -> list[SpecError]:
    """Functions are named from workflow + step names, which may meet across workflows (`a-b` + `C`, `a` +
    `B c`); state machines are named from workflow names alone, checked above."""
    from compiler import names

    errors: list[SpecError] = []
    owners: dict[str, tuple[Workflow, SourcePlace]] = {}
    for workflow in workflows:
        candidates = [(names.function_id(workflow, step.name), step.where("name"))
                      for step in workflow.handler_steps()]
        for logical, place in candidates:
            owner = owners.setdefault(logical, (workflow, place))
            if owner[0] is not workflow:
                for here, there in ((owner[1], place), (place, owner[1])):
                    errors.append(SpecError(here, f"compiles to the same CloudFormation id '{logical}' as {there}",
                                            "rename the step or the workflow"))
    return errors


def _shared_from_errors(workflows: list[Workflow]) -> list[SpecError]:
    errors: list[SpecError] = []
    by_name = {workflow.name: workflow for workflow in workflows}
    for workflow in workflows:
        for resource in workflow.resources.values():
            if resource.shared_from is None:
                continue
            owner = by_name.get(resource.shared_from)
            declared = owner.resources.get(resource.name) if owner is not None else None
            place = resource.where("from")
            if owner is None:
                errors.append(SpecError(place, f"no workflow '{resource.shared_from}' is compiled with this one",
                                        did_you_mean(resource.shared_from, by_name)
                                        or "compile the workflow that declares it too"))
            elif declared is None or declared.shared_from is not None:
                errors.append(SpecError(place, f"workflow '{owner.name}' declares no resource '{resource.name}'",
                                        did_you_mean(resource.name, owner.resources)
                                        or f"declare it in {owner.place.file}"))
            elif declared.type != resource.type:
                errors.append(SpecError(place, f"'{resource.name}' is a {declared.type} in workflow '{owner.name}',"
                                        f" not a {resource.type}"))
    return errors


def link_shared_resources(workflows: list[Workflow]) -> None:
    """Give each resource a workflow takes `from` another the owner's settings (a role's service, so
    grants from every workflow carry the same PassedToService condition; a model group's deployed name,
    so both workflows call and scope the same group). Call after check_project."""
    by_name = {workflow.name: workflow for workflow in workflows}
    for workflow in workflows:
        for resource in workflow.resources.values():
            owner = by_name.get(resource.shared_from or "")
            declared = owner.resources.get(resource.name) if owner is not None else None
            if declared is not None:
                resource.service, resource.external = declared.service, declared.external
                resource.given_name = declared.given_name

