"""The compiled application as the engine sees it: build/template.yaml (what deploys), read and resolved.

CloudFormation refs are resolved to deterministic *local* physical names and ARNs — buckets
`<stack>-<logicalid>`, functions `arn:aws:lambda:<region>:<account>:function:<stack>-<LogicalId>` — so a
state machine's DefinitionSubstitutions and each function's environment agree with the resources
`LocalAWS.provision` creates. The workflow YAML is never read here.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class AppError(Exception):
    """A template the engine cannot load; message is one line, `file: problem` plus a hint."""


# ---------------------------------------------------------------- YAML with CloudFormation short forms


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that reads `!Ref X`, `!GetAtt A.B`, `!Sub …` as their long `{"Fn::…": …}` forms."""


def _short_form(tag: str):
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        if tag == "Ref":
            return {"Ref": value}
        if tag == "Condition":
            return {"Condition": value}
        if tag == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
        return {f"Fn::{tag}": value}

    return construct


for _tag in ("Ref", "Condition", "GetAtt", "Sub", "Join", "If", "Equals", "Not", "And", "Or", "Select",
             "Split", "FindInMap", "ImportValue", "Base64", "GetAZs", "Cidr", "Transform", "ToJsonString",
             "Length"):
    _CfnLoader.add_constructor(f"!{_tag}", _short_form(_tag))


def load_template(path: Path) -> dict:
    """Parse a CloudFormation/SAM template in YAML or JSON, short-form tags included."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = yaml.load(handle, Loader=_CfnLoader)
    except FileNotFoundError:
        raise AppError(f"{path}: no such template; run `stepsmith compile` first") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise AppError(f"{where}: {getattr(error, 'problem', error)}") from None
    if not isinstance(document, dict) or "Resources" not in document:
        raise AppError(f"{path}: not a CloudFormation template (no Resources)")
    return document


# ---------------------------------------------------------------- the application model


@dataclass
class Function:
    """A Lambda function the engine can run in-process."""

    logical_id: str
    name: str
    arn: str
    handler: str | None              # module.function
    code_uri: Path | None            # directory put on sys.path (for images: what the Dockerfile copies)
    runtime: str | None
    timeout: int                     # seconds (Lambda default 3)
    memory: int                      # MB (Lambda default 128)
    environment: dict[str, str]
    package_type: str = "Zip"        # Zip | Image
    image: dict = field(default_factory=dict)   # image Metadata (DockerContext, Dockerfile…)
    api_events: list[dict] = field(default_factory=list)   # [{Path, Method, ...}] from Events of Type Api


@dataclass
class StateMachine:
    """A state machine with its definition, substitutions applied."""

    logical_id: str
    name: str
    arn: str
    definition: dict
    type: str = "STANDARD"
    path: Path | None = None          # the .asl.json it was read from (None: inline in the template)


@dataclass
class EventRule:
    """An EventBridge rule (or SAM event) that starts a state machine on matching events."""

    logical_id: str
    pattern: dict
    target: str                      # state machine logical id


@dataclass
class Schedule:
    """An EventBridge Scheduler schedule that starts a state machine with a fixed input."""

    logical_id: str
    expression: str
    input: str                       # the target's Input, as the template has it (context attributes unfilled)
    target: str                      # state machine logical id


@dataclass
class Table:
    """A DynamoDB table: name, key schema and attribute definitions, as CreateTable wants them."""

    logical_id: str
    name: str
    key_schema: list[dict]
    attributes: list[dict]
    ttl_attribute: str | None = None
    indexes: dict[str, list[dict]] = field(default_factory=dict)   # Global/LocalSecondaryIndexes


@dataclass
class App:
    """A compiled application: its template resolved to local names, ready to provision and run."""

    root: Path
    template_path: Path
    stack: str
    account: str
    region: str
    buckets: dict[str, str] = field(default_factory=dict)           # logical id → bucket name
    tables: dict[str, Table] = field(default_factory=dict)
    topics: dict[str, str] = field(default_factory=dict)            # logical id → topic name
    queues: dict[str, str] = field(default_factory=dict)            # logical id → queue name
    parameters: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # logical → (name, type, value)
    model_groups: dict[str, tuple[str, str]] = field(default_factory=dict)  # logical → (name, description)
    functions: dict[str, Function] = field(default_factory=dict)
    state_machines: dict[str, StateMachine] = field(default_factory=dict)
    rules: list[EventRule] = field(default_factory=list)
    schedules: list[Schedule] = field(default_factory=list)
    # image URI (an ECR repository of the stack, tag included) → the images/<name>/ folder it is built from
    images: dict[str, Path] = field(default_factory=dict)
    # logical id → the parameter it needs that has no value: such a resource only matters if a run uses it.
    unresolved: dict[str, str] = field(default_factory=dict)
    parameter_overrides: dict[str, str] = field(default_factory=dict)   # as passed to load

    # logical id → its API routes ("POST /saml"), for resources left unresolved: `serve` names them.
    unresolved_routes: dict[str, list[str]] = field(default_factory=dict)
    missing_parameters: list[str] = field(default_factory=list)   # every parameter without any value

    @classmethod
    def load(cls, root: str | Path = ".", template: str | Path | None = None, *, stack: str | None = None,
             account: str = "111111111111", region: str = "us-east-1",
             parameter_overrides: dict[str, str] | None = None, config_env: str = "default") -> App:
        """Read `root`/build/template.yaml (or `template`) and resolve it for local execution.

        `parameter_overrides` are checked as CloudFormation checks them (unknown keys, AllowedValues,
        AllowedPattern, lengths, numbers); the stack name comes from samconfig.toml's `config_env`.
        """
        from compiler.overrides import check_parameter_values

        root = Path(root).resolve()
        path = Path(template) if template else root / "build" / "template.yaml"
        if not path.is_absolute():
            path = (root / path).resolve()
        document = load_template(path)
        problems = check_parameter_values(document.get("Parameters") or {}, parameter_overrides or {}, document)
        if problems:
            raise AppError("\n".join(f"--parameter-overrides: {problem}" for problem in problems))
        app = cls(root=root, template_path=path, stack=stack or _stack_name(root, config_env), account=account,
                  region=region, parameter_overrides=dict(parameter_overrides or {}))
        _Builder(app, document, parameter_overrides or {}).build()
        return app

    def apply_env_vars(self, document: Any, source: str) -> None:
        """Override functions' environment variables from SAM's `--env-vars` JSON: `{"Parameters": {…}}` for
        every function, `{"<LogicalId or name>": {…}}` for one. As in SAM, only variables the template
        declares for a function are overridden; values must be strings, numbers or booleans."""
        if not isinstance(document, dict):
            raise AppError(f"{source}: expected a JSON object of function → {{VARIABLE: value}} "
                           "(SAM's --env-vars format)")
        for key, values in document.items():
            if not isinstance(values, dict) or not all(
                    isinstance(value, str | int | float | bool) for value in values.values()):
                raise AppError(f"{source}: {key}: expected an object of VARIABLE: string value")
            if key != "Parameters" and not any(key in (f.logical_id, f.name) for f in self.functions.values()):
                known = ", ".join(sorted(self.functions)) or "none"
                raise AppError(f"{source}: no function {key} in {self.template_path} (functions: {known}; "
                               "\"Parameters\" applies to all)")
        for function in self.functions.values():
            for key in ("Parameters", function.logical_id, function.name):
                for variable, value in (document.get(key) or {}).items():
                    if variable in function.environment:
                        function.environment[variable] = _env_text(value)

    def function(self, ref: str) -> Function | None:
        """Find a function by ARN (qualified or not), name, partial ARN or logical id."""
        name = _function_name(ref)
        for function in self.functions.values():
            if name in (function.name, function.logical_id) or ref == function.arn:
                return function
        self._refuse_unresolved(name)
        return None

    def state_machine(self, ref: str) -> StateMachine | None:
        """Find a state machine by ARN, name, logical id or workflow name (`face-blur`)."""
        wanted = {ref, ref.replace("-", "").lower() + "statemachine"}
        for machine in self.state_machines.values():
            if ref in (machine.arn, machine.name, machine.logical_id) or machine.logical_id.lower() in wanted:
                return machine
        self._refuse_unresolved(ref.rsplit(":", 1)[-1], *wanted)
        return None

    def check_runnable(self, machine: StateMachine) -> None:
        """Raise AppError naming the missing parameter if `machine` calls a resource that could not be resolved."""
        text = json.dumps(machine.definition)
        for logical in self.unresolved:
            if f":{self.stack}-{logical}" in text or f'"{self.stack}-{logical}"' in text:
                self._refuse_unresolved(logical)

    def _refuse_unresolved(self, *names: str) -> None:
        for logical in self.unresolved:
            if {logical, logical.lower(), f"{self.stack}-{logical}"} & set(names):
                raise AppError(self.unresolved_reason(logical))

    def unresolved_reason(self, logical: str) -> str:
        """Why resource `logical` cannot run: the parameter it needs, and every other one still without a value."""
        parameter = self.unresolved[logical]
        others = [name for name in self.missing_parameters if name != parameter]
        also = f" (parameters still without a value: {', '.join(others)})" if others else ""
        return (f"{self.template_path}: {logical} needs parameter {parameter}, which has no Default: pass "
                f"--parameter-overrides {parameter}=VALUE{also}")

    def rules_for(self, machine: StateMachine) -> list[EventRule]:
        """The EventBridge rules that start `machine`."""
        return [rule for rule in self.rules if rule.target == machine.logical_id]

    def schedules_for(self, machine: StateMachine) -> list[Schedule]:
        """The Scheduler schedules that start `machine`."""
        return [schedule for schedule in self.schedules if schedule.target == machine.logical_id]


def _function_name(ref: str) -> str:
    # arn:aws:lambda:r:a:function:name[:qualifier] | a:function:name | name[:qualifier]
    parts = ref.split(":")
    if "function" in parts:
        return parts[parts.index("function") + 1]
    return parts[0]


def _stack_name(root: Path, config_env: str = "default") -> str:
    from compiler.samconfig import SamConfigError, read_samconfig

    try:
        name = read_samconfig(root, config_env, ("deploy",)).get("stack_name")
    except SamConfigError as error:
        raise AppError(str(error)) from None
    if name:
        return str(name)
    return re.sub(r"[^a-z0-9-]+", "-", root.name.lower()).strip("-") or "stepsmith"


# ---------------------------------------------------------------- resolving the template


_NO_VALUE = object()


class _ParameterMissing(Exception):
    """A Ref to a parameter that has neither a Default nor an override."""

    def __init__(self, parameter: str) -> None:
        super().__init__(parameter)
        self.parameter = parameter


class _Builder:
    """Resolves intrinsic functions against local physical names and fills an App."""

    def __init__(self, app: App, document: dict, overrides: dict[str, str]) -> None:
        self.app = app
        self.document = document
        self.resources: dict[str, dict] = document.get("Resources") or {}
        self.mappings = document.get("Mappings") or {}
        self.params: dict[str, Any] = {}
        self.missing: set[str] = set()
        for name, spec in (document.get("Parameters") or {}).items():
            value = overrides.get(name, (spec or {}).get("Default"))
            if value is None:
                self.missing.add(name)
                continue
            if (spec or {}).get("Type") == "CommaDelimitedList" and isinstance(value, str):
                value = value.split(",")
            self.params[name] = value
        self.conditions: dict[str, bool] = {}
        self._condition_specs = document.get("Conditions") or {}
        self.names = {logical: self._physical_name(logical, spec or {}) for logical, spec in self.resources.items()}

    # -- names

    def _physical_name(self, logical: str, spec: dict) -> str:
        kind = spec.get("Type", "")
        props = spec.get("Properties") or {}
        explicit = {
            "AWS::S3::Bucket": "BucketName", "AWS::DynamoDB::Table": "TableName",
            "AWS::Serverless::SimpleTable": "TableName", "AWS::SNS::Topic": "TopicName",
            "AWS::SQS::Queue": "QueueName", "AWS::SSM::Parameter": "Name",
            "AWS::Serverless::Function": "FunctionName", "AWS::Lambda::Function": "FunctionName",
            "AWS::Serverless::StateMachine": "Name", "AWS::StepFunctions::StateMachine": "StateMachineName",
            "AWS::SageMaker::ModelPackageGroup": "ModelPackageGroupName",
        }.get(kind)
        if explicit and explicit in props:
            # Explicit names may themselves use refs to parameters, resolved lazily in _name_of.
            return props[explicit]
        stack = self.app.stack
        if kind == "AWS::S3::Bucket":
            return f"{stack}-{logical}".lower()[:63].strip("-")
        if kind == "AWS::SSM::Parameter":
            return f"/{stack}/{logical}"
        return f"{stack}-{logical}"[:64]

    def _name_of(self, logical: str) -> str:
        name = self.names[logical]
        if not isinstance(name, str):
            name = str(self.resolve(name))
            self.names[logical] = name
        return name

    def _arn(self, logical: str) -> str:
        kind = self.resources[logical].get("Type", "")
        name, region, account = self._name_of(logical), self.app.region, self.app.account
        if kind in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            return f"arn:aws:lambda:{region}:{account}:function:{name}"
        if kind == "AWS::S3::Bucket":
            return f"arn:aws:s3:::{name}"
        if kind in ("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable"):
            return f"arn:aws:dynamodb:{region}:{account}:table/{name}"
        if kind == "AWS::SNS::Topic":
            return f"arn:aws:sns:{region}:{account}:{name}"
        if kind == "AWS::SQS::Queue":
            return f"arn:aws:sqs:{region}:{account}:{name}"
        if kind == "AWS::SSM::Parameter":
            return f"arn:aws:ssm:{region}:{account}:parameter/{name.lstrip('/')}"
        if kind in ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"):
            return f"arn:aws:states:{region}:{account}:stateMachine:{name}"
        if kind == "AWS::IAM::Role":
            return f"arn:aws:iam::{account}:role/{name}"
        if kind == "AWS::SageMaker::ModelPackageGroup":
            return f"arn:aws:sagemaker:{region}:{account}:model-package-group/{name.lower()}"
        service = kind.split("::")[1].lower() if kind.count("::") >= 2 else "unknown"
        return f"arn:aws:{service}:{region}:{account}:{name}"

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": self.app.region, "AWS::AccountId": self.app.account,
            "AWS::StackName": self.app.stack, "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:aws:cloudformation:{self.app.region}:{self.app.account}:stack/"
                            f"{self.app.stack}/00000000-0000-0000-0000-000000000000",
            "AWS::NotificationARNs": [], "AWS::NoValue": _NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.params:
            return self.params[name]
        if name in self.missing:
            raise _ParameterMissing(name)
        if name not in self.resources:
            # SAM's implicit resources (FnRole, ServerlessRestApi, …) are not in the document.
            implicit = self._implicit(name)
            if implicit is None:
                raise AppError(f"{self.app.template_path}: Ref to unknown resource or parameter {name}")
            return implicit
        kind = self.resources[name].get("Type", "")
        if kind in ("AWS::SNS::Topic", "AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine",
                    "AWS::SageMaker::ModelPackageGroup"):
            return self._arn(name)
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{self.app.region}.amazonaws.com/{self.app.account}/{self._name_of(name)}"
        return self._name_of(name)

    def _implicit(self, name: str) -> str | None:
        for suffix in ("Role", "RestApi", "Api", "Policy"):
            if name.endswith(suffix):
                return f"{self.app.stack}-{name}"
        if name.startswith(("ServerlessRestApi", "ServerlessHttpApi")):
            return f"{self.app.stack}-{name}"
        return None

    def get_att(self, logical: str, attribute: str) -> Any:
        if logical not in self.resources:
            implicit = self._implicit(logical)
            if implicit is None:
                raise AppError(f"{self.app.template_path}: GetAtt of unknown resource {logical}")
            if attribute == "Arn" and logical.endswith("Role"):
                return f"arn:aws:iam::{self.app.account}:role/{implicit}"
            return implicit
        name = self._name_of(logical)
        region = self.app.region
        if self.resources[logical].get("Type") == "AWS::ECR::Repository":
            # Repository names are lower case; the URI is what `docker push` and SageMaker use.
            repository = name.lower()
            if attribute == "RepositoryUri":
                return f"{self.app.account}.dkr.ecr.{region}.amazonaws.com/{repository}"
            if attribute == "Arn":
                return f"arn:aws:ecr:{region}:{self.app.account}:repository/{repository}"
        if attribute in ("Arn", "TopicArn"):
            return self._arn(logical)
        if attribute in ("Name", "TopicName", "QueueName"):
            return name
        if attribute == "QueueUrl":
            return self.ref(logical)
        if attribute == "DomainName":
            return f"{name}.s3.amazonaws.com"
        if attribute == "RegionalDomainName":
            return f"{name}.s3.{region}.amazonaws.com"
        if attribute == "StreamArn":
            return self._arn(logical) + "/stream/1970-01-01T00:00:00.000"
        if attribute == "Value":
            return str(self.resolve((self.resources[logical].get("Properties") or {}).get("Value", "")))
        if attribute == "Type":
            return str((self.resources[logical].get("Properties") or {}).get("Type", "String"))
        return f"{name}.{attribute}"

    # -- intrinsics

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            if name not in self._condition_specs:
                raise AppError(f"{self.app.template_path}: unknown condition {name}")
            self.conditions[name] = bool(self.resolve(self._condition_specs[name]))
        return self.conditions[name]

    def resolve(self, value: Any) -> Any:
        """Evaluate every intrinsic function inside `value`."""
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key.startswith("Fn::"):
                return self._function(key[4:], arg)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not _NO_VALUE}

    def _function(self, name: str, arg: Any) -> Any:
        if name == "GetAtt":
            logical, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
            return self.get_att(self.resolve(logical), self.resolve(attribute))
        if name == "Sub":
            text, variables = (arg[0], self.resolve(arg[1])) if isinstance(arg, list) else (arg, {})
            return self._sub(text, variables)
        if name == "Join":
            separator, items = arg
            return str(separator).join(str(item) for item in self.resolve(items))
        if name == "If":
            condition, yes, no = arg
            return self.resolve(yes if self.condition(condition) else no)
        if name == "Equals":
            left, right = self.resolve(arg)
            return str(left) == str(right)
        if name == "Not":
            return not self.resolve(arg[0])
        if name == "And":
            return all(self.resolve(arg))
        if name == "Or":
            return any(self.resolve(arg))
        if name == "Select":
            index, items = self.resolve(arg)
            return items[int(index)]
        if name == "Split":
            separator, text = self.resolve(arg)
            return str(text).split(separator)
        if name == "FindInMap":
            mapping, top, second = self.resolve(arg)
            return self.mappings[mapping][top][second]
        if name == "Base64":
            import base64

            return base64.b64encode(str(self.resolve(arg)).encode()).decode()
        if name == "GetAZs":
            return [f"{self.app.region}{zone}" for zone in "abc"]
        if name == "ToJsonString":
            return json.dumps(self.resolve(arg), separators=(",", ":"))
        if name == "Length":
            return len(self.resolve(arg))
        raise AppError(f"{self.app.template_path}: Fn::{name} cannot be resolved locally")

    def _sub(self, text: str, variables: dict) -> str:
        def replace(match: re.Match) -> str:
            expression = match.group(1)
            if expression.startswith("!"):
                return "${" + expression[1:] + "}"
            if expression in variables:
                return str(variables[expression])
            if "." in expression:
                logical, attribute = expression.split(".", 1)
                return str(self.get_att(logical, attribute))
            return str(self.ref(expression))

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    # -- the model

    def build(self) -> None:
        self.app.missing_parameters = sorted(self.missing)
        globals_ = (self.document.get("Globals") or {}).get("Function") or {}
        for logical, spec in self.resources.items():
            try:
                self._build_resource(logical, spec or {}, globals_)
            except _ParameterMissing as missing:
                self.app.unresolved[logical] = missing.parameter
                routes = [f"{str(props.get('Method', 'ANY')).upper()} {props.get('Path', '/')}"
                          for event in ((spec or {}).get("Properties") or {}).get("Events", {}).values()
                          if isinstance(event, dict) and event.get("Type") in ("Api", "HttpApi")
                          for props in [event.get("Properties") or {}]]
                if routes:
                    self.app.unresolved_routes[logical] = routes

    def _build_resource(self, logical: str, spec: dict, globals_: dict) -> None:
        if "Condition" in spec and not self.condition(spec["Condition"]):
            return
        kind = spec.get("Type", "")
        props = spec.get("Properties") or {}
        if kind == "AWS::S3::Bucket":
            self.app.buckets[logical] = self._name_of(logical)
        elif kind in ("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable"):
            self.app.tables[logical] = self._table(logical, kind, props)
        elif kind == "AWS::SNS::Topic":
            self.app.topics[logical] = self._name_of(logical)
        elif kind == "AWS::SQS::Queue":
            self.app.queues[logical] = self._name_of(logical)
        elif kind == "AWS::SSM::Parameter":
            self.app.parameters[logical] = (self._name_of(logical), str(props.get("Type", "String")),
                                            str(self.resolve(props.get("Value", ""))))
        elif kind == "AWS::SageMaker::ModelPackageGroup":
            self.app.model_groups[logical] = (self._name_of(logical),
                                              str(self.resolve(props.get("ModelPackageGroupDescription", ""))))
        elif kind in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            self.app.functions[logical] = self._function_model(logical, spec, props, globals_)
        elif kind in ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"):
            self.app.state_machines[logical] = self._state_machine(logical, kind, props)
            self._state_machine_events(logical, props)
        elif kind == "AWS::Events::Rule":
            self._rule(logical, props)
        elif kind == "AWS::Scheduler::Schedule":
            self._schedule(logical, props)
        elif kind == "AWS::ECR::Repository":
            folder = (spec.get("Metadata") or {}).get("StepsmithImage")
            if isinstance(folder, str):
                self.app.images[f"{self.get_att(logical, 'RepositoryUri')}:latest"] = self.app.root / folder

    def _table(self, logical: str, kind: str, props: dict) -> Table:
        props = self.resolve(props)
        if kind == "AWS::Serverless::SimpleTable":
            key = props.get("PrimaryKey") or {"Name": "id", "Type": "String"}
            kind_code = {"String": "S", "Number": "N", "Binary": "B"}.get(key.get("Type", "String"), "S")
            return Table(logical, self._name_of(logical), [{"AttributeName": key["Name"], "KeyType": "HASH"}],
                         [{"AttributeName": key["Name"], "AttributeType": kind_code}])
        ttl = props.get("TimeToLiveSpecification") or {}
        # On-demand locally, so indexes drop their ProvisionedThroughput like the table does.
        indexes = {
            kind: [{key: value for key, value in index.items() if key != "ProvisionedThroughput"}
                   for index in props[kind]]
            for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes") if props.get(kind)
        }
        return Table(logical, self._name_of(logical), props.get("KeySchema") or [],
                     props.get("AttributeDefinitions") or [],
                     ttl.get("AttributeName") if str(ttl.get("Enabled", "")).lower() == "true" else None,
                     indexes)

    def _function_model(self, logical: str, spec: dict, props: dict, globals_: dict) -> Function:
        merged = {**globals_, **props}
        environment = {
            **((globals_.get("Environment") or {}).get("Variables") or {}),
            **((props.get("Environment") or {}).get("Variables") or {}),
        }
        merged = self.resolve(merged)
        environment = {key: _env_text(value) for key, value in self.resolve(environment).items()}
        template_dir = self.app.template_path.parent
        package_type = merged.get("PackageType", "Zip")
        handler, code_uri, image = merged.get("Handler"), None, {}
        if package_type == "Image":
            image = self.resolve(spec.get("Metadata") or {})
            command = (merged.get("ImageConfig") or {}).get("Command") or []
            handler = handler or (command[0] if command else image.get("Handler"))
            code_uri = _image_code_dir(template_dir, image, handler)
        elif isinstance(merged.get("CodeUri"), str):
            code_uri = (template_dir / merged["CodeUri"]).resolve()
        elif merged.get("InlineCode") is not None or (merged.get("Code") or {}).get("ZipFile"):
            raise AppError(f"{self.app.template_path}: {logical}: inline code cannot run locally; "
                           "use CodeUri")
        api_events = [
            dict(event.get("Properties") or {})
            for event in (merged.get("Events") or {}).values()
            if isinstance(event, dict) and event.get("Type") in ("Api", "HttpApi")
        ]
        return Function(
            logical_id=logical, name=self._name_of(logical), arn=self._arn(logical), handler=handler,
            code_uri=code_uri, runtime=merged.get("Runtime"), timeout=int(merged.get("Timeout", 3)),
            memory=int(merged.get("MemorySize", 128)), environment=environment, package_type=package_type,
            image=image, api_events=api_events,
        )

    def _state_machine(self, logical: str, kind: str, props: dict) -> StateMachine:
        template_dir = self.app.template_path.parent
        path = None
        if "DefinitionUri" in props or "DefinitionS3Location" in props:
            uri = props.get("DefinitionUri")
            if not isinstance(uri, str):
                raise AppError(f"{self.app.template_path}: {logical}: DefinitionUri must be a local path")
            path = template_dir / uri
            try:
                definition = json.loads(path.read_text(encoding="utf-8")) if path.suffix == ".json" else \
                    yaml.safe_load(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise AppError(f"{path}: state machine definition missing; run `stepsmith compile`") from None
        elif "Definition" in props:
            definition = self.resolve(props["Definition"])
        elif "DefinitionString" in props:
            definition = json.loads(self.resolve(props["DefinitionString"]))
        else:
            raise AppError(f"{self.app.template_path}: {logical}: state machine has no definition")
        substitutions = {key: self.resolve(value)
                         for key, value in (props.get("DefinitionSubstitutions") or {}).items()}
        definition = _substitute(definition, substitutions)
        machine_type = props.get("Type") or props.get("StateMachineType") or "STANDARD"
        return StateMachine(logical, self._name_of(logical), self._arn(logical), definition, str(machine_type),
                            path)

    def _state_machine_events(self, logical: str, props: dict) -> None:
        for name, event in (props.get("Events") or {}).items():
            if isinstance(event, dict) and event.get("Type") in ("EventBridgeRule", "CloudWatchEvent"):
                pattern = self.resolve((event.get("Properties") or {}).get("Pattern") or {})
                self.app.rules.append(EventRule(f"{logical}{name}", pattern, logical))

    def _rule(self, logical: str, props: dict) -> None:
        pattern = self.resolve(props.get("EventPattern") or {})
        if isinstance(pattern, str):
            pattern = json.loads(pattern)
        for target in props.get("Targets") or []:
            arn = target.get("Arn")
            # Targets reference the machine by Ref (its ARN); find the logical id without resolving.
            if isinstance(arn, dict) and "Ref" in arn:
                self.app.rules.append(EventRule(logical, pattern, arn["Ref"]))
            elif isinstance(arn, dict) and "Fn::GetAtt" in arn:
                target_id = arn["Fn::GetAtt"]
                self.app.rules.append(EventRule(logical, pattern,
                                                target_id[0] if isinstance(target_id, list) else
                                                str(target_id).split(".")[0]))


    def _schedule(self, logical: str, props: dict) -> None:
        target = props.get("Target") or {}
        arn = target.get("Arn")
        if isinstance(arn, dict) and "Ref" in arn:
            self.app.schedules.append(Schedule(logical, str(props.get("ScheduleExpression", "")),
                                               str(self.resolve(target.get("Input", "{}"))), arn["Ref"]))


def _env_text(value: Any) -> str:
    # Lambda environment values are strings; CloudFormation stringifies numbers and booleans.
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def _substitute(value: Any, substitutions: dict[str, Any]) -> Any:
    """Replace `${Key}` in every string of an ASL document, as DefinitionSubstitutions does."""
    if not substitutions:
        return value
    pattern = re.compile(r"\$\{(" + "|".join(re.escape(key) for key in substitutions) + r")\}")

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return pattern.sub(lambda match: str(substitutions[match.group(1)]), item)
        if isinstance(item, list):
            return [walk(element) for element in item]
        if isinstance(item, dict):
            return {walk(key): walk(element) for key, element in item.items()}
        return item

    return walk(value)


def _image_code_dir(template_dir: Path, metadata: dict, handler: str | None) -> Path | None:
    """Where an image function's handler module lives: what its Dockerfile copies into the task root."""
    context = (template_dir / str(metadata.get("DockerContext", "."))).resolve()
    candidates: list[Path] = []
    dockerfile = context / str(metadata.get("Dockerfile", "Dockerfile"))
    if dockerfile.exists():
        for line in dockerfile.read_text(encoding="utf-8").splitlines():
            words = line.split()
            if len(words) >= 3 and words[0].upper() == "COPY" and not words[1].startswith("--"):
                candidates.extend(context / source for source in words[1:-1])
    candidates += [context, context / "handlers", template_dir.parent / "handlers"]
    module = (handler or "").rsplit(".", 1)[0].replace(".", "/")
    for candidate in candidates:
        if candidate.is_dir() and module and ((candidate / f"{module}.py").exists()
                                              or (candidate / module / "__init__.py").exists()):
            return candidate.resolve()
    return None
