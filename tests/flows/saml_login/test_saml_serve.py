"""End to end through `stepsmith serve`'s server: IdP form post → 302 → the Studio stand-in, which admits
or refuses the opener by the function role's compiled IAM policy — the article's two tests, locally."""
from __future__ import annotations

import http.client
import urllib.parse
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from saml_login_cases import ACS_URL, DOMAIN, IDP_ENTITY_ID, ROOT, SP_ENTITY_ID, USER

from engine import idp

PARAMETERS = {"VpcEndpointId": "vpce-local", "SubnetIds": "subnet-local", "SecurityGroupIds": "sg-local"}


@pytest.fixture
def serve_app(tmp_path: Path, saml_project: Path, idp_key: idp.SigningKey):
    """start(log=None, **parameter overrides) → a running LocalApi for the compiled saml-login app."""
    from engine.app import App
    from engine.aws import LocalAWS
    from engine.serve import LocalApi, routes_of

    started = []

    def start(log=None, **overrides: str):
        parameters = {"IdpCertificate": idp_key.cert_body, "IdpEntityId": IDP_ENTITY_ID,
                      "SpEntityId": SP_ENTITY_ID, "AcsUrl": ACS_URL, **PARAMETERS, **overrides}
        app = App.load(saml_project, parameter_overrides=parameters)
        aws = LocalAWS(tmp_path / ".stepsmith", app=app, persist=False).__enter__()
        api = LocalApi(app, aws, routes=routes_of(app, "saml-login"), port=0, overrides=parameters,
                       log=log).start()
        started.append((api, aws))
        return api

    yield start
    for api, aws in started:
        api.stop()
        aws.__exit__(None, None, None)


def request(url: str, method: str = "GET", body: str | None = None, source: str = "127.0.0.1"):
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30, source_address=(source, 0))
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if body is not None else {}
    connection.request(method, target, body=body, headers=headers)
    response = connection.getresponse()
    answer = (response.status, dict(response.getheaders()), response.read().decode())
    connection.close()
    return answer


def sign_in(api, idp_key: idp.SigningKey, **options) -> tuple[int, dict]:
    values = {"user": USER, "domain": DOMAIN, "idp_entity_id": IDP_ENTITY_ID, "sp_entity_id": SP_ENTITY_ID,
              "acs_url": ACS_URL, **options}
    document = idp.make_response(idp.ResponseOptions(**values), idp_key)
    status, headers, _ = request(api.url + "/saml", "POST", idp.form_body(document))
    return status, headers


def test_sign_in_from_the_allowed_network_reaches_studio(serve_app, idp_key):
    api = serve_app(AllowedCidr="127.0.0.0/30")
    status, headers = sign_in(api, idp_key)
    assert status == 302
    location = headers["Location"]
    assert location.startswith(f"{api.url}/_studio/{DOMAIN}/auth?token=")
    page_status, _, page = request(location, source="127.0.0.1")
    assert page_status == 200 and f"user profile {USER} in domain {DOMAIN}" in page
    again, _, _ = request(location)
    assert again == 403  # a presigned URL works once


def test_opening_the_url_from_outside_the_allowed_network_is_refused(serve_app, idp_key):
    api = serve_app(AllowedCidr="127.0.0.1/32")
    status, headers = sign_in(api, idp_key)
    assert status == 302  # the function itself calls from inside (127.0.0.1)
    page_status, _, page = request(headers["Location"], source="127.0.0.2")
    assert page_status == 403 and "explicit deny" in page


def test_function_outside_the_allowed_network_cannot_presign(serve_app, idp_key):
    api = serve_app(AllowedCidr="10.0.0.0/16")  # the default: the local function (127.0.0.1) is outside
    status, headers = sign_in(api, idp_key)
    assert status == 403 and "Location" not in headers


def test_presigning_is_limited_to_the_configured_domain(serve_app, idp_key):
    api = serve_app(AllowedCidr="127.0.0.0/8", StudioDomainId="d-only00000")
    assert sign_in(api, idp_key)[0] == 403
    assert sign_in(api, idp_key, domain="d-only00000")[0] == 302


def test_serve_prints_every_sign_in_as_one_json_line(serve_app, idp_key):
    """Locally the function's log is serve's output, as CloudWatch Logs is on AWS: accepted and refused."""
    import json

    lines: list[str] = []
    api = serve_app(log=lines.append, AllowedCidr="127.0.0.0/8")
    assert sign_in(api, idp_key, assertion_id="_served")[0] == 302
    assert sign_in(api, idp_key, sign="none")[0] == 403
    logged = [line.split(" ", 2) for line in lines if line.startswith("[")]
    assert [level for level, _, _ in logged] == ["[INFO]", "[WARNING]"]
    assert all(function.endswith("-SamlLoginSignInFunction") for _, function, _ in logged)  # its Lambda name
    accepted, refused = (json.loads(text) for _, _, text in logged)
    assert accepted == {"event": "saml_login", "outcome": "signed_in", "status": 302, "assertion_id": "_served",
                        "issuer": IDP_ENTITY_ID, "user": USER, "domain": DOMAIN, "source_ip": "127.0.0.1",
                        "session_seconds": 43200}
    assert refused["outcome"] == "refused" and refused["reason"] == "unsigned"
    assert not any("/_studio/" in line or "SAMLResponse" in line for line in lines)


def test_attacks_answer_through_http_too(serve_app, idp_key):
    api = serve_app(AllowedCidr="127.0.0.0/8")
    unsigned = idp.make_response(idp.ResponseOptions(user=USER, domain=DOMAIN, sign="none"), idp_key)
    assert request(api.url + "/saml", "POST", idp.form_body(unsigned))[0] == 403
    assert request(api.url + "/saml", "POST", "SAMLResponse=***")[0] == 400
    assert request(api.url + "/saml", "GET")[0] == 403  # no such route: API Gateway's answer
    assert request(api.url + "/_studio/d-x/auth?token=forged")[0] == 403


def test_idp_cli_signs_a_response_the_handler_accepts(tmp_path, idp_key):
    from engine.idp import idp as idp_cli

    runner = CliRunner()
    keygen = runner.invoke(idp_cli, ["keygen", "--key-dir", str(tmp_path / "keys")])
    assert keygen.exit_code == 0
    cert_body = keygen.output.strip()
    signed = runner.invoke(idp_cli, ["sign", "--user", "bob", "--domain", DOMAIN, "--key-dir",
                                     str(tmp_path / "keys"), "--output", "base64"])
    assert signed.exit_code == 0
    import saml_login_validation as v

    validator = v.Validator(v.Config(idp_entity_id=idp.DEFAULT_IDP_ENTITY_ID, idp_certificate=cert_body,
                                     sp_entity_id=idp.DEFAULT_SP_ENTITY_ID, acs_url=idp.DEFAULT_ACS_URL))
    login = validator.validate(signed.output.strip())
    assert (login.user, login.domain) == ("bob", DOMAIN)
    wrapped = runner.invoke(idp_cli, ["sign", "--user", "bob", "--domain", DOMAIN, "--xsw", "3", "--key-dir",
                                      str(tmp_path / "keys"), "--output", "base64"])
    with pytest.raises(v.Refused) as refused:
        validator.validate(wrapped.output.strip())
    assert refused.value.reason == "assertion_count"


def test_idp_cli_makes_an_ecdsa_key_whose_signatures_the_handler_accepts(tmp_path):
    import saml_login_validation as v

    from engine.idp import idp as idp_cli

    runner = CliRunner()
    keys = str(tmp_path / "keys")
    cert_body = runner.invoke(idp_cli, ["keygen", "--kind", "ec", "--key-dir", keys]).output.strip()
    signed = runner.invoke(idp_cli, ["sign", "--user", "bob", "--domain", DOMAIN, "--key-dir", keys,
                                     "--output", "xml"])
    assert signed.exit_code == 0 and "xmldsig-more#ecdsa-sha256" in signed.output
    validator = v.Validator(v.Config(idp_entity_id=idp.DEFAULT_IDP_ENTITY_ID, idp_certificate=cert_body,
                                     sp_entity_id=idp.DEFAULT_SP_ENTITY_ID, acs_url=idp.DEFAULT_ACS_URL))
    assert validator.validate(idp.encode(signed.output.strip().encode())).user == "bob"
    other_kind = runner.invoke(idp_cli, ["keygen", "--kind", "rsa", "--key-dir", keys])
    assert other_kind.exit_code == 2 and "--force" in other_kind.output
    assert runner.invoke(idp_cli, ["keygen", "--key-dir", keys]).output.strip() == cert_body  # kept


def test_serve_without_a_template_says_what_to_do(tmp_path, monkeypatch):
    from engine.serve import serve

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(serve, ["--template", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2
    assert "stepsmith compile" in result.output


def test_an_api_trigger_without_respond_starts_the_state_machine(tmp_path):
    """`stepsmith serve` also serves workflows whose API trigger starts an execution (StartExecution)."""
    import json
    import time

    from engine.app import App
    from engine.aws import LocalAWS
    from engine.serve import LocalApi, routes_of

    template = {"Transform": "AWS::Serverless-2016-10-31", "Resources": {"OrdersStateMachine": {
        "Type": "AWS::Serverless::StateMachine", "Properties": {
            "Definition": {"StartAt": "Shape", "States": {"Shape": {
                "Type": "Pass", "Parameters": {"order.$": "$.id"}, "End": True}}},
            "Events": {"Api": {"Type": "Api", "Properties": {"Path": "/orders", "Method": "post"}}}}}}}
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "template.yaml").write_text(yaml.safe_dump(template))
    app = App.load(tmp_path)
    with LocalAWS(tmp_path / ".stepsmith", app=app, persist=False) as aws, \
            LocalApi(app, aws, routes=routes_of(app), port=0) as api:
        status, _, body = request(api.url + "/orders", "POST", '{"id": 42}')
        assert status == 200
        name = json.loads(body)["executionArn"].rsplit(":", 1)[1]
        assert request(api.url + "/orders", "POST", "not json")[0] == 400
        record = tmp_path / ".stepsmith" / "executions" / f"{name}.json"
        deadline = time.monotonic() + 20
        while not record.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        history = json.loads(record.read_text())
    assert history["status"] == "SUCCEEDED" and json.loads(history["output"]) == {"order": 42}


def test_the_workflow_sets_everything_the_handler_and_its_template_need(saml_project):
    """The spec, the template the compiler makes of it, and the handler's settings agree."""
    import re

    from engine.app import load_template

    spec = yaml.safe_load((ROOT / "workflows" / "saml-login.yaml").read_text())
    template = load_template(saml_project / "build" / "template.yaml")
    handler_source = (ROOT / "handlers" / "saml_login_validation.py").read_text()
    required = set(re.findall(r'required\("([A-Z_]+)"', handler_source))
    known = required | set(re.findall(r'(?:number\(|env\.get\()"([A-Z_]+)"', handler_source))
    environment = set(spec["functions"]["environment"]) - {"LOG_LEVEL"}
    assert required <= environment, required - environment  # REPLAY_IDS_TABLE comes from writes: [replay-ids]
    assert environment <= known, environment - known  # no setting the handler would ignore
    assert set(template["Parameters"]) == set(spec["parameters"])
    (function,) = [r for r in template["Resources"].values()
                   if r["Type"] == "AWS::Serverless::Function" and "Events" in r["Properties"]]
    assert set(function["Properties"]["Environment"]["Variables"]) >= required | {"REPLAY_IDS_TABLE"}
    (table,) = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table"]
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]  # what _record_once writes
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    step = spec["steps"][0]
    assert spec["trigger"]["api"]["respond"] == step["name"] and step["handler"] == "saml_login.handler"
