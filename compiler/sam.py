"""Model → SAM template, built as plain data (CloudFormation intrinsics as dicts) and serialised last.

One `_generate_<thing>` method per model type, in the manner of Chalice's SAMTemplateGenerator.
Resources several workflows declare with the same name and type are one resource in the stack;
declaring them differently is an error with both places.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from compiler import iam, names, package
from compiler.asl import build_definition
from compiler.errors import SpecError, SpecErrors
from compiler.model import (
    REFERENCE,
    ApiTrigger,
    EventTrigger,
    HandlerStep,
    Parameter,
    Resource,
    S3Trigger,
    ScheduleTrigger,
    VpcConfig,
    Workflow,
    iter_references,
    pascal_case,
)

TRANSFORM = "AWS::Serverless-2016-10-31"
API_STAGE = "v1"
# Template paths are relative to the output folder (build/), where template.yaml is written: zip
# functions' code folders are inside it (compiler/package.py), image builds start at the project root.
WILDCARD_METADATA = "StepsmithWildcardResources"
# On an ECR repository: the folder of the image it holds, so local runs find the code behind the URI.
IMAGE_METADATA = "StepsmithImage"


def build_template(workflows: list[Workflow], project_root: Path | None = None,
                   out_dir: Path | None = None) -> dict[str, Any]:
    """The SAM template for all workflows (one stack), to be written into `out_dir` (default
    <project>/build). Raises SpecErrors on conflicting declarations."""
    root = project_root or Path(".")
    generator = SAMTemplateGenerator(root, out_dir or root / "build")
    return generator.generate(workflows)


def definition_uri(workflow: Workflow) -> str:
    """Where the workflow's ASL is written, relative to build/."""
    return f"statemachines/{workflow.name}.asl.json"


def _images_of(workflow: Workflow) -> set[str]:
    """Images the workflow runs on a service (a role's `images`, `${image:x}` anywhere): each gets a repository."""
    images = {image for resource in workflow.resources.values() for image in resource.images}
    for step in workflow.all_steps():
        task = getattr(step, "task", step)
        for value in (step.parameters, step.arguments, task.parameters, task.arguments):
            images |= {ref.name for ref in iter_references(value) if ref.kind == "image"}
    return images


def _assume_role(service: str | list[str]) -> dict[str, Any]:
    principal = (f"{service}.amazonaws.com" if isinstance(service, str)
                 else [f"{one}.amazonaws.com" for one in service])
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": principal}, "Action": "sts:AssumeRole"}]}


def _letter_cases(text: str) -> list[str]:
    """Every upper/lower-case spelling of `text` (`.mp4` → `.mp4`, `.mP4`, `.Mp4`, `.MP4`), sorted."""
    spellings = [""]
    for ch in text:
        variants = sorted({ch.lower(), ch.upper()}) if ch.lower() != ch.upper() else [ch]
        spellings = [start + variant for start in spellings for variant in variants]
    return sorted(spellings)


def _suffix_spellings(suffix: str) -> list[str]:
    """Every letter-case spelling of a short suffix; a long one as written, lower and upper case."""
    if sum(ch.lower() != ch.upper() for ch in suffix) <= 4:
        return _letter_cases(suffix)
    return list(dict.fromkeys([suffix, suffix.lower(), suffix.upper()]))


def _role(service: str | list[str], statements: list[iam.Statement], description: str,
          written: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """An IAM role for `service` with one inline policy (generated statements, then those the spec
    wrote); "*" resources explain themselves in Metadata."""
    role: dict[str, Any] = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": description,
            "AssumeRolePolicyDocument": _assume_role(service),
            "Policies": [{"PolicyName": "least-privilege",
                          "PolicyDocument": iam.policy_document(statements, written or ())}],
        },
    }
    reasons = {**iam.wildcard_reasons(statements), **iam.written_wildcard_reasons(written or ())}
    if reasons:
        role["Metadata"] = {WILDCARD_METADATA: reasons}
    return role


# A parameter's constraint fields and their CloudFormation names, in the order the template lists them.
PARAMETER_CONSTRAINTS = (("allowed_values", "AllowedValues"), ("allowed_pattern", "AllowedPattern"),
                         ("min_value", "MinValue"), ("max_value", "MaxValue"), ("min_length", "MinLength"),
                         ("max_length", "MaxLength"), ("constraint_description", "ConstraintDescription"))


def parameter_spec(parameter: Parameter) -> dict[str, Any]:
    """A parameter as the template's `Parameters` section declares it."""
    spec: dict[str, Any] = {"Type": parameter.type}
    if parameter.default is not None:
        spec["Default"] = parameter.default
    if parameter.description:
        spec["Description"] = parameter.description
    for field, key in PARAMETER_CONSTRAINTS:
        value = getattr(parameter, field)
        if value is not None and value != []:
            spec[key] = value
    return spec


class SAMTemplateGenerator:
    """Turns workflows into SAM resources; each model type has its own `_generate_*` method."""

    def __init__(self, project_root: Path, out_dir: Path | None = None) -> None:
        self.project_root = project_root
        # Image builds run in the project root, named relative to where template.yaml is written.
        self.docker_context = Path(os.path.relpath(os.path.abspath(project_root),
                                                   os.path.abspath(out_dir or project_root / "build"))).as_posix()
        self.resources: dict[str, dict[str, Any]] = {}
        self.parameters: dict[str, dict[str, Any]] = {}
        self.outputs: dict[str, dict[str, Any]] = {}
        self.conditions: dict[str, Any] = {}
        self.origin: dict[str, Any] = {}  # logical id → the model object that declared it (for conflicts)
        self.errors: list[SpecError] = []
        self.eventbridge_buckets: set[str] = set()

    def generate(self, workflows: list[Workflow]) -> dict[str, Any]:
        for workflow in workflows:
            for trigger in workflow.triggers:
                if isinstance(trigger, S3Trigger):
                    resource = workflow.resources.get(trigger.bucket)
                    if resource is not None and resource.external is None:
                        self.eventbridge_buckets.add(names.resource_id(resource))
        for workflow in sorted(workflows, key=lambda w: w.name):
            self._generate_workflow(workflow)
        if self.errors:
            raise SpecErrors(self.errors)
        template: dict[str, Any] = {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Transform": TRANSFORM,
            "Description": "Stepsmith workflows: " + ", ".join(sorted(w.name for w in workflows)),
        }
        if self.parameters:
            template["Parameters"] = dict(sorted(self.parameters.items()))
        if self.conditions:
            template["Conditions"] = dict(sorted(self.conditions.items()))
        template["Resources"] = dict(sorted(self.resources.items()))
        if self.outputs:
            template["Outputs"] = dict(sorted(self.outputs.items()))
        return template

    def _add(self, logical_id: str, resource: dict[str, Any], origin: Any) -> None:
        existing = self.resources.get(logical_id)
        if existing is not None and existing != resource:
            first = self.origin[logical_id]
            self.errors.append(SpecError(
                getattr(origin, "place", None),
                f"{logical_id} is declared differently at {getattr(first, 'place', 'another workflow')}",
                "resources shared between workflows must be declared identically"))
            return
        self.resources[logical_id] = resource
        self.origin.setdefault(logical_id, origin)

    # -- per workflow -------------------------------------------------------------------------------

    def _generate_workflow(self, workflow: Workflow) -> None:
        for parameter in workflow.parameters.values():
            self._generate_parameter(parameter)
        for image in sorted(_images_of(workflow)):
            self._generate_image_repository(image)
        for resource in workflow.resources.values():
            if resource.shared_from is not None:
                # Declared (and created) by the workflow it comes from; a role may get grants from here.
                if resource.type == "role":
                    self._generate_role_grants(workflow, resource)
                continue
            if resource.external is None:
                # "parameter" resources are SSM parameters (SAM Parameters have _generate_parameter).
                kind = {"parameter": "ssm_parameter", "model-group": "model_group"}.get(resource.type,
                                                                                         resource.type)
                getattr(self, f"_generate_{kind}")(workflow, resource)
        for step in workflow.handler_steps():
            self._generate_function(workflow, step)
        self._generate_state_machine(workflow)
        seen: dict[type, int] = {}
        for trigger in workflow.triggers:
            # The first trigger of a kind keeps the plain logical id; later ones are numbered from 2.
            seen[type(trigger)] = seen.get(type(trigger), 0) + 1
            suffix = "" if seen[type(trigger)] == 1 else str(seen[type(trigger)])
            if isinstance(trigger, S3Trigger):
                self._generate_s3_trigger(workflow, trigger, suffix)
            elif isinstance(trigger, ScheduleTrigger):
                self._generate_schedule_trigger(workflow, trigger, suffix)
            elif isinstance(trigger, EventTrigger):
                self._generate_event_trigger(workflow, trigger, suffix)
            elif isinstance(trigger, ApiTrigger):
                self._generate_api_trigger(workflow, trigger)

    def _generate_parameter(self, parameter: Parameter) -> None:
        spec = parameter_spec(parameter)
        existing = self.parameters.get(parameter.name)
        if existing is not None and existing != spec:
            self.errors.append(SpecError(parameter.place, f"parameter {parameter.name} is declared differently "
                                         "in another workflow", "declare shared parameters identically"))
            return
        self.parameters[parameter.name] = spec

    # -- resources ----------------------------------------------------------------------------------

    def _generate_bucket(self, workflow: Workflow, resource: Resource) -> None:
        logical = names.resource_id(resource)
        properties: dict[str, Any] = {
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True},
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
        }
        if logical in self.eventbridge_buckets:
            # S3 triggers arrive through EventBridge ("Object Created"), so the bucket must send them.
            properties["NotificationConfiguration"] = {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}
        self._add(logical, {"Type": "AWS::S3::Bucket", "Properties": properties}, resource)
        self.outputs[logical + "Name"] = {"Description": f"Bucket {resource.name}", "Value": {"Ref": logical}}

    def _generate_table(self, workflow: Workflow, resource: Resource) -> None:
        key = resource.key or "id"
        properties: dict[str, Any] = {
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": key, "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
        }
        if resource.ttl:
            properties["TimeToLiveSpecification"] = {"AttributeName": resource.ttl, "Enabled": True}
        self._add(names.resource_id(resource), {"Type": "AWS::DynamoDB::Table", "Properties": properties}, resource)

    def _generate_topic(self, workflow: Workflow, resource: Resource) -> None:
        self._add(names.resource_id(resource), {"Type": "AWS::SNS::Topic", "Properties": {}}, resource)

    def _generate_queue(self, workflow: Workflow, resource: Resource) -> None:
        self._add(names.resource_id(resource), {"Type": "AWS::SQS::Queue", "Properties": {}}, resource)

    def _generate_ssm_parameter(self, workflow: Workflow, resource: Resource) -> None:
        properties = {"Type": "String", "Name": {"Fn::Sub": names.owned_parameter_name(resource)},
                      "Value": resource.value if resource.value is not None else ""}
        self._add(names.resource_id(resource), {"Type": "AWS::SSM::Parameter", "Properties": properties}, resource)

    def _generate_model_group(self, workflow: Workflow, resource: Resource) -> None:
        """A SageMaker model package group (the model registry), named at compile time (names.py).

        Retained when the stack goes: it is the record of every model trained and why it was promoted,
        and CloudFormation could not delete a group that still holds packages anyway."""
        logical = names.resource_id(resource)
        properties: dict[str, Any] = {"ModelPackageGroupName": names.model_group_name(resource)}
        if resource.description:
            properties["ModelPackageGroupDescription"] = resource.description
        self._add(logical, {"Type": "AWS::SageMaker::ModelPackageGroup", "DeletionPolicy": "Retain",
                            "UpdateReplacePolicy": "Retain", "Properties": properties}, resource)
        self.outputs[logical + "Name"] = {"Description": f"Model package group {resource.name}",
                                          "Value": names.model_group_name(resource)}

    def _generate_role(self, workflow: Workflow, resource: Resource) -> None:
        service = resource.service or "lambda"
        statements = iam.service_role_statements(workflow, resource)
        # A shared role is one resource for several workflows, so its description names none of them.
        owner = "shared" if resource.shared else workflow.name
        self._add(names.resource_id(resource),
                  _role(service, statements, f"Assumed by {service} for {owner} ({resource.name})",
                        iam.written_statements(workflow, resource.policies)), resource)

    def _generate_role_grants(self, workflow: Workflow, resource: Resource) -> None:
        """What this workflow adds to a role another workflow declares: a policy attached to that role."""
        statements = iam.role_grant_statements(workflow, resource)
        written = iam.written_statements(workflow, resource.policies)
        if not statements and not written:
            return
        policy: dict[str, Any] = {"Type": "AWS::IAM::Policy", "Properties": {
            "PolicyName": f"{workflow.name}-grants",
            "Roles": [{"Ref": names.resource_id(resource)}],
            "PolicyDocument": iam.policy_document(statements, written)}}
        reasons = {**iam.wildcard_reasons(statements), **iam.written_wildcard_reasons(resource.policies)}
        if reasons:
            policy["Metadata"] = {WILDCARD_METADATA: reasons}
        self._add(pascal_case(workflow.name) + names.resource_id(resource) + "Grants", policy, resource)

    def _generate_image_repository(self, image: str) -> None:
        """One ECR repository per image that SageMaker (or another service) runs; push images/<image>/ to it."""
        self._add(names.image_repository_id(image), {
            "Type": "AWS::ECR::Repository",
            "Properties": {"ImageScanningConfiguration": {"ScanOnPush": True}},
            "Metadata": {IMAGE_METADATA: f"images/{image}"}}, image)
        self.outputs[names.image_repository_id(image) + "Uri"] = {
            "Description": f"Push images/{image}/ here (docker build, tag :latest, push)",
            "Value": {"Fn::GetAtt": [names.image_repository_id(image), "RepositoryUri"]}}

    def _generate_vpc_endpoints(self, workflow: Workflow, resource: Resource) -> None:
        endpoints = resource.endpoints
        assert endpoints is not None, "load.py builds endpoints for every vpc_endpoints resource"
        condition = None
        if endpoints.when is not None:
            match = REFERENCE.fullmatch(endpoints.when)
            assert match is not None, "validate.py checks `when`"
            condition = pascal_case(match.group(2)) + "IsTrue"
            self.conditions[condition] = {"Fn::Equals": [{"Ref": names.parameter_id(match.group(2))}, "true"]}
        for service in endpoints.services:
            # The Studio UI endpoint is not under com.amazonaws (it is aws.sagemaker.<region>.studio).
            name = ("aws.sagemaker.${AWS::Region}.studio" if service == "studio"
                    else "com.amazonaws.${AWS::Region}." + service)
            endpoint: dict[str, Any] = {"Type": "AWS::EC2::VPCEndpoint", "Properties": {
                "VpcEndpointType": "Interface",
                "ServiceName": {"Fn::Sub": name},
                "VpcId": names.sub(endpoints.vpc_id),
                "SubnetIds": self._id_list(workflow, endpoints.subnet_ids),
                "SecurityGroupIds": self._id_list(workflow, endpoints.security_group_ids),
                "PrivateDnsEnabled": endpoints.private_dns,
            }}
            if condition:
                endpoint["Condition"] = condition
            self._add(pascal_case(resource.name) + pascal_case(service) + "Endpoint", endpoint, resource)

    def _id_list(self, workflow: Workflow, value: str | list[str]) -> Any:
        """Subnet or security group ids: a list as written, or !Ref of the list parameter named."""
        if isinstance(value, list):
            return [names.sub(item) for item in value]
        match = REFERENCE.fullmatch(value)
        assert match is not None and match.group(1) == "param", "validate.py checks id lists"
        return {"Ref": names.parameter_id(match.group(2))}

    # -- functions ----------------------------------------------------------------------------------

    def _environment(self, workflow: Workflow, step: HandlerStep) -> dict[str, Any]:
        variables: dict[str, Any] = {}
        for name in sorted(set(step.reads) | set(step.writes)):
            resource = workflow.resources[name]
            variables[resource.env_var] = names.resource_value(resource)
        for key, value in step.config.environment.items():
            variables[key] = names.environment_value(workflow, value) if isinstance(value, str) else value
        return dict(sorted(variables.items()))

    def _generate_function(self, workflow: Workflow, step: HandlerStep) -> None:
        logical = names.function_id(workflow, step.name)
        config = step.config
        properties: dict[str, Any] = {
            "Description": f"{workflow.name}: {step.name}",
            "MemorySize": config.memory,
            "Timeout": config.timeout,
            "Architectures": [config.architecture],
            "EphemeralStorage": {"Size": config.ephemeral_storage},
            "Role": {"Fn::GetAtt": [logical + "Role", "Arn"]},
        }
        metadata: dict[str, Any] | None = None
        if step.image:
            properties["PackageType"] = "Image"
            # One image can hold several handlers: the command picks this one.
            properties["ImageConfig"] = {"Command": [step.handler]}
            metadata = {"Dockerfile": f"images/{step.image}/Dockerfile", "DockerContext": self.docker_context,
                        "DockerTag": step.image}
        else:
            properties["CodeUri"] = package.code_uri(workflow, step)
            properties["Handler"] = step.handler
            properties["Runtime"] = config.runtime
        if config.vpc is not None:
            properties["VpcConfig"] = self._vpc_config(workflow, config.vpc)
        environment = self._environment(workflow, step)
        if environment:
            properties["Environment"] = {"Variables": environment}
        trigger = workflow.api_trigger
        if trigger is not None and trigger.respond == step.name:
            properties["Events"] = {"Api": {"Type": "Api", "Properties": {
                "RestApiId": {"Ref": self._api_id(workflow)}, "Path": trigger.path, "Method": trigger.method.lower()}}}
        function: dict[str, Any] = {"Type": "AWS::Serverless::Function", "Properties": properties}
        if metadata:
            function["Metadata"] = metadata
        self._add(logical, function, step)
        self._add(logical + "Role", _role("lambda", iam.function_statements(workflow, step),
                                          f"{workflow.name}: {step.name}",
                                          iam.written_statements(workflow, step.policies)), step)

    def _vpc_config(self, workflow: Workflow, vpc: VpcConfig) -> Any:
        """Lambda VpcConfig; left out at deploy time when a list parameter it names is empty (a
        parameter whose default is "" makes the VPC optional, e.g. for test stages)."""
        config: dict[str, Any] = {}
        optional: list[str] = []
        for key, field in (("SubnetIds", vpc.subnet_ids), ("SecurityGroupIds", vpc.security_group_ids)):
            config[key] = self._id_list(workflow, field)
            if isinstance(field, str):
                parameter = workflow.parameters[config[key]["Ref"]]
                if parameter.default == "":
                    optional.append(parameter.name)
        if not optional:
            return config
        condition = "Has" + "And".join(optional)
        tests = [{"Fn::Not": [{"Fn::Equals": [{"Fn::Join": [",", {"Ref": name}]}, ""]}]} for name in optional]
        self.conditions[condition] = tests[0] if len(tests) == 1 else {"Fn::And": tests}
        return {"Fn::If": [condition, config, {"Ref": "AWS::NoValue"}]}

    # -- state machine ------------------------------------------------------------------------------

    def _generate_state_machine(self, workflow: Workflow) -> None:
        logical = names.state_machine_id(workflow)
        _, substitutions = build_definition(workflow)
        properties: dict[str, Any] = {
            "Name": names.state_machine_name(workflow),
            "Type": workflow.type.upper(),
            "DefinitionUri": definition_uri(workflow),
            "Role": {"Fn::GetAtt": [logical + "Role", "Arn"]},
        }
        if substitutions:
            properties["DefinitionSubstitutions"] = substitutions
        if workflow.type == "express":
            log_group = logical + "Logs"
            self._add(log_group, {"Type": "AWS::Logs::LogGroup", "Properties": {
                "LogGroupName": {"Fn::Sub": "/aws/vendedlogs/states/${AWS::StackName}-" + workflow.name},
                "RetentionInDays": 30}}, workflow)
            properties["Logging"] = {"Level": "ALL", "IncludeExecutionData": True, "Destinations": [
                {"CloudWatchLogsLogGroup": {"LogGroupArn": {"Fn::GetAtt": [log_group, "Arn"]}}}]}
        trigger = workflow.api_trigger
        if trigger is not None and trigger.respond is None:
            properties["Events"] = {"Api": {"Type": "Api", "Properties": {
                "RestApiId": {"Ref": self._api_id(workflow)}, "Path": trigger.path,
                "Method": trigger.method.lower()}}}
        self._add(logical, {"Type": "AWS::Serverless::StateMachine", "Properties": properties}, workflow)
        statements = iam.state_machine_statements(workflow)
        if not statements:
            # A role needs a policy with a statement; a machine of Pass/Choice states calls nothing.
            statements = [iam.Statement("NoTasks", ("states:DescribeStateMachine",),
                                        (names.state_machine_arn(workflow),))]
        self._add(logical + "Role", _role("states", statements, f"State machine {workflow.name}"), workflow)
        self.outputs[logical + "Arn"] = {"Description": f"Workflow {workflow.name}", "Value": {"Ref": logical}}

    # -- triggers -----------------------------------------------------------------------------------

    def _trigger_role(self, workflow: Workflow) -> str:
        """One role for every EventBridge rule and schedule of the workflow, trusting the services that
        start it (events for rules, scheduler for schedules)."""
        logical = pascal_case(workflow.name) + "TriggerRole"
        services = sorted({"scheduler" if isinstance(trigger, ScheduleTrigger) else "events"
                           for trigger in workflow.triggers if not isinstance(trigger, ApiTrigger)})
        who = " and ".join(services)
        self._add(logical, _role(services[0] if len(services) == 1 else services,
                                 iam.start_execution_statements(workflow), f"Lets {who} start {workflow.name}"),
                  workflow.trigger)
        return logical

    def _generate_event_trigger(self, workflow: Workflow, trigger: EventTrigger, suffix: str) -> None:
        role = self._trigger_role(workflow)
        pattern = names.environment_value_tree(workflow, trigger.pattern)
        self._add(pascal_case(workflow.name) + "EventTrigger" + suffix, {"Type": "AWS::Events::Rule", "Properties": {
            "Description": trigger.description or f"Start {workflow.name} on matching EventBridge events",
            "State": "ENABLED",
            "EventPattern": pattern,
            "Targets": [{"Id": "StartWorkflow", "Arn": {"Ref": names.state_machine_id(workflow)},
                         "RoleArn": {"Fn::GetAtt": [role, "Arn"]}}],
        }}, trigger)

    def _generate_s3_trigger(self, workflow: Workflow, trigger: S3Trigger, suffix: str) -> None:
        bucket = workflow.resources[trigger.bucket]
        if trigger.prefix and trigger.suffix:
            # EventBridge cannot combine prefix and suffix matchers on one field; a wildcard can, but only
            # case-sensitively: one wildcard per letter-case spelling keeps the suffix case-insensitive. Past
            # four letters (16 spellings) the pattern would outgrow EventBridge's size limit, so a longer
            # suffix matches as written, in lower and in upper case (README: triggers).
            spellings = dict.fromkeys(s for suffix in trigger.suffix for s in _suffix_spellings(suffix))
            keys = [{"wildcard": f"{trigger.prefix}*{spelling}"} for spelling in spellings]
        elif trigger.suffix:
            keys = [{"suffix": {"equals-ignore-case": suffix}} for suffix in trigger.suffix]
        elif trigger.prefix:
            keys = [{"prefix": trigger.prefix}]
        else:
            keys = []
        detail: dict[str, Any] = {"bucket": {"name": [names.resource_value(bucket)]}}
        if keys:
            detail["object"] = {"key": keys}
        role = self._trigger_role(workflow)
        self._add(pascal_case(workflow.name) + "Trigger" + suffix, {"Type": "AWS::Events::Rule", "Properties": {
            "Description": f"Start {workflow.name} when an object is created in {bucket.name}",
            "State": "ENABLED",
            "EventPattern": {"source": ["aws.s3"], "detail-type": ["Object Created"], "detail": detail},
            "Targets": [{"Id": "StartWorkflow", "Arn": {"Ref": names.state_machine_id(workflow)},
                         "RoleArn": {"Fn::GetAtt": [role, "Arn"]}}],
        }}, trigger)

    def _generate_schedule_trigger(self, workflow: Workflow, trigger: ScheduleTrigger, suffix: str) -> None:
        role = self._trigger_role(workflow)
        target: dict[str, Any] = {"Arn": {"Ref": names.state_machine_id(workflow)},
                                  "RoleArn": {"Fn::GetAtt": [role, "Arn"]}}
        target["Input"] = json.dumps(trigger.input if trigger.input is not None else {}, sort_keys=True)
        self._add(pascal_case(workflow.name) + "Schedule" + suffix, {"Type": "AWS::Scheduler::Schedule", "Properties": {
            "Description": f"Start {workflow.name} on a schedule",
            "ScheduleExpression": trigger.expression,
            "ScheduleExpressionTimezone": trigger.timezone,
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "State": "ENABLED" if trigger.enabled else "DISABLED",
            "Target": target,
        }}, trigger)

    def _api_id(self, workflow: Workflow) -> str:
        return pascal_case(workflow.name) + "Api"

    def _generate_api_trigger(self, workflow: Workflow, trigger: ApiTrigger) -> None:
        logical = self._api_id(workflow)
        properties: dict[str, Any] = {"StageName": API_STAGE}
        invoke = {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*"}
        chosen = REFERENCE.fullmatch(trigger.endpoint)
        if trigger.endpoint == "private" or chosen:
            endpoint = names.sub(trigger.vpc_endpoint_id or "")
            # A private API answers nothing without a resource policy; allow only the VPC endpoint.
            private = {**invoke, "Condition": {"StringEquals": {"aws:SourceVpce": endpoint}}}
        if chosen:
            # Chosen at deploy time (e.g. regional for test stages): one condition picks the endpoint
            # type, its VPC endpoint and the resource policy together.
            condition = pascal_case(chosen.group(2)) + "IsPrivate"
            self.conditions[condition] = {"Fn::Equals": [{"Ref": names.parameter_id(chosen.group(2))}, "private"]}
            properties["EndpointConfiguration"] = {
                "Type": {"Fn::If": [condition, "PRIVATE", "REGIONAL"]},
                "VPCEndpointIds": {"Fn::If": [condition, [endpoint], {"Ref": "AWS::NoValue"}]}}
            properties["Auth"] = {"ResourcePolicy": {"CustomStatements": [{"Fn::If": [condition, private, invoke]}]}}
        elif trigger.endpoint == "private":
            properties["EndpointConfiguration"] = {"Type": "PRIVATE", "VPCEndpointIds": [endpoint]}
            properties["Auth"] = {"ResourcePolicy": {"CustomStatements": [private]}}
        else:
            properties["EndpointConfiguration"] = {"Type": "REGIONAL"}
        self._add(logical, {"Type": "AWS::Serverless::Api", "Properties": properties}, trigger)
        self.outputs[logical + "Url"] = {
            "Description": f"{trigger.method} {trigger.path} of {workflow.name}",
            "Value": {"Fn::Sub": "https://${" + logical + "}.execute-api.${AWS::Region}.${AWS::URLSuffix}/"
                      + API_STAGE + trigger.path}}
