"""Local SageMaker Studio sign-in: CreatePresignedDomainUrl, and the Studio stand-in page its URL opens.

A presigned Studio URL is checked twice on AWS: when it is created, against the caller's identity
policies, and when it is opened, against the same policies with the opener's network address — which is
how a `Deny sagemaker:* unless aws:VpcSourceIp in the VPC` keeps Studio reachable only from the VPC.
Both checks here evaluate the function's policies from the compiled template (engine.iam_eval), so
trying the flow locally tells the truth about the deployed IAM: choose the allowed CIDR, open the URL.
"""
from __future__ import annotations

import contextlib
import contextvars
import html
import re
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.aws.providers import ServiceError, function_calling, register
from engine.iam_eval import PolicyError, evaluate

if TYPE_CHECKING:
    from engine.app import App
    from engine.aws import LocalAWS

ACTION = "sagemaker:CreatePresignedDomainUrl"
STUDIO_PREFIX = "/_studio/"
DEFAULT_BASE_URL = "http://127.0.0.1:3000"
_DOMAIN_ID = re.compile(r"d-(-*[a-z0-9]){1,61}")
_USER_PROFILE = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
# Managed policies a Lambda function commonly carries that cannot grant or deny SageMaker actions.
_NON_SAGEMAKER_MANAGED = {"AWSLambdaBasicExecutionRole", "AWSLambdaVPCAccessExecutionRole",
                          "AWSXrayWriteOnlyAccess", "AWSXRayDaemonWriteAccess"}


@dataclass(frozen=True)
class Caller:
    """Who is calling AWS right now: a principal, its identity policies, and its network address."""

    principal: str
    policies: tuple[Mapping, ...]
    source_ip: str = "127.0.0.1"

    def context(self) -> dict[str, str]:
        """The request context keys this local model provides."""
        return {"aws:SourceIp": self.source_ip, "aws:VpcSourceIp": self.source_ip}


@dataclass
class Grant:
    """One presigned URL: for whom, until when, created by which principal, and whether it was used."""

    domain: str
    user: str
    arn: str
    expires_at: float
    session_seconds: int
    caller: Caller | None
    used: bool = False


@dataclass
class _Studio:
    base_url: str = DEFAULT_BASE_URL
    grants: dict[str, Grant] = field(default_factory=dict)
    callers: dict[str, Caller] = field(default_factory=dict)  # Lambda function name → its identity
    lock: threading.Lock = field(default_factory=threading.Lock)


_caller: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("stepsmith_aws_caller", default=None)


@contextlib.contextmanager
def calling_as(caller: Caller) -> Iterator[None]:
    """Make SageMaker calls in this context (thread) on behalf of `caller`."""
    token = _caller.set(caller)
    try:
        yield
    finally:
        _caller.reset(token)


def _studio(aws: LocalAWS) -> _Studio:
    studio = aws.store.get("sagemaker_studio")
    if studio is None:
        studio = aws.store.setdefault("sagemaker_studio", _Studio())
    return studio


def set_base_url(aws: LocalAWS, url: str) -> None:
    """Where presigned URLs point: the `stepsmith serve` that hosts the Studio stand-in."""
    _studio(aws).base_url = url.rstrip("/")


def set_callers(aws: LocalAWS, callers: Mapping[str, Caller]) -> None:
    """Who each local Lambda function is when it calls SageMaker (by function name)."""
    _studio(aws).callers = dict(callers)


def current_caller(aws: LocalAWS) -> Caller | None:
    """The caller of the SageMaker call in progress: set by `calling_as`, else the running function."""
    caller = _caller.get()
    if caller is None:
        # The local Lambda runner says which function's worker made the call.
        caller = _studio(aws).callers.get(function_calling() or "")
    return caller


def _denied(caller: Caller, arn: str, why: str) -> ServiceError:
    return ServiceError("AccessDeniedException", f"User: {caller.principal} is not authorized to perform: "
                        f"{ACTION} on resource: {arn} because {why}", 400)


def create_presigned_domain_url(params: dict, aws: LocalAWS) -> dict:
    """CreatePresignedDomainUrl: a single-use URL to the local Studio stand-in."""
    domain, user = params.get("DomainId", ""), params.get("UserProfileName", "")
    if not _DOMAIN_ID.fullmatch(domain or ""):
        raise ServiceError("ValidationException", f"Value '{domain}' at 'domainId' failed to satisfy "
                           "constraint: Member must satisfy regular expression pattern: d-(-*[a-z0-9]){1,61}")
    if not _USER_PROFILE.fullmatch(user or ""):
        raise ServiceError("ValidationException", f"Value '{user}' at 'userProfileName' failed to satisfy "
                           "constraint: Member must satisfy regular expression pattern: "
                           "[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
    session = int(params.get("SessionExpirationDurationInSeconds", 43200))
    expires = int(params.get("ExpiresInSeconds", 300))
    if not 1800 <= session <= 43200:
        raise ServiceError("ValidationException", "SessionExpirationDurationInSeconds must be 1800-43200")
    if not 5 <= expires <= 300:
        raise ServiceError("ValidationException", "ExpiresInSeconds must be 5-300")
    arn = f"arn:aws:sagemaker:{aws.region}:{aws.account}:user-profile/{domain}/{user}"
    caller = current_caller(aws)
    if caller is not None:
        decision = _decide(caller, arn, caller.context())
        if not decision[0]:
            raise _denied(caller, arn, decision[1])
    token = secrets.token_urlsafe(32)
    studio = _studio(aws)
    with studio.lock:
        studio.grants[token] = Grant(domain, user, arn, time.time() + expires, session, caller)
    return {"AuthorizedUrl": f"{studio.base_url}{STUDIO_PREFIX}{domain}/auth?token={token}"}


def _decide(caller: Caller, arn: str, context: Mapping[str, str]) -> tuple[bool, str]:
    try:
        decision = evaluate(caller.policies, ACTION, arn, context)
    except PolicyError as error:
        return False, f"its policy cannot be evaluated locally ({error})"
    if decision.allowed:
        return True, "an identity-based policy allows it"
    if decision.reason == "explicit deny":
        return False, "an explicit deny in an identity-based policy"
    return False, "no identity-based policy allows the action"


@dataclass(frozen=True)
class StudioPage:
    """What the Studio stand-in answers: an HTTP status and an HTML page."""

    status: int
    html: str


def open_presigned_url(aws: LocalAWS, domain: str, token: str, source_ip: str) -> StudioPage:
    """Follow a presigned URL from `source_ip`: admit (200) or refuse (403) as Studio would."""
    studio = _studio(aws)
    with studio.lock:
        grant = studio.grants.get(token)
        fresh = grant is not None and not grant.used
        if grant is not None:
            grant.used = True  # single use, whatever the outcome
    if grant is None or grant.domain != domain or not fresh:
        return _page(403, "Invalid or expired link", "This sign-in link is not valid. Links work once.")
    if time.time() > grant.expires_at:
        return _page(403, "Invalid or expired link", "This sign-in link has expired. Sign in again.")
    if grant.caller is None:
        return _page(403, "Access denied", "The link was created outside `stepsmith serve`, so there is no "
                     "principal whose policies could be evaluated.")
    allowed, why = _decide(grant.caller, grant.arn, {"aws:SourceIp": source_ip, "aws:VpcSourceIp": source_ip})
    if not allowed:
        return _page(403, "Access denied", f"{grant.caller.principal} may not open Studio for {grant.arn} "
                     f"from {source_ip}: {why}.")
    hours = grant.session_seconds / 3600
    return _page(200, "SageMaker Studio (local stand-in)",
                 f"Signed in as user profile {grant.user} in domain {grant.domain} from {source_ip}. "
                 f"The session lasts {hours:g} h.")


def _page(status: int, title: str, message: str) -> StudioPage:
    return StudioPage(status, "<!doctype html><html><head><meta charset=utf-8>"
                      f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>"
                      f"<p>{html.escape(message)}</p></body></html>\n")


def function_policies(app: App, logical_id: str, overrides: Mapping[str, str] | None = None) -> tuple[dict, ...]:
    """The identity policies of a function's role in the compiled template, intrinsics resolved.

    Inline statements (SAM `Policies` documents, or the inline policies of the AWS::IAM::Role it names)
    are kept; managed policies and SAM policy templates that cannot touch SageMaker are dropped; any
    other raises PolicyError, since its contents are unknown locally.
    """
    from engine.app import _Builder, load_template

    document = load_template(app.template_path)
    builder = _Builder(app, document, dict(overrides or {}))
    resources = document.get("Resources") or {}
    props = (resources.get(logical_id) or {}).get("Properties") or {}
    policies: list[dict] = []
    for item in _as_list(builder.resolve(props.get("Policies"))):
        policies.extend(_inline(item))
    role = props.get("Role")
    if isinstance(role, dict):
        target = role.get("Fn::GetAtt") or role.get("Ref")
        name = target[0] if isinstance(target, list) else str(target).split(".")[0]
        role_props = (resources.get(name) or {}).get("Properties") or {}
        for policy in _as_list(builder.resolve(role_props.get("Policies"))):
            policies.extend(_inline(policy.get("PolicyDocument") or {}))
        for managed in _as_list(builder.resolve(role_props.get("ManagedPolicyArns"))):
            policies.extend(_inline(managed))
    return tuple(policies)


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _inline(item: Any) -> list[dict]:
    if isinstance(item, str):
        if item.rsplit("/", 1)[-1] in _NON_SAGEMAKER_MANAGED:
            return []
        raise PolicyError(f"managed policy {item} cannot be evaluated locally")
    if isinstance(item, dict) and "Statement" in item:
        return [item]
    if isinstance(item, dict) and len(item) == 1:
        (template, _), = item.items()
        if "sagemaker" not in template.lower():
            return []  # a SAM policy template for another service
        raise PolicyError(f"SAM policy template {template} cannot be evaluated locally")
    raise PolicyError(f"policy {item!r} is not a policy document")


register("sagemaker", "CreatePresignedDomainUrl", create_presigned_domain_url)
