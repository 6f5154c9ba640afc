"""CloudFormation logical ids and ARNs of the things a workflow compiles to.

asl.py (DefinitionSubstitutions), iam.py (policy resources) and sam.py (the resources themselves)
must agree on these names, so they are decided here and nowhere else.
"""

from __future__ import annotations

import re
from typing import Any

from compiler.model import REFERENCE, Resource, Workflow, pascal_case

_TYPE_SUFFIX = {"bucket": "Bucket", "table": "Table", "topic": "Topic", "queue": "Queue",
                "parameter": "Parameter", "role": "Role"}


def state_machine_id(workflow: Workflow) -> str:
    """`face-blur` → `FaceBlurStateMachine`."""
    return pascal_case(workflow.name) + "StateMachine"


def state_machine_name(workflow: Workflow) -> dict[str, str]:
    """The deployed state machine name; fixed so the machine's own role can name its ARN without a cycle."""
    return {"Fn::Sub": "${AWS::StackName}-" + workflow.name}


def state_machine_arn(workflow: Workflow) -> dict[str, str]:
    """The state machine ARN built from its fixed name (no Ref, so its role may use it)."""
    return {"Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:"
            "${AWS::StackName}-" + workflow.name}


def function_id(workflow: Workflow, step_name: str) -> str:
    """`face-blur` + `Blur faces` → `FaceBlurBlurFacesFunction`."""
    return pascal_case(workflow.name) + pascal_case(step_name) + "Function"


def resource_id(resource: Resource) -> str:
    """`videos-out` bucket → `VideosOutBucket` (shared by every workflow that declares it)."""
    return pascal_case(resource.name) + _TYPE_SUFFIX[resource.type]


def parameter_id(name: str) -> str:
    """A SAM Parameter keeps the name the spec gave it (`${param:AllowedCidr}` → `!Ref AllowedCidr`)."""
    return name


def substitute_params(text: str) -> str:
    """Rewrite `${param:X}` to the `${X}` of an Fn::Sub string."""
    return REFERENCE.sub(lambda m: "${" + m.group(2) + "}" if m.group(1) == "param" else m.group(0), text)


def sub(text: str) -> Any:
    """A string that may hold `${param:X}`: plain when it has none, else an Fn::Sub."""
    rewritten = substitute_params(text)
    return {"Fn::Sub": rewritten} if re.search(r"\$\{[A-Za-z0-9:]+\}", rewritten) else text


def resource_value(resource: Resource) -> Any:
    """What `${resource:x}` and the resource's env var hold: bucket/table/parameter name, topic ARN,
    queue URL, role ARN."""
    if resource.external is not None:
        if resource.type == "topic" and not resource.external.startswith("arn:"):
            return _sub_arn("sns:${AWS::Region}:${AWS::AccountId}:", resource.external)
        if resource.type == "role" and not resource.external.startswith("arn:"):
            return _sub_arn("iam::${AWS::AccountId}:role/", resource.external)
        if resource.type == "queue" and not resource.external.startswith("https:"):
            return {"Fn::Sub": "https://sqs.${AWS::Region}.${AWS::URLSuffix}/${AWS::AccountId}/"
                    + substitute_params(resource.external)}
        return sub(resource.external)
    logical = resource_id(resource)
    if resource.type == "role":
        return {"Fn::GetAtt": [logical, "Arn"]}
    return {"Ref": logical}


def resource_arns(resource: Resource) -> list[Any]:
    """ARNs IAM policies scope to: the resource itself and, where the service has them, its children
    (bucket objects, table indexes)."""
    logical = resource_id(resource)
    owned = resource.external is None
    name = None if owned else substitute_params(resource.external)
    if resource.type == "bucket":
        base = "${" + logical + "}" if owned else "arn:${AWS::Partition}:s3:::" + name
        if owned:
            return [{"Fn::GetAtt": [logical, "Arn"]}, {"Fn::Sub": "${" + logical + ".Arn}/*"}]
        return [{"Fn::Sub": base}, {"Fn::Sub": base + "/*"}]
    if resource.type == "table":
        if owned:
            return [{"Fn::GetAtt": [logical, "Arn"]}, {"Fn::Sub": "${" + logical + ".Arn}/index/*"}]
        base = "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/" + name
        return [{"Fn::Sub": base}, {"Fn::Sub": base + "/index/*"}]
    if resource.type == "topic":
        return [resource_value(resource)]
    if resource.type == "queue":
        if owned:
            return [{"Fn::GetAtt": [logical, "Arn"]}]
        return [_sub_arn("sqs:${AWS::Region}:${AWS::AccountId}:", resource.external)]
    if resource.type == "parameter":
        # SSM parameter ARNs join with "parameter" + name when the name starts with "/".
        if owned:
            return [{"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter"
                     + owned_parameter_name(resource)}]
        separator = "" if name.startswith("/") else "/"
        return [{"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter"
                 + separator + name}]
    if resource.type == "role":
        return [resource_value(resource)]
    raise ValueError(f"unknown resource type {resource.type}")


def owned_parameter_name(resource: Resource) -> str:
    """The Fn::Sub name of an SSM parameter the stack owns: /<stack>/<resource>."""
    return "/${AWS::StackName}/" + resource.name


def _sub_arn(service_part: str, name: str) -> Any:
    if name.startswith("arn:"):
        return sub(name)
    return {"Fn::Sub": "arn:${AWS::Partition}:" + service_part + substitute_params(name)}
