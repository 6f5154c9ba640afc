"""CloudFormation logical ids and ARNs of the things a workflow compiles to.

asl.py (DefinitionSubstitutions), iam.py (policy resources) and sam.py (the resources themselves)
must agree on these names, so they are decided here and nowhere else.
"""

from __future__ import annotations

import re
from typing import Any

from compiler.model import REFERENCE, Resource, Workflow, pascal_case

_TYPE_SUFFIX = {"bucket": "Bucket", "table": "Table", "topic": "Topic", "queue": "Queue",
                "parameter": "Parameter", "role": "Role", "model-group": "ModelGroup"}


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


def workflow_state_machine_arn(name: str) -> dict[str, str]:
    """The ARN of the state machine of the workflow called `name` in this stack (`${workflow:name}`)."""
    return {"Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:"
            "${AWS::StackName}-" + name}


def workflow_executions_arn(name: str) -> dict[str, str]:
    """Every execution of the workflow called `name` in this stack."""
    return {"Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:"
            "${AWS::StackName}-" + name + ":*"}


def image_repository_id(image: str) -> str:
    """`review-classifier` → `ReviewClassifierRepository`: the ECR repository of images/<image>/."""
    return pascal_case(image) + "Repository"


def image_uri(image: str) -> dict[str, str]:
    """What `${image:x}` holds: the image's URI in its ECR repository (tag `latest`)."""
    return {"Fn::Sub": "${" + image_repository_id(image) + ".RepositoryUri}:latest"}


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
    if resource.type == "model-group":
        # The name is fixed at compile time (Ref would give the group's ARN), so a step, IAM and another
        # workflow all say the same name without waiting for the stack.
        return model_group_name(resource)
    return {"Ref": logical}


def model_group_name(resource: Resource) -> str:
    """A model package group's deployed name: `name:`, else the resource's own name (`review-classifier`)."""
    return resource.given_name or resource.name


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
    if resource.type == "model-group":
        # The group, and its versioned packages (model-package/<group>/<version>). SageMaker writes names
        # lower case in its ARNs; an owned group's name is lower case already.
        group = model_group_name(resource) if owned else name.rsplit("model-package-group/", 1)[-1]
        return [_sub_arn("sagemaker:${AWS::Region}:${AWS::AccountId}:", "model-package-group/" + group),
                _sub_arn("sagemaker:${AWS::Region}:${AWS::AccountId}:", "model-package/" + group + "/*")]
    raise ValueError(f"unknown resource type {resource.type}")


def owned_parameter_name(resource: Resource) -> str:
    """The Fn::Sub name of an SSM parameter the stack owns: /<stack>/<resource>."""
    return "/${AWS::StackName}/" + resource.name


def _sub_arn(service_part: str, name: str) -> Any:
    if name.startswith("arn:"):
        return sub(name)
    return {"Fn::Sub": "arn:${AWS::Partition}:" + service_part + substitute_params(name)}


# --- strings in IAM policies --------------------------------------------------------------------------

_PSEUDO = re.compile(r"\$\{AWS::[A-Za-z]+\}")


def sub_fragment(value: Any) -> str:
    """An ARN value (string, Ref, GetAtt or Fn::Sub) as text that means the same inside an Fn::Sub."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return "${" + value["Ref"] + "}"
    if "Fn::GetAtt" in value:
        return "${" + ".".join(value["Fn::GetAtt"]) + "}"
    return value["Fn::Sub"]


def _reference_arn(workflow: Workflow, kind: str, name: str) -> Any:
    """What a reference means in an IAM policy: a resource's ARN, a function's ARN, a parameter."""
    if kind == "resource":
        return resource_arns(workflow.resources[name])[0]
    if kind == "function":
        return {"Fn::GetAtt": [function_id(workflow, name), "Arn"]}
    if kind == "workflow":
        return workflow_state_machine_arn(name)
    if kind == "image":
        return {"Fn::GetAtt": [image_repository_id(name), "Arn"]}
    return {"Ref": parameter_id(name)}


def _environment_value(workflow: Workflow, kind: str, name: str) -> Any:
    """What a reference means in a function's environment: for a resource, what its own env var holds
    (bucket or table name, topic ARN, queue URL); for a parameter, its value."""
    if kind == "resource":
        return resource_value(workflow.resources[name])
    if kind == "image":
        return image_uri(name)
    return _reference_arn(workflow, kind, name)


def _substituted(workflow: Workflow, text: str, meaning: Any) -> Any:
    """`text` with every reference replaced by meaning(workflow, kind, name); plain when nothing is left
    to substitute, else an Fn::Sub. A whole-string reference stays an intrinsic: a List<…> parameter
    would not fit in an Fn::Sub string."""
    whole = REFERENCE.fullmatch(text)
    if whole:
        return meaning(workflow, whole.group(1), whole.group(2))
    rewritten = REFERENCE.sub(lambda m: sub_fragment(meaning(workflow, m.group(1), m.group(2))), text)
    return {"Fn::Sub": rewritten} if re.search(r"\$\{[A-Za-z0-9:.]+\}", rewritten) else text


def iam_value(workflow: Workflow, text: str) -> Any:
    """A policy string: `${resource:x}` → its ARN, `${function:S}` → the function ARN, `${param:X}` →
    the parameter, `${AWS::…}` kept."""
    return _substituted(workflow, text, _reference_arn)


def environment_value(workflow: Workflow, text: str) -> Any:
    """An environment variable's value: `${resource:x}` → its name (as its own env var holds it),
    `${param:X}` → the parameter, `${AWS::…}` kept. Naming a resource grants no access to it."""
    return _substituted(workflow, text, _environment_value)


def environment_value_tree(workflow: Workflow, value: Any) -> Any:
    """`environment_value` on every string of a JSON value (an event pattern: names, not ARNs)."""
    if isinstance(value, str):
        return environment_value(workflow, value)
    if isinstance(value, list):
        return [environment_value_tree(workflow, item) for item in value]
    if isinstance(value, dict):
        return {key: environment_value_tree(workflow, item) for key, item in value.items()}
    return value


def iam_substitute(workflow: Workflow, value: Any) -> Any:
    """`iam_value` on every string of a policy statement (keys stay as written)."""
    if isinstance(value, str):
        return iam_value(workflow, value)
    if isinstance(value, list):
        return [iam_substitute(workflow, item) for item in value]
    if isinstance(value, dict):
        return {key: iam_substitute(workflow, item) for key, item in value.items()}
    return value


def fill_parameters(workflow: Workflow, value: Any, overrides: dict[str, str] | None = None
                    ) -> tuple[Any, list[str]]:
    """Replace `${param:X}` with X's override or default, for documents outside the stack (an SCP).

    Returns the value and the placeholders left in it (`${X}` without a value, `${AWS::…}`).
    """
    left: list[str] = []

    def one(match: re.Match[str]) -> str:
        if match.group(1) != "param":
            return match.group(0)
        name = match.group(2)
        parameter = workflow.parameters.get(name)
        if overrides and name in overrides:
            return overrides[name]
        if parameter is not None and parameter.default is not None:
            return str(parameter.default)
        placeholder = "${" + name + "}"
        if placeholder not in left:
            left.append(placeholder)
        return placeholder

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            for pseudo in _PSEUDO.findall(item):
                if pseudo not in left:
                    left.append(pseudo)
            return REFERENCE.sub(one, item)
        if isinstance(item, list):
            return [walk(element) for element in item]
        if isinstance(item, dict):
            return {key: walk(element) for key, element in item.items()}
        return item

    return walk(value), left
