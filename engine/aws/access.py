"""The same permissions as AWS: every call a handler or a state machine makes to local AWS is checked
against the compiled IAM policy of the role it runs as, and refused with AWS's AccessDenied text.

Who is calling is said where the work starts, never guessed from the call:

    with acting_as(function.arn):               # LambdaRunner, around each call a handler's worker makes
    with acting_as(machine_arn, execution):     # LocalDispatcher, around a Task (service calls, invokes)
    with acting_as(role_arn, "SageMaker"):      # SageMaker's own calls as a model's role (CreateModel's data)
    JobStorage(aws, job["RoleArn"])             # a local SageMaker job's S3 reads and writes, as its role

Handlers run in worker processes (engine/lambdas.py): every call one makes, from any thread it starts
(boto3's S3 transfer manager does), comes back to the engine and is judged as that function — calls
sent as HTTP are checked first (a "check" message), those of services with local providers through
boto3 here. Calls with no caller — the engine's own
(provisioning, loading and saving state, `--file` uploads) — are not checked. The policies are those of
the compiled template (build/template.yaml), intrinsics resolved to local names (engine/app.py), and
decided by the one evaluator, engine/iam_eval.py.
"""
from __future__ import annotations

import contextlib
import contextvars
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.aws.requests import Authorization, authorizations
from engine.iam_eval import PolicyError, evaluate

if TYPE_CHECKING:
    from engine.app import App

_caller: contextvars.ContextVar[tuple[str, str | None] | None] = contextvars.ContextVar(
    "stepsmith_iam_caller", default=None)

# What AWS managed policies a Lambda function commonly carries grant (their published documents).
_LOGS = {"Effect": "Allow", "Resource": "*",
         "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]}
MANAGED_POLICIES: dict[str, tuple[dict, ...]] = {
    "AWSLambdaBasicExecutionRole": (_LOGS,),
    "AWSLambdaVPCAccessExecutionRole": (_LOGS, {"Effect": "Allow", "Resource": "*", "Action": [
        "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"]}),
    "AWSXrayWriteOnlyAccess": ({"Effect": "Allow", "Resource": "*", "Action": [
        "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules",
        "xray:GetSamplingTargets", "xray:GetSamplingStatisticSummaries"]},),
}
MANAGED_POLICIES["AWSXRayDaemonWriteAccess"] = MANAGED_POLICIES["AWSXrayWriteOnlyAccess"]

# Each service's AccessDenied as its API reports it: (error code, HTTP status).
_DENIED_CODES = {"s3": ("AccessDenied", 403), "sqs": ("AccessDenied", 403), "sns": ("AuthorizationError", 403),
                 "lambda": ("AccessDeniedException", 403)}

# Operations whose provider decides IAM itself, with context only it has (the Studio stand-in judges
# CreatePresignedDomainUrl with the caller's network address, which `aws:VpcSourceIp` conditions need).
_DECIDED_BY_PROVIDER = {("sagemaker", "CreatePresignedDomainUrl")}


@contextlib.contextmanager
def acting_as(arn: str, session: str | None = None) -> Iterator[None]:
    """Calls to local AWS in this context are made as `arn`: a function, a state machine or a role."""
    token = _caller.set((arn, session))
    try:
        yield
    finally:
        _caller.reset(token)


@dataclass(frozen=True)
class Principal:
    """An assumed role: its name, the session that assumed it, and the identity policies it carries."""

    account: str
    role: str
    session: str
    policies: tuple[Mapping, ...]
    unknown: str | None = None   # why these policies cannot be decided locally (then nothing is checked)

    @property
    def arn(self) -> str:
        return f"arn:aws:sts::{self.account}:assumed-role/{self.role}/{self.session}"


@dataclass(frozen=True)
class Refusal:
    """A call IAM refuses: the service's error code and HTTP status, and AWS's message."""

    code: str
    status: int
    message: str


class Permissions:
    """The compiled roles of an app, and the decision for each call made as one of them."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._builder: Any = None     # the template, read on the first checked call (runs that call no AWS pay nothing)
        self._resources: dict[str, dict] = {}
        self._principals: dict[tuple[str, str | None], Principal | None] = {}
        self._warned: set[str] = set()

    def _read_template(self) -> None:
        from engine.app import _Builder, load_template

        document = load_template(self.app.template_path)
        self._builder = _Builder(self.app, document, dict(self.app.parameter_overrides))
        self._resources = document.get("Resources") or {}

    # -- who

    def principal(self, arn: str, session: str | None = None) -> Principal | None:
        """The principal a function, state machine or role ARN calls as (None: not in the template)."""
        from engine.app import AppError, _ParameterMissing

        key = (arn, session)
        if key not in self._principals:
            try:
                self._principals[key] = self._principal(arn, session)
            except (_ParameterMissing, AppError) as error:
                # A policy that needs a parameter with no value cannot be decided: say so, check nothing.
                why = (f"its policy needs parameter {error.parameter}, which has no value"
                       if isinstance(error, _ParameterMissing) else str(error))
                name = arn.rsplit(":", 1)[-1].rsplit("/", 1)[-1]
                self._principals[key] = Principal(self.app.account, name, session or name, (), why)
        return self._principals[key]

    def _principal(self, arn: str, session: str | None) -> Principal | None:
        if self._builder is None:
            self._read_template()
        function = self.app.function(arn) if ":function:" in arn else None
        if function is not None:
            role, policies, unknown = self._role_of(function.logical_id, implicit_basic=True)
            return Principal(self.app.account, role, session or function.name, policies, unknown)
        machine = self.app.state_machine(arn) if ":stateMachine:" in arn else None
        if machine is not None:
            role, policies, unknown = self._role_of(machine.logical_id, implicit_basic=False)
            return Principal(self.app.account, role, session or machine.name, policies, unknown)
        for logical, spec in self._resources.items():
            if (spec or {}).get("Type") == "AWS::IAM::Role" and self._builder._arn(logical) == arn:
                policies, unknown = self._role_policies(logical)
                return Principal(self.app.account, self._builder._name_of(logical), session or "session",
                                 policies, unknown)
        return None

    def _role_of(self, logical: str, implicit_basic: bool) -> tuple[str, tuple[Mapping, ...], str | None]:
        props = (self._resources.get(logical) or {}).get("Properties") or {}
        role = props.get("Role")
        if isinstance(role, dict) and ("Fn::GetAtt" in role or "Ref" in role):
            target = role.get("Fn::GetAtt") or role.get("Ref")
            name = target[0] if isinstance(target, list) else str(target).split(".")[0]
            if (self._resources.get(name) or {}).get("Type") == "AWS::IAM::Role":
                policies, unknown = self._role_policies(name)
                return self._builder._name_of(name), policies, unknown
        if role is not None:
            text = str(self._builder.resolve(role))
            return text.rsplit("/", 1)[-1], (), f"its role {text} is not defined in the template"
        # SAM's implicit role: <Logical>Role with the resource's Policies (+ basic execution for functions).
        policies: list[Mapping] = list(MANAGED_POLICIES["AWSLambdaBasicExecutionRole"]) if implicit_basic else []
        unknown = None
        for item in _as_list(self._builder.resolve(props.get("Policies"))):
            try:
                policies.extend(_policy_documents(item))
            except PolicyError as error:
                unknown = str(error)
        return f"{self.app.stack}-{logical}Role", tuple(policies), unknown

    def _role_policies(self, logical: str) -> tuple[tuple[Mapping, ...], str | None]:
        props = (self._resources.get(logical) or {}).get("Properties") or {}
        policies: list[Mapping] = []
        unknown = None
        items = [policy.get("PolicyDocument") or {} for policy in _as_list(self._builder.resolve(props.get("Policies")))]
        items += _as_list(self._builder.resolve(props.get("ManagedPolicyArns")))
        # Policies attached from outside the role (AWS::IAM::Policy's Roles): how a workflow adds its grants
        # to a role another workflow declares (`from:`).
        name = self._builder._name_of(logical)
        for spec in self._resources.values():
            attached = (spec or {}).get("Properties") or {}
            if (spec or {}).get("Type") == "AWS::IAM::Policy" and \
                    name in (str(role) for role in _as_list(self._builder.resolve(attached.get("Roles")))):
                items.append(self._builder.resolve(attached.get("PolicyDocument")) or {})
        for item in items:
            try:
                policies.extend(_policy_documents(item))
            except PolicyError as error:
                unknown = str(error)
        return tuple(policies), unknown

    # -- the decision

    def refusal(self, caller: tuple[str, str | None], service: str, wanted: list[Authorization]) -> Refusal | None:
        """Why IAM would refuse these authorizations for `caller` (None: allowed, or not decidable here)."""
        principal = self.principal(*caller)
        if principal is None:
            return None
        if principal.unknown is not None:
            self._warn(principal, principal.unknown)
            return None
        for need in wanted:
            try:
                decision = evaluate(principal.policies, need.action, need.resource, _context(principal, need))
            except PolicyError as error:
                self._warn(principal, str(error))
                return None
            if not decision.allowed:
                code, status = _DENIED_CODES.get(service, ("AccessDeniedException", 400))
                return Refusal(code, status, denied_message(principal, need, decision.reason))
        return None

    def _warn(self, principal: Principal, why: str) -> None:
        # Said once per role: a policy we cannot decide exactly is reported, not guessed.
        if principal.role not in self._warned:
            self._warned.add(principal.role)
            print(f"stepsmith: IAM not checked for role {principal.role}: {why}", file=sys.stderr)


def denied_message(principal: Principal, need: Authorization, reason: str) -> str:
    """AWS's AccessDenied text for an identity-policy refusal."""
    on = f" on resource: {need.resource}" if need.resource not in (None, "*") else ""
    why = ("with an explicit deny in an identity-based policy" if reason == "explicit deny" else
           f"because no identity-based policy allows the {need.action} action")
    return f"User: {principal.arn} is not authorized to perform: {need.action}{on} {why}"


def _context(principal: Principal, need: Authorization) -> dict[str, Any]:
    region = os.environ.get("AWS_REGION", "us-east-1")
    base = {"aws:PrincipalArn": f"arn:aws:iam::{principal.account}:role/{principal.role}",
            "aws:PrincipalAccount": principal.account, "aws:RequestedRegion": region,
            "aws:SecureTransport": "true", "aws:PrincipalType": "AssumedRole"}
    base.update({key: value for key, value in need.context.items() if value is not None})
    return base


_ENGINE = ("", None)


@contextlib.contextmanager
def as_engine() -> Iterator[None]:
    """Calls in this context are the engine's own (saving state, provisioning): never checked, even while
    a handler's environment is still in place (a run stopped with Ctrl-C inside it)."""
    token = _caller.set(_ENGINE)
    try:
        yield
    finally:
        _caller.reset(token)


def _caller_now(permissions: Permissions) -> tuple[str, str | None] | None:
    # Set by `acting_as`, else the Lambda function running now (a thread its handler started).
    caller = _caller.get()
    if caller == _ENGINE:
        return None
    if caller is None:
        name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        function = permissions.app.function(name) if name else None
        if function is not None:
            return (function.arn, None)
    return caller


def refusal_for_call(permissions: Permissions, service: str, prefix: str, operation: str,
                     params: Mapping[str, Any], region: str, account: str) -> Refusal | None:
    """The hook every boto3 call inside LocalAWS passes (engine/aws/providers): None lets it through."""
    if (service, operation) in _DECIDED_BY_PROVIDER:
        return None
    caller = _caller_now(permissions)
    if caller is None:
        return None
    return permissions.refusal(caller, service, authorizations(service, prefix, operation, params, region,
                                                                account))


def refusal_now(permissions: Permissions | None, service: str, action: str, resource: str) -> Refusal | None:
    """For calls the engine makes without boto3 (a Task invoking a handler): one action on one resource."""
    if permissions is None:
        return None
    caller = _caller_now(permissions)
    if caller is None:
        return None
    return permissions.refusal(caller, service, [Authorization(action, resource)])


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _policy_documents(item: Any) -> list[Mapping]:
    if isinstance(item, str):
        managed = MANAGED_POLICIES.get(item.rsplit("/", 1)[-1])
        if managed is None:
            raise PolicyError(f"managed policy {item} cannot be evaluated locally")
        return list(managed)
    if isinstance(item, dict) and "Statement" in item:
        return [item]
    if isinstance(item, dict) and len(item) == 1:
        raise PolicyError(f"SAM policy template {next(iter(item))} cannot be evaluated locally")
    raise PolicyError(f"policy {item!r} is not a policy document")
