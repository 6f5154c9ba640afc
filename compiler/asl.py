"""Model → Amazon States Language.

A visitor with one `visit_<kind>` method per step kind turns each step into one ASL state (a poll
becomes a small loop of states). Strings holding `${resource:x}`, `${param:X}` or
`${function:Step}` become `${Name}` placeholders, and the returned substitutions map each Name to
the CloudFormation value SAM puts there (DefinitionSubstitutions).
"""

from __future__ import annotations

import math
import re
from typing import Any

from compiler import ml, names, parameters
from compiler.conditions import And, Comparison, Condition, JsonataCondition, Matches, Not, Or, Test
from compiler.errors import SpecError, SpecErrors
from compiler.model import (
    REFERENCE,
    UNSET,
    CatchRule,
    ChoiceStep,
    DeployStep,
    FailStep,
    HandlerStep,
    MapStep,
    ParallelStep,
    PassStep,
    PollStep,
    RetryRule,
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
from engine.asl.validate import ASLError, check_definition

LAMBDA_WAIT_FOR_TOKEN = "arn:aws:states:::lambda:invoke.waitForTaskToken"
S3_GET_OBJECT = "arn:aws:states:::s3:getObject"
S3_LIST_OBJECTS = "arn:aws:states:::s3:listObjectsV2"
S3_PUT_OBJECT = "arn:aws:states:::s3:putObject"

_JSONATA = re.compile(r"^\s*\{%.*%\}\s*$", re.DOTALL)
_COMPARISON_SUFFIX = {"==": "Equals", "<": "LessThan", "<=": "LessThanEquals", ">": "GreaterThan",
                      ">=": "GreaterThanEquals"}
_TYPE_PREFIX = {"string": "String", "numeric": "Numeric", "boolean": "Boolean", "timestamp": "Timestamp"}
_TEST_FIELD = {"present": "IsPresent", "null": "IsNull", "string": "IsString", "numeric": "IsNumeric",
               "boolean": "IsBoolean", "timestamp": "IsTimestamp"}


def build_definition(workflow: Workflow) -> tuple[dict[str, Any], dict[str, Any]]:
    """The workflow's ASL definition and its DefinitionSubstitutions (placeholder → CFN value)."""
    builder = _ASLBuilder(workflow)
    definition = builder.build()
    problems = check_definition(definition, endless_loops=False)
    if problems:
        # The front end should have refused the spec; name the step so the user can still act on it.
        raise SpecErrors([SpecError(_place_of(workflow, problem), f"compiles to invalid ASL: {problem}",
                                    "please report this as a Stepsmith bug") for problem in problems])
    return definition, dict(sorted(builder.substitutions.items()))


def _place_of(workflow: Workflow, problem: ASLError) -> SourcePlace:
    for name in reversed(re.findall(r"States\.([^.\[]+)", problem.path)):
        step = workflow.step(name.split(": ")[0])
        if step is not None:
            return step.place
    return workflow.place


def poll_state_names(step: PollStep) -> dict[str, str]:
    """Names of the states a poll step compiles to (the Task keeps the step's own name)."""
    return {"start": f"{step.name}: start", "task": step.name, "check": f"{step.name}: check",
            "wait": f"{step.name}: wait", "failed": f"{step.name}: failed",
            "timed_out": f"{step.name}: timed out", "done": f"{step.name}: done"}


def poll_counter_variable(step: PollStep) -> str:
    """The workflow variable counting a poll's waits (its give-up timer)."""
    return "polls_" + re.sub(r"[^A-Za-z0-9]+", "_", step.name).strip("_").lower()


def condition_rule(condition: Condition, number_parameters: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A readable condition as an ASL Choice rule (without Next). A ${param:X} compared as a number or
    boolean reads the variable `carried_parameters` fills; one compared as text stays a reference
    (resolve it like any other string); in JSONata, `number_parameters` become numbers."""
    if isinstance(condition, Comparison):
        field = _TYPE_PREFIX[condition.type] + _COMPARISON_SUFFIX[condition.op]
        if condition.value_is_parameter and condition.type in _CARRIED_TYPES:
            return {"Variable": condition.path, field + "Path": "$" + parameters.variable(condition.value)}
        if condition.value_is_parameter:
            return {"Variable": condition.path, field: "${param:" + condition.value + "}"}
        if condition.value_is_path:
            field += "Path"
        return {"Variable": condition.path, field: condition.value}
    if isinstance(condition, Test):
        return {"Variable": condition.path, _TEST_FIELD[condition.kind]: condition.expected}
    if isinstance(condition, Matches):
        return {"Variable": condition.path, "StringMatches": condition.pattern}
    if isinstance(condition, And):
        return {"And": [condition_rule(item, number_parameters) for item in condition.items]}
    if isinstance(condition, Or):
        return {"Or": [condition_rule(item, number_parameters) for item in condition.items]}
    if isinstance(condition, Not):
        return {"Not": condition_rule(condition.item, number_parameters)}
    if isinstance(condition, JsonataCondition):
        return {"Condition": "{% " + parameters.typed_jsonata(condition.expr, number_parameters) + " %}"}
    raise TypeError(f"not a condition: {condition!r}")


_CARRIED_TYPES = ("numeric", "boolean")


def carried_parameters(*conditions: Condition | None) -> list[str]:
    """Parameters the conditions compare as numbers or booleans, in order: each needs its variable."""
    found: list[str] = []
    for condition in conditions:
        if isinstance(condition, Comparison) and condition.value_is_parameter and \
                condition.type in _CARRIED_TYPES and condition.value not in found:
            found.append(condition.value)
        children = [*getattr(condition, "items", ()), *([condition.item] if isinstance(condition, Not) else [])]
        found += [name for name in carried_parameters(*children) if name not in found]
    return found


def parameters_state_name(step: ChoiceStep) -> str:
    """The Pass state that carries a choice's typed parameters into variables before it decides."""
    return f"{step.name}: parameters"


def step_state_names(step: Step) -> list[str]:
    """Every ASL state a step compiles to (a poll is a loop; a choice may carry parameters first)."""
    if isinstance(step, PollStep):
        return list(dict.fromkeys(poll_state_names(step).values()))
    if isinstance(step, ChoiceStep) and carried_parameters(*(branch.condition for branch in step.branches)):
        return [parameters_state_name(step), step.name]
    if isinstance(step, TrainStep) and step.metrics and step.query_language == "JSONPath":
        return [step.name, ml.metrics_state_name(step)]
    return [step.name]


def _carry(parameter_names: list[str]) -> dict[str, str]:
    return {parameters.variable(name) + ".$": parameters.json_value(name) for name in parameter_names}


def retrier(rule: RetryRule) -> dict[str, Any]:
    """One Retry element."""
    out: dict[str, Any] = {"ErrorEquals": list(rule.errors), "IntervalSeconds": _int(rule.interval),
                           "MaxAttempts": rule.max_attempts, "BackoffRate": rule.backoff}
    if rule.max_delay is not None:
        out["MaxDelaySeconds"] = rule.max_delay
    if rule.jitter is not None:
        out["JitterStrategy"] = rule.jitter
    return out


def _int(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


class _ASLBuilder:
    def __init__(self, workflow: Workflow) -> None:
        self.workflow = workflow
        self.substitutions: dict[str, Any] = {}
        # The state a transition to a step lands on: a poll with a give-up time starts at its counter, and
        # a step comparing parameters as numbers or booleans at the Pass that carries them into variables.
        self.entry: dict[str, str] = {}
        self.number_parameters = frozenset(name for name, parameter in workflow.parameters.items()
                                           if parameter.type == "Number")
        for step in walk_steps(workflow.steps):
            if isinstance(step, PollStep) and (step.timeout is not None or self.poll_carries(step)):
                self.entry[step.name] = poll_state_names(step)["start"]
            elif isinstance(step, ChoiceStep) and len(step_state_names(step)) > 1:
                self.entry[step.name] = parameters_state_name(step)

    def poll_carries(self, step: PollStep) -> list[str]:
        return carried_parameters(step.until, step.fail_if) if step.query_language == "JSONPath" else []

    def build(self) -> dict[str, Any]:
        definition: dict[str, Any] = {}
        if self.workflow.description:
            definition["Comment"] = self.workflow.description
        if self.workflow.query_language == "JSONata":
            definition["QueryLanguage"] = "JSONata"
        definition.update(self.scope(self.workflow.steps))
        return definition

    def scope(self, steps: list[Step]) -> dict[str, Any]:
        states: dict[str, Any] = {}
        for step in steps:
            states.update(getattr(self, f"visit_{step.kind}")(step))
        return {"StartAt": self.target(steps[0].name), "States": states}

    def target(self, name: str) -> str:
        return self.entry.get(name, name)

    # -- references ---------------------------------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        """Replace ${resource:x} / ${param:X} / ${function:Step} with DefinitionSubstitutions placeholders."""
        if isinstance(value, str):
            if _JSONATA.match(value):
                value = parameters.typed_jsonata(value, self.number_parameters)
            return REFERENCE.sub(self._placeholder, value)
        if isinstance(value, dict):
            return {key: self.resolve(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        return value

    def _placeholder(self, match: re.Match[str]) -> str:
        kind, name = match.group(1), match.group(2)
        if kind == "resource":
            resource = self.workflow.resources[name]
            key = names.resource_id(resource)
            self.substitutions[key] = names.resource_value(resource)
        elif kind == "param":
            key = names.parameter_id(name)
            self.substitutions[key] = {"Ref": key}
        elif kind == "workflow":
            key = pascal_case(name) + "StateMachineArn"
            self.substitutions[key] = names.workflow_state_machine_arn(name)
        elif kind == "image":
            key = pascal_case(name) + "ImageUri"
            self.substitutions[key] = names.image_uri(name)
        else:
            key = self.function_arn(name)
        return "${" + key + "}"

    def function_arn(self, step_name: str) -> str:
        function = names.function_id(self.workflow, step_name)
        key = function + "Arn"
        self.substitutions[key] = {"Fn::GetAtt": [function, "Arn"]}
        return key

    # -- fields every state shares ------------------------------------------------------------------

    def common(self, step: Step, kind: str) -> dict[str, Any]:
        state: dict[str, Any] = {"Type": kind}
        if step.comment:
            state["Comment"] = step.comment
        if step.query_language != self.workflow.query_language:
            state["QueryLanguage"] = step.query_language
        return state

    def shaping(self, step: Step, state: dict[str, Any], *, parameters: bool = True,
                result: bool = True) -> None:
        """Input/output shaping fields, in the query language of the step."""
        if step.query_language == "JSONPath":
            if step.input_path is not UNSET:
                state["InputPath"] = step.input_path
            if parameters and step.parameters is not None:
                state["Parameters"] = self.resolve(step.parameters)
            if result and step.result_selector is not None:
                state["ResultSelector"] = self.resolve(step.result_selector)
            if result and step.result_path is not UNSET:
                state["ResultPath"] = step.result_path
            if step.output_path is not UNSET:
                state["OutputPath"] = step.output_path
        else:
            if parameters and step.arguments is not None:
                state["Arguments"] = self.resolve(step.arguments)
            if step.output is not UNSET:
                state["Output"] = self.resolve(step.output)
        if step.assign:
            state["Assign"] = self.resolve(step.assign)

    def transition(self, step: Step, state: dict[str, Any]) -> None:
        if step.end or step.next is None:
            state["End"] = True
        else:
            state["Next"] = self.target(step.next)

    def errors(self, step: Step, state: dict[str, Any]) -> None:
        if step.retry:
            state["Retry"] = [retrier(rule) for rule in step.retry]
        if step.catch:
            state["Catch"] = [self.catcher(rule) for rule in step.catch]

    def catcher(self, rule: CatchRule) -> dict[str, Any]:
        out: dict[str, Any] = {"ErrorEquals": list(rule.errors), "Next": self.target(rule.next)}
        if rule.result_path is not UNSET:
            out["ResultPath"] = rule.result_path
        if rule.output is not UNSET:
            out["Output"] = self.resolve(rule.output)
        if rule.assign:
            out["Assign"] = self.resolve(rule.assign)
        return out

    def timeouts(self, step: Step, state: dict[str, Any]) -> None:
        if step.timeout is not None:
            state["TimeoutSeconds"] = step.timeout
        if step.timeout_path is not None:
            state["TimeoutSecondsPath"] = step.timeout_path
        if step.heartbeat is not None:
            state["HeartbeatSeconds"] = step.heartbeat
        if step.heartbeat_path is not None:
            state["HeartbeatSecondsPath"] = step.heartbeat_path

    # -- tasks --------------------------------------------------------------------------------------

    def task_state(self, step: HandlerStep | ServiceStep, *, with_timeouts: bool = True) -> dict[str, Any]:
        state = self.common(step, "Task")
        if isinstance(step, HandlerStep) and step.wait_for_token:
            state["Resource"] = LAMBDA_WAIT_FOR_TOKEN
            self.shaping(step, state, parameters=False)
            function = "${" + self.function_arn(step.name) + "}"
            if step.query_language == "JSONPath":
                payload = self.resolve(step.parameters) if step.parameters is not None else {"Input.$": "$"}
                state["Parameters"] = {"FunctionName": function,
                                       "Payload": {**payload, "TaskToken.$": "$$.Task.Token"}}
            else:
                payload = (self.resolve(step.arguments) if step.arguments is not None
                           else {"Input": "{% $states.input %}"})
                if not isinstance(payload, dict):
                    payload = {"Input": payload}
                state["Arguments"] = {"FunctionName": function,
                                      "Payload": {**payload, "TaskToken": "{% $states.context.Task.Token %}"}}
        elif isinstance(step, HandlerStep):
            # The plain function ARN: the effective input is the event and the return value the result.
            state["Resource"] = "${" + self.function_arn(step.name) + "}"
            self.shaping(step, state)
        else:
            state["Resource"] = step.resource
            self.shaping(step, state)
        if with_timeouts:
            self.timeouts(step, state)
        return dict(sorted(state.items(), key=lambda kv: _FIELD_ORDER.get(kv[0], 50)))

    def visit_handler(self, step: HandlerStep) -> dict[str, Any]:
        state = self.task_state(step)
        self.errors(step, state)
        self.transition(step, state)
        return {step.name: state}

    def visit_service(self, step: ServiceStep) -> dict[str, Any]:
        return self.visit_handler(step)  # type: ignore[arg-type]

    def visit_deploy(self, step: DeployStep) -> dict[str, Any]:
        """The fragment's parts, in order; the first carries the step's name, so transitions land on it."""
        states: dict[str, Any] = {}
        for part in step.parts:
            states.update(getattr(self, f"visit_{part.kind}")(part))
        return states

    def visit_train(self, step: TrainStep) -> dict[str, Any]:
        """The training job's Task, then a Pass that reads each metric's one value out of its list."""
        states = self.visit_handler(step)  # type: ignore[arg-type]
        if not step.metrics or step.result_path is None or step.query_language == "JSONata":
            return states  # JSONata reads the metrics in the Task's own Output
        base = "$" if step.result_path is UNSET else str(step.result_path)
        metrics = ("$" if base == "$" else base) + ".metrics"
        task = states[step.name]
        read = self.common(step, "Pass")
        read["Comment"] = "One value per metric the job reported (a metric it never logged fails here)"
        read["Parameters"] = {f"{key}.$": f"States.ArrayGetItem({metrics}.{key}, 0)"
                              for key in (ml.metric_key(name) for name in step.metrics)}
        read["ResultPath"] = metrics
        for field in ("Next", "End"):
            if field in task:
                read[field] = task.pop(field)
        task["Next"] = ml.metrics_state_name(step)
        states[ml.metrics_state_name(step)] = read
        return states

    def visit_poll(self, step: PollStep) -> dict[str, Any]:
        """Task → Choice (fail_if / until / gave up) → Wait → Task, with a counter for the give-up time."""
        state_names = poll_state_names(step)
        counter = poll_counter_variable(step)
        jsonata = step.query_language == "JSONata"
        states: dict[str, Any] = {}
        carried = self.poll_carries(step)
        if step.timeout is not None or carried:
            start = self.common(step, "Pass")
            if step.timeout is not None:
                start["Comment"] = f"Start polling: give up after {step.timeout} s"
            start["Assign"] = {**({counter: 0} if step.timeout is not None else {}), **_carry(carried)}
            start["Assign"] = self.resolve(start["Assign"])
            start["Next"] = state_names["task"]
            states[state_names["start"]] = start

        task = self.task_state(step.task)
        if step.retry:
            task["Retry"] = [retrier(rule) for rule in step.retry]
        if step.catch:
            task["Catch"] = [self.catcher(rule) for rule in step.catch]
        task["Next"] = state_names["check"]
        states[state_names["task"]] = task

        if step.end or step.next is None:
            done_target = state_names["done"]
        else:
            done_target = self.target(step.next)
        choices: list[dict[str, Any]] = []
        if step.fail_if is not None:
            failed_target = self.target(step.on_fail) if step.on_fail else state_names["failed"]
            choices.append(self.outcome(step, {**self.rule(step.fail_if), "Next": failed_target}, step.on_fail))
        choices.append(self.outcome(step, {**self.rule(step.until), "Next": done_target}, True))
        if step.timeout is not None:
            attempts = math.ceil(float(step.timeout) / step.every)
            gave_up = ({"Condition": "{% $" + counter + f" >= {attempts} %}}"} if jsonata
                       else {"Variable": "$" + counter, "NumericGreaterThanEquals": attempts})
            gave_up_target = self.target(step.on_timeout) if step.on_timeout else state_names["timed_out"]
            choices.append(self.outcome(step, {**gave_up, "Next": gave_up_target}, step.on_timeout))
        check = self.common(step, "Choice")
        check["Choices"] = choices
        check["Default"] = state_names["wait"]
        states[state_names["check"]] = check

        wait = self.common(step, "Wait")
        wait["Seconds"] = step.every
        if step.timeout is not None:
            wait["Assign"] = ({counter: "{% $" + counter + " + 1 %}"} if jsonata
                              else {counter + ".$": f"States.MathAdd(${counter}, 1)"})
        wait["Next"] = state_names["task"]
        states[state_names["wait"]] = wait

        if step.fail_if is not None and step.on_fail is None:
            failed = self.common(step, "Fail")
            failed["Error"] = step.error
            if step.cause:
                failed["Cause"] = step.cause
            states[state_names["failed"]] = failed
        if step.timeout is not None and step.on_timeout is None:
            timed_out = self.common(step, "Fail")
            timed_out["Error"] = step.timeout_error
            timed_out["Cause"] = f"{step.name} did not finish within {step.timeout} seconds"
            states[state_names["timed_out"]] = timed_out
        if done_target == state_names["done"]:
            done = self.common(step, "Pass")
            done["End"] = True
            states[state_names["done"]] = done
        return states

    def outcome(self, step: PollStep, rule: dict[str, Any], continues: Any) -> dict[str, Any]:
        """A poll's way out, with the step's outcome Output/Assign when it continues the workflow."""
        if continues and step.outcome_assign:
            rule["Assign"] = self.resolve(step.outcome_assign)
        if continues and step.outcome_output is not UNSET:
            rule["Output"] = self.resolve(step.outcome_output)
        return rule

    # -- flow ---------------------------------------------------------------------------------------

    def rule(self, condition: Condition) -> dict[str, Any]:
        return self.resolve(condition_rule(condition, self.number_parameters))

    def visit_choice(self, step: ChoiceStep) -> dict[str, Any]:
        states: dict[str, Any] = {}
        if step.name in self.entry:
            carry = self.common(step, "Pass")
            carry["Comment"] = "Carry the parameters the conditions compare as numbers or booleans"
            carry["Assign"] = self.resolve(_carry(carried_parameters(*(b.condition for b in step.branches))))
            carry["Next"] = step.name
            states[parameters_state_name(step)] = carry
        state = self.common(step, "Choice")
        self.shaping(step, state, parameters=False, result=False)
        choices = []
        for branch in step.branches:
            rule = self.rule(branch.condition)
            rule["Next"] = self.target(branch.next)
            if branch.assign:
                rule["Assign"] = self.resolve(branch.assign)
            if branch.output is not UNSET:
                rule["Output"] = self.resolve(branch.output)
            choices.append(rule)
        state["Choices"] = choices
        if step.default is not None:
            state["Default"] = self.target(step.default)
        return {**states, step.name: state}

    def visit_wait(self, step: WaitStep) -> dict[str, Any]:
        state = self.common(step, "Wait")
        for field, value in (("Seconds", step.seconds), ("SecondsPath", step.seconds_path),
                             ("Timestamp", step.timestamp), ("TimestampPath", step.timestamp_path)):
            if value is not None:
                state[field] = value
        self.shaping(step, state, parameters=False, result=False)
        self.transition(step, state)
        return {step.name: state}

    def visit_pass(self, step: PassStep) -> dict[str, Any]:
        state = self.common(step, "Pass")
        if step.result is not UNSET and step.query_language == "JSONPath":
            state["Result"] = self.resolve(step.result)
        self.shaping(step, state, parameters=True, result=True)
        if step.query_language == "JSONPath":
            state.pop("ResultSelector", None)
        else:
            state.pop("Arguments", None)
            if step.result is not UNSET and "Output" not in state:
                state["Output"] = self.resolve(step.result)
        self.transition(step, state)
        return {step.name: state}

    def visit_succeed(self, step: SucceedStep) -> dict[str, Any]:
        state = self.common(step, "Succeed")
        self.shaping(step, state, parameters=False, result=False)  # the schema allows no `assign` here
        return {step.name: state}

    def visit_fail(self, step: FailStep) -> dict[str, Any]:
        state = self.common(step, "Fail")
        for field, value in (("Error", step.error), ("ErrorPath", step.error_path), ("Cause", step.cause),
                             ("CausePath", step.cause_path)):
            if value is not None:
                state[field] = self.resolve(value)
        return {step.name: state}

    # -- fan-out ------------------------------------------------------------------------------------

    def visit_parallel(self, step: ParallelStep) -> dict[str, Any]:
        state = self.common(step, "Parallel")
        state["Branches"] = [self.scope(branch) for branch in step.branches]
        self.shaping(step, state)
        self.errors(step, state)
        self.transition(step, state)
        return {step.name: state}

    def visit_map(self, step: MapStep) -> dict[str, Any]:
        state = self.common(step, "Map")
        jsonata = step.query_language == "JSONata"
        distributed = step.mode == "distributed"
        if step.items is not None:
            state["Items" if jsonata else "ItemsPath"] = self.resolve(step.items) if jsonata else step.items
        if step.item_selector is not None:
            state["ItemSelector"] = self.resolve(step.item_selector)
        processor: dict[str, Any] = {"ProcessorConfig": {"Mode": "DISTRIBUTED" if distributed else "INLINE"}}
        if distributed:
            processor["ProcessorConfig"]["ExecutionType"] = step.execution_type.upper()
        processor.update(self.scope(step.steps))
        state["ItemProcessor"] = processor
        if step.concurrency is not None:
            state["MaxConcurrency"] = step.concurrency
        if distributed:
            self.distributed_fields(step, state, jsonata)
        self.shaping(step, state, parameters=False)
        self.errors(step, state)
        self.transition(step, state)
        return {step.name: state}

    def distributed_fields(self, step: MapStep, state: dict[str, Any], jsonata: bool) -> None:
        arguments = "Arguments" if jsonata else "Parameters"
        if step.reader is not None:
            reader = step.reader
            bucket = self.resolve("${resource:" + reader.bucket + "}")
            if reader.format == "objects":
                item_reader: dict[str, Any] = {"Resource": S3_LIST_OBJECTS,
                                               arguments: {"Bucket": bucket, "Prefix": reader.prefix or ""}}
            else:
                key_field = {"Key.$": reader.key_path} if reader.key_path else {"Key": self.resolve(reader.key)}
                config: dict[str, Any] = {"InputType": {"csv": "CSV", "json": "JSON", "jsonl": "JSONL"}[reader.format]}
                if reader.format == "csv":
                    config["CSVHeaderLocation"] = "FIRST_ROW" if reader.csv_header == "first_row" else "GIVEN"
                item_reader = {"Resource": S3_GET_OBJECT, "ReaderConfig": config,
                               arguments: {"Bucket": bucket, **key_field}}
            if reader.max_items is not None:
                item_reader.setdefault("ReaderConfig", {})["MaxItems"] = reader.max_items
            state["ItemReader"] = item_reader
        if step.batch is not None:
            batcher: dict[str, Any] = {}
            if step.batch.max_items is not None:
                batcher["MaxItemsPerBatch"] = step.batch.max_items
            if step.batch.max_bytes is not None:
                batcher["MaxInputBytesPerBatch"] = step.batch.max_bytes
            if step.batch.input is not None:
                batcher["BatchInput"] = self.resolve(step.batch.input)
            state["ItemBatcher"] = batcher
        if step.writer is not None:
            state["ResultWriter"] = {"Resource": S3_PUT_OBJECT, arguments: {
                "Bucket": self.resolve("${resource:" + step.writer.bucket + "}"), "Prefix": step.writer.prefix}}
        if step.tolerated_failure_percentage is not None:
            state["ToleratedFailurePercentage"] = _int(step.tolerated_failure_percentage)
        if step.tolerated_failure_count is not None:
            state["ToleratedFailureCount"] = step.tolerated_failure_count
        if step.label is not None:
            state["Label"] = step.label


# Reading order of Task fields in the output (JSON objects are unordered; humans are not).
_FIELD_ORDER = {"Type": 0, "Comment": 1, "QueryLanguage": 2, "Resource": 3, "InputPath": 4, "Parameters": 5,
                "Arguments": 5, "ResultSelector": 6, "ResultPath": 7, "OutputPath": 8, "Output": 8, "Assign": 9,
                "TimeoutSeconds": 10, "TimeoutSecondsPath": 10, "HeartbeatSeconds": 11,
                "HeartbeatSecondsPath": 11}
