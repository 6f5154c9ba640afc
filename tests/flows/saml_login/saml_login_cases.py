"""Shared values for the SAML-login tests: who signs in where, and how requests look."""
from __future__ import annotations

import sys
from pathlib import Path

from engine import idp

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT / "handlers") not in sys.path:
    sys.path.insert(0, str(ROOT / "handlers"))  # as Lambda does with the function's code directory

ACS_URL = "https://abc123.execute-api.us-east-1.amazonaws.com/v1/saml"
IDP_ENTITY_ID = "https://portal.sso.us-east-1.amazonaws.com/saml/assertion/MTIzNDU2Nzg5MDEy"
SP_ENTITY_ID = "https://studio.example.com/saml"
DOMAIN = "d-abc123def456"
USER = "alice"
TABLE = "saml-login-replay-ids"



def options(**overrides) -> idp.ResponseOptions:
    """A valid response for USER in DOMAIN, addressed to this SP; override any field."""
    values = {"user": USER, "domain": DOMAIN, "idp_entity_id": IDP_ENTITY_ID, "sp_entity_id": SP_ENTITY_ID,
              "acs_url": ACS_URL}
    values.update(overrides)
    return idp.ResponseOptions(**values)


def event(body: str | None, content_type: str = "application/x-www-form-urlencoded",
          source_ip: str = "10.0.1.25", base64_encoded: bool = False) -> dict:
    """An API Gateway REST (v1) proxy event for POST /saml."""
    headers = {"Content-Type": content_type} if content_type else {}
    return {
        "resource": "/saml", "path": "/saml", "httpMethod": "POST",
        "headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None, "multiValueQueryStringParameters": None, "pathParameters": None,
        "stageVariables": None, "body": body, "isBase64Encoded": base64_encoded,
        "requestContext": {"resourcePath": "/saml", "httpMethod": "POST", "stage": "prod",
                           "identity": {"sourceIp": source_ip}},
    }


