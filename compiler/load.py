"""YAML → plain data with a SourcePlace for every node, and plain data → the typed model.

`read_document` keeps line/col for each value (and each mapping key) by walking PyYAML's composed
node tree; `build_workflow` turns a schema-valid document into a `Workflow`, resolving implicit
`Next`, retry presets, handler names, service integrations and conditions on the way.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from compiler import dynamodb, ml
from compiler.conditions import And, Comparison, ConditionError, JsonataCondition, Not, Or, parse_condition
from compiler.errors import SpecError, SpecErrors
from compiler.model import (
    OPTIMIZED_INTEGRATIONS,
    RETRY_PRESETS,
    UNSET,
    ApiTrigger,
    CatchRule,
    ChoiceBranch,
    ChoiceStep,
    DeployStep,
    EventTrigger,
    FailStep,
    FunctionConfig,
    HandlerStep,
    ItemBatcher,
    ItemReader,
    KeyPath,
    MapStep,
    ParallelStep,
    Parameter,
    PassStep,
    PollStep,
    Resource,
    ResultWriter,
    RetryRule,
    S3Trigger,
    ScheduleTrigger,
    ServiceStep,
    SourcePlace,
    Step,
    SucceedStep,
    TrainChannel,
    TrainStep,
    Trigger,
    VpcConfig,
    VpcEndpoints,
    WaitStep,
    Workflow,
)
from compiler.parameters import ParameterTypeError, comparison_type

STEP_KINDS = ("handler", "service", "poll", "train", "deploy", "choice", "wait", "map", "parallel", "pass", "succeed", "fail")

# PyYAML resolves these core tags; anything else (e.g. CloudFormation's !Ref) is not our language.
_KNOWN_TAGS = {
    "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:timestamp",
}


@dataclass
class Document:
    """A parsed YAML file: its data, and where each value (`places`) and mapping key (`key_places`) is."""

    file: str  # as shown in messages, e.g. workflows/face-blur.yaml
    data: Any
    places: dict[KeyPath, SourcePlace] = field(default_factory=dict)
    key_places: dict[KeyPath, SourcePlace] = field(default_factory=dict)
    quoted: set[KeyPath] = field(default_factory=set)  # scalars written in quotes (for column offsets)

    def where(self, path: KeyPath, key: bool = False) -> SourcePlace:
        """The place of the value (or, with `key`, the mapping key) at `path`, else its closest parent."""
        if key and path in self.key_places:
            return self.key_places[path]
        while path not in self.places and path:
            path = path[:-1]
        return self.places.get(path, SourcePlace(self.file, 1, 1))

    def under(self, prefix: KeyPath) -> dict[KeyPath, SourcePlace]:
        """Places below `prefix`, keyed relative to it."""
        size = len(prefix)
        return {path[size:]: place for path, place in self.places.items() if path[:size] == prefix}


def _place(file: str, mark: yaml.Mark) -> SourcePlace:
    return SourcePlace(file, mark.line + 1, mark.column + 1)


def read_document(path: Path, display: str | None = None) -> Document:
    """Parse one YAML file; duplicate keys, YAML tags and syntax errors raise SpecErrors with places."""
    file = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecErrors([SpecError(SourcePlace(file, 1, 1), f"cannot read the spec: {exc}")]) from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        place = _place(file, mark) if mark else SourcePlace(file, 1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        raise SpecErrors([SpecError(place, f"invalid YAML: {problem}")]) from None
    finally:
        loader.dispose()
    document = Document(file, None)
    if node is None:
        raise SpecErrors([SpecError(SourcePlace(file, 1, 1), "the spec is empty",
                                    "a workflow needs at least `steps:`")])
    errors: list[SpecError] = []
    document.data = _convert(node, (), document, loader, errors)
    if errors:
        raise SpecErrors(errors)
    return document


def _convert(node: yaml.Node, path: KeyPath, doc: Document, loader: yaml.SafeLoader,
             errors: list[SpecError]) -> Any:
    doc.places[path] = _place(doc.file, node.start_mark)
    if node.tag not in _KNOWN_TAGS:
        errors.append(SpecError(doc.places[path], f"YAML tag {node.tag} is not part of the spec language",
                                "reference deploy-time values as ${param:Name} and resources as ${resource:name}"))
        return None
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key_place = _place(doc.file, key_node.start_mark)
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:null":
                errors.append(SpecError(key_place, "mapping keys must be plain names"))
                continue
            key = str(key_node.value)
            if key == "<<":
                errors.append(SpecError(key_place, "YAML merge keys (<<) are not supported", "write the keys out"))
                continue
            if key in result:
                first = doc.key_places[(*path, key)]
                errors.append(SpecError(key_place, f"duplicate key '{key}'",
                                        f"first defined at line {first.line}"))
                continue
            doc.key_places[(*path, key)] = key_place
            result[key] = _convert(value_node, (*path, key), doc, loader, errors)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, index), doc, loader, errors) for index, item in enumerate(node.value)]
    if node.style in ("'", '"'):
        doc.quoted.add(path)
    if node.tag == "tag:yaml.org,2002:timestamp":
        return node.value  # keep ISO dates as the strings they were written as
    return loader.construct_object(node, deep=True)


# --- model building ------------------------------------------------------------------------------------

_HANDLER_OVERRIDES = ("memory", "timeout", "runtime", "architecture", "ephemeral_storage")
_SERVICE = re.compile(r"^(?P<sdk>aws-sdk:)?(?P<service>[a-z0-9-]+):(?P<action>[a-zA-Z0-9]+)"
                      r"(?:\.(?P<suffix>sync:2|sync|waitForTaskToken))?$")


class _Builder:
    """Builds the model from a schema-valid document, collecting condition/syntax errors."""

    def __init__(self, doc: Document, default_name: str, source: Path):
        self.doc = doc
        self.default_name = default_name
        self.source = source
        self.errors: list[SpecError] = []
        self.query_language = "JSONPath"
        self.functions = FunctionConfig()

    def located(self, path: KeyPath) -> dict[str, Any]:
        return {"place": self.doc.where(path), "places": self.doc.under(path)}

    def workflow(self) -> Workflow:
        data = self.doc.data
        self.query_language = data.get("query_language", "JSONPath")
        self.functions = _function_config(data.get("functions") or {}, FunctionConfig())
        return Workflow(
            name=data.get("name", self.default_name),
            source=self.source,
            description=data.get("description"),
            query_language=self.query_language,  # type: ignore[arg-type]
            type=data.get("type", "standard"),
            parameters={name: self.parameter(name, spec) for name, spec in (data.get("parameters") or {}).items()},
            resources={name: self.resource(name, spec) for name, spec in (data.get("resources") or {}).items()},
            functions=self.functions,
            triggers=self.triggers(data),
            steps=self.steps(data["steps"], ("steps",)),
            scp=[dict(statement) for statement in data.get("scp", [])],
            **self.located(()),
        )

    def parameter(self, name: str, spec: dict[str, Any]) -> Parameter:
        return Parameter(name=name, type=spec.get("type", "String"), default=spec.get("default"),
                         description=spec.get("description"), allowed_values=spec.get("allowed_values"),
                         allowed_pattern=spec.get("allowed_pattern"), min_value=spec.get("min_value"),
                         max_value=spec.get("max_value"), min_length=spec.get("min_length"),
                         max_length=spec.get("max_length"), constraint_description=spec.get("constraint_description"),
                         **self.located(("parameters", name)))

    def resource(self, name: str, spec: dict[str, Any]) -> Resource:
        key = spec.get("key", "id" if spec["type"] == "table" else None)
        return Resource(name=name, type=spec["type"], key=key, ttl=spec.get("ttl"), value=spec.get("value"),
                        service=spec.get("service"), reads=list(spec.get("reads", [])),
                        writes=list(spec.get("writes", [])),
                        policies=[dict(statement) for statement in spec.get("policies", [])],
                        images=list(spec.get("images", [])), shared_from=spec.get("from"),
                        external=(spec.get("external") or {}).get("name"), shared=bool(spec.get("shared")),
                        given_name=spec.get("name"), description=spec.get("description"),
                        endpoints=VpcEndpoints(vpc_id=spec["vpc_id"], subnet_ids=spec["subnet_ids"],
                                               security_group_ids=spec["security_group_ids"],
                                               services=list(spec["services"]),
                                               private_dns=spec.get("private_dns", True), when=spec.get("when"))
                        if spec["type"] == "vpc_endpoints" else None,
                        **self.located(("resources", name)))

    def triggers(self, data: dict[str, Any]) -> list[Trigger]:
        """`trigger:` (one) or `triggers:` (a list); validate refuses both at once."""
        if data.get("trigger"):
            return [self.trigger(data["trigger"], ("trigger",))]
        return [self.trigger(spec, ("triggers", index)) for index, spec in enumerate(data.get("triggers") or [])]

    def trigger(self, spec: dict[str, Any], path: KeyPath) -> Trigger:
        kind, body = next(iter(spec.items()))
        where = self.located((*path, kind))
        if kind == "s3":
            suffix = body.get("suffix", [])
            return S3Trigger(bucket=body["bucket"], suffix=[suffix] if isinstance(suffix, str) else list(suffix),
                             prefix=body.get("prefix"), **where)
        if kind == "schedule":
            if isinstance(body, str):
                return ScheduleTrigger(expression=body, **where)
            expression = f"cron({body['cron']})" if "cron" in body else f"rate({body['rate']})"
            return ScheduleTrigger(expression=expression, timezone=body.get("timezone", "UTC"),
                                   input=body.get("input"), enabled=body.get("enabled", True), **where)
        if kind == "event":
            return EventTrigger(pattern=dict(body["pattern"]), description=body.get("description"), **where)
        return ApiTrigger(method=body["method"], path=body["path"], endpoint=body.get("endpoint", "regional"),
                          vpc_endpoint_id=body.get("vpc_endpoint_id"), respond=body.get("respond"), **where)

    # steps

    def steps(self, specs: list[dict[str, Any]], path: KeyPath) -> list[Step]:
        steps = [self.step(spec, (*path, index)) for index, spec in enumerate(specs)]
        for step in steps:
            for rule in step.retry:
                if rule.preset == "throttling":
                    # Services raise throttling prefixed by the integration (DynamoDB.…): expand per step.
                    from compiler.services import throttling_errors

                    rule.errors = throttling_errors(step)
        for index, step in enumerate(steps):
            if step.terminal:
                continue
            if step.next is not None:
                step.explicit_next = True
            elif not step.end:
                if index + 1 < len(steps):
                    step.next = steps[index + 1].name
                else:
                    step.end = True
        for step in steps:
            if isinstance(step, DeployStep) and (isinstance(step.result_path, str) or step.query_language == "JSONata"):
                step.parts = ml.deployment_parts(step)
        return steps

    def step(self, spec: dict[str, Any], path: KeyPath) -> Step:
        kind = next(key for key in STEP_KINDS if key in spec)
        language = spec.get("query_language", self.query_language)
        common = self.common(spec, path, language)
        body = spec[kind]
        if kind == "handler":
            return self.handler_step(spec, body, common, path)
        if kind == "service":
            return self.service_step(body, spec, common, path + ("service",))
        if kind == "poll":
            return self.poll_step(spec, body, common, path)
        if kind == "train":
            return self.train_step(body, common)
        if kind == "deploy":
            return self.deploy_step(body, common)
        if kind == "choice":
            branches = [self.branch(branch, (*path, "choice", index), language)
                        for index, branch in enumerate(body)]
            return ChoiceStep(branches=branches, default=spec.get("default"), **common)
        if kind == "wait":
            return self.wait_step(body, common)
        if kind == "map":
            return self.map_step(body, common, path)
        if kind == "parallel":
            branches = [self.steps(branch["steps"], (*path, "parallel", index, "steps"))
                        for index, branch in enumerate(body)]
            return ParallelStep(branches=branches, **common)
        if kind == "pass":
            return PassStep(result=(body or {}).get("result", UNSET), **common)
        if kind == "succeed":
            return SucceedStep(**common)
        body = body or {}
        return FailStep(error=body.get("error"), cause=body.get("cause"), error_path=body.get("error_path"),
                        cause_path=body.get("cause_path"), **common)

    def common(self, spec: dict[str, Any], path: KeyPath, language: str) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "name": spec["name"], "query_language": language, "comment": spec.get("comment"),
            "next": spec.get("next"), "end": bool(spec.get("end", False)),
            "input_path": spec.get("input_path", UNSET), "parameters": spec.get("parameters"),
            "result_selector": spec.get("result_selector"), "result_path": spec.get("result_path", UNSET),
            "output_path": spec.get("output_path", UNSET), "arguments": spec.get("arguments"),
            "output": spec.get("output", UNSET), "assign": spec.get("assign"),
            "retry": [self.retry(rule, (*path, "retry", index)) for index, rule in enumerate(spec.get("retry", []))],
            "catch": [self.catch(rule, (*path, "catch", index)) for index, rule in enumerate(spec.get("catch", []))],
            "timeout_path": spec.get("timeout_path"), "heartbeat": spec.get("heartbeat"),
            "heartbeat_path": spec.get("heartbeat_path"),
            **self.located(path),
        }
        # On handler steps `timeout` is the Lambda limit; the Task's own limit is `task_timeout`.
        fields["timeout"] = spec.get("task_timeout") if "handler" in spec else spec.get("timeout")
        if "poll" in spec:
            fields["timeout"] = None
        return fields

    def retry(self, rule: str | dict[str, Any], path: KeyPath) -> RetryRule:
        if isinstance(rule, str):
            return RetryRule(preset=rule, **RETRY_PRESETS[rule], **self.located(path))
        return RetryRule(errors=list(rule["errors"]), interval=rule.get("interval", 1),
                         max_attempts=rule.get("max_attempts", 3), backoff=rule.get("backoff", 2.0),
                         max_delay=rule.get("max_delay"), jitter=rule.get("jitter"), **self.located(path))

    def catch(self, rule: dict[str, Any], path: KeyPath) -> CatchRule:
        return CatchRule(errors=list(rule["errors"]), next=rule["next"], result_path=rule.get("result_path", UNSET),
                         assign=rule.get("assign"), output=rule.get("output", UNSET), **self.located(path))

    def handler_step(self, spec: dict[str, Any], handler: str, common: dict[str, Any],
                     path: KeyPath) -> HandlerStep:
        module, _, function = handler.rpartition(".")
        if not module:
            module, function = function, "handler"
        return HandlerStep(module=module, function=function, image=spec.get("image"),
                           requirements=spec.get("requirements"),
                           reads=list(spec.get("reads", [])), writes=list(spec.get("writes", [])),
                           config=_function_config(spec, self.functions),
                           policies=[dict(statement) for statement in spec.get("policies", [])],
                           wait_for_token=bool(spec.get("wait_for_token", False)), **common)

    def service_step(self, text: str, spec: dict[str, Any], common: dict[str, Any], path: KeyPath) -> ServiceStep:
        match = _SERVICE.match(text)
        assert match is not None, "the schema pattern admits only well-formed service names"
        service, action, suffix = match.group("service"), match.group("action"), match.group("suffix")
        optimized = not match.group("sdk") and (service, action) in OPTIMIZED_INTEGRATIONS
        if service == "dynamodb":  # N attributes are numbers in and out (see compiler/dynamodb.py)
            common = {**common, "parameters": dynamodb.typed_request(common["parameters"], False),
                      "arguments": dynamodb.typed_request(common["arguments"], True),
                      "result_selector": dynamodb.typed_result_selector(common["result_selector"])}
        return ServiceStep(service=service, action=action, integration=suffix, optimized=optimized,
                           reads=list(spec.get("reads", [])), writes=list(spec.get("writes", [])), **common)

    def train_step(self, body: dict[str, Any], common: dict[str, Any]) -> TrainStep:
        channels = []
        for name, channel in body["channels"].items():
            channel = channel if isinstance(channel, dict) else {"s3": channel}
            channels.append(TrainChannel(name=name, s3=channel["s3"], content_type=channel.get("content_type"),
                                         input_mode=channel.get("input_mode"),
                                         manifest=bool(channel.get("manifest", False)),
                                         attributes=list(channel.get("attributes", []))))
        prefix = body.get("job_prefix") or "-".join(re.findall(r"[a-z0-9]+", common["name"].lower()))[:26]
        step = TrainStep(service="sagemaker", action="createTrainingJob", integration="sync", optimized=True,
                         image=body["image"], role=body["role"], job_prefix=prefix.strip("-") or "training",
                         instance_type=body.get("instance_type", "ml.m5.xlarge"),
                         instance_count=body.get("instance_count", 1), volume_gb=body.get("volume_gb", 30),
                         max_runtime=body.get("max_runtime", 3600),
                         hyperparameters=dict(body.get("hyperparameters") or {}),
                         environment=dict(body.get("environment") or {}), channels=channels,
                         output_uri=body["output"], metrics=dict(body.get("metrics") or {}), **common)
        if step.query_language == "JSONata":
            step.arguments = ml.training_parameters(step)
            step.output, step.assign = ml.training_output(step, step.output, step.assign)
        else:
            step.parameters = ml.training_parameters(step)
            step.result_selector = ml.training_result_selector(step)
        return step

    def deploy_step(self, body: dict[str, Any], common: dict[str, Any]) -> DeployStep:
        prefix = body.get("name_prefix") or "-".join(re.findall(r"[a-z0-9]+", common["name"].lower()))[:26]
        step = DeployStep(endpoint=body["endpoint"], image=body["image"], role=body["role"],
                          model_data=body["model_data"], name_prefix=prefix.strip("-").lower() or "model",
                          instance_type=body.get("instance_type", "ml.m5.large"),
                          instance_count=body.get("instance_count", 1),
                          environment=dict(body.get("environment") or {}), every=body.get("every", 30),
                          give_up=body.get("timeout", 3600), on_fail=body.get("on_fail"),
                          on_timeout=body.get("on_timeout"), **common)
        return step  # its parts are built once `next` is resolved (steps())

    def poll_step(self, spec: dict[str, Any], body: dict[str, Any], common: dict[str, Any],
                  path: KeyPath) -> PollStep:
        poll_path = (*path, "poll")
        task_common = {
            "name": common["name"], "query_language": common["query_language"],
            "parameters": body.get("parameters"), "arguments": body.get("arguments"),
            "result_selector": body.get("result_selector"), "result_path": body.get("result_path", UNSET),
            **self.located(poll_path),
        }
        task: ServiceStep | HandlerStep
        if "service" in body:
            task = self.service_step(body["service"], body, task_common, (*poll_path, "service"))
        else:
            # the poll's `timeout` is its give-up time, not the Lambda limit
            function_spec = {key: value for key, value in body.items() if key != "timeout"}
            task = self.handler_step(function_spec, body["handler"], task_common, poll_path)
        language = common["query_language"]
        until = self.condition(body["until"], (*poll_path, "until"), language)
        fail_if = self.condition(body["fail_if"], (*poll_path, "fail_if"), language) if "fail_if" in body else None
        return PollStep(task=task, every=body.get("every", 10), until=until, until_text=body["until"],
                        fail_if=fail_if, fail_if_text=body.get("fail_if"),
                        error=body.get("error", "PollFailed"), cause=body.get("cause"),
                        timeout_error=body.get("timeout_error", f"{common['name']}.TimedOut"),
                        on_fail=body.get("on_fail"), on_timeout=body.get("on_timeout"), **{
                            **common, "timeout": body.get("timeout")})

    def branch(self, spec: dict[str, Any], path: KeyPath, language: str) -> ChoiceBranch:
        return ChoiceBranch(condition=self.condition(spec["if"], (*path, "if"), language), text=spec["if"],
                            next=spec["then"], assign=spec.get("assign"), output=spec.get("output", UNSET),
                            **self.located(path))

    def condition(self, text: str, path: KeyPath, language: str) -> Any:
        """The parsed condition, or None after recording an error (the workflow is then rejected)."""
        if language == "JSONata":
            stripped = text.strip()
            if stripped.startswith("{%") and stripped.endswith("%}"):
                stripped = stripped[2:-2].strip()
            return JsonataCondition(stripped)
        try:
            return self.typed_parameters(parse_condition(text), text)
        except ConditionError as exc:
            place = self.doc.where(path)
            column = place.col + exc.offset + (1 if path in self.doc.quoted else 0)
            self.errors.append(SpecError(SourcePlace(place.file, place.line, column),
                                         f"bad condition: {exc.message}", exc.hint))
            return None

    def typed_parameters(self, condition: Any, text: str) -> Any:
        """Give each ${param:X} operand its comparison type: `as TYPE`, else the parameter's declaration.

        A parameter's value reaches the definition as text (DefinitionSubstitutions are strings), so a
        string comparison is only chosen for a parameter that is plainly text; a String parameter that
        looks like a number or a boolean must say which it is, never silently compare as text.
        """
        if isinstance(condition, (And, Or)):
            return type(condition)(tuple(self.typed_parameters(item, text) for item in condition.items))
        if isinstance(condition, Not):
            return Not(self.typed_parameters(condition.item, text))
        if not isinstance(condition, Comparison) or not condition.value_is_parameter:
            return condition
        offset = max(text.find("${param:" + condition.value), 0)
        spec = (self.doc.data.get("parameters") or {}).get(condition.value)
        value_type = condition.type
        if value_type is None and isinstance(spec, dict):
            try:
                value_type = comparison_type(condition.value, spec.get("type", "String"),
                                             [spec.get("default"), *(spec.get("allowed_values") or [])])
            except ParameterTypeError as exc:
                raise ConditionError(exc.message, offset, exc.hint) from None
        value_type = value_type or "string"  # an undeclared parameter: validate reports the reference
        if value_type == "boolean" and condition.op != "==":
            raise ConditionError(f"booleans only support == and !=, not {condition.op}", offset)
        return dataclasses.replace(condition, type=value_type)

    def wait_step(self, body: Any, common: dict[str, Any]) -> WaitStep:
        if not isinstance(body, dict):
            return WaitStep(seconds=body, **common)
        return WaitStep(seconds=body.get("seconds"), seconds_path=body.get("seconds_path"),
                        timestamp=body.get("until"), timestamp_path=body.get("until_path"), **common)

    def map_step(self, body: dict[str, Any], common: dict[str, Any], path: KeyPath) -> MapStep:
        map_path = (*path, "map")
        reader = writer = batch = None
        if "reader" in body:
            spec = body["reader"]
            reader = ItemReader(bucket=spec["bucket"], key=spec.get("key"), key_path=spec.get("key_path"),
                                prefix=spec.get("prefix"), format=spec.get("format", "json"),
                                csv_header=spec.get("csv_header", "first_row"), max_items=spec.get("max_items"),
                                **self.located((*map_path, "reader")))
        if "writer" in body:
            spec = body["writer"]
            writer = ResultWriter(bucket=spec["bucket"], prefix=spec.get("prefix", ""),
                                  **self.located((*map_path, "writer")))
        if "batch" in body:
            spec = body["batch"]
            batch = ItemBatcher(max_items=spec.get("max_items"), max_bytes=spec.get("max_bytes"),
                                input=spec.get("input"))
        return MapStep(mode=body.get("mode", "inline"), items=body.get("items"),
                       item_selector=body.get("item_selector"), reader=reader, batch=batch, writer=writer,
                       concurrency=body.get("concurrency"),
                       tolerated_failure_percentage=body.get("tolerated_failure_percentage"),
                       tolerated_failure_count=body.get("tolerated_failure_count"),
                       execution_type=body.get("execution_type", "standard"), label=body.get("label"),
                       steps=self.steps(body["steps"], (*map_path, "steps")), **common)


def _function_config(spec: dict[str, Any], defaults: FunctionConfig) -> FunctionConfig:
    environment = dict(defaults.environment)
    for key, value in (spec.get("environment") or {}).items():
        environment[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    fields = {name: spec.get(name, getattr(defaults, name)) for name in _HANDLER_OVERRIDES}
    vpc = defaults.vpc
    if "vpc" in spec:
        vpc = VpcConfig(subnet_ids=spec["vpc"]["subnet_ids"],
                        security_group_ids=spec["vpc"]["security_group_ids"]) if spec["vpc"] else None
    return FunctionConfig(environment=environment, vpc=vpc, **fields)


def build_workflow(doc: Document, source: Path) -> tuple[Workflow, list[SpecError]]:
    """The model of a schema-valid document, and the errors found while building it (bad conditions).

    With errors the workflow is only fit for further checking, never for compiling.
    """
    builder = _Builder(doc, source.stem, source)
    workflow = builder.workflow()
    return workflow, builder.errors
