"""The compiled saml-login workflow: its role's IAM, judged by the same evaluator the Studio stand-in uses,
its network settings, and the service control policy written beside the template."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.iam_eval import evaluate

ACTION = "sagemaker:CreatePresignedDomainUrl"
PARAMETERS = {"IdpCertificate": "MIIC", "IdpEntityId": "https://idp", "SpEntityId": "https://sp",
              "AcsUrl": "https://acs/saml", "VpcEndpointId": "vpce-1", "SubnetIds": "subnet-1,subnet-2",
              "SecurityGroupIds": "sg-1"}


@pytest.fixture(scope="module")
def project(saml_project: Path) -> Path:
    return saml_project


def role_policies(project: Path, **overrides: str):
    from engine.app import App
    from engine.aws.providers.sagemaker_studio import function_policies

    parameters = {**PARAMETERS, **overrides}
    app = App.load(project, parameter_overrides=parameters)
    (function,) = [f for f in app.functions.values() if f.api_events]
    return app, function, function_policies(app, function.logical_id, parameters)


def profile(app, domain: str = "d-abc123", user: str = "alice") -> str:
    return f"arn:aws:sagemaker:{app.region}:{app.account}:user-profile/{domain}/{user}"


def test_the_role_presigns_only_from_inside_the_allowed_cidr(project):
    app, _, policies = role_policies(project, AllowedCidr="10.1.0.0/16")
    assert evaluate(policies, ACTION, profile(app), {"aws:VpcSourceIp": "10.1.2.3"}).allowed
    outside = evaluate(policies, ACTION, profile(app), {"aws:VpcSourceIp": "10.2.0.1"})
    assert not outside.allowed and outside.reason == "explicit deny"
    assert evaluate(policies, ACTION, profile(app), {}).reason == "explicit deny"  # not via the VPC
    assert not evaluate(policies, "sagemaker:DeleteDomain", profile(app), {"aws:VpcSourceIp": "10.1.2.3"}).allowed


def test_the_role_presigns_only_for_the_configured_domain(project):
    app, _, policies = role_policies(project, AllowedCidr="10.0.0.0/8", StudioDomainId="d-only0000")
    inside = {"aws:VpcSourceIp": "10.0.0.9"}
    assert evaluate(policies, ACTION, profile(app, "d-only0000"), inside).allowed
    assert evaluate(policies, ACTION, profile(app, "d-other000"), inside).reason == "implicit deny"


def test_the_function_runs_in_the_vpc_with_the_handler_settings(project):
    from engine.app import load_template

    template = load_template(project / "build" / "template.yaml")
    (logical,) = [name for name, r in template["Resources"].items()
                  if r["Type"] == "AWS::Serverless::Function" and "Events" in r["Properties"]]
    properties = template["Resources"][logical]["Properties"]
    assert properties["Handler"] == "saml_login.handler"
    assert properties["VpcConfig"]["SubnetIds"] == {"Ref": "SubnetIds"}
    assert properties["VpcConfig"]["SecurityGroupIds"] == {"Ref": "SecurityGroupIds"}
    assert {"IDP_CERTIFICATE", "ACS_URL", "REPLAY_IDS_TABLE"} <= set(properties["Environment"]["Variables"])


def test_the_service_control_policy_is_written_beside_the_template(project):
    scp = json.loads((project / "build" / "saml-login.scp.json").read_text())
    (statement,) = scp["Statement"]
    assert statement["Effect"] == "Deny" and statement["Action"] == ACTION
    assert list(statement["Condition"]["NotIpAddress"]) == ["aws:VpcSourceIp"]


def test_the_articles_two_tests_on_the_compiled_app(project, idp_key):
    """Sign-in from the allowed network reaches Studio; the same link opened from elsewhere is refused."""
    import http.client
    import urllib.parse

    from saml_login_cases import ACS_URL, DOMAIN, IDP_ENTITY_ID, SP_ENTITY_ID, USER

    from engine import idp
    from engine.aws import LocalAWS
    from engine.serve import LocalApi, routes_of

    overrides = {"IdpCertificate": idp_key.cert_body, "IdpEntityId": IDP_ENTITY_ID, "SpEntityId": SP_ENTITY_ID,
                 "AcsUrl": ACS_URL, "AllowedCidr": "127.0.0.1/32"}
    app, _, _ = role_policies(project, **overrides)

    def get(url: str, source: str, body: str | None = None) -> tuple[int, str, str]:
        parts = urllib.parse.urlsplit(url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30, source_address=(source, 0))
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
        connection.request("POST" if body else "GET", f"{parts.path}?{parts.query}", body=body, headers=headers)
        response = connection.getresponse()
        answer = response.status, response.getheader("Location") or "", response.read().decode()
        connection.close()
        return answer

    def sign_in(api: LocalApi) -> str:
        document = idp.make_response(idp.ResponseOptions(
            user=USER, domain=DOMAIN, idp_entity_id=IDP_ENTITY_ID, sp_entity_id=SP_ENTITY_ID, acs_url=ACS_URL),
            idp_key)
        status, location, _ = get(api.url + "/saml", "127.0.0.1", idp.form_body(document))
        assert status == 302
        return location

    with LocalAWS(project / ".stepsmith", app=app, persist=False) as aws, \
            LocalApi(app, aws, routes=routes_of(app, "saml-login"), port=0, overrides={**PARAMETERS, **overrides}) \
            as api:
        inside = get(sign_in(api), "127.0.0.1")
        outside = get(sign_in(api), "127.0.0.2")
    assert inside[0] == 200 and f"user profile {USER}" in inside[2]
    assert outside[0] == 403 and "explicit deny" in outside[2]


def test_the_readme_deploys_with_the_acs_url_the_stack_prints(project):
    """AcsUrl must equal the URL the IdP posts to exactly; the README's must be the compiled API's URL."""
    import re

    from saml_login_cases import ROOT

    from engine.app import load_template

    template = load_template(project / "build" / "template.yaml")
    output = template["Outputs"]["SamlLoginApiUrl"]["Value"]["Fn::Sub"]
    stack_prints = (output.replace("${SamlLoginApi}", "<api-id>").replace("${AWS::Region}", "<region>")
                    .replace("${AWS::URLSuffix}", "amazonaws.com"))
    readme = (ROOT / "README.md").read_text()
    deploy = readme[readme.index("#### 2. Deploy"):readme.index("#### 3.")]
    assert re.findall(r"AcsUrl=(\S+)", deploy) == [stack_prints]
    acs_urls = set(re.findall(r"https://<api-id>\S*?/saml", readme))
    assert acs_urls == {stack_prints}, "every ACS URL in the README is the compiled API's"
