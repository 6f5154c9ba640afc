"""Fixtures for the SAML-login flow: a test IdP key, the handler's environment, and local AWS."""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
from saml_login_cases import ACS_URL, IDP_ENTITY_ID, ROOT, SP_ENTITY_ID, TABLE, event, options

from engine import idp


@pytest.fixture(scope="session")
def saml_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with workflows/saml-login.yaml and the handlers, compiled by the compiler into build/:
    what the HTTP, IAM and template tests run against (never a hand-written copy of the template)."""
    from compiler import compile_project

    root = tmp_path_factory.mktemp("saml-project")
    (root / "workflows").mkdir()
    shutil.copy(ROOT / "workflows" / "saml-login.yaml", root / "workflows" / "saml-login.yaml")
    shutil.copytree(ROOT / "handlers", root / "handlers", ignore=shutil.ignore_patterns("__pycache__"))
    compile_project(root, root / "build")
    return root


@pytest.fixture(scope="session")
def idp_key() -> idp.SigningKey:
    return idp.generate_key()


@pytest.fixture(scope="session")
def other_key() -> idp.SigningKey:
    return idp.generate_key("Somebody else")


@pytest.fixture
def saml_env(monkeypatch: pytest.MonkeyPatch, idp_key: idp.SigningKey) -> dict[str, str]:
    env = {
        "IDP_ENTITY_ID": IDP_ENTITY_ID,
        "IDP_CERTIFICATE": idp_key.cert_body,
        "SP_ENTITY_ID": SP_ENTITY_ID,
        "ACS_URL": ACS_URL,
        "REPLAY_IDS_TABLE": TABLE,
        "ALLOWED_DOMAIN_IDS": "",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def local_aws(tmp_path: Path, saml_env: dict[str, str]):
    from engine.aws import LocalAWS
    from engine.aws.providers import sagemaker_studio  # noqa: F401 - registers CreatePresignedDomainUrl

    with LocalAWS(tmp_path / ".stepsmith", persist=False) as aws:
        aws.client("dynamodb").create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield aws


class Posted:
    """The handler's answer to one POST and the log line it wrote about it."""

    def __init__(self, answer: dict, log: dict | None) -> None:
        self.answer = answer
        self.status = answer["statusCode"]
        self.log = log or {}
        self.reason = self.log.get("reason")


@pytest.fixture
def post(local_aws, caplog: pytest.LogCaptureFixture):
    import saml_login

    def send(document: bytes | None = None, *, body: str | None = None, **event_args) -> Posted:
        if body is None:
            body = idp.form_body(document)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="saml_login"):
            answer = saml_login.handler(event(body, **event_args), None)
        lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "saml_login"]
        return Posted(answer, lines[-1] if lines else None)

    return send


@pytest.fixture
def signed(idp_key: idp.SigningKey):
    """signed(**overrides) → a SAMLResponse document for USER in DOMAIN signed by the trusted IdP key."""

    def make(key: idp.SigningKey | None = None, **overrides) -> bytes:
        return idp.make_response(options(**overrides), key or idp_key)

    return make


@pytest.fixture
def make_options():
    return options


@pytest.fixture
def make_event():
    return event
