"""SAML-login ACS endpoint: a validated SAMLResponse becomes a 302 to the user's SageMaker Studio.

API Gateway (Lambda proxy) posts the IdP's form here. The response is validated strictly
(saml_login_validation), its assertion ID is recorded once in the replay table, and the user gets a
presigned Studio URL for the domain and user profile the assertion names. Bad input is a 400 or a 403
with a generic body — never a 5xx. Every sign-in, accepted or refused, is one JSON log line (who, from
where, and why not); logs never carry the SAMLResponse, the assertion or the presigned URL.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import urllib.parse
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from saml_login_validation import Config, Login, Refused, Validator

logger = logging.getLogger("saml_login")
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))

_BODIES = {400: "Bad request.\n", 403: "Sign-in refused.\n", 405: "Method not allowed.\n",
           502: "Studio is unavailable; try again.\n"}
_validators: dict[Config, Validator] = {}
_clients: dict[tuple[str, str | None], Any] = {}


def handler(event: dict, context: Any) -> dict:
    """Lambda proxy handler for POST /saml."""
    source_ip = ((event.get("requestContext") or {}).get("identity") or {}).get("sourceIp", "")
    if (event.get("httpMethod") or "POST").upper() != "POST":
        return _answer(405, {"Allow": "POST"})
    try:
        config = Config.from_env()
        if not os.environ.get("REPLAY_IDS_TABLE"):
            raise ValueError("environment variable REPLAY_IDS_TABLE is not set")
    except ValueError as error:
        # A deployment mistake, not the caller's: say so in the logs, answer like an outage.
        logger.error(json.dumps({"event": "saml_login", "outcome": "misconfigured", "error": str(error)}))
        return _answer(502)
    try:
        saml_response = _saml_response_field(event, config.max_body_bytes)
        login = _validator(config).validate(saml_response)
    except Refused as refused:
        _log("refused", refused.reason, refused.assertion_id, refused.issuer, source_ip,
             refused.status)
        return _answer(refused.status)
    try:
        url = _sign_in(login, config)
    except Refused as refused:
        _log("refused", refused.reason, login.assertion_id, login.issuer, source_ip, refused.status)
        return _answer(refused.status)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in ("ResourceNotFound", "ValidationException", "AccessDeniedException"):
            reason = {"ResourceNotFound": "unknown_user_profile", "ValidationException": "presign_refused",
                      "AccessDeniedException": "presign_denied"}[code]
            _log("refused", reason, login.assertion_id, login.issuer, source_ip, 403)
            return _answer(403)
        _log("failed", f"aws_error:{code}", login.assertion_id, login.issuer, source_ip, 502)
        return _answer(502)
    except BotoCoreError as error:
        _log("failed", f"aws_error:{type(error).__name__}", login.assertion_id, login.issuer,
             source_ip, 502)
        return _answer(502)
    # The audit trail: one JSON line per accepted sign-in (CloudWatch Logs on AWS), never the URL.
    logger.info(json.dumps({"event": "saml_login", "outcome": "signed_in", "status": 302,
                            "assertion_id": login.assertion_id, "issuer": login.issuer,
                            "user": login.user, "domain": login.domain, "source_ip": source_ip,
                            "session_seconds": config.session_seconds}))
    return _answer(302, {"Location": url})


def _answer(status: int, headers: dict[str, str] | None = None) -> dict:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store",
                    "Referrer-Policy": "no-referrer", **(headers or {})},
        "body": _BODIES.get(status, ""),
        "isBase64Encoded": False,
    }


def _log(outcome: str, reason: str, assertion_id: str, issuer: str, source_ip: str, status: int) -> None:
    logger.warning(json.dumps({"event": "saml_login", "outcome": outcome, "status": status,
                               "reason": reason, "assertion_id": assertion_id, "issuer": issuer,
                               "source_ip": source_ip}))


def _header(event: dict, name: str) -> str:
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            return value or ""
    for key, values in (event.get("multiValueHeaders") or {}).items():
        if key.lower() == name and values:
            return values[0] or ""
    return ""


def _saml_response_field(event: dict, limit: int) -> str:
    """The SAMLResponse value of an HTTP-POST binding body; Refused(400) when the body is not one."""
    body = event.get("body")
    if not isinstance(body, str) or not body:
        raise Refused(400, "not_form_encoded", "empty body")
    if len(body) > limit * 2:  # cheap bound before decoding anything
        raise Refused(400, "body_too_large")
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body, validate=True).decode("ascii")
        except (binascii.Error, UnicodeDecodeError):
            raise Refused(400, "not_form_encoded", "body is not base64 ASCII") from None
    if len(body) > limit:
        raise Refused(400, "body_too_large")
    media_type = _header(event, "content-type").split(";")[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        raise Refused(400, "not_form_encoded", "content type")
    try:
        fields = urllib.parse.parse_qs(body, keep_blank_values=True, strict_parsing=True, max_num_fields=16)
    except ValueError:
        raise Refused(400, "not_form_encoded") from None
    values = fields.get("SAMLResponse", [])
    if len(values) != 1 or not values[0]:
        raise Refused(400, "not_form_encoded", "not exactly one SAMLResponse")
    return values[0]


def _validator(config: Config) -> Validator:
    validator = _validators.get(config)
    if validator is None:
        if len(_validators) > 8:
            _validators.clear()
        validator = _validators[config] = Validator(config)
    return validator


def _client(service: str) -> Any:
    # Clients are expensive to build (tens of ms) and thread-safe: one per service and region.
    key = (service, os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = boto3.client(service)
    return client


def _record_once(login: Login, config: Config) -> None:
    """Remember the assertion until it expires; a second use of it is a replay."""
    table = os.environ["REPLAY_IDS_TABLE"]
    key = hashlib.sha256(f"{login.issuer}\n{login.assertion_id}".encode()).hexdigest()
    try:
        _client("dynamodb").put_item(
            TableName=table,
            Item={"id": {"S": key}, "expires_at": {"N": str(login.not_on_or_after + config.clock_skew)}},
            ConditionExpression="attribute_not_exists(#id)",
            ExpressionAttributeNames={"#id": "id"},
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            raise Refused(403, "replay") from None
        raise


def _sign_in(login: Login, config: Config) -> str:
    _record_once(login, config)
    answer = _client("sagemaker").create_presigned_domain_url(
        DomainId=login.domain,
        UserProfileName=login.user,
        SessionExpirationDurationInSeconds=config.session_seconds,
        ExpiresInSeconds=config.url_expires_seconds,
    )
    return answer["AuthorizedUrl"]
